//! Contract execution benchmark: a realistic mix of honest and abusive
//! records (the randomized test's workload, with zero signatures, since the
//! engine never checks signatures: the ledger verifies them before), executed
//! block by block, single-threaded, on in-memory state. Generation, record
//! ids (the ledger's work: a node has them from admission, a verifier from
//! the block's outcomes) and a first execution happen before the clock
//! starts; the timed run replays the same blocks on a fresh genesis state
//! and must reach the same root.

use std::time::Instant;

use fundtrail_ledger::record::{RecordId, SignedRecord};
use fundtrail_testkit::workload::Workload;
use fundtrail_testkit::Harness;
use serde::Serialize;

/// Records per block in the benchmark.
pub const PER_BLOCK: usize = 500;

#[derive(Clone, Debug, Serialize)]
pub struct ContractsBenchReport {
    pub records: usize,
    pub blocks: usize,
    pub accepted: usize,
    pub seconds: f64,
    pub records_per_sec: f64,
}

/// Builds the blocks for `records` records (rounded up to whole blocks).
pub fn workload(records: usize) -> Vec<Vec<SignedRecord>> {
    let mut h = Harness::new(7);
    let mut w = Workload::new(2026, (records as u64 / 20).max(100), false);
    let blocks = records.div_ceil(PER_BLOCK);
    (0..blocks)
        .map(|_| {
            let block = w.block(&h.state, PER_BLOCK);
            h.block(&block);
            block
        })
        .collect()
}

/// Executes `records` records and reports records per second.
pub fn run(records: usize) -> ContractsBenchReport {
    let blocks = workload(records);
    let ids: Vec<Vec<RecordId>> = blocks
        .iter()
        .map(|b| b.iter().map(SignedRecord::id).collect())
        .collect();
    let mut best = f64::MAX;
    let mut accepted = 0;
    let mut roots = Vec::new();
    for _ in 0..3 {
        let mut h = Harness::new(7);
        let start = Instant::now();
        accepted = 0;
        for (b, ids) in blocks.iter().zip(&ids) {
            let exec = h.block_identified(ids.iter().copied().zip(b));
            accepted += exec.outcomes.iter().filter(|o| o.is_accepted()).count();
        }
        best = best.min(start.elapsed().as_secs_f64());
        roots.push(h.root);
    }
    assert!(
        roots.windows(2).all(|w| w[0] == w[1]),
        "replays reached different state roots"
    );
    let n: usize = blocks.iter().map(Vec::len).sum();
    ContractsBenchReport {
        records: n,
        blocks: blocks.len(),
        accepted,
        seconds: best,
        records_per_sec: n as f64 / best,
    }
}
