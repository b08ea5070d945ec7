//! fundtrail-ledger: the formats every node and auditor agree on.
//!
//! - [`types`], [`hash`], [`crypto`], [`pseudonym`]: building blocks.
//! - [`record`]: the signed envelope and the record kinds.
//! - [`intake`]: submission lines with raw identifiers, pseudonymised into
//!   record bodies (docs/SUBMISSION.md).
//! - [`block`], [`merkle`]: blocks, outcomes, attestations, proofs.
//! - [`evidence`]: equivocation evidence against a node key.
//! - [`codec`]: the canonical encoding (docs/ENCODING.md).
//! - [`chainfile`]: the framed export format; [`verify`]: offline checks.
//! - [`store`] (feature `store`): the RocksDB store, the only I/O here
//!   besides the streaming reader and writer of chain files.
//!
//! This crate knows nothing about contract rules, networks or clocks.

mod bytes;

pub mod block;
pub mod chainfile;
pub mod codec;
pub mod crypto;
pub mod evidence;
pub mod fixtures;
pub mod hash;
pub mod intake;
pub mod merkle;
pub mod pseudonym;
pub mod record;
#[cfg(feature = "store")]
pub mod store;
pub mod types;
pub mod verify;

pub use block::{Attestation, Block, BlockHash, BlockHeader, Genesis, Outcome, Verdict};
pub use crypto::{Keypair, PublicKey, Signature};
pub use hash::{Hash32, HashOf};
pub use record::{Envelope, RecordBody, RecordId, RecordKind, SignedRecord};
pub use types::{Amount, ChainId, Date, Height};
