//! Benchmark harness shared by `cargo bench` and `fundtrail bench`.
//!
//! Every benchmark reports its own figures beside this machine's limit,
//! measured in the same run: the ed25519 batch-verify rate on all cores
//! ([`limit::batch_verify_rate`]), so results can be quoted as a ratio.

pub mod audit;
pub mod contracts;
pub mod ledger;
pub mod limit;
