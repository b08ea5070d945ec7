//! Domain-separated SHA-256 and typed 32-byte digests.
//!
//! Every hash the ledger commits to is `SHA-256(domain || 0x00 || data)` where
//! `domain` is an ASCII constant such as `fundtrail/record/v1`; the Merkle tree
//! alone uses the RFC 6962 prefixes instead (see [`crate::merkle`]).

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::bytes::FixedBytes;

/// Domain tags. Changing one changes every hash of that kind: bump the suffix.
pub mod domain {
    pub const RECORD: &str = "fundtrail/record/v1";
    pub const APPROVAL: &str = "fundtrail/approval/v1";
    pub const BLOCK: &str = "fundtrail/block/v1";
    pub const GENESIS: &str = "fundtrail/genesis/v1";
    pub const ATTESTATION: &str = "fundtrail/attestation/v1";
    pub const STATE: &str = "fundtrail/state/v1";
    pub const PERSON: &str = "fundtrail/person/v1";
    pub const CLAIM: &str = "fundtrail/claim/v1";
}

/// A raw 32-byte SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    pub const ZERO: Hash32 = Hash32([0; 32]);

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<Self, hex::FromHexError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)?;
        Ok(Hash32(out))
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &self.to_hex()[..16])
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        FixedBytes(self.0).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        FixedBytes::<32>::deserialize(d).map(|b| Hash32(b.0))
    }
}

/// `SHA-256(domain || 0x00 || data)`.
pub fn hash_domain(domain: &str, data: &[u8]) -> Hash32 {
    let mut h = DomainHasher::new(domain);
    h.update(data);
    h.finish()
}

/// `SHA-256(domain || 0x00 || canonical(value))`, the same digest as
/// [`hash_domain`] over [`crate::codec::encode`], without building the
/// encoding: the serializer writes through a small buffer into the hash.
pub fn hash_encoded<T: Serialize>(domain: &str, value: &T) -> Hash32 {
    let mut h = DomainHasher::new(domain);
    crate::codec::encode_into(&mut h, value);
    h.finish()
}

/// An incremental `SHA-256(domain || 0x00 || …)`, buffered so that the
/// one-byte writes of a serializer stay cheap.
pub struct DomainHasher {
    sha: Sha256,
    buf: [u8; 256],
    len: usize,
}

impl DomainHasher {
    pub fn new(domain: &str) -> DomainHasher {
        let mut sha = Sha256::new();
        sha.update(domain.as_bytes());
        sha.update([0u8]);
        DomainHasher {
            sha,
            buf: [0; 256],
            len: 0,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        if self.len + data.len() <= self.buf.len() {
            self.buf[self.len..self.len + data.len()].copy_from_slice(data);
            self.len += data.len();
            return;
        }
        self.flush_buf();
        if data.len() >= self.buf.len() {
            self.sha.update(data);
        } else {
            self.buf[..data.len()].copy_from_slice(data);
            self.len = data.len();
        }
    }

    fn flush_buf(&mut self) {
        self.sha.update(&self.buf[..self.len]);
        self.len = 0;
    }

    pub fn finish(mut self) -> Hash32 {
        self.flush_buf();
        Hash32(self.sha.finalize().into())
    }
}

impl std::io::Write for DomainHasher {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.update(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A digest that is known to be the hash of a `T`, so a block hash cannot be
/// passed where a record id is expected.
pub struct HashOf<T> {
    hash: Hash32,
    _of: PhantomData<fn() -> T>,
}

impl<T> HashOf<T> {
    pub const fn from_hash(hash: Hash32) -> Self {
        HashOf {
            hash,
            _of: PhantomData,
        }
    }

    pub fn hash(&self) -> Hash32 {
        self.hash
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.hash.0
    }

    pub fn to_hex(&self) -> String {
        self.hash.to_hex()
    }

    pub fn from_hex(s: &str) -> Result<Self, hex::FromHexError> {
        Hash32::from_hex(s).map(Self::from_hash)
    }
}

impl<T> Clone for HashOf<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for HashOf<T> {}
impl<T> PartialEq for HashOf<T> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
    }
}
impl<T> Eq for HashOf<T> {}
impl<T> PartialOrd for HashOf<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for HashOf<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.hash.cmp(&other.hash)
    }
}
impl<T> std::hash::Hash for HashOf<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.hash.hash(state)
    }
}
impl<T> fmt::Debug for HashOf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.hash, f)
    }
}
impl<T> fmt::Display for HashOf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.hash, f)
    }
}
impl<T> Serialize for HashOf<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.hash.serialize(s)
    }
}
impl<'de, T> Deserialize<'de> for HashOf<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Hash32::deserialize(d).map(Self::from_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_separate_equal_data() {
        assert_ne!(
            hash_domain(domain::RECORD, b"x"),
            hash_domain(domain::BLOCK, b"x")
        );
    }

    #[test]
    fn domain_hash_matches_manual_concatenation() {
        let manual: [u8; 32] = Sha256::digest(b"fundtrail/record/v1\x00abc").into();
        assert_eq!(hash_domain(domain::RECORD, b"abc").0, manual);
    }

    #[test]
    fn streamed_hash_matches_hash_of_encoding() {
        // Values around the 256-byte buffer, so every update path runs.
        for len in [0usize, 1, 200, 255, 256, 257, 600, 5000] {
            let value: (Vec<u8>, u64, Option<String>) = (
                (0..len).map(|i| i as u8).collect(),
                len as u64,
                Some("x".repeat(len / 3)),
            );
            assert_eq!(
                hash_encoded(domain::BLOCK, &value),
                hash_domain(domain::BLOCK, &crate::codec::encode(&value)),
                "value of {len} bytes"
            );
        }
    }
}
