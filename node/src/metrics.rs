//! Prometheus metrics of one node: blocks and records committed, rejections
//! by code, apply latency, submissions, equivocation evidence held, the
//! store's bytes by column family, and Raft and peer gauges set at scrape
//! time.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use fundtrail_ledger::block::{Block, Verdict};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartLabel {
    pub part: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FamilyLabel {
    pub family: String,
}

/// Why a peer's message was refused (`crate::refusals`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub blocks_committed: Counter,
    pub records_accepted: Counter,
    pub records_rejected: Family<CodeLabel, Counter>,
    pub apply_seconds: Histogram,
    pub records_submitted: Counter,
    pub records_refused: Counter,
    pub submit_errors: Counter,
    pub head_height: Gauge,
    pub raft_term: Gauge,
    pub raft_is_leader: Gauge,
    pub peers_connected: Gauge,
    pub peer_refusals: Family<ReasonLabel, Counter>,
    /// Equivocation evidence held in the store, set at scrape time: it
    /// survives restarts, which a counter of this process's finds would not.
    pub equivocation_evidence: Gauge,
    /// Set at scrape time from RocksDB's properties.
    pub store_bytes: Family<FamilyLabel, Gauge>,
    /// Set at scrape time (`crate::cpu::parts`).
    pub cpu_seconds: Family<PartLabel, Gauge<f64, AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("fundtrail")),
            blocks_committed: Counter::default(),
            records_accepted: Counter::default(),
            records_rejected: Family::default(),
            // 1 ms .. ~16 s
            apply_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            records_submitted: Counter::default(),
            records_refused: Counter::default(),
            submit_errors: Counter::default(),
            head_height: Gauge::default(),
            raft_term: Gauge::default(),
            raft_is_leader: Gauge::default(),
            peers_connected: Gauge::default(),
            peer_refusals: Family::default(),
            equivocation_evidence: Gauge::default(),
            store_bytes: Family::default(),
            cpu_seconds: Family::default(),
        };
        m.register();
        m
    }
}

impl Metrics {
    fn register(&self) {
        let mut r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        r.register(
            "blocks_committed",
            "Blocks this node committed",
            self.blocks_committed.clone(),
        );
        r.register(
            "records_accepted",
            "Committed records the rules accepted",
            self.records_accepted.clone(),
        );
        r.register(
            "records_rejected",
            "Committed records the rules rejected, by code",
            self.records_rejected.clone(),
        );
        r.register(
            "apply_seconds",
            "Time to apply one Raft entry (verify, execute, commit)",
            self.apply_seconds.clone(),
        );
        r.register(
            "records_submitted",
            "Records received by this node's API",
            self.records_submitted.clone(),
        );
        r.register(
            "records_refused",
            "Submitted records refused at admission",
            self.records_refused.clone(),
        );
        r.register(
            "submit_errors",
            "Submitted records that timed out or failed",
            self.submit_errors.clone(),
        );
        r.register(
            "head_height",
            "Height of the last committed block",
            self.head_height.clone(),
        );
        r.register("raft_term", "Current Raft term", self.raft_term.clone());
        r.register(
            "raft_is_leader",
            "1 if this node leads",
            self.raft_is_leader.clone(),
        );
        r.register(
            "peers_connected",
            "Consortium peers connected over libp2p",
            self.peers_connected.clone(),
        );
        r.register(
            "peer_refusals",
            "Messages from consortium peers refused, by reason",
            self.peer_refusals.clone(),
        );
        r.register(
            "equivocation_evidence",
            "Attestations of a block other than the chain's held as evidence, \
             at most one per height and node key",
            self.equivocation_evidence.clone(),
        );
        r.register(
            "store_bytes",
            "Bytes on disk of each column family, in SST and blob files",
            self.store_bytes.clone(),
        );
        r.register(
            "cpu_seconds",
            "CPU seconds this process spent, by part: admission, signatures, contracts, \
             storage (the node's own reads and writes), storage_background (flushes and \
             compactions), networking, raft_and_other (the rest), total",
            self.cpu_seconds.clone(),
        );
    }

    /// Sets `cpu_seconds` from the process's clocks.
    pub fn read_cpu(&self) {
        for (part, seconds) in crate::cpu::parts() {
            let label = PartLabel {
                part: part.to_string(),
            };
            self.cpu_seconds.get_or_create(&label).set(seconds);
        }
    }

    /// Counts a committed block's records by verdict.
    pub fn block_committed(&self, block: &Block) {
        self.blocks_committed.inc();
        for o in &block.outcomes {
            match &o.verdict {
                Verdict::Accepted => {
                    self.records_accepted.inc();
                }
                Verdict::Rejected { code } => {
                    let label = CodeLabel {
                        code: code.to_string(),
                    };
                    self.records_rejected.get_or_create(&label).inc();
                }
            }
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        out
    }
}
