//! The chain as a transparency log: the checkpoint tree over its blocks,
//! consistency proofs between its sizes, and signed checkpoints in the C2SP
//! formats (signed-note, tlog-checkpoint, tlog-cosignature), so that tools
//! outside fundtrail can check its heads. Pure: no storage, no clock.
//!
//! - [`tree`]: leaves are blocks; the frontier appends and gives the root.
//! - [`consistency`]: RFC 9162 consistency proofs.

pub mod consistency;
pub mod tree;

pub use consistency::{prove_consistency, verify_consistency, ConsistencyError, ConsistencyProof};
pub use tree::{block_leaf, Frontier, FrontierError};
