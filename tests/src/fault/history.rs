//! What the clients saw: every acknowledged record with the height the
//! node reported, every node's head as sampled through the run, and when
//! each fault began and healed. Load and sampling run in the client
//! namespace and append here; the checker reads it afterwards.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fundtrail_ledger::record::SignedRecord;
use fundtrail_node::cli::client::NodeClient;
use fundtrail_testkit::Kit;
use serde::Serialize;

use crate::cluster::committed;

/// Records per submission and submitting clients.
const BATCH: usize = 4;
const CLIENTS: usize = 3;
/// A submission unanswered this long counts as failed; its records are
/// sent again (to the next node) until one answers with a receipt.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(3);
const SAMPLE_EVERY: Duration = Duration::from_millis(300);

#[derive(Clone, Debug, Serialize)]
pub struct Ack {
    pub record: String,
    pub height: u64,
    pub at_ms: u64,
    pub node: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    pub at_ms: u64,
    pub node: usize,
    pub height: u64,
    pub hash: String,
    pub leader: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FaultSpan {
    pub fault: String,
    /// The fault's short name (`Fault::key`).
    pub key: String,
    pub nodes: Vec<usize>,
    pub start_ms: u64,
    pub end_ms: u64,
    /// What happened that the numbers do not show (a node's exit, say).
    pub notes: Vec<String>,
}

#[derive(Default, Serialize)]
pub struct History {
    pub acks: Vec<Ack>,
    pub samples: Vec<Sample>,
    pub faults: Vec<FaultSpan>,
    /// Submissions that failed or timed out (their records were retried).
    pub failed_submissions: u64,
    /// Records a node refused (none should be: every record is valid).
    pub refused: Vec<String>,
}

/// The run's clock and its shared history.
#[derive(Clone)]
pub struct Recorder {
    pub start: Instant,
    pub history: Arc<Mutex<History>>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            start: Instant::now(),
            history: Arc::default(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn with<T>(&self, f: impl FnOnce(&mut History) -> T) -> T {
        f(&mut self.history.lock().expect("history lock"))
    }

    pub fn fault(&self, span: FaultSpan) {
        self.with(|h| h.faults.push(span));
    }

    pub fn take(&self) -> History {
        self.with(std::mem::take)
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// Load and sampling until `stop` is set.
pub struct Workers {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Workers {
    /// Starts `CLIENTS` submitting clients spread over `clients` (one per
    /// node) and a sampler of every node's head.
    pub fn start(clients: Vec<NodeClient>, kit: Kit, recorder: &Recorder) -> Workers {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = Arc::new(clients);
        let kit = Arc::new(kit);
        let next = Arc::new(AtomicU64::new(1));
        let mut tasks = Vec::new();
        for w in 0..CLIENTS {
            tasks.push(tokio::spawn(submitter(
                w,
                clients.clone(),
                kit.clone(),
                next.clone(),
                recorder.clone(),
                stop.clone(),
            )));
        }
        tasks.push(tokio::spawn(sampler(
            clients,
            recorder.clone(),
            stop.clone(),
        )));
        Workers { stop, tasks }
    }

    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn submitter(
    w: usize,
    clients: Arc<Vec<NodeClient>>,
    kit: Arc<Kit>,
    next: Arc<AtomicU64>,
    recorder: Recorder,
    stop: Arc<AtomicBool>,
) {
    let mut pending: Vec<SignedRecord> = Vec::new();
    let mut node = w % clients.len();
    while !stop.load(Ordering::Relaxed) {
        while pending.len() < BATCH {
            let n = next.fetch_add(1, Ordering::Relaxed);
            pending.push(crate::eligibility_grant(&kit, n, n));
        }
        let answer = tokio::time::timeout(SUBMIT_TIMEOUT, clients[node].submit(&pending)).await;
        match answer {
            Ok(Ok(lines)) if lines.len() == pending.len() => {
                let at_ms = recorder.now_ms();
                let mut left = Vec::new();
                recorder.with(|h| {
                    for (record, line) in pending.drain(..).zip(&lines) {
                        match (committed(line), line) {
                            (Some((height, _, outcome)), _) => h.acks.push(Ack {
                                record: outcome.record_id.to_string(),
                                height,
                                at_ms,
                                node,
                            }),
                            (
                                None,
                                fundtrail_node::api::SubmitLine::Receipt(
                                    fundtrail_node::wire::Receipt::Refused { record_id, reason },
                                ),
                            ) => h.refused.push(format!("{record_id}: {reason}")),
                            (None, _) => left.push(record),
                        }
                    }
                });
                pending = left;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ => {
                recorder.with(|h| h.failed_submissions += 1);
                node = (node + 1) % clients.len();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn sampler(clients: Arc<Vec<NodeClient>>, recorder: Recorder, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let heads = futures::future::join_all(
            clients
                .iter()
                .map(|c| tokio::time::timeout(Duration::from_secs(1), c.get("/v1/head"))),
        )
        .await;
        let at_ms = recorder.now_ms();
        recorder.with(|h| {
            for (node, head) in heads.into_iter().enumerate() {
                let Ok(Ok(head)) = head else { continue };
                let (Some(height), Some(hash)) = (head["height"].as_u64(), head["hash"].as_str())
                else {
                    continue;
                };
                h.samples.push(Sample {
                    at_ms,
                    node,
                    height,
                    hash: hash.to_string(),
                    leader: head["raft"]["leader"].as_u64(),
                });
            }
        });
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}
