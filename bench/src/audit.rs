//! The auditor's benchmark: `fundtrail verify`'s work on a chain file —
//! decoding, links, roots, every signature and attestation (batch-verified
//! on all cores), and the full contract replay — in records per second,
//! beside the batch-verify limit.

use std::time::Instant;

use fundtrail_contracts::Auditor;
use fundtrail_ledger::chainfile::{ChainReader, ChainWriter};
use fundtrail_ledger::types::Height;
use fundtrail_testkit::chain::ChainBuilder;
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
    /// where the system reports the process's CPU time (Linux).
    pub busy: Option<f64>,
    /// Each audit's records/s over the limit measured just before it, in
    /// run order: on a machine whose speed drifts, a pair measured seconds
    /// apart compares like with like.
    pub pair_ratios: Vec<f64>,
}

/// Audits timed, each after a limit round of its own.
pub const ROUNDS: usize = 5;
/// Signatures per limit round: about half an audit's time.
pub const LIMIT_SAMPLE: usize = 65_536;

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

/// CPU time of this process so far, every thread's (ended ones too), from
/// `/proc/self/stat` (Linux): user and system time in clock ticks, which
/// Linux reports at 100 per second.
fn process_cpu_seconds() -> Option<f64> {
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields after it do not.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / TICKS_PER_SECOND)
}

/// The best of [`ROUNDS`] audits of a `blocks` x `per_block` chain and the
/// best of as many limit rounds, taken in turn so both see the same
/// stretch of the machine's time.
pub fn run(blocks: usize, per_block: usize) -> AuditBenchReport {
    let (bytes, signatures) = chain_file(blocks, per_block);
    let threads = rayon::current_num_threads();
    let (mut best, mut limit) = (f64::MAX, 0f64);
    let mut busy = None;
    let mut records = 0;
    let mut pair_ratios = Vec::with_capacity(ROUNDS);
    let limit_sample = crate::limit::LimitSample::new(LIMIT_SAMPLE);
    for _ in 0..ROUNDS {
        let round_limit = limit_sample.rate(1);
        limit = limit.max(round_limit);
        let (seconds, cpu, seen) = time_audit(&bytes);
        if seconds < best {
            best = seconds;
            busy = cpu.map(|cpu| cpu / (seconds * threads as f64));
        }
        records = seen;
        pair_ratios.push(seen as f64 / seconds / round_limit);
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
        pair_ratios,
    }
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 0 => (sorted[mid - 1] + sorted[mid]) / 2.0,
        _ => sorted[mid],
    }
}

impl AuditBenchReport {
    pub fn print(&self) {
        println!(
            "verify (links, roots, signatures, attestations, contract replay): {} blocks, {} records",
            self.blocks, self.records
        );
        println!(
            "  {:.0} records/s (best of {ROUNDS}, {:.2} s)",
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
            "limit: ed25519 batch verify {:.0} signatures/s on {} threads (best of {ROUNDS}, one before each audit)",
            self.limit_signatures_per_sec, self.threads
        );
        println!(
            "ratio: verify with replay / batch verify = {:.2}",
            self.records_per_sec / self.limit_signatures_per_sec
        );
        let pairs: Vec<String> = self.pair_ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "  each audit over the limit just before it: {} (median {:.2})",
            pairs.join(" "),
            median(&self.pair_ratios)
        );
        let per_record = self.signatures as f64 / self.records as f64;
        println!(
            "  the chain holds {per_record:.3} signatures per record, so checking them alone at the limit's rate would give {:.2}",
            1.0 / per_record
        );
    }
}
