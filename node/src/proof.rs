//! `fundtrail prove` and `fundtrail verify-proof`: an inclusion proof of
//! one record and its outcome, checked offline against a block header that
//! the consortium's nodes attested, or that a signed checkpoint holds.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context, Result};
use fundtrail_ledger::block::{Attestation, Block, BlockHeader, Genesis, Outcome, RecordProof};
use fundtrail_ledger::codec;
use fundtrail_ledger::crypto::verify_one;
use fundtrail_ledger::merkle::{self, InclusionProof};
use fundtrail_ledger::tlog::{block_leaf, Checkpoint};
use fundtrail_ledger::types::KeyRole;
use serde::{Deserialize, Serialize};

/// A proof file: the record in `header.records_root`, its outcome in
/// `header.outcomes_root`, and the attestations of `header`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofFile {
    pub header: BlockHeader,
    pub record: RecordProof,
    pub outcome: Outcome,
    pub outcome_proof: InclusionProof,
    pub attestations: Vec<Attestation>,
    /// The block's audit path in a checkpoint tree (docs/ENCODING.md §9),
    /// when the proof was made against a checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_in_checkpoint: Option<InclusionProof>,
}

impl ProofFile {
    pub fn build(block: &Block, index: usize, attestations: Vec<Attestation>) -> Result<ProofFile> {
        let leaves: Vec<_> = block
            .outcomes
            .iter()
            .map(|o| merkle::leaf_hash(&codec::encode(o)))
            .collect();
        Ok(ProofFile {
            header: block.header.clone(),
            record: RecordProof::build(block, index)?,
            outcome: block.outcomes[index].clone(),
            outcome_proof: merkle::prove(&leaves, index)?,
            attestations,
            block_in_checkpoint: None,
        })
    }

    /// Checks both inclusions and counts the organisations whose node
    /// keys (from `genesis`) validly attested the header.
    pub fn verify(&self, genesis: &Genesis) -> Result<usize> {
        self.verify_contents()?;
        Ok(self.attesting_orgs(genesis))
    }

    /// Checks both inclusions and that the block is the one `checkpoint`
    /// holds at its height.
    pub fn verify_in(&self, checkpoint: &Checkpoint) -> Result<()> {
        self.verify_contents()?;
        let path = self.block_in_checkpoint.as_ref().context(
            "the proof carries no path to a checkpoint (make it with prove --checkpoint)",
        )?;
        let height = self.header.height.0;
        if path.size != checkpoint.size() || path.index.checked_add(1) != Some(height) {
            bail!(
                "the proof's path is for block {} of {} blocks, not block {height} of the checkpoint's {}",
                path.index + 1,
                path.size,
                checkpoint.size()
            );
        }
        merkle::verify(path, &block_leaf(&self.header.hash()), checkpoint.root())
            .context("the block is not the one the checkpoint holds at its height")
    }

    /// The record in `records_root` and its outcome in `outcomes_root`.
    fn verify_contents(&self) -> Result<()> {
        self.record
            .verify(&self.header)
            .context("the record is not in the block")?;
        if self.outcome.record_id != self.record.record_id() {
            bail!("the outcome is about another record");
        }
        let leaf = merkle::leaf_hash(&codec::encode(&self.outcome));
        merkle::verify(&self.outcome_proof, &leaf, &self.header.outcomes_root)
            .context("the outcome is not in the block")
    }

    fn attesting_orgs(&self, genesis: &Genesis) -> usize {
        let hash = self.header.hash();
        let mut orgs = BTreeSet::new();
        for a in &self.attestations {
            let Some(org) = genesis
                .keys_with_role(KeyRole::Node)
                .find(|(_, k)| **k == a.node_key)
                .map(|(o, _)| o)
            else {
                continue;
            };
            let d = a.signed_digest();
            let valid = a.block_hash == hash
                && a.height == self.header.height
                && a.chain_id == genesis.chain_id
                && verify_one(&d.key, &d.digest, &d.signature).is_ok();
            if valid {
                orgs.insert(org.clone());
            }
        }
        orgs.len()
    }
}

pub fn write(path: &Path, proof: &ProofFile) -> Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(proof)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

pub fn read(path: &Path) -> Result<ProofFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a proof file", path.display()))
}

/// Organisations with node keys: a majority of them is the default quorum.
pub fn default_quorum(genesis: &Genesis) -> usize {
    let orgs: BTreeSet<_> = genesis
        .keys_with_role(KeyRole::Node)
        .map(|(o, _)| o)
        .collect();
    orgs.len() / 2 + 1
}
