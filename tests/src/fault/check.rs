//! The checker: after healing, every node must reach one head; every
//! record a client was told is committed must be on that chain exactly
//! once, at the height it was told; no node may ever have shown a block at
//! a height that differs from another node's; the exported chain must pass
//! `fundtrail verify`. It also measures availability per fault: commits
//! while it lasted and the time until every node was back at the head and
//! clients were committing again.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fundtrail_ledger::chainfile::ChainReader;
use serde::Serialize;

use super::history::{FaultSpan, History};
use super::nodes::LabCluster;

#[derive(Serialize)]
pub struct Verdict {
    pub acknowledged: usize,
    /// Acknowledged records missing from the chain.
    pub lost: Vec<String>,
    /// Acknowledged records on the chain more than once.
    pub duplicated: Vec<String>,
    /// Acknowledged records on the chain at another height than told.
    pub misplaced: Vec<String>,
    /// Heights at which two nodes showed different blocks.
    pub forks: Vec<String>,
    pub refused: usize,
    pub head_height: u64,
    pub head_hash: String,
    /// The head block's timestamp less the checker's wall clock when it
    /// read it: how far ahead of true time the chain's time is.
    pub head_time_ahead_ms: i64,
    /// `fundtrail verify`'s last line for the last node's export (every
    /// node's export passed it).
    pub verify: String,
}

#[derive(Serialize)]
pub struct FaultResult {
    #[serde(flatten)]
    pub span: FaultSpan,
    pub duration_s: f64,
    /// Records acknowledged while the fault lasted.
    pub commits_during: usize,
    /// Blocks the cluster's head advanced while it lasted.
    pub blocks_during: u64,
    /// Of those acknowledgements, the ones a node the fault hit gave (a
    /// cut-off leader's, say); the checker holds each to the final chain
    /// like every other.
    pub commits_from_hit_nodes: usize,
    /// From the heal until every node reached the head it had then and a
    /// client was told of a commit; `None` if that never happened.
    pub recovery_s: Option<f64>,
}

/// Waits until every node reports one head; exports each node's chain and
/// compares them, checks every acknowledgement and sample against them,
/// and verifies every export offline with `exe verify`.
pub async fn check(
    cluster: &LabCluster,
    history: &History,
    exe: &Path,
    out: &Path,
) -> Result<Verdict> {
    converge(cluster, Duration::from_secs(120)).await?;
    let mut canonical: Option<Vec<String>> = None;
    let mut placement = Placement::new();
    let mut forks = Vec::new();
    let mut exports = Vec::new();
    let mut head_time_ahead_ms = 0;
    for i in 0..cluster.len() {
        let bytes = cluster.client(i)?.export().await.context("exporting")?;
        let (hashes, records, head_time) = blocks(&bytes)?;
        exports.push(bytes);
        match &canonical {
            None => {
                canonical = Some(hashes);
                placement = records;
                head_time_ahead_ms = head_time as i64 - wall_clock_ms() as i64;
            }
            Some(c) => {
                if let Some(h) =
                    (0..c.len().max(hashes.len())).find(|h| c.get(*h) != hashes.get(*h))
                {
                    forks.push(format!(
                        "node {i}'s export differs from node 0's at height {}",
                        h + 1
                    ));
                }
            }
        }
    }
    let canonical = canonical.context("no nodes")?;
    for s in &history.samples {
        let at = s.height as usize;
        if at > 0 && canonical.get(at - 1) != Some(&s.hash) {
            forks.push(format!(
                "node {} showed block {} at height {} at {} ms; the chain has {:?}",
                s.node,
                s.hash,
                s.height,
                s.at_ms,
                canonical.get(at - 1)
            ));
        }
    }
    let (mut lost, mut duplicated, mut misplaced) = (Vec::new(), Vec::new(), Vec::new());
    for ack in &history.acks {
        match placement.get(&ack.record).map(Vec::as_slice) {
            None => lost.push(format!(
                "{} (told height {} by node {})",
                ack.record, ack.height, ack.node
            )),
            Some([h]) if *h == ack.height => {}
            Some([h]) => misplaced.push(format!(
                "{} told {} by node {}, on the chain at {h}",
                ack.record, ack.height, ack.node
            )),
            Some(hs) => duplicated.push(format!("{} at heights {hs:?}", ack.record)),
        }
    }
    let mut verify = String::new();
    for (i, export) in exports.into_iter().enumerate() {
        let file = out.join(format!("chain-node{i}.ftc"));
        verify = verify_offline(cluster, i, export, exe, &file).await?;
    }
    Ok(Verdict {
        acknowledged: history.acks.len(),
        lost,
        duplicated,
        misplaced,
        forks,
        refused: history.refused.len(),
        head_height: canonical.len() as u64,
        head_hash: canonical.last().cloned().unwrap_or_default(),
        head_time_ahead_ms,
        verify,
    })
}

/// The heights at which each record id is on a chain.
type Placement = BTreeMap<String, Vec<u64>>;

fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Block hashes in height order, where each record is, and the head
/// block's timestamp.
fn blocks(bytes: &[u8]) -> Result<(Vec<String>, Placement, u64)> {
    let mut reader = ChainReader::new(bytes)?;
    let mut hashes = Vec::new();
    let mut records = Placement::new();
    let mut head_time = 0;
    while let Some(entry) = reader.next_entry()? {
        let height = entry.block.header.height.0;
        head_time = entry.block.header.timestamp_ms;
        hashes.push(entry.block.hash().to_string());
        for outcome in &entry.block.outcomes {
            records
                .entry(outcome.record_id.to_string())
                .or_default()
                .push(height);
        }
    }
    Ok((hashes, records, head_time))
}

/// `fundtrail verify FILE` of `export` (node `i`'s chain), written to
/// `file`; while the head's last blocks still lack a quorum of
/// attestations (they follow the commit), the chain is exported again,
/// for at most 30 s. Its last line.
async fn verify_offline(
    cluster: &LabCluster,
    i: usize,
    mut export: Vec<u8>,
    exe: &Path,
    file: &Path,
) -> Result<String> {
    let start = Instant::now();
    loop {
        std::fs::write(file, &export)?;
        let out = tokio::process::Command::new(exe)
            .arg("verify")
            .arg(file)
            .output()
            .await?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            return Ok(text.lines().last().unwrap_or_default().to_string());
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("fundtrail verify of node {i}'s chain failed:\n{text}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        export = cluster.client(i)?.export().await.context("exporting")?;
    }
}

/// Waits until every node answers one head (height, hash, state root)
/// and its export carries every block's attestations.
async fn converge(cluster: &LabCluster, limit: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        let mut heads = Vec::new();
        for i in 0..cluster.len() {
            let head =
                tokio::time::timeout(Duration::from_secs(2), cluster.client(i)?.get("/v1/head"))
                    .await;
            heads.push(match head {
                Ok(Ok(h)) => Some((
                    h["height"].clone(),
                    h["hash"].clone(),
                    h["state_root"].clone(),
                )),
                _ => None,
            });
        }
        if heads.iter().all(|h| h.is_some() && *h == heads[0]) {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("the nodes did not converge within {limit:?}: {heads:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Each fault's commits and recovery, from the history.
pub fn fault_results(history: &History) -> Vec<FaultResult> {
    history
        .faults
        .iter()
        .map(|span| {
            let (s, e) = (span.start_ms, span.end_ms);
            let during = || history.acks.iter().filter(|a| a.at_ms >= s && a.at_ms <= e);
            let commits_during = during().count();
            let commits_from_hit_nodes = during().filter(|a| span.nodes.contains(&a.node)).count();
            let head_at = |t: u64| {
                history
                    .samples
                    .iter()
                    .filter(|x| x.at_ms <= t)
                    .map(|x| x.height)
                    .max()
                    .unwrap_or(0)
            };
            let target = head_at(e);
            let nodes: std::collections::BTreeSet<usize> =
                history.samples.iter().map(|x| x.node).collect();
            let caught_up = nodes
                .iter()
                .map(|n| {
                    history
                        .samples
                        .iter()
                        .find(|x| x.node == *n && x.at_ms >= e && x.height >= target)
                        .map(|x| x.at_ms)
                })
                .collect::<Option<Vec<u64>>>()
                .and_then(|t| t.into_iter().max());
            let committing = history.acks.iter().find(|a| a.at_ms >= e).map(|a| a.at_ms);
            let recovery_s = match (caught_up, committing) {
                (Some(a), Some(b)) => Some((a.max(b) - e) as f64 / 1000.0),
                _ => None,
            };
            FaultResult {
                span: span.clone(),
                duration_s: (e - s) as f64 / 1000.0,
                commits_during,
                commits_from_hit_nodes,
                blocks_during: head_at(e) - head_at(s),
                recovery_s,
            }
        })
        .collect()
}

/// Per second: records acknowledged, each node's sampled head advance,
/// and each node's last sampled height (`None` before its first answer).
#[derive(Serialize)]
pub struct Window {
    pub second: u64,
    pub acks: usize,
    pub blocks: Vec<u64>,
    pub heights: Vec<Option<u64>>,
}

pub fn windows(history: &History, nodes: usize) -> Vec<Window> {
    let end = history
        .samples
        .iter()
        .map(|s| s.at_ms)
        .chain(history.acks.iter().map(|a| a.at_ms))
        .max()
        .unwrap_or(0)
        / 1000;
    let mut last = vec![None::<u64>; nodes];
    let mut out = Vec::new();
    let mut samples = history.samples.iter().peekable();
    for second in 0..=end {
        let limit = (second + 1) * 1000;
        let mut blocks = vec![0u64; nodes];
        while let Some(s) = samples.next_if(|s| s.at_ms < limit) {
            if let Some(prev) = last[s.node] {
                blocks[s.node] += s.height.saturating_sub(prev);
            }
            last[s.node] = Some(s.height.max(last[s.node].unwrap_or(0)));
        }
        let acks = history
            .acks
            .iter()
            .filter(|a| a.at_ms / 1000 == second)
            .count();
        out.push(Window {
            second,
            acks,
            blocks,
            heights: last.clone(),
        });
    }
    out
}
