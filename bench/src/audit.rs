//! The auditor's benchmark: `fundtrail verify`'s work on a chain file —
//! decoding, links, roots, every signature and attestation (batch-verified
//! on all cores), and the full contract replay — in records per second,
//! beside the batch-verify limit.

use std::time::Instant;

use fundtrail_contracts::testkit::chain::ChainBuilder;
use fundtrail_contracts::Auditor;
use fundtrail_ledger::chainfile::{ChainReader, ChainWriter};
use fundtrail_ledger::types::Height;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct AuditBenchReport {
    pub blocks: usize,
    pub records: u64,
    /// Record, approval and attestation signatures the audit checks.
    pub signatures: u64,
    pub seconds: f64,
    pub records_per_sec: f64,
    pub limit_signatures_per_sec: f64,
    pub threads: usize,
    /// Share of the threads' time spent running during the best audit,
    /// where the system reports per-thread CPU time (Linux).
    pub busy: Option<f64>,
}

/// An honest attested chain of `blocks` x `per_block` records, as a file,
/// and the number of signatures in it.
pub fn chain_file(blocks: usize, per_block: usize) -> (Vec<u8>, u64) {
    let mut b = ChainBuilder::new(2026, (blocks * per_block / 10).max(1000) as u64);
    let entries = b.blocks(blocks, per_block);
    let mut w = ChainWriter::new(Vec::new(), &b.genesis, Height(1), Height(blocks as u64))
        .expect("writer to memory");
    let mut signatures = 0;
    for (block, atts) in &entries {
        w.write_block(block, atts).expect("write to memory");
        let approvals: usize = block
            .records
            .iter()
            .map(|r| r.envelope.approvals.len())
            .sum();
        signatures += (block.records.len() + approvals + atts.len()) as u64;
    }
    (w.finish().expect("finish in memory"), signatures)
}

/// One full audit of `bytes`, up to its verdict: wall seconds, CPU seconds
/// of all threads (when known), and the records it saw.
fn time_audit(bytes: &[u8]) -> (f64, Option<f64>, u64) {
    let cpu_before = process_cpu_seconds();
    let start = Instant::now();
    let mut reader = ChainReader::new(bytes).expect("benchmark chain reads");
    let last = reader.header().to_height;
    let mut auditor = Auditor::new(reader.genesis().clone())
        .expect("genesis")
        .require_attesting_orgs(4);
    let entries = std::iter::from_fn(|| reader.next_entry().transpose());
    auditor
        .audit_stream(entries, |_| {})
        .expect("benchmark chain audits");
    let report = auditor.finish(last).expect("complete chain");
    let wall = start.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    // The clock stops at the verdict: freeing the replayed state is teardown.
    drop(auditor);
    (wall, cpu, report.records)
}

/// CPU time of every thread of this process so far, from
/// `/proc/self/task/*/schedstat` (nanoseconds on the CPU first).
fn process_cpu_seconds() -> Option<f64> {
    let mut nanos = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        nanos += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(nanos as f64 / 1e9)
}

/// Best of three audits of a `blocks` x `per_block` chain.
pub fn run(blocks: usize, per_block: usize) -> AuditBenchReport {
    let (bytes, signatures) = chain_file(blocks, per_block);
    let limit = crate::limit::batch_verify_rate(32_768, 3);
    let threads = rayon::current_num_threads();
    let mut best = f64::MAX;
    let mut busy = None;
    let mut records = 0;
    for _ in 0..3 {
        let (seconds, cpu, seen) = time_audit(&bytes);
        if seconds < best {
            best = seconds;
            busy = cpu.map(|cpu| cpu / (seconds * threads as f64));
        }
        records = seen;
    }
    AuditBenchReport {
        blocks,
        records,
        signatures,
        seconds: best,
        records_per_sec: records as f64 / best,
        limit_signatures_per_sec: limit,
        threads,
        busy,
    }
}

impl AuditBenchReport {
    pub fn print(&self) {
        println!(
            "verify (links, roots, signatures, attestations, contract replay): {} blocks, {} records",
            self.blocks, self.records
        );
        println!(
            "  {:.0} records/s (best of 3, {:.2} s)",
            self.records_per_sec, self.seconds
        );
        if let Some(busy) = self.busy {
            println!(
                "  the {} threads were running {:.1} % of that audit",
                self.threads,
                busy * 100.0
            );
        }
        println!(
            "limit: ed25519 batch verify {:.0} signatures/s on {} threads",
            self.limit_signatures_per_sec, self.threads
        );
        println!(
            "ratio: verify with replay / batch verify = {:.2}",
            self.records_per_sec / self.limit_signatures_per_sec
        );
        let per_record = self.signatures as f64 / self.records as f64;
        println!(
            "  the chain holds {per_record:.3} signatures per record, so checking them alone at the limit's rate would give {:.2}",
            1.0 / per_record
        );
    }
}
