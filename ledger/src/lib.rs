//! fundtrail-ledger: the formats every node and auditor agree on.
//!
//! - [`types`], [`hash`], [`crypto`], [`pseudonym`]: building blocks.
//! - [`record`]: the signed envelope and the record kinds.
//! - [`lookup`]: the questions a submitter asks of the chain (the standing
//!   payout of a claim, a clearing's claim-set root); the rule engine
//!   answers them and client-side intake (`fundtrail-intake`) asks them.
//! - [`block`], [`merkle`]: blocks, outcomes, attestations, proofs.
//! - [`evidence`]: equivocation evidence against a node key.
//! - [`membership`]: organisations and keys in force at each height.
//! - [`tlog`]: the chain as a transparency log: the checkpoint tree,
//!   consistency proofs, and C2SP signed checkpoints and cosignatures.
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
pub mod hash;
pub mod lookup;
pub mod membership;
pub mod merkle;
pub mod pseudonym;
pub mod record;
#[cfg(feature = "store")]
pub mod store;
pub mod tlog;
pub mod types;
pub mod verify;

pub use block::{Attestation, Block, BlockHash, BlockHeader, Genesis, Outcome, Verdict};
pub use crypto::{Keypair, PublicKey, Signature};
pub use hash::{Hash32, HashOf};
pub use record::{Envelope, RecordBody, RecordId, RecordKind, SignedRecord};
pub use types::{Amount, ChainId, Date, Height};
