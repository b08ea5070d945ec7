//! The chain as a transparency log: the checkpoint tree over its blocks,
//! consistency proofs between its sizes, and signed checkpoints in the C2SP
//! formats (signed-note, tlog-checkpoint, tlog-cosignature), so that tools
//! outside fundtrail can check its heads. Pure: no storage, no clock.
//!
//! - [`tree`]: leaves are blocks; the frontier appends and gives the root.
//! - [`consistency`]: RFC 9162 consistency proofs.
//! - [`note`]: the signed-note text format.
//! - [`cosignature`]: the tlog-cosignature/v1 message and signature bytes.
//! - [`keys`]: vkeys, signers and opening a note against trusted keys.
//! - [`checkpoint`]: the checkpoint text and the signed checkpoint.

pub mod checkpoint;
pub mod consistency;
pub mod cosignature;
pub mod keys;
pub mod note;
pub mod tree;

pub use checkpoint::{origin, Checkpoint, CheckpointError, SignedCheckpoint};
pub use consistency::{prove_consistency, verify_consistency, ConsistencyError, ConsistencyProof};
pub use keys::{
    open, Cosigner, Ed25519Signer, OpenError, Opened, VerifiedSignature, Vkey, VkeyError,
};
pub use note::{KeyId, KeyName, KeyType, Note, NoteError, NoteSignature};
pub use tree::{block_leaf, Frontier, FrontierError};
