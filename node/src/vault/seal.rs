//! One vault entry at rest: the byte layout of a sealed entry and the
//! authenticated encryption that makes it. The layout is written down in
//! docs/ENCODING.md, "Vault entries at rest":
//!
//! ```text
//! version (1) ‖ cipher id (1) ‖ key id (8) ‖ nonce (12) ‖ ciphertext ‖ tag (16)
//! ```
//!
//! The associated data is `"fundtrail/vault/entry/v1" ‖ record id (32) ‖
//! header (22)`, so an entry moved under another record id, or given
//! another header, fails to open. The key operations themselves go
//! through a [`VaultKeys`] source.

use std::fmt;

use fundtrail_ledger::record::RecordId;
use rand_core::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::keys::{KeyError, VaultKeys};

/// The only format version this node writes and reads.
pub const FORMAT_VERSION: u8 = 1;
pub const KEY_ID_LEN: usize = 8;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// Version, cipher id, key id and nonce.
pub const HEADER_LEN: usize = 2 + KEY_ID_LEN + NONCE_LEN;
const AAD_DOMAIN: &[u8] = b"fundtrail/vault/entry/v1";

/// The authenticated cipher an entry is sealed with. `node.toml` names it
/// in `[vault] cipher`; the stored entry names it by its id byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cipher {
    /// AES-256-GCM (id 1), the default.
    #[default]
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
    /// SM4-GCM (id 2, GB/T 32907 SM4 in GCM mode as in RFC 8998), for
    /// deployments that require 国密 algorithms.
    #[serde(rename = "sm4-gcm")]
    Sm4Gcm,
}

impl Cipher {
    pub fn id(self) -> u8 {
        match self {
            Cipher::Aes256Gcm => 1,
            Cipher::Sm4Gcm => 2,
        }
    }

    pub fn from_id(id: u8) -> Option<Cipher> {
        match id {
            1 => Some(Cipher::Aes256Gcm),
            2 => Some(Cipher::Sm4Gcm),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cipher::Aes256Gcm => "aes-256-gcm",
            Cipher::Sm4Gcm => "sm4-gcm",
        }
    }
}

impl fmt::Display for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Names a vault key without revealing it: the first 8 bytes of
/// `SHA-256("fundtrail/vault/key-id/v1" ‖ secret)`. Shown as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl KeyId {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<KeyId> {
        hex::decode(s.trim()).ok()?.try_into().ok().map(KeyId)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

/// What precedes the ciphertext of a sealed entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub cipher: Cipher,
    pub key_id: KeyId,
    pub nonce: [u8; NONCE_LEN],
}

impl Header {
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = FORMAT_VERSION;
        out[1] = self.cipher.id();
        out[2..2 + KEY_ID_LEN].copy_from_slice(&self.key_id.0);
        out[2 + KEY_ID_LEN..].copy_from_slice(&self.nonce);
        out
    }

    /// The header of a stored entry, checking it is long enough to hold a
    /// header and a tag.
    pub fn parse(stored: &[u8]) -> Result<Header, OpenError> {
        if stored.len() < HEADER_LEN + TAG_LEN {
            return Err(OpenError::Truncated { len: stored.len() });
        }
        if stored[0] != FORMAT_VERSION {
            return Err(OpenError::UnknownVersion(stored[0]));
        }
        let cipher = Cipher::from_id(stored[1]).ok_or(OpenError::UnknownCipher(stored[1]))?;
        let mut key_id = [0u8; KEY_ID_LEN];
        key_id.copy_from_slice(&stored[2..2 + KEY_ID_LEN]);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&stored[2 + KEY_ID_LEN..HEADER_LEN]);
        Ok(Header {
            cipher,
            key_id: KeyId(key_id),
            nonce,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("vault key {key_id} could not seal: {source}")]
    Key {
        key_id: KeyId,
        #[source]
        source: KeyError,
    },
}

/// Why a stored entry did not open. No variant carries any of its content.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the stored entry is {len} bytes, too short to be a sealed entry")]
    Truncated { len: usize },
    #[error("the stored entry has format version {0}; this node reads version {FORMAT_VERSION}")]
    UnknownVersion(u8),
    #[error("the stored entry names cipher id {0}, which this node does not know")]
    UnknownCipher(u8),
    #[error(
        "it is sealed under vault key {0}, which this node does not hold \
         (name that key's file in [vault] previous_key_files)"
    )]
    UnknownKey(KeyId),
    #[error(
        "it does not authenticate under vault key {0} ({1}): the key is wrong, or the entry \
         was altered or moved to another record"
    )]
    Rejected(KeyId, Cipher),
    #[error("vault key {0} is unavailable: {1}")]
    Unavailable(KeyId, String),
}

impl OpenError {
    fn from_key(key_id: KeyId, cipher: Cipher, e: KeyError) -> OpenError {
        match e {
            KeyError::Unknown(id) => OpenError::UnknownKey(id),
            KeyError::Rejected => OpenError::Rejected(key_id, cipher),
            KeyError::Unavailable(reason) => OpenError::Unavailable(key_id, reason),
        }
    }
}

/// Seals `plaintext` for record `record` under the source's sealing key,
/// with a fresh random nonce. A 96-bit random nonce stays safe for far
/// more entries than a department's vault holds under one key (the GCM
/// bound is 2^32 per key).
pub fn seal(
    keys: &dyn VaultKeys,
    record: &RecordId,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand_core::OsRng.fill_bytes(&mut nonce);
    seal_with_nonce(keys, record, plaintext, nonce)
}

/// [`seal`] with the nonce given.
pub fn seal_with_nonce(
    keys: &dyn VaultKeys,
    record: &RecordId,
    plaintext: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Result<Vec<u8>, SealError> {
    let (key_id, cipher) = keys.sealing();
    let header = Header {
        cipher,
        key_id,
        nonce,
    }
    .to_bytes();
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&header);
    out.extend_from_slice(plaintext);
    let aad = associated_data(record, &header);
    match keys.encrypt(&key_id, cipher, &nonce, &aad, &mut out[HEADER_LEN..]) {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            Ok(out)
        }
        Err(source) => {
            out.zeroize();
            Err(SealError::Key { key_id, source })
        }
    }
}

/// Opens a stored entry of record `record`; the plaintext is wiped when
/// dropped.
pub fn open(
    keys: &dyn VaultKeys,
    record: &RecordId,
    stored: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let header = Header::parse(stored)?;
    let (body, tag) = stored[HEADER_LEN..].split_at(stored.len() - HEADER_LEN - TAG_LEN);
    let tag: &[u8; TAG_LEN] = tag.try_into().expect("split at TAG_LEN from the end");
    let aad = associated_data(record, &stored[..HEADER_LEN]);
    let mut plain = Zeroizing::new(body.to_vec());
    keys.decrypt(
        &header.key_id,
        header.cipher,
        &header.nonce,
        &aad,
        &mut plain,
        tag,
    )
    .map_err(|e| OpenError::from_key(header.key_id, header.cipher, e))?;
    Ok(plain)
}

/// `"fundtrail/vault/entry/v1" ‖ record id ‖ header`.
fn associated_data(record: &RecordId, header: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + 32 + header.len());
    aad.extend_from_slice(AAD_DOMAIN);
    aad.extend_from_slice(record.as_bytes());
    aad.extend_from_slice(header);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::keys::{FileKeys, VaultKey};
    use fundtrail_ledger::hash::Hash32;

    const RAW: &[u8] = b"440106195803120419|ZY2026-0000123|a raw bill";

    fn record(n: u8) -> RecordId {
        RecordId::from_hash(Hash32([n; 32]))
    }

    fn keys(secret: u8, cipher: Cipher) -> FileKeys {
        FileKeys::new(VaultKey::from_secret([secret; 32]), cipher, Vec::new())
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn an_entry_round_trips_under_both_ciphers_and_hides_its_content() {
        for cipher in [Cipher::Aes256Gcm, Cipher::Sm4Gcm] {
            let keys = keys(7, cipher);
            let sealed = seal(&keys, &record(1), RAW).expect("sealed");
            assert_eq!(sealed.len(), HEADER_LEN + RAW.len() + TAG_LEN);
            assert_eq!(sealed[0], FORMAT_VERSION);
            assert_eq!(sealed[1], cipher.id());
            assert_eq!(&sealed[2..10], &keys.sealing().0 .0);
            assert!(!contains(&sealed, b"440106195803120419"), "{cipher}");
            assert!(!contains(&sealed, b"ZY2026"), "{cipher}");
            let opened = open(&keys, &record(1), &sealed).expect("opens");
            assert_eq!(opened.as_slice(), RAW, "{cipher}");
            let again = seal(&keys, &record(1), RAW).expect("sealed");
            assert_ne!(again, sealed, "a fresh nonce each time");
        }
    }

    #[test]
    fn the_two_ciphers_give_different_ciphertexts_under_one_secret() {
        let nonce = [9u8; NONCE_LEN];
        let aes = seal_with_nonce(&keys(7, Cipher::Aes256Gcm), &record(1), RAW, nonce).unwrap();
        let sm4 = seal_with_nonce(&keys(7, Cipher::Sm4Gcm), &record(1), RAW, nonce).unwrap();
        assert_ne!(aes[HEADER_LEN..], sm4[HEADER_LEN..]);
        // An entry is opened with the cipher its header names, whatever
        // the node seals new entries with.
        let opened = open(&keys(7, Cipher::Aes256Gcm), &record(1), &sm4).expect("opens");
        assert_eq!(opened.as_slice(), RAW);
    }

    #[test]
    fn a_key_the_node_does_not_hold_names_the_key_id() {
        let sealed = seal(&keys(7, Cipher::Aes256Gcm), &record(1), RAW).unwrap();
        let other = keys(8, Cipher::Aes256Gcm);
        let err = open(&other, &record(1), &sealed).expect_err("unknown key");
        let id = VaultKey::from_secret([7; 32]).id();
        assert!(
            matches!(err, OpenError::UnknownKey(k) if k == id),
            "{err:?}"
        );
        assert!(err.to_string().contains(&id.to_hex()), "{err}");
    }

    #[test]
    fn a_wrong_secret_behind_a_known_key_id_fails_authentication() {
        // Another secret answering to the same key id (as a key source that
        // mislabels its keys would): the tag check refuses it.
        let sealed = seal(&keys(7, Cipher::Sm4Gcm), &record(1), RAW).unwrap();
        let mut forged = sealed.clone();
        let other_id = VaultKey::from_secret([8; 32]).id();
        forged[2..10].copy_from_slice(&other_id.0);
        let err = open(&keys(8, Cipher::Sm4Gcm), &record(1), &forged).expect_err("refused");
        assert!(
            matches!(err, OpenError::Rejected(k, Cipher::Sm4Gcm) if k == other_id),
            "{err:?}"
        );
    }

    #[test]
    fn tampering_with_the_ciphertext_tag_header_or_record_id_is_detected() {
        for cipher in [Cipher::Aes256Gcm, Cipher::Sm4Gcm] {
            let keys = keys(7, cipher);
            let sealed = seal(&keys, &record(1), RAW).unwrap();
            for at in [HEADER_LEN, HEADER_LEN + 10, sealed.len() - 1, 12, 21] {
                let mut bad = sealed.clone();
                bad[at] ^= 0x01;
                assert!(
                    matches!(open(&keys, &record(1), &bad), Err(OpenError::Rejected(..))),
                    "{cipher}: a flipped bit at {at} is detected"
                );
            }
            // The cipher byte swapped: the other cipher and the header in the
            // associated data both refuse it.
            let mut swapped = sealed.clone();
            swapped[1] = match cipher {
                Cipher::Aes256Gcm => Cipher::Sm4Gcm.id(),
                Cipher::Sm4Gcm => Cipher::Aes256Gcm.id(),
            };
            assert!(matches!(
                open(&keys, &record(1), &swapped),
                Err(OpenError::Rejected(..))
            ));
            assert!(
                matches!(
                    open(&keys, &record(2), &sealed),
                    Err(OpenError::Rejected(..))
                ),
                "an entry moved to another record does not open"
            );
            let mut version = sealed.clone();
            version[0] = 2;
            assert!(matches!(
                open(&keys, &record(1), &version),
                Err(OpenError::UnknownVersion(2))
            ));
            let mut unknown = sealed.clone();
            unknown[1] = 9;
            assert!(matches!(
                open(&keys, &record(1), &unknown),
                Err(OpenError::UnknownCipher(9))
            ));
            assert!(matches!(
                open(&keys, &record(1), &sealed[..HEADER_LEN + TAG_LEN - 1]),
                Err(OpenError::Truncated { .. })
            ));
            let mut cut = sealed.clone();
            cut.truncate(sealed.len() - 1);
            assert!(open(&keys, &record(1), &cut).is_err(), "a cut entry fails");
        }
    }

    #[test]
    fn an_empty_plaintext_seals_and_opens() {
        let keys = keys(3, Cipher::Aes256Gcm);
        let sealed = seal(&keys, &record(4), b"").unwrap();
        assert_eq!(sealed.len(), HEADER_LEN + TAG_LEN);
        assert!(open(&keys, &record(4), &sealed).unwrap().is_empty());
    }
}
