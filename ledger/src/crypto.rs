//! ed25519 keys and signatures, and parallel batch verification.
//!
//! # The signature validity rule
//!
//! Every node must reach the same verdict on every signature, however the
//! signatures are grouped into batches, or the cluster forks. So there is one
//! rule, [ZIP-215], and every path applies it (admission, apply, snapshot
//! install, offline verify, proof verification, the auditor):
//!
//! 1. The key `A` and the signature's `R` are encodings of curve points.
//!    Non-canonical encodings (y ≥ p, or x = 0 with the sign bit set) are
//!    points too, and are hashed as given.
//! 2. The signature's `s` is canonical: `s < ℓ`.
//! 3. The cofactored equation holds: `[8][s]B = [8]R + [8][k]A`, where
//!    `k = SHA-512(R ‖ A ‖ M) mod ℓ` over the bytes as given.
//!
//! Batch verification checks the same cofactored equation (random weights
//! times each signature's equation, summed, times 8), so a batch passes
//! exactly when each of its signatures passes on its own, whatever else it
//! holds; a batch that fails names the first signature that fails alone.
//!
//! Keys are checked strictly once, when they enter a [`KeyRing`]
//! (enrolment): the encoding must be canonical and the point must be of
//! prime order `ℓ` (neither small order nor with a torsion component). A
//! signature is valid when its key is enrolled and the three conditions
//! hold. Signing uses ed25519-dalek; its signatures meet this rule.
//! Edge-case vectors that pin the rule are in `ledger/testdata/`.
//!
//! [ZIP-215]: https://zips.z.cash/zip-0215

use std::collections::BTreeMap;
use std::fmt;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signer, SigningKey};
use ed25519_zebra::{batch, VerificationKey, VerificationKeyBytes};
use getrandom::rand_core::UnwrapErr;
use getrandom::SysRng;
use rand_core::CryptoRngCore;
use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bytes::FixedBytes;
use crate::hash::Hash32;

/// An ed25519 public key as its 32 compressed bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; 32]);

/// An ed25519 signature, 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl PublicKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<Self, CryptoError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| CryptoError::MalformedKey)?;
        Ok(PublicKey(out))
    }

    /// Short form for logs: the first 8 hex digits.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.short())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", hex::encode(&self.0[..8]))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        FixedBytes(self.0).serialize(s)
    }
}
impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        FixedBytes::<32>::deserialize(d).map(|b| PublicKey(b.0))
    }
}
impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        FixedBytes(self.0).serialize(s)
    }
}
impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        FixedBytes::<64>::deserialize(d).map(|b| Signature(b.0))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("malformed public key: expected 32 bytes of a valid curve point")]
    MalformedKey,
    #[error("non-canonical public key {0}: the encoding must be the point's canonical one")]
    NonCanonicalKey(String),
    #[error("weak public key {0}: small-order points are refused at enrolment")]
    WeakKey(String),
    #[error(
        "mixed-order public key {0}: points with a torsion component are refused at enrolment"
    )]
    MixedOrderKey(String),
    #[error("unknown key {0}: not enrolled")]
    UnknownKey(String),
    #[error("bad signature by key {key} (item {index} of the batch)")]
    BadSignature { index: usize, key: String },
}

/// A signing key. The secret never leaves this type except through
/// [`Keypair::secret_bytes`], which key files use.
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    pub fn generate(rng: &mut impl CryptoRngCore) -> Keypair {
        Keypair {
            signing: SigningKey::generate(rng),
        }
    }

    pub fn from_seed(seed: [u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs a 32-byte digest (a record id, approval digest or block hash).
    pub fn sign(&self, digest: &Hash32) -> Signature {
        Signature(self.signing.sign(digest.as_bytes()).to_bytes())
    }

    /// Signs a message of any length as it is (an HTTP request's signature
    /// base, RFC 9421), not a digest of it.
    pub fn sign_message(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({})", self.public().short())
    }
}

/// Decompresses and strictly checks a key: its encoding must be canonical
/// and its point of prime order ℓ.
pub fn enrol_key(key: &PublicKey) -> Result<VerificationKey, CryptoError> {
    let point = CompressedEdwardsY(key.0)
        .decompress()
        .ok_or(CryptoError::MalformedKey)?;
    if point.compress().0 != key.0 {
        return Err(CryptoError::NonCanonicalKey(key.short()));
    }
    if point.is_small_order() {
        return Err(CryptoError::WeakKey(key.short()));
    }
    if !point.is_torsion_free() {
        return Err(CryptoError::MixedOrderKey(key.short()));
    }
    VerificationKey::try_from(key.0).map_err(|_| CryptoError::MalformedKey)
}

/// Verifies one signature under the validity rule, without a batch: for
/// signatures checked one at a time (attestations taken in, proofs).
pub fn verify_one(key: &PublicKey, digest: &Hash32, sig: &Signature) -> Result<(), CryptoError> {
    let vk = enrol_key(key)?;
    if holds(&vk, digest, sig) {
        Ok(())
    } else {
        Err(CryptoError::BadSignature {
            index: 0,
            key: key.short(),
        })
    }
}

/// [`verify_one`] for a signature over a message of any length
/// ([`Keypair::sign_message`]), under the same validity rule.
pub fn verify_message(key: &PublicKey, message: &[u8], sig: &Signature) -> Result<(), CryptoError> {
    let vk = enrol_key(key)?;
    match vk.verify(&zebra_signature(sig), message) {
        Ok(()) => Ok(()),
        Err(_) => Err(CryptoError::BadSignature {
            index: 0,
            key: key.short(),
        }),
    }
}

/// The ZIP-215 equation for one signature.
fn holds(key: &VerificationKey, digest: &Hash32, sig: &Signature) -> bool {
    key.verify(&zebra_signature(sig), digest.as_bytes()).is_ok()
}

fn zebra_signature(sig: &Signature) -> ed25519_zebra::Signature {
    ed25519_zebra::Signature::from_bytes(&sig.0)
}

/// Enrolled keys, checked and decompressed once. Verification looks keys up
/// here, so a key that was never enrolled cannot verify anything.
#[derive(Default, Clone)]
pub struct KeyRing {
    keys: BTreeMap<PublicKey, VerificationKey>,
}

impl KeyRing {
    pub fn new() -> KeyRing {
        KeyRing::default()
    }

    pub fn enrol(&mut self, key: PublicKey) -> Result<(), CryptoError> {
        if let std::collections::btree_map::Entry::Vacant(slot) = self.keys.entry(key) {
            slot.insert(enrol_key(&key)?);
        }
        Ok(())
    }

    pub fn contains(&self, key: &PublicKey) -> bool {
        self.keys.contains_key(key)
    }

    /// Enrols every key of `other` too.
    pub fn merge(&mut self, other: &KeyRing) {
        for (key, vk) in &other.keys {
            self.keys.entry(*key).or_insert(*vk);
        }
    }

    /// Takes a key out: it verifies nothing from then on.
    pub fn remove(&mut self, key: &PublicKey) {
        self.keys.remove(key);
    }

    fn get(&self, key: &PublicKey) -> Result<&VerificationKey, CryptoError> {
        self.keys
            .get(key)
            .ok_or_else(|| CryptoError::UnknownKey(key.short()))
    }
}

/// One signature to check: `key` signed the 32-byte `digest`.
#[derive(Clone, Copy, Debug)]
pub struct SignedDigest {
    pub key: PublicKey,
    pub digest: Hash32,
    pub signature: Signature,
}

/// Items per batch handed to one core. Large enough that the batch equation
/// amortises well, small enough that two cores stay busy on modest blocks.
const BATCH_CHUNK: usize = 256;

/// Verifies every item, batching per chunk and spreading chunks across the
/// rayon pool. On failure, names the first bad item (by index into `items`).
pub fn verify_batch(ring: &KeyRing, items: &[SignedDigest]) -> Result<(), CryptoError> {
    // One chunk is checked where it is asked for, not queued on the pool.
    if items.len() <= BATCH_CHUNK {
        return verify_chunk(ring, items, 0);
    }
    let failures: Vec<CryptoError> = items
        .par_chunks(BATCH_CHUNK)
        .enumerate()
        .filter_map(|(chunk_no, chunk)| verify_chunk(ring, chunk, chunk_no * BATCH_CHUNK).err())
        .collect();
    first_failure(failures)
}

/// A batch started by [`spawn_batch`]: its chunks are being checked on
/// the rayon pool.
#[must_use = "a started batch proves nothing until it is waited for"]
pub struct SpawnedBatch {
    results: Receiver<Result<(), CryptoError>>,
    chunks: usize,
}

/// Starts checking `items` on the rayon pool, one job per chunk, and
/// returns at once. Chunks of batches started one after another queue in
/// that order, so a core that finishes the last chunk of one batch goes on
/// to the next batch instead of waiting for the other cores.
pub fn spawn_batch(ring: Arc<KeyRing>, items: Arc<[SignedDigest]>) -> SpawnedBatch {
    let (sender, results) = mpsc::channel();
    let chunks = items.len().div_ceil(BATCH_CHUNK);
    for chunk_no in 0..chunks {
        let (ring, items, sender) = (Arc::clone(&ring), Arc::clone(&items), sender.clone());
        rayon::spawn(move || {
            let start = chunk_no * BATCH_CHUNK;
            let chunk = &items[start..items.len().min(start + BATCH_CHUNK)];
            // The receiver is gone only if the caller gave up on the batch.
            let _ = sender.send(verify_chunk(&ring, chunk, start));
        });
    }
    SpawnedBatch { results, chunks }
}

impl SpawnedBatch {
    /// Waits for every chunk. As [`verify_batch`], names the first bad
    /// item by its index.
    pub fn wait(self) -> Result<(), CryptoError> {
        let failures: Vec<CryptoError> = (0..self.chunks)
            .filter_map(|_| receive(&self.results).err())
            .collect();
        first_failure(failures)
    }
}

/// The next chunk's result. A rayon worker runs other queued work while it
/// waits, so a chunk it queued itself cannot be stuck behind it.
fn receive(results: &Receiver<Result<(), CryptoError>>) -> Result<(), CryptoError> {
    loop {
        if let Ok(result) = results.try_recv() {
            return result;
        }
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            return results
                .recv()
                .expect("every chunk job sends its result before it ends");
        }
    }
}

/// The failure with the lowest item index, chunks having failed in any
/// order.
fn first_failure(failures: Vec<CryptoError>) -> Result<(), CryptoError> {
    match failures.into_iter().min_by_key(error_index) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn error_index(e: &CryptoError) -> usize {
    match e {
        CryptoError::BadSignature { index, .. } => *index,
        _ => 0,
    }
}

/// Checks a chunk as one ZIP-215 batch. The batch passes exactly when every
/// item passes alone, so only a failed batch is looked at item by item, to
/// name the culprit.
fn verify_chunk(ring: &KeyRing, chunk: &[SignedDigest], offset: usize) -> Result<(), CryptoError> {
    let mut keys = Vec::with_capacity(chunk.len());
    let mut batch = batch::Verifier::new();
    for item in chunk {
        let key = ring.get(&item.key)?;
        batch.queue((
            VerificationKeyBytes::from(*key),
            zebra_signature(&item.signature),
            item.digest.as_bytes(),
        ));
        keys.push(key);
    }
    // Weights the signer cannot predict let an invalid batch pass with
    // negligible probability; a valid batch passes whatever they are.
    if batch.verify(UnwrapErr(SysRng)).is_ok() {
        return Ok(());
    }
    match chunk
        .iter()
        .zip(keys)
        .position(|(item, key)| !holds(key, &item.digest, &item.signature))
    {
        Some(i) => Err(CryptoError::BadSignature {
            index: offset + i,
            key: chunk[i].key.short(),
        }),
        // A batch whose items each hold alone always passes, so this is
        // never reached; the verdict is the items' own.
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{domain, hash_domain};

    fn items(n: usize) -> (KeyRing, Vec<SignedDigest>) {
        let kp = Keypair::from_seed([7; 32]);
        let mut ring = KeyRing::new();
        ring.enrol(kp.public()).unwrap();
        let items = (0..n)
            .map(|i| {
                let digest = hash_domain(domain::RECORD, &(i as u64).to_le_bytes());
                SignedDigest {
                    key: kp.public(),
                    digest,
                    signature: kp.sign(&digest),
                }
            })
            .collect();
        (ring, items)
    }

    #[test]
    fn batch_accepts_good_and_names_the_bad_item() {
        let (ring, mut items) = items(1000);
        assert!(verify_batch(&ring, &items).is_ok());
        items[700].signature.0[5] ^= 1;
        match verify_batch(&ring, &items) {
            Err(CryptoError::BadSignature { index, .. }) => assert_eq!(index, 700),
            other => panic!("expected bad signature, got {other:?}"),
        }
    }

    /// Spawned batches, several in flight at once as the auditor starts
    /// them, each name their own first bad item (the lowest of two).
    #[test]
    fn spawned_batches_agree_with_verify_batch() {
        let (ring, good) = items(1000);
        let ring = Arc::new(ring);
        let mut bad = good.clone();
        bad[900].signature.0[5] ^= 1;
        bad[300].digest.0[0] ^= 1;
        let short = good[..3].to_vec();
        let batches = [good, bad, short, Vec::new()].map(|items| {
            let items: Arc<[SignedDigest]> = items.into();
            spawn_batch(Arc::clone(&ring), items)
        });
        let verdicts = batches.map(SpawnedBatch::wait);
        assert!(verdicts[0].is_ok(), "{:?}", verdicts[0]);
        match &verdicts[1] {
            Err(CryptoError::BadSignature { index, .. }) => assert_eq!(*index, 300),
            other => panic!("expected bad signature, got {other:?}"),
        }
        assert!(verdicts[2].is_ok() && verdicts[3].is_ok(), "{verdicts:?}");
    }

    #[test]
    fn unknown_key_is_refused() {
        let (_, items) = items(3);
        let empty = KeyRing::new();
        assert!(matches!(
            verify_batch(&empty, &items),
            Err(CryptoError::UnknownKey(_))
        ));
    }

    #[test]
    fn weak_key_is_refused_at_enrolment() {
        // The identity point (compressed y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            KeyRing::new().enrol(PublicKey(identity)),
            Err(CryptoError::WeakKey(_))
        ));
    }

    #[test]
    fn key_with_a_torsion_component_is_refused_at_enrolment() {
        let strong = Keypair::from_seed([7; 32]).public();
        let point = CompressedEdwardsY(strong.0).decompress().unwrap();
        let mixed = point + curve25519_dalek::constants::EIGHT_TORSION[1];
        assert!(matches!(
            KeyRing::new().enrol(PublicKey(mixed.compress().0)),
            Err(CryptoError::MixedOrderKey(_))
        ));
    }

    #[test]
    fn non_canonical_key_is_refused_at_enrolment() {
        // y = p + 1 encodes the identity without reducing y mod p.
        let mut encoding = [0xff; 32];
        encoding[0] = 0xee;
        encoding[31] = 0x7f;
        assert!(matches!(
            KeyRing::new().enrol(PublicKey(encoding)),
            Err(CryptoError::NonCanonicalKey(_))
        ));
    }
}
