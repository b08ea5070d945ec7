//! Equivocation evidence: a genesis node key's valid attestation of a block
//! other than the chain's at a height the chain holds. Honest nodes build
//! byte-identical blocks and attest only what they applied, so such a
//! signature shows its node signed a block it did not apply. The evidence
//! carries the same key's attestation of the chain's block when one is
//! held; then the key signed two different blocks at one height.

use serde::{Deserialize, Serialize};

use crate::block::{Attestation, BlockHash, Genesis};
use crate::crypto::{verify_one, PublicKey};
use crate::types::{Height, KeyRole};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Equivocation {
    /// The chain's block at the evidence's height.
    pub chain_block: BlockHash,
    /// The key's attestation of `chain_block`, when one is held.
    pub chain_attestation: Option<Attestation>,
    /// The same key's attestation of another block at that height.
    pub conflicting: Attestation,
}

/// Why evidence does not prove an equivocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("evidence names chain {0}, not this chain")]
    OtherChain(String),
    #[error("key {0} is not a genesis node key")]
    UnknownKey(String),
    #[error("the conflicting attestation signs the chain's block {0}: nothing conflicts")]
    NotConflicting(BlockHash),
    #[error("the attestation of the chain's block is for another chain, height, key or block")]
    PairMismatch,
    #[error("an attestation signature by key {0} does not verify")]
    BadSignature(String),
}

impl Equivocation {
    pub fn height(&self) -> Height {
        self.conflicting.height
    }

    pub fn node_key(&self) -> PublicKey {
        self.conflicting.node_key
    }

    /// The block the key attested besides the chain's.
    pub fn conflicting_block(&self) -> BlockHash {
        self.conflicting.block_hash
    }

    /// Checks the evidence proves what it claims under `genesis`: one chain,
    /// height and genesis node key; two different blocks; every signature
    /// valid.
    pub fn check(&self, genesis: &Genesis) -> Result<(), EvidenceError> {
        let c = &self.conflicting;
        if c.chain_id != genesis.chain_id {
            return Err(EvidenceError::OtherChain(c.chain_id.to_string()));
        }
        let is_node_key = genesis
            .keys_with_role(KeyRole::Node)
            .any(|(_, k)| *k == c.node_key);
        if !is_node_key {
            return Err(EvidenceError::UnknownKey(c.node_key.short()));
        }
        if c.block_hash == self.chain_block {
            return Err(EvidenceError::NotConflicting(self.chain_block));
        }
        if let Some(a) = &self.chain_attestation {
            let same_slot =
                a.chain_id == c.chain_id && a.height == c.height && a.node_key == c.node_key;
            if !same_slot || a.block_hash != self.chain_block {
                return Err(EvidenceError::PairMismatch);
            }
        }
        self.chain_attestation
            .iter()
            .chain(std::iter::once(c))
            .try_for_each(check_signature)
    }
}

fn check_signature(a: &Attestation) -> Result<(), EvidenceError> {
    let d = a.signed_digest();
    verify_one(&d.key, &d.digest, &d.signature)
        .map_err(|_| EvidenceError::BadSignature(d.key.short()))
}
