//! A fault lab in the manner of Jepsen: each department's node in its own
//! network namespace on a shared bridge ([`net`]), run from its normal
//! `node.toml` ([`nodes`]); clients in a namespace of their own submit
//! records and sample every node's head throughout ([`history`]) while
//! faults come and go ([`scenario`]); afterwards [`check`] compares what
//! clients were told with what the nodes hold, and the run is written out
//! as JSON and an SVG [`timeline`].

pub mod check;
pub mod history;
pub mod net;
pub mod nodes;
pub mod scenario;
pub mod timeline;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use check::{FaultResult, Verdict, Window};
use history::Recorder;
use net::Lab;
use nodes::LabCluster;
use scenario::{Scenario, Step};

pub struct Variant {
    pub name: &'static str,
    pub steps: Vec<Step>,
    pub gap: Duration,
    /// A node whose data directory is a tmpfs of this many MiB.
    pub small_disk: Option<(usize, u64)>,
    /// Raft's heartbeat, if not the default (elections 5-10 times it).
    pub heartbeat_ms: Option<u64>,
    /// Nodes run under libfaketime, so a fault can move a wall clock.
    pub fake_clocks: bool,
    pub seed: u64,
}

pub struct Outcome {
    pub verdict: Verdict,
    pub faults: Vec<FaultResult>,
    pub report: PathBuf,
    pub timeline: PathBuf,
}

#[derive(Serialize)]
struct Report<'a> {
    variant: &'a str,
    nodes: Vec<String>,
    verdict: &'a Verdict,
    faults: &'a [FaultResult],
    failed_submissions: u64,
    windows: &'a [Window],
}

/// Runs a variant with four departments: lab, nodes, load, faults, check;
/// writes `report.json`, `timeline.svg` and the exported chain under
/// `out`. The lab is removed whatever happens.
pub fn run(variant: &Variant, exe: &Path, relay: &Path, out: &Path) -> Result<Outcome> {
    std::fs::create_dir_all(out)?;
    let lab = Lab::create(4)?;
    let client_ns = lab.client_ns();
    let mut cluster = LabCluster::create(lab, exe, 4, variant.small_disk, variant.heartbeat_ms)?;
    cluster.keep_logs = Some(out.join("logs"));
    if variant.fake_clocks {
        cluster.fake_clocks()?;
    }
    let scenario = Scenario {
        steps: variant
            .steps
            .iter()
            .map(|s| Step {
                fault: s.fault,
                duration: s.duration,
            })
            .collect(),
        gap: variant.gap,
        seed: variant.seed,
        relay: relay.to_path_buf(),
    };
    let (exe, out) = (exe.to_path_buf(), out.to_path_buf());
    let name = variant.name;
    std::thread::scope(|scope| {
        scope
            .spawn(move || -> Result<Outcome> {
                enter_namespace(&client_ns)?;
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()?;
                runtime.block_on(drive(cluster, &scenario, &exe, &out, name))
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the lab's driver panicked"))?
    })
}

async fn drive(
    mut cluster: LabCluster,
    scenario: &Scenario,
    exe: &Path,
    out: &Path,
    name: &str,
) -> Result<Outcome> {
    cluster.start_all()?;
    cluster
        .ready(Duration::from_secs(60))
        .await
        .context("the lab's nodes start")?;
    let recorder = Recorder::new();
    scenario::run(&mut cluster, scenario, &recorder).await?;
    let history = recorder.take();
    let verdict = check::check(&cluster, &history, exe, out).await?;
    let faults = check::fault_results(&history);
    let windows = check::windows(&history, cluster.len());
    let orgs: Vec<String> = cluster.nodes.iter().map(|n| n.org.clone()).collect();
    let report = out.join("report.json");
    std::fs::write(
        &report,
        serde_json::to_vec_pretty(&Report {
            variant: name,
            nodes: orgs.clone(),
            verdict: &verdict,
            faults: &faults,
            failed_submissions: history.failed_submissions,
            windows: &windows,
        })?,
    )?;
    let timeline = out.join("timeline.svg");
    let title = format!(
        "fundtrail fault lab, {name} run: {} records acknowledged, {} lost, {} forks",
        verdict.acknowledged,
        verdict.lost.len(),
        verdict.forks.len()
    );
    std::fs::write(&timeline, timeline::svg(&title, &faults, &windows, &orgs))?;
    Ok(Outcome {
        verdict,
        faults,
        report,
        timeline,
    })
}

/// Moves the calling thread (and threads it starts later) into network
/// namespace `name`.
fn enter_namespace(name: &str) -> Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(format!("/var/run/netns/{name}"))
        .with_context(|| format!("opening namespace {name}"))?;
    // SAFETY: a valid descriptor of a network namespace, for this thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error()).context("entering the client namespace");
    }
    Ok(())
}

/// A table of a run's faults, in Markdown.
pub fn table(faults: &[FaultResult]) -> String {
    let mut s = String::from(
        "| fault | nodes | duration (s) | records committed during | of them by a node hit | blocks during | recovery (s) |\n|---|---|---|---|---|---|---|\n",
    );
    for f in faults {
        s.push_str(&format!(
            "| {} | {:?} | {:.1} | {} | {} | {} | {} |\n",
            f.span.fault,
            f.span.nodes,
            f.duration_s,
            f.commits_during,
            f.commits_from_hit_nodes,
            f.blocks_during,
            f.recovery_s
                .map_or("not recovered".to_string(), |r| format!("{r:.1}"))
        ));
    }
    s
}
