//! Pseudonyms for people and claims, and commitments to raw bills.
//!
//! An 18-digit ID number has far too little entropy for a plain hash, so
//! `person` and `claim_id` are HMAC-SHA256 tags under a consortium secret that
//! only member departments hold. The secret is versioned by `epoch`; the tag
//! records its epoch so a rotation never silently merges two people.
//! Raw identifiers enter here and never leave: nothing in this module logs,
//! stores or displays them.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hash::{domain, Hash32};
use crate::types::InstitutionId;

/// The consortium secret for one epoch, wiped from memory when dropped.
#[derive(Clone)]
pub struct PseudonymKey {
    epoch: u32,
    secret: [u8; 32],
}

/// A person's pseudonym: `HMAC(secret_epoch, "fundtrail/person/v1" 0x00 id)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PersonId {
    pub epoch: u32,
    pub tag: Hash32,
}

/// A claim's pseudonym: keyed over institution and bill number, so the same
/// bill always yields the same claim id whoever submits it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClaimId {
    pub epoch: u32,
    pub tag: Hash32,
}

impl fmt::Debug for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "person:{}:{}", self.epoch, &self.tag.to_hex()[..12])
    }
}

impl fmt::Debug for ClaimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "claim:{}:{}", self.epoch, &self.tag.to_hex()[..12])
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch, self.tag)
    }
}

impl fmt::Display for ClaimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch, self.tag)
    }
}

impl PseudonymKey {
    pub fn new(epoch: u32, secret: [u8; 32]) -> PseudonymKey {
        PseudonymKey { epoch, secret }
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The secret, for writing the department's key file.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.secret
    }

    /// Pseudonym of an ID-card number. Case and surrounding spaces do not
    /// matter (the check digit may be `x` or `X`).
    pub fn person(&self, id_number: &str) -> PersonId {
        let normalized = id_number.trim().to_ascii_uppercase();
        PersonId {
            epoch: self.epoch,
            tag: self.tag(domain::PERSON, &[normalized.as_bytes()]),
        }
    }

    /// Pseudonym of a bill: institution code plus the hospital's bill number.
    pub fn claim(&self, institution: &InstitutionId, bill_number: &str) -> ClaimId {
        ClaimId {
            epoch: self.epoch,
            tag: self.tag(
                domain::CLAIM,
                &[
                    institution.as_str().as_bytes(),
                    bill_number.trim().as_bytes(),
                ],
            ),
        }
    }

    /// A keyed digest of `parts` under `domain`, for the departments' own
    /// derivations from the consortium secret (a submission's identity,
    /// docs/SUBMISSION.md). Length-prefixed parts cannot run together.
    pub fn derive(&self, domain: &str, parts: &[&[u8]]) -> Hash32 {
        self.tag(domain, parts)
    }

    fn tag(&self, domain: &str, parts: &[&[u8]]) -> Hash32 {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .expect("HMAC accepts keys of any length");
        mac.update(domain.as_bytes());
        for part in parts {
            mac.update(&[0u8]);
            mac.update(&(part.len() as u32).to_be_bytes());
            mac.update(part);
        }
        Hash32(mac.finalize().into_bytes().into())
    }
}

impl Drop for PseudonymKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PseudonymKey(epoch {}, secret hidden)", self.epoch)
    }
}

/// `SHA-256(salt || canonical raw bill)`: binds a claim to the raw bill kept
/// in the submitter's vault without revealing it.
pub fn raw_commitment(salt: &[u8; 32], canonical_raw_bill: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(canonical_raw_bill);
    Hash32(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_pseudonym_is_stable_and_keyed() {
        let k1 = PseudonymKey::new(1, [1; 32]);
        let k2 = PseudonymKey::new(1, [2; 32]);
        let id = "11010519491231002x";
        assert_eq!(k1.person(id), k1.person(" 11010519491231002X "));
        assert_ne!(k1.person(id), k2.person(id));
        assert_ne!(k1.person(id).tag.to_hex(), id);
    }

    #[test]
    fn claim_pseudonym_binds_institution() {
        let k = PseudonymKey::new(3, [9; 32]);
        let a = InstitutionId::new("H4401001").unwrap();
        let b = InstitutionId::new("H4401002").unwrap();
        assert_eq!(k.claim(&a, "B-001"), k.claim(&a, "B-001"));
        assert_ne!(k.claim(&a, "B-001"), k.claim(&b, "B-001"));
        assert_eq!(k.claim(&a, "B-001").epoch, 3);
    }

    #[test]
    fn commitment_changes_with_salt() {
        assert_ne!(
            raw_commitment(&[0; 32], b"bill"),
            raw_commitment(&[1; 32], b"bill")
        );
    }
}
