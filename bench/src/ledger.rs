//! Ledger benchmark: append+commit rate into a real on-disk RocksDB store
//! with fsync per block, and offline verification rate on all cores, each
//! beside this machine's ed25519 batch-verify rate measured in the same run.

use std::time::Instant;

use fundtrail_ledger::block::{next_state_root, Attestation, Block};
use fundtrail_ledger::chainfile::{verify_stream, ChainReader, ChainWriter};
use fundtrail_ledger::store::{Durability, Store};
use fundtrail_ledger::types::Height;
use fundtrail_ledger::verify::{BlockDraft, ChainVerifier};
use fundtrail_testkit::chain::ChainBuilder;
use fundtrail_testkit::ledger::accepted_outcomes;
use fundtrail_testkit::Kit;
use serde::Serialize;

use crate::limit::batch_verify_rate;

#[derive(Debug, Serialize)]
pub struct LedgerBenchReport {
    pub blocks: usize,
    pub records_per_block: usize,
    pub append_records_per_s: f64,
    pub verify_records_per_s: f64,
    pub batch_verify_limit_per_s: f64,
    /// Signatures checked per second during verify (records plus approvals).
    pub verify_signatures_per_s: f64,
    pub verify_vs_limit: f64,
    pub threads: usize,
}

pub fn run(blocks: usize, per_block: usize) -> LedgerBenchReport {
    let c = Kit::new(9);
    let chain = ChainBuilder::for_kit(c.clone()).chain(blocks, per_block);
    let records = (blocks * per_block) as f64;
    let signatures: usize = chain
        .iter()
        .flat_map(|(b, _)| &b.records)
        .map(|r| 1 + r.envelope.approvals.len())
        .sum();

    let append = time_append(&c, &chain);
    let export = export(&c, &chain);
    let verify = time_verify(&export);
    let limit = batch_verify_rate(32_768, 3);
    LedgerBenchReport {
        blocks,
        records_per_block: per_block,
        append_records_per_s: records / append,
        verify_records_per_s: records / verify,
        batch_verify_limit_per_s: limit,
        verify_signatures_per_s: signatures as f64 / verify,
        verify_vs_limit: (signatures as f64 / verify) / limit,
        threads: rayon::current_num_threads(),
    }
}

/// Seconds to commit every block (one fsynced WriteBatch each), including
/// computing roots and index entries, into a fresh store on disk.
fn time_append(c: &Kit, chain: &[(Block, Vec<Attestation>)]) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir for the benchmark store");
    let genesis = c.genesis_with_nodes();
    let store = Store::create(
        dir.path(),
        &genesis,
        next_state_root(&genesis.hash().hash(), &[]),
    )
    .expect("create benchmark store");
    let inputs: Vec<_> = chain.iter().map(|(b, _)| b.clone()).collect();
    let mut prev_hash = genesis.hash().hash();
    let start = Instant::now();
    for Block {
        header, records, ..
    } in inputs
    {
        let block = BlockDraft {
            chain_id: header.chain_id,
            height: header.height,
            prev_hash,
            timestamp_ms: header.timestamp_ms,
            proposer: header.proposer,
            rules_version: header.rules_version,
            state_root: header.state_root,
            outcomes: accepted_outcomes(&records),
            records,
        }
        .seal();
        prev_hash = block.block().hash().hash();
        store
            .commit_block(&block, &[], &[], Durability::Synced)
            .expect("commit");
    }
    start.elapsed().as_secs_f64()
}

fn export(c: &Kit, chain: &[(Block, Vec<Attestation>)]) -> Vec<u8> {
    let last = Height(chain.len() as u64);
    let mut w =
        ChainWriter::new(Vec::new(), &c.genesis_with_nodes(), Height(1), last).expect("writer");
    for (b, a) in chain {
        w.write_block(b, a).expect("write");
    }
    w.finish().expect("finish")
}

/// Seconds to decode and fully verify an exported chain (links, roots, every
/// record, approval and attestation signature).
fn time_verify(bytes: &[u8]) -> f64 {
    let start = Instant::now();
    let mut reader = ChainReader::new(bytes).expect("benchmark export reads");
    let mut verifier = ChainVerifier::new(reader.genesis().clone()).expect("genesis");
    verify_stream(&mut reader, &mut verifier, |_, _, _| Ok(())).expect("benchmark chain verifies");
    start.elapsed().as_secs_f64()
}

impl LedgerBenchReport {
    pub fn print(&self) {
        println!(
            "ledger benchmark: {} blocks x {} records, {} threads",
            self.blocks, self.records_per_block, self.threads
        );
        println!(
            "  append+commit (fsync per block): {:>10.0} records/s",
            self.append_records_per_s
        );
        println!(
            "  verify (all cores):              {:>10.0} records/s",
            self.verify_records_per_s
        );
        println!(
            "  verify signatures:               {:>10.0} sigs/s",
            self.verify_signatures_per_s
        );
        println!(
            "  machine limit, batch verify:     {:>10.0} sigs/s",
            self.batch_verify_limit_per_s
        );
        println!(
            "  verify / limit:                  {:>10.1} %",
            100.0 * self.verify_vs_limit
        );
    }
}
