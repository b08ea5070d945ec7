//! The engine's errors: a storage failure below it ([`StateError`]), a
//! failure that stops the node ([`ExecError`]), and why a rule did not
//! accept a record ([`Fail`]).

use fundtrail_ledger::types::Height;

use crate::codes::RuleCode;

/// A storage failure below the engine (fatal: stop the node).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state read failed: {0}")]
pub struct StateError(pub String);

/// A failure that must stop the node: the engine cannot decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("state value under key {key:?} is corrupt: {reason}")]
    Corrupt { key: Vec<u8>, reason: String },
    #[error("block {height} needs rules version {version}, which this build cannot execute")]
    UnsupportedRules { height: Height, version: u32 },
    #[error("contract state has no rules schedule: genesis state was never written")]
    NoGenesis,
}

/// Why a rule did not accept: a rejection (recorded) or a fatal error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fail {
    Reject(RuleCode),
    Fatal(ExecError),
}

impl From<ExecError> for Fail {
    fn from(e: ExecError) -> Fail {
        Fail::Fatal(e)
    }
}

impl From<StateError> for Fail {
    fn from(e: StateError) -> Fail {
        Fail::Fatal(e.into())
    }
}
