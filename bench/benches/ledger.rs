//! `cargo bench --workspace --bench ledger`: append and verify rates beside
//! the machine's batch-verify limit. Set FUNDTRAIL_BENCH_BLOCKS and
//! FUNDTRAIL_BENCH_PER_BLOCK to change the size.

use fundtrail_bench::env_or;

fundtrail_bench::use_node_allocator!();

fn main() {
    let report = fundtrail_bench::ledger::run(
        env_or("FUNDTRAIL_BENCH_BLOCKS", 100),
        env_or("FUNDTRAIL_BENCH_PER_BLOCK", 2_000),
    );
    report.print();
}
