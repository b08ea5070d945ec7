//! `fundtrail bench`: the ledger and contract benchmarks of the bench
//! crate, and the cluster benchmark — real node processes on loopback with
//! fsync on, loaded by concurrent clients. Every run prints this machine's
//! ed25519 batch-verify rate beside its figures.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use fundtrail_ledger::record::SignedRecord;
use fundtrail_testkit::workload::Workload;
use fundtrail_testkit::{Harness, Kit};
use indicatif::{ProgressBar, ProgressStyle};

use super::client::BodyEncoding;
use super::devnet::{Devnet, Plan};
use crate::api::SubmitLine;
use crate::config::BatchConfig;
use crate::wire::Receipt;

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
    /// latency under sustained load.
    Cluster {
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
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
            clients,
            chunk,
            encoding,
            batch,
            batch_wait_ms,
            base_port,
            dir,
        } => super::runtime()?.block_on(cluster(ClusterBench {
            dir,
            nodes,
            duration: Duration::from_secs(seconds),
            clients,
            chunk,
            encoding,
            batch,
            batch_wait_ms,
            base_port,
        })),
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

struct ClusterBench {
    dir: Option<std::path::PathBuf>,
    nodes: usize,
    duration: Duration,
    clients: usize,
    chunk: usize,
    encoding: BodyEncoding,
    batch: Option<usize>,
    batch_wait_ms: Option<u64>,
    base_port: u16,
}

async fn cluster(b: ClusterBench) -> Result<()> {
    let limit = limit();
    // Generous headroom: the records are generated before the clock starts.
    let needed = (b.duration.as_secs() as usize * 15_000).max(b.chunk * b.clients * 4);
    let chunks = Arc::new(generate(needed, b.chunk));
    let temp = tempfile::tempdir()?;
    let dir = b.dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let mut plan = Plan::from_kit(&Kit::new(7));
    let defaults = BatchConfig::default();
    plan.batch = BatchConfig {
        max_records: b.batch.unwrap_or(defaults.max_records),
        max_wait_ms: b.batch_wait_ms.unwrap_or(defaults.max_wait_ms),
    };
    println!(
        "blocks: at most {} records or {} ms",
        plan.batch.max_records, plan.batch.max_wait_ms
    );
    let mut devnet = Devnet::create(&dir, b.nodes, &plan, b.base_port)?;
    devnet.start().await?;
    let result = drive(&devnet, chunks, &b).await;
    let stored = stored_bytes(&devnet).await;
    let exported = export_rss(&devnet).await;
    devnet.stop()?;
    let Driven {
        elapsed,
        mut latencies,
        windows,
    } = result?;
    let committed = latencies.len();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    let rate = committed as f64 / elapsed.as_secs_f64();
    println!(
        "cluster: {} nodes, {} clients x {} records/request as {:?}, {:.0} s",
        b.nodes,
        b.clients,
        b.chunk,
        b.encoding,
        elapsed.as_secs_f64()
    );
    println!("committed: {committed} records, {rate:.0} records/s");
    let per_window: Vec<String> = full_windows(&windows, elapsed)
        .map(|n| format!("{:.0}", n as f64 / WINDOW.as_secs_f64()))
        .collect();
    println!(
        "records/s in each {} s window: {}",
        WINDOW.as_secs(),
        per_window.join(", ")
    );
    println!(
        "submit-to-commit latency: p50 {:.0} ms, p99 {:.0} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    println!("ratio: committed / batch verify = {:.3}", rate / limit);
    print_stored(&stored?, committed);
    let e = exported?;
    println!(
        "GET /v1/chain from node 1: {:.1} MB streamed; the node's RSS {:.1} MB before, at most {:.1} MB during (+{:.1} MB)",
        e.bytes as f64 / 1e6,
        e.rss_before as f64 / 1e6,
        e.rss_peak as f64 / 1e6,
        e.rss_peak.saturating_sub(e.rss_before) as f64 / 1e6
    );
    Ok(())
}

/// Each node's bytes on disk: its whole data directory, and each column
/// family's SST and blob files (`fundtrail_store_bytes`).
struct Stored {
    org: String,
    data_dir: u64,
    families: Vec<(String, u64)>,
}

async fn stored_bytes(devnet: &Devnet) -> Result<Vec<Stored>> {
    let mut out = Vec::new();
    for (i, client) in devnet.clients()?.iter().enumerate() {
        let node = &devnet.nodes[i];
        let families = store_bytes_in(&client.get_text("/metrics").await?);
        let data = crate::config::NodeConfig::load(&node.config)?.data_dir;
        out.push(Stored {
            org: node.org.to_string(),
            data_dir: dir_bytes(&data)?,
            families,
        });
    }
    Ok(out)
}

/// The `fundtrail_store_bytes` samples of a metrics page.
fn store_bytes_in(metrics: &str) -> Vec<(String, u64)> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("fundtrail_store_bytes{family=\""))
        .filter_map(|l| {
            let (family, value) = l.split_once("\"} ")?;
            Some((family.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

fn dir_bytes(dir: &std::path::Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

fn print_stored(stored: &[Stored], records: usize) {
    let per = |bytes: u64| bytes as f64 / records.max(1) as f64;
    for s in stored {
        let mut families: Vec<&(String, u64)> = s.families.iter().filter(|(_, b)| *b > 0).collect();
        families.sort_by_key(|(_, b)| std::cmp::Reverse(*b));
        let listed: Vec<String> = families
            .iter()
            .map(|(f, b)| format!("{f} {:.0}", per(*b)))
            .collect();
        println!(
            "bytes on disk per record, {}: data directory {:.0}; by family: {}",
            s.org,
            per(s.data_dir),
            listed.join(", ")
        );
    }
}

/// A chain download and the serving node's memory around it.
struct ExportRss {
    bytes: u64,
    rss_before: u64,
    rss_peak: u64,
}

/// Downloads node 1's chain (to nowhere) while sampling the node's
/// resident memory: the export streams, so it must not grow with the chain.
async fn export_rss(devnet: &Devnet) -> Result<ExportRss> {
    let pid = devnet.nodes[0].pid.context("node 1 is not running")?;
    let rss_before = resident_bytes(pid)?;
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(rss_before));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Ok(rss) = resident_bytes(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let bytes = devnet.client(0)?.export_to(&mut std::io::sink()).await;
    sampling.store(false, Ordering::Relaxed);
    sampler.await?;
    Ok(ExportRss {
        bytes: bytes?,
        rss_before,
        rss_peak: peak.load(Ordering::Relaxed),
    })
}

/// A process's resident set size (`VmRSS` in /proc), in bytes.
fn resident_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")?;
    Ok(kb * 1024)
}

/// Signed records in chunks, from the seeded workload.
fn generate(records: usize, chunk: usize) -> Vec<Vec<SignedRecord>> {
    let bar = ProgressBar::new(records as u64).with_style(
        ProgressStyle::with_template("generating {bar:40} {pos}/{len} records")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut harness = Harness::new(7);
    let mut workload = Workload::new(2026, (records / 10).max(1000) as u64, true);
    let mut out = Vec::new();
    while out.len() * chunk < records {
        let block = workload.block(&harness.state, chunk);
        harness.block(&block);
        bar.inc(block.len() as u64);
        out.push(block);
    }
    bar.finish_and_clear();
    out
}

/// The span the committed rate is also reported over, to show it is
/// sustained rather than an average over bursts.
const WINDOW: Duration = Duration::from_secs(10);

struct Driven {
    elapsed: Duration,
    /// One submit-to-commit latency per committed record.
    latencies: Vec<Duration>,
    /// Records committed in each [`WINDOW`] since the start.
    windows: Vec<usize>,
}

/// The counts of the windows that lie wholly inside the run.
fn full_windows(windows: &[usize], elapsed: Duration) -> impl Iterator<Item = usize> + '_ {
    let full = (elapsed.as_secs_f64() / WINDOW.as_secs_f64()) as usize;
    (0..full).map(|w| windows.get(w).copied().unwrap_or(0))
}

fn add_to_window(windows: &mut Vec<usize>, at: Duration, records: usize) {
    let w = (at.as_secs_f64() / WINDOW.as_secs_f64()) as usize;
    if windows.len() <= w {
        windows.resize(w + 1, 0);
    }
    windows[w] += records;
}

async fn drive(
    devnet: &Devnet,
    chunks: Arc<Vec<Vec<SignedRecord>>>,
    b: &ClusterBench,
) -> Result<Driven> {
    let clients = devnet.clients()?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + b.duration;
    let mut tasks = Vec::new();
    for c in 0..b.clients {
        let client = clients[c % clients.len()].clone();
        let (chunks, next, encoding) = (chunks.clone(), next.clone(), b.encoding);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut windows = Vec::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(chunk) = chunks.get(i) else { break };
                let sent = Instant::now();
                let lines = client.submit_as(chunk, encoding).await?;
                let took = sent.elapsed();
                let ok = lines
                    .iter()
                    .filter(|l| matches!(l, SubmitLine::Receipt(Receipt::Committed { .. })))
                    .count();
                latencies.extend(std::iter::repeat_n(took, ok));
                add_to_window(&mut windows, start.elapsed(), ok);
            }
            anyhow::Ok((latencies, windows))
        }));
    }
    let mut driven = Driven {
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        windows: Vec::new(),
    };
    for t in tasks {
        let (l, w) = t.await??;
        driven.latencies.extend(l);
        for (i, n) in w.into_iter().enumerate() {
            add_to_window(&mut driven.windows, WINDOW * i as u32, n);
        }
    }
    driven.elapsed = start.elapsed();
    if driven.latencies.is_empty() {
        bail!("no record was committed");
    }
    Ok(driven)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_sizes_are_read_from_a_metrics_page() {
        let page = "# HELP fundtrail_store_bytes Bytes on disk\n\
                    fundtrail_store_bytes{family=\"records\"} 1234\n\
                    fundtrail_store_bytes{family=\"state\"} 0\n\
                    fundtrail_head_height 7\n";
        assert_eq!(
            store_bytes_in(page),
            vec![("records".to_string(), 1234), ("state".to_string(), 0)]
        );
    }
}
