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

/// Seconds for one full audit of `bytes`, and the records it saw.
fn time_audit(bytes: &[u8]) -> (f64, u64) {
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
    (start.elapsed().as_secs_f64(), report.records)
}

/// Best of three audits of a `blocks` x `per_block` chain.
pub fn run(blocks: usize, per_block: usize) -> AuditBenchReport {
    let (bytes, signatures) = chain_file(blocks, per_block);
    let limit = crate::limit::batch_verify_rate(32_768, 3);
    let mut best = f64::MAX;
    let mut records = 0;
    for _ in 0..3 {
        let (seconds, seen) = time_audit(&bytes);
        best = best.min(seconds);
        records = seen;
    }
    AuditBenchReport {
        blocks,
        records,
        signatures,
        seconds: best,
        records_per_sec: records as f64 / best,
        limit_signatures_per_sec: limit,
        threads: rayon::current_num_threads(),
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
