//! `fundtrail bench cluster`: real node processes on loopback with fsync
//! on, loaded by concurrent clients for a time or up to a number of
//! committed records. It reports the committed rate and submit-to-commit
//! latency, by 10 s window or by step of records, and each node's bytes on
//! disk and CPU time per record, split by part (`fundtrail_cpu_seconds`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fundtrail_testkit::Kit;

use super::bench_figures::{self, Done, NodeSample, Sample};
use super::bench_load::{self, Body};
use super::client::BodyEncoding;
use super::devnet::{Devnet, Plan};
use crate::api::SubmitLine;
use crate::config::BatchConfig;
use crate::wire::Receipt;

/// When the clients stop.
#[derive(Clone, Copy, Debug)]
pub enum Until {
    Elapsed(Duration),
    /// Once this many records are committed.
    Committed(usize),
}

#[derive(clap::Args)]
pub struct ClusterBench {
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
    /// MiB of RocksDB block cache per node [default: the node's own,
    /// `[store] block_cache_mb`].
    #[arg(long)]
    block_cache_mb: Option<u64>,
    #[arg(long, default_value_t = 7400)]
    base_port: u16,
    /// Keep the cluster's directory (keys, data, node logs) here
    /// instead of a temporary one.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the generated records in this file, and read them from it
    /// when it holds the same load (ten million take minutes to sign).
    #[arg(long)]
    load: Option<PathBuf>,
    /// Write the curve of records/s and p99 by step to this SVG file.
    #[arg(long)]
    svg: Option<PathBuf>,
}

impl ClusterBench {
    fn until(&self) -> Until {
        match self.records {
            Some(n) => Until::Committed(n),
            None => Until::Elapsed(Duration::from_secs(self.seconds)),
        }
    }
}

pub async fn run(b: ClusterBench, limit: f64) -> Result<()> {
    let bodies = Arc::new(bench_load::bodies(
        records_needed(&b),
        b.chunk,
        b.encoding,
        b.load.as_deref(),
    )?);
    let temp = tempfile::tempdir()?;
    let dir = b.dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let mut plan = Plan::from_kit(&Kit::new(7));
    let defaults = BatchConfig::default();
    plan.batch = BatchConfig {
        max_records: b.batch.unwrap_or(defaults.max_records),
        max_wait_ms: b.batch_wait_ms.unwrap_or(defaults.max_wait_ms),
    };
    if let Some(mb) = b.block_cache_mb {
        plan.store.block_cache_mb = mb;
    }
    println!(
        "blocks: at most {} records or {} ms; block cache {} MiB per node",
        plan.batch.max_records, plan.batch.max_wait_ms, plan.store.block_cache_mb
    );
    let mut devnet = Devnet::create(&dir, b.nodes, &plan, b.base_port)?;
    devnet.start().await?;
    let result = drive_and_sample(&devnet, bodies, &b).await;
    let exported = export_rss(&devnet).await;
    devnet.stop()?;
    let (dones, samples) = result?;
    report(&b, limit, &dones, &samples)?;
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

/// Records generated before the clock starts: enough that the clients do
/// not run out, with headroom for the requests in flight at the end.
fn records_needed(b: &ClusterBench) -> usize {
    let in_flight = b.chunk * b.clients * 4;
    match b.until() {
        Until::Elapsed(d) => (d.as_secs() as usize * 30_000).max(in_flight),
        Until::Committed(n) => n + in_flight,
    }
}

fn report(b: &ClusterBench, limit: f64, dones: &[Done], samples: &[Sample]) -> Result<()> {
    let figures = bench_figures::Figures::new(dones, b.step);
    let until = match b.until() {
        Until::Elapsed(d) => format!("{:.0} s", d.as_secs_f64()),
        Until::Committed(n) => format!("until {n} records"),
    };
    println!(
        "cluster: {} nodes, {} clients x {} records/request as {:?}, {until}",
        b.nodes, b.clients, b.chunk, b.encoding,
    );
    figures.print_totals(limit);
    if matches!(b.until(), Until::Elapsed(_)) {
        figures.print_windows();
    }
    figures.print_steps();
    bench_figures::print_samples(samples, b.step);
    if let Some(path) = &b.svg {
        std::fs::write(path, figures.svg(b.nodes, limit))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("curve written to {}", path.display());
    }
    Ok(())
}

/// Runs the clients and, beside them, samples every node's store sizes and
/// CPU split at the start, at each step of committed records, and at the
/// end.
async fn drive_and_sample(
    devnet: &Devnet,
    bodies: Arc<Vec<Body>>,
    b: &ClusterBench,
) -> Result<(Vec<Done>, Vec<Sample>)> {
    let committed = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut samples = vec![sample(devnet, 0, Duration::ZERO).await?];
    let driving = drive(devnet, bodies, b, committed.clone(), start);
    let sampling = async {
        let mut next = b.step;
        let mut taken = Vec::new();
        while !finished.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = committed.load(Ordering::Relaxed);
            if now >= next {
                taken.push(sample(devnet, now, start.elapsed()).await);
                next = (now / b.step + 1) * b.step;
            }
        }
        taken
    };
    let driving = async {
        let result = driving.await;
        finished.store(true, Ordering::Relaxed);
        result
    };
    let (dones, taken) = tokio::join!(driving, sampling);
    for s in taken {
        samples.push(s?);
    }
    let dones = dones?;
    let total = dones.iter().map(|d| d.committed).sum();
    samples.push(sample(devnet, total, start.elapsed()).await?);
    Ok((dones, samples))
}

async fn drive(
    devnet: &Devnet,
    bodies: Arc<Vec<Body>>,
    b: &ClusterBench,
    committed: Arc<AtomicUsize>,
    start: Instant,
) -> Result<Vec<Done>> {
    let clients = devnet.clients()?;
    let next = Arc::new(AtomicUsize::new(0));
    let until = b.until();
    let stop = {
        let committed = committed.clone();
        move || match until {
            Until::Elapsed(d) => start.elapsed() >= d,
            Until::Committed(n) => committed.load(Ordering::Relaxed) >= n,
        }
    };
    let mut tasks = Vec::new();
    for c in 0..b.clients {
        let client = clients[c % clients.len()].clone();
        let (bodies, next, encoding) = (bodies.clone(), next.clone(), b.encoding);
        let (committed, stop) = (committed.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut dones = Vec::new();
            while !stop() {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let sent = Instant::now();
                let lines = client
                    .submit_encoded("/v1/records", body.bytes.clone(), encoding)
                    .await?;
                let took = sent.elapsed();
                let ok = lines
                    .iter()
                    .filter(|l| matches!(l, SubmitLine::Receipt(Receipt::Committed { .. })))
                    .count();
                committed.fetch_add(ok, Ordering::Relaxed);
                dones.push(Done {
                    at: start.elapsed(),
                    took,
                    committed: ok,
                });
            }
            anyhow::Ok(dones)
        }));
    }
    let mut dones = Vec::new();
    for t in tasks {
        dones.extend(t.await??);
    }
    if dones.iter().all(|d| d.committed == 0) {
        bail!("no record was committed");
    }
    Ok(dones)
}

/// Every node's store sizes, data directory and CPU split now.
async fn sample(devnet: &Devnet, committed: usize, at: Duration) -> Result<Sample> {
    let mut nodes = Vec::new();
    for (i, client) in devnet.clients()?.iter().enumerate() {
        let node = &devnet.nodes[i];
        let page = client.get_text("/metrics").await?;
        let data = crate::config::NodeConfig::load(&node.config)?.data_dir;
        nodes.push(NodeSample {
            org: node.org.to_string(),
            data_dir: dir_bytes(&data)?,
            families: bench_figures::labelled_in(&page, "fundtrail_store_bytes{family=\""),
            cpu: bench_figures::labelled_in(&page, "fundtrail_cpu_seconds{part=\""),
        });
    }
    Ok(Sample {
        committed,
        at,
        nodes,
    })
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
    let sampling = Arc::new(AtomicBool::new(true));
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
