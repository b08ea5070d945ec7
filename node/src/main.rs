//! The `fundtrail` command: see `fundtrail --help`.

use std::process::ExitCode;

/// mimalloc rather than the system allocator: contract execution and block
/// apply make many small, short-lived allocations, where glibc's malloc was
/// about a fifth of the contracts profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    fundtrail_node::main_exit()
}
