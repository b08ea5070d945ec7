//! fundtrail-contracts: the deterministic rule engine every node and auditor
//! runs on every record (design §5).
//!
//! - [`state`]: the key-value interface the engine reads, and the overlay
//!   that collects one block's writes in key order.
//! - [`model`]: state keys and the values stored under them.
//! - [`policy`]: the genesis default policy (`policy/default.toml`) and
//!   the default payment policy (`policy/payment.toml`).
//! - [`payment`]: payment by groups (DRG/DIP) and the period settlement
//!   by points.
//! - [`mod@quote`]: one-stop entitlement (一站式结算) with subtractive chaining.
//! - [`rules`]: one module per record kind, the rules versions and the
//!   types rules share; [`engine`] dispatches to them by rules version.
//! - [`error`]: storage failures, fatal execution errors, and why a rule
//!   did not accept.
//! - [`codes`]: the stable rejection and signal codes.
//! - [`lookup`]: answers submission lines' references from state.
//! - [`replay`]: re-execution of recorded blocks and the offline
//!   [`Auditor`].
//!
//! The crate does no I/O, reads no clock, draws no randomness and uses no
//! floating point: the same records on the same state give the same outcomes
//! and the same state root on every machine.

#![deny(clippy::float_arithmetic)]

pub mod codes;
pub mod engine;
pub mod error;
pub mod lookup;
pub mod model;
pub mod payment;
pub mod policy;
pub mod quote;
pub mod replay;
pub mod rules;
pub mod state;

pub use codes::RuleCode;
pub use engine::{
    execute_block, execute_identified, genesis_state, genesis_state_root, rules_version_at,
    BlockContext, BlockExecution,
};
pub use error::{ExecError, StateError};
pub use quote::{quote, Quote};
pub use replay::{
    replay_verified, AuditError, AuditReport, Auditor, BlockAudit, ReplayError, ReplayErrorKind,
};
pub use rules::{LATEST_RULES, SUPPORTED_RULES};
pub use state::{MemoryState, State};
