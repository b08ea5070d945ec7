//! Benchmark harness shared by `cargo bench` and `fundtrail bench`.
//!
//! Every benchmark reports its own figures beside this machine's limit,
//! measured in the same run: the ed25519 batch-verify rate on all cores
//! ([`limit::batch_verify_rate`]), so results can be quoted as a ratio.

pub mod audit;
pub mod clearing;
pub mod contracts;
pub mod ledger;
pub mod limit;

/// A size from the environment (`cargo bench` takes no arguments), or
/// `default` when unset or not a number.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `fundtrail` binary's allocator (mimalloc), re-exported so that the
/// `cargo bench` targets measure what `fundtrail bench` measures.
pub use mimalloc::MiMalloc;

/// Installs the `fundtrail` binary's allocator in a bench target.
#[macro_export]
macro_rules! use_node_allocator {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::MiMalloc = $crate::MiMalloc;
    };
}
