//! What one Raft log entry is: a [`Batch`] of signed records proposed and
//! signed by the leader, what applying it did ([`BatchApplied`]), and
//! openraft's type configuration naming them. Every layer that handles
//! entries (the chain, the wire, Raft itself) shares these types.

use fundtrail_ledger::block::Outcome;
use fundtrail_ledger::crypto::{verify_one, CryptoError, Keypair, PublicKey, Signature};
use fundtrail_ledger::hash::{hash_domain, Hash32};
use fundtrail_ledger::record::{RecordId, SignedRecord};
use fundtrail_ledger::types::Height;
use fundtrail_ledger::ChainId;
use serde::{Deserialize, Serialize};

pub type NodeId = u64;

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Batch,
        R = BatchApplied,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        SnapshotData = tokio::fs::File,
);

pub type LogId = openraft::LogId<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;

/// Domain of a proposal's signed digest.
const PROPOSAL_DOMAIN: &str = "fundtrail/proposal/v1";

/// What the leader proposes: records in arrival order and a timestamp,
/// signed with the leader's node key. Every node turns it into the same
/// block, whose header names the proposer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub proposer: PublicKey,
    pub timestamp_ms: u64,
    pub records: Vec<SignedRecord>,
    /// The proposer's signature over [`Batch::digest`].
    pub signature: Signature,
}

impl Batch {
    /// A batch signed by `node`, the leader proposing it.
    pub fn propose(
        node: &Keypair,
        chain_id: &ChainId,
        timestamp_ms: u64,
        records: Vec<SignedRecord>,
    ) -> Batch {
        let proposer = node.public();
        let digest = proposal_digest(chain_id, &proposer, timestamp_ms, &records);
        Batch {
            proposer,
            timestamp_ms,
            records,
            signature: node.sign(&digest),
        }
    }

    /// What the proposer signs: the chain, the proposer, the timestamp and
    /// every record, in order.
    pub fn digest(&self, chain_id: &ChainId) -> Hash32 {
        proposal_digest(chain_id, &self.proposer, self.timestamp_ms, &self.records)
    }

    /// Whether `proposer` signed this batch for `chain_id`.
    pub fn check_signature(&self, chain_id: &ChainId) -> Result<(), CryptoError> {
        verify_one(&self.proposer, &self.digest(chain_id), &self.signature)
    }
}

fn proposal_digest(
    chain_id: &ChainId,
    proposer: &PublicKey,
    timestamp_ms: u64,
    records: &[SignedRecord],
) -> Hash32 {
    let signed = (chain_id, proposer, timestamp_ms, records);
    hash_domain(PROPOSAL_DOMAIN, &fundtrail_ledger::codec::encode(&signed))
}

impl std::fmt::Display for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "batch of {} records", self.records.len())
    }
}

/// What applying a batch did with each of its records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchApplied {
    pub height: Option<Height>,
    pub placements: Vec<(RecordId, Placement)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Placement {
    /// In the new block at this index, with the contracts' verdict, so the
    /// client's receipt needs no read of the record just committed.
    Included {
        height: Height,
        index: u32,
        outcome: Outcome,
    },
    /// Already on the chain (a retried submission): no second effect.
    Duplicate,
    /// Never entered a block: it fails a check every node makes before the
    /// contracts (signature, key, form). Submission checks these up front,
    /// so this only happens to records that bypassed them.
    Dropped { reason: String },
}
