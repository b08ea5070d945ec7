//! `fundtrail bench`: the ledger and contract benchmarks of the bench
//! crate, and the cluster benchmark (`bench_cluster`). Every run prints
//! this machine's ed25519 batch-verify rate beside its figures.

use anyhow::Result;
use clap::Subcommand;

use super::bench_cluster::{self, ClusterBench};

#[derive(Subcommand)]
pub enum BenchTarget {
    /// Block append + commit (fsync) and chain verification.
    Ledger {
        #[arg(long, default_value_t = 100)]
        blocks: usize,
        #[arg(long, default_value_t = 2000)]
        per_block: usize,
    },
    /// Contract execution alone.
    Contracts {
        #[arg(long, default_value_t = 200_000)]
        records: usize,
    },
    /// Cross-region payouts into one clearing bucket, under rules versions
    /// 1 and 2: whether a payout's cost grows with the bucket.
    Clearing {
        #[arg(long, default_value_t = 20_000)]
        payouts: usize,
    },
    /// Offline verification with full contract replay (`fundtrail verify`).
    Verify {
        #[arg(long, default_value_t = 50)]
        blocks: usize,
        #[arg(long, default_value_t = 2000)]
        per_block: usize,
    },
    /// A real cluster on loopback: committed records/s and submit-to-commit
    /// latency under sustained load, each node's bytes on disk and CPU time
    /// per record.
    Cluster(ClusterBench),
}

pub fn run(target: BenchTarget) -> Result<()> {
    match target {
        BenchTarget::Ledger { blocks, per_block } => {
            fundtrail_bench::ledger::run(blocks, per_block).print();
            Ok(())
        }
        BenchTarget::Verify { blocks, per_block } => {
            fundtrail_bench::audit::run(blocks, per_block).print();
            Ok(())
        }
        BenchTarget::Clearing { payouts } => {
            let blocks = fundtrail_bench::clearing::blocks(payouts);
            for version in [1, 2] {
                fundtrail_bench::clearing::run(&blocks, version).print();
            }
            limit();
            Ok(())
        }
        BenchTarget::Contracts { records } => {
            let r = fundtrail_bench::contracts::run(records);
            let limit = limit();
            println!(
                "contracts: {} records in {} blocks, {:.0} records/s (ratio to batch verify {:.2})",
                r.records,
                r.blocks,
                r.records_per_sec,
                r.records_per_sec / limit
            );
            Ok(())
        }
        BenchTarget::Cluster(bench) => {
            let limit = limit();
            super::runtime()?.block_on(bench_cluster::run(bench, limit))
        }
    }
}

fn limit() -> f64 {
    let rate = fundtrail_bench::limit::batch_verify_rate(16_384, 5);
    println!(
        "limit: ed25519 batch verify {:.0} signatures/s on {} threads",
        rate,
        rayon::current_num_threads()
    );
    rate
}
