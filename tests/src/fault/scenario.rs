//! Faults, each applied for a while under client load and then healed,
//! with a quiet gap between them; the run ends with everything healed and
//! every node running.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};

use super::history::{FaultSpan, Recorder, Workers};
use super::nodes::LabCluster;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The leader cut off from every other node (clients still reach it).
    LeaderPartition,
    /// One follower cut off from the others.
    MinorityPartition,
    /// The leader hears nothing from the others; they still hear it.
    OneWayPartition,
    /// The leader stopped with SIGSTOP, then continued.
    Pause,
    /// A random node killed with SIGKILL and restarted, three times.
    KillRestart,
    /// The leader's link through the relay: 100–300 ms each way, 3 % loss.
    SlowLink,
    /// The small-disk node's data directory filled to the last byte, then
    /// the filler removed.
    DiskFull,
    /// The leader's wall clock a day ahead, then back (libfaketime).
    ClockJump,
}

impl Fault {
    pub const ALL: [Fault; 8] = [
        Fault::LeaderPartition,
        Fault::MinorityPartition,
        Fault::OneWayPartition,
        Fault::Pause,
        Fault::KillRestart,
        Fault::SlowLink,
        Fault::DiskFull,
        Fault::ClockJump,
    ];

    /// A short name, for choosing faults on the command line.
    pub fn key(self) -> &'static str {
        match self {
            Fault::LeaderPartition => "leader-partition",
            Fault::MinorityPartition => "minority-partition",
            Fault::OneWayPartition => "one-way-partition",
            Fault::Pause => "pause",
            Fault::KillRestart => "kill-restart",
            Fault::SlowLink => "slow-link",
            Fault::DiskFull => "disk-full",
            Fault::ClockJump => "clock-jump",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fault::LeaderPartition => "leader partitioned",
            Fault::MinorityPartition => "follower partitioned",
            Fault::OneWayPartition => "leader deaf (one-way)",
            Fault::Pause => "leader SIGSTOP",
            Fault::KillRestart => "kill -9 and restart x3",
            Fault::SlowLink => "leader link 100-300 ms, 3% loss",
            Fault::DiskFull => "data disk full",
            Fault::ClockJump => "leader clock +1 day",
        }
    }
}

pub struct Step {
    pub fault: Fault,
    pub duration: Duration,
}

pub struct Scenario {
    pub steps: Vec<Step>,
    /// Load before the first fault, between faults and after the last.
    pub gap: Duration,
    pub seed: u64,
    pub relay: PathBuf,
}

/// Runs every step under load; returns with the load stopped and every
/// fault healed.
pub async fn run(cluster: &mut LabCluster, scenario: &Scenario, recorder: &Recorder) -> Result<()> {
    let clients = (0..cluster.len())
        .map(|i| cluster.client(i))
        .collect::<Result<Vec<_>>>()?;
    let workers = Workers::start(clients, fundtrail_testkit::Kit::new(7), recorder);
    let result = steps(cluster, scenario, recorder).await;
    workers.stop().await;
    result
}

async fn steps(cluster: &mut LabCluster, scenario: &Scenario, recorder: &Recorder) -> Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(scenario.seed);
    tokio::time::sleep(scenario.gap).await;
    for step in &scenario.steps {
        alive(cluster)?;
        let start_ms = recorder.now_ms();
        eprintln!(
            "fault lab: {:>6.1}s {} for {:?}",
            start_ms as f64 / 1000.0,
            step.fault.name(),
            step.duration
        );
        let (nodes, notes) = apply(cluster, step, &scenario.relay, &mut rng)
            .await
            .with_context(|| format!("fault {}", step.fault.name()))?;
        recorder.fault(FaultSpan {
            fault: step.fault.name().to_string(),
            key: step.fault.key().to_string(),
            nodes,
            start_ms,
            end_ms: recorder.now_ms(),
            notes,
        });
        tokio::time::sleep(scenario.gap).await;
    }
    alive(cluster)
}

/// Fails if a node the run did not stop has exited or panicked.
fn alive(cluster: &mut LabCluster) -> Result<()> {
    for i in 0..cluster.len() {
        if let Some(status) = cluster.exited(i) {
            bail!(
                "node {i} exited on its own ({status}):\n{}",
                super::nodes::tail(&cluster.log(i))
            );
        }
    }
    if let Some((i, panic)) = cluster.panic() {
        bail!("node {i} panicked: {panic}");
    }
    Ok(())
}

/// The leader most running nodes name (node ids follow devnet order).
pub async fn leader(cluster: &LabCluster) -> Result<usize> {
    for _ in 0..50 {
        let mut votes = std::collections::BTreeMap::<u64, usize>::new();
        for i in (0..cluster.len()).filter(|i| cluster.running(*i)) {
            let head =
                tokio::time::timeout(Duration::from_secs(1), cluster.client(i)?.get("/v1/head"))
                    .await;
            if let Ok(Ok(head)) = head {
                if let Some(id) = head["raft"]["leader"].as_u64() {
                    *votes.entry(id).or_default() += 1;
                }
            }
        }
        if let Some((id, n)) = votes.iter().max_by_key(|(_, n)| **n) {
            if *n * 2 > cluster.len() {
                return Ok(*id as usize - 1);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("no leader named by a majority")
}

/// Applies one fault, holds it, heals it; the nodes it hit and notes.
async fn apply(
    cluster: &mut LabCluster,
    step: &Step,
    relay: &Path,
    rng: &mut impl Rng,
) -> Result<(Vec<usize>, Vec<String>)> {
    let n = cluster.len();
    let mut notes = Vec::new();
    let others = |x: usize| (0..n).filter(|j| *j != x).collect::<Vec<_>>();
    let hit = match step.fault {
        Fault::LeaderPartition => {
            let l = leader(cluster).await?;
            cluster.lab.partition(&[l], &others(l))?;
            tokio::time::sleep(step.duration).await;
            cluster.lab.heal_partitions()?;
            vec![l]
        }
        Fault::MinorityPartition => {
            let l = leader(cluster).await?;
            let f = (l + 1 + rng.gen_range(0..n - 1)) % n;
            cluster.lab.partition(&[f], &others(f))?;
            tokio::time::sleep(step.duration).await;
            cluster.lab.heal_partitions()?;
            vec![f]
        }
        Fault::OneWayPartition => {
            let l = leader(cluster).await?;
            cluster.lab.deafen(l, &others(l))?;
            tokio::time::sleep(step.duration).await;
            cluster.lab.heal_partitions()?;
            vec![l]
        }
        Fault::Pause => {
            let l = leader(cluster).await?;
            cluster.pause(l, true)?;
            tokio::time::sleep(step.duration).await;
            cluster.pause(l, false)?;
            vec![l]
        }
        Fault::KillRestart => {
            let mut hit = Vec::new();
            let each = step.duration / 3;
            for _ in 0..3 {
                let v = rng.gen_range(0..n);
                cluster.kill9(v);
                tokio::time::sleep(each / 2).await;
                cluster.start(v)?;
                tokio::time::sleep(each / 2).await;
                hit.push(v);
            }
            hit
        }
        Fault::SlowLink => {
            let l = leader(cluster).await?;
            let seed = rng.gen();
            cluster.lab.slow_link(l, relay, (100, 300), 30, seed)?;
            tokio::time::sleep(step.duration).await;
            cluster.lab.fast_link(l)?;
            vec![l]
        }
        Fault::ClockJump => {
            let l = leader(cluster).await?;
            cluster.shift_clock(l, "+1d")?;
            tokio::time::sleep(step.duration).await;
            cluster.shift_clock(l, "+0")?;
            vec![l]
        }
        Fault::DiskFull => {
            let i = cluster
                .nodes
                .iter()
                .position(|node| Some(node.data.as_path()) == cluster.small_disk())
                .context("no node has a small disk")?;
            let used = disk_used_mib(cluster.small_disk().context("a small disk")?);
            notes.push(format!(
                "{used} MiB of the node's data on the disk before it filled"
            ));
            let filler = cluster.fill_small_disk()?;
            tokio::time::sleep(step.duration).await;
            std::fs::remove_file(&filler)?;
            if let Some(status) = cluster.exited(i) {
                let log = cluster.log(i);
                let reason = log
                    .lines()
                    .rev()
                    .find(|l| l.contains("No space") || l.contains("ENOSPC") || l.contains("space"))
                    .unwrap_or("(no line on space)")
                    .to_string();
                notes.push(format!(
                    "node {i} stopped ({status}) with: {}; restarted after the space was freed",
                    reason.trim()
                ));
                cluster.reap(i);
                cluster.start(i)?;
            } else {
                notes.push(format!("node {i} kept running"));
            }
            vec![i]
        }
    };
    Ok((hit, notes))
}

/// MiB in use on the file system holding `dir`.
fn disk_used_mib(dir: &Path) -> u64 {
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return 0;
    };
    // SAFETY: a valid C string and a zeroed struct the call fills.
    unsafe {
        let mut fs: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut fs) != 0 {
            return 0;
        }
        (fs.f_blocks - fs.f_bfree) * fs.f_frsize / (1 << 20)
    }
}
