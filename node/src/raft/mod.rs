//! Raft ordering with openraft 0.9. One log entry is one batch of signed
//! records; applying it produces (at most) one block. The log, vote and
//! committed index live in the node's RocksDB; the state machine is the
//! ledger plus the contracts; a snapshot is the chain itself.

pub mod install_quiet;
pub mod log_store;
pub mod network;
pub mod state_machine;

use fundtrail_ledger::block::Outcome;
use fundtrail_ledger::crypto::PublicKey;
use fundtrail_ledger::record::{RecordId, SignedRecord};
use fundtrail_ledger::types::Height;
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

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type StorageError = openraft::StorageError<NodeId>;

/// What the leader proposes: records in arrival order and a timestamp.
/// Every node turns it into the same block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub proposer: PublicKey,
    pub timestamp_ms: u64,
    pub records: Vec<SignedRecord>,
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

/// A failed write as openraft's storage error.
pub fn write_err<E: std::error::Error + 'static>(e: E) -> StorageError {
    openraft::StorageIOError::write(&e).into()
}

/// A failed read as openraft's storage error.
pub fn read_err<E: std::error::Error + 'static>(e: E) -> StorageError {
    openraft::StorageIOError::read(&e).into()
}
