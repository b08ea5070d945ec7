//! `fundtrail bench`: the ledger and contract benchmarks of the bench
//! crate, and the cluster benchmark (`bench_cluster`). Every run prints
//! this machine's ed25519 batch-verify rate beside its figures.

use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;

use super::bench_cluster::{self, ClusterBench, Until};
use super::client::BodyEncoding;

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
    Cluster {
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Run until this many records are committed instead of for
        /// `--seconds`, reporting each `--step` of records.
        #[arg(long, conflicts_with = "seconds")]
        records: Option<usize>,
        /// Records per step of the report and per sample of the nodes.
        #[arg(long, default_value_t = 1_000_000)]
        step: usize,
        /// Concurrent client connections.
        #[arg(long, default_value_t = 12)]
        clients: usize,
        /// Records per submit request.
        #[arg(long, default_value_t = 250)]
        chunk: usize,
        /// How the clients send records: their canonical BCS encoding, as a
        /// department system submitting at volume would, or JSON.
        #[arg(long, value_enum, default_value_t = BodyEncoding::Bcs)]
        encoding: BodyEncoding,
        /// Records the leader puts in one block at most [default: the
        /// node's own, `[batch] max_records`].
        #[arg(long)]
        batch: Option<usize>,
        /// How long the leader waits to fill a block, in milliseconds
        /// [default: the node's own, `[batch] max_wait_ms`].
        #[arg(long)]
        batch_wait_ms: Option<u64>,
        #[arg(long, default_value_t = 7400)]
        base_port: u16,
        /// Keep the cluster's directory (keys, data, node logs) here
        /// instead of a temporary one.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Keep the generated records in this file, and read them from it
        /// when it holds the same load (ten million take minutes to sign).
        #[arg(long)]
        load: Option<std::path::PathBuf>,
        /// Write the curve of records/s and p99 by step to this SVG file.
        #[arg(long)]
        svg: Option<std::path::PathBuf>,
    },
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
        BenchTarget::Cluster {
            nodes,
            seconds,
            records,
            step,
            clients,
            chunk,
            encoding,
            batch,
            batch_wait_ms,
            base_port,
            dir,
            load,
            svg,
        } => {
            let limit = limit();
            let until = match records {
                Some(n) => Until::Committed(n),
                None => Until::Elapsed(Duration::from_secs(seconds)),
            };
            let bench = ClusterBench {
                dir,
                nodes,
                until,
                step,
                clients,
                chunk,
                encoding,
                batch,
                batch_wait_ms,
                base_port,
                load,
                svg,
            };
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

