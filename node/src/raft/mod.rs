//! Raft ordering with openraft 0.9. One log entry is one batch of signed
//! records (`crate::entry`); applying it produces (at most) one block. The
//! log, vote and committed index live in the node's RocksDB; the state
//! machine is the ledger plus the contracts; a snapshot is the chain itself.

pub mod inbound;
pub mod install_quiet;
pub mod log_store;
pub mod membership;
pub mod network;
pub mod snapshot_receive;
pub mod state_machine;
pub mod step_aside;

use crate::entry::{NodeId, TypeConfig};

pub type Raft = openraft::Raft<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;

/// A failed write as openraft's storage error.
pub fn write_err<E: std::error::Error + 'static>(e: E) -> StorageError {
    openraft::StorageIOError::write(&e).into()
}

/// A failed read as openraft's storage error.
pub fn read_err<E: std::error::Error + 'static>(e: E) -> StorageError {
    openraft::StorageIOError::read(&e).into()
}
