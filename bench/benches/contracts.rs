//! `cargo bench --workspace --bench contracts`: contract execution rate
//! (single-threaded, in-memory state) beside this machine's batch-verify
//! rate measured in the same run.

use fundtrail_bench::{contracts, limit};

fundtrail_bench::use_node_allocator!();

fn main() {
    let records = fundtrail_bench::env_or("FUNDTRAIL_BENCH_RECORDS", 200_000);
    let report = contracts::run(records);
    let verify = limit::batch_verify_rate(16_384, 3);
    println!(
        "contracts: {} records in {} blocks ({} accepted), best of 3: {:.3} s = {:.0} records/s (single thread, in-memory state)",
        report.records, report.blocks, report.accepted, report.seconds, report.records_per_sec
    );
    println!(
        "limit: ed25519 batch verify {:.0} signatures/s on {} threads",
        verify,
        rayon::current_num_threads()
    );
    println!(
        "ratio: contract execution / batch verify = {:.2}",
        report.records_per_sec / verify
    );
}
