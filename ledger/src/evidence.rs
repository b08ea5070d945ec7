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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::Block;
    use crate::crypto::Keypair;
    use crate::fixtures::{ChainBuilder, Consortium};
    use crate::hash::hash_domain;

    fn one_block(c: &Consortium) -> Block {
        let mut builder = ChainBuilder::new(c);
        let records = builder.records(1);
        builder.block(records).into_block()
    }

    fn other_block() -> BlockHash {
        BlockHash::from_hash(hash_domain(
            "fundtrail/test/other",
            b"a block never applied",
        ))
    }

    /// The first org's node attesting both the chain's block and another.
    fn equivocation(c: &Consortium, block: &Block) -> Equivocation {
        let node = &c.orgs[0].node;
        let chain_id = &block.header.chain_id;
        let height = block.header.height;
        Equivocation {
            chain_block: block.hash(),
            chain_attestation: Some(Attestation::sign(node, chain_id, height, block.hash())),
            conflicting: Attestation::sign(node, chain_id, height, other_block()),
        }
    }

    #[test]
    fn a_real_conflicting_pair_checks() {
        let c = Consortium::new(1);
        let block = one_block(&c);
        let evidence = equivocation(&c, &block);
        assert_eq!(evidence.check(&c.genesis()), Ok(()));
        let alone = Equivocation {
            chain_attestation: None,
            ..evidence
        };
        assert_eq!(alone.check(&c.genesis()), Ok(()));
    }

    #[test]
    fn a_pair_that_signs_one_block_is_refused() {
        let c = Consortium::new(1);
        let block = one_block(&c);
        let mut evidence = equivocation(&c, &block);
        evidence.conflicting = evidence.chain_attestation.clone().expect("pair");
        assert_eq!(
            evidence.check(&c.genesis()),
            Err(EvidenceError::NotConflicting(block.hash()))
        );
    }

    #[test]
    fn a_pair_of_two_keys_is_refused() {
        let c = Consortium::new(1);
        let block = one_block(&c);
        let mut evidence = equivocation(&c, &block);
        let h = &block.header;
        evidence.chain_attestation = Some(Attestation::sign(
            &c.orgs[1].node,
            &h.chain_id,
            h.height,
            block.hash(),
        ));
        assert_eq!(
            evidence.check(&c.genesis()),
            Err(EvidenceError::PairMismatch)
        );
    }

    #[test]
    fn a_bad_signature_is_refused() {
        let c = Consortium::new(1);
        let block = one_block(&c);
        let mut evidence = equivocation(&c, &block);
        evidence.conflicting.signature.0[0] ^= 1;
        assert_eq!(
            evidence.check(&c.genesis()),
            Err(EvidenceError::BadSignature(c.orgs[0].node.public().short()))
        );
    }

    #[test]
    fn a_key_outside_genesis_or_not_a_node_key_is_refused() {
        let c = Consortium::new(1);
        let block = one_block(&c);
        let h = &block.header;
        for signer in [&Keypair::from_seed([250; 32]), &c.orgs[0].submitter] {
            let evidence = Equivocation {
                chain_block: block.hash(),
                chain_attestation: None,
                conflicting: Attestation::sign(signer, &h.chain_id, h.height, other_block()),
            };
            assert_eq!(
                evidence.check(&c.genesis()),
                Err(EvidenceError::UnknownKey(signer.public().short()))
            );
        }
    }
}
