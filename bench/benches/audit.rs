//! `cargo bench --workspace --bench audit`: offline verification with full
//! contract replay, beside the machine's batch-verify limit. Set
//! FUNDTRAIL_BENCH_BLOCKS and FUNDTRAIL_BENCH_PER_BLOCK to change the size
//! (default 50 x 2,000 = 100,000 records).

use fundtrail_bench::env_or;

fundtrail_bench::use_node_allocator!();

fn main() {
    fundtrail_bench::audit::run(
        env_or("FUNDTRAIL_BENCH_BLOCKS", 50),
        env_or("FUNDTRAIL_BENCH_PER_BLOCK", 2_000),
    )
    .print();
}
