//! Real chains for the report tests and the demo example: records executed
//! by the contracts testkit's `Harness`, sealed into blocks with
//! `BlockDraft::seal`, then verified and replayed from the genesis.

#![allow(dead_code)]

use fundtrail_audit::Verification;
use fundtrail_contracts::engine::{execute_block, genesis_state, BlockContext};
use fundtrail_contracts::model::{key, FundEntry};
use fundtrail_contracts::state::{MemoryState, State};
use fundtrail_contracts::testkit::workload::Workload;
use fundtrail_contracts::testkit::Harness;
use fundtrail_ledger::block::{Block, Genesis, Verdict};
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::{RecordBody, RecordId, SignedRecord};
use fundtrail_ledger::types::{Amount, FundId, Height, InstitutionId, Role};
use fundtrail_ledger::verify::{BlockDraft, ChainVerifier};

pub const DAY_MS: u64 = 86_400_000;

/// A chain being built: the harness holds the contract state.
pub struct TestChain {
    pub harness: Harness,
    pub genesis: Genesis,
    pub blocks: Vec<Block>,
    prev_hash: Hash32,
}

impl TestChain {
    pub fn new(seed: u8) -> TestChain {
        let harness = Harness::new(seed);
        let genesis = harness.kit.genesis();
        TestChain {
            prev_hash: genesis.hash().hash(),
            harness,
            genesis,
            blocks: Vec::new(),
        }
    }

    /// Signs the next record as `role` with `approvals` officer approvals.
    pub fn record(&mut self, role: Role, body: RecordBody, approvals: usize) -> SignedRecord {
        self.harness.record(role, body, approvals)
    }

    /// Executes `records` as the next block, stamped `day` days and `ms`
    /// milliseconds after the genesis, and seals it.
    pub fn block(&mut self, day: u64, records: Vec<SignedRecord>) -> &Block {
        let exec = self.harness.block(&records);
        let block = BlockDraft {
            chain_id: self.genesis.chain_id.clone(),
            height: self.harness.height,
            prev_hash: self.prev_hash,
            timestamp_ms: self.genesis.timestamp_ms + day * DAY_MS + self.harness.height.0,
            proposer: self.harness.kit.org(Role::Insurance).submitter.public(),
            rules_version: exec.rules_version,
            state_root: exec.state_root,
            records,
            outcomes: exec.outcomes,
        }
        .seal()
        .into_block();
        self.prev_hash = block.hash().hash();
        self.blocks.push(block);
        self.blocks.last().expect("just pushed")
    }

    /// The contracts' balance of `fund` after the last block.
    pub fn fund_balance(&self, fund: &FundId) -> Amount {
        let bytes = self
            .harness
            .state
            .get(&key::fund(fund))
            .expect("memory state")
            .expect("fund exists");
        let entry: FundEntry = fundtrail_ledger::codec::decode("fund", &bytes).expect("fund entry");
        entry.balance
    }

    /// Verifies the chain with the ledger verifier and replays it with the
    /// contracts from the genesis, as an auditor's CLI would.
    pub fn verify(&self) -> Verification {
        verify_and_replay(&self.genesis, &self.blocks)
    }

    /// The outcome verdict and body of every record, in chain order.
    pub fn records(&self) -> impl Iterator<Item = (&RecordBody, &Verdict, RecordId)> {
        self.blocks.iter().flat_map(|b| {
            b.records
                .iter()
                .zip(&b.outcomes)
                .map(|(r, o)| (&r.envelope.body, &o.verdict, o.record_id))
        })
    }
}

pub fn verify_and_replay(genesis: &Genesis, blocks: &[Block]) -> Verification {
    let records = blocks.iter().map(|b| b.records.len() as u64).sum();
    let head = blocks.last();
    let mut v = Verification {
        ok: true,
        contracts_replayed: true,
        blocks: blocks.len() as u64,
        records,
        head_height: head.map_or(Height(0), |b| b.header.height),
        head_hash: head.map_or(genesis.hash().hash(), |b| b.hash().hash()),
        state_root: head.map_or(Hash32::ZERO, |b| b.header.state_root),
        required_attesting_orgs: 0,
        min_attesting_orgs: None,
        error: None,
    };
    if let Err(e) = verify_ledger(genesis, blocks) {
        v.ok = false;
        v.error = Some(e);
    } else if let Err(e) = replay(genesis, blocks) {
        v.ok = false;
        v.error = Some(e);
    }
    v
}

fn verify_ledger(genesis: &Genesis, blocks: &[Block]) -> Result<(), String> {
    let mut verifier = ChainVerifier::new(genesis.clone()).map_err(|e| e.to_string())?;
    let entries = blocks.iter().map(|b| (b.clone(), Vec::new())).collect();
    verifier.verify_blocks(entries).map_err(|e| e.to_string())?;
    Ok(())
}

fn replay(genesis: &Genesis, blocks: &[Block]) -> Result<(), String> {
    let mut state = MemoryState::new();
    state.apply(&genesis_state(genesis));
    let mut root = fundtrail_contracts::genesis_state_root(genesis);
    for block in blocks {
        let ctx = BlockContext {
            height: block.header.height,
            timestamp_ms: block.header.timestamp_ms,
            prev_state_root: root,
        };
        let exec = execute_block(&ctx, &block.records, &state).map_err(|e| e.to_string())?;
        if exec.outcomes != block.outcomes || exec.state_root != block.header.state_root {
            return Err(format!(
                "height {}: replayed outcomes or state root differ",
                block.header.height
            ));
        }
        root = exec.state_root;
        state.apply_owned(exec.writes);
    }
    Ok(())
}

/// Hospitals the workload's claims are spread over.
pub const HOSPITALS: [&str; 6] = [
    "H44010001",
    "H44010002",
    "H44010317",
    "H44011208",
    "H11010045",
    "H44018830",
];

/// A seeded chain of honest and abusive records (the contracts' workload)
/// over `blocks` blocks, one every 1.5 days, with claims spread over
/// [`HOSPITALS`].
pub fn workload_chain(seed: u64, blocks: usize, records_per_block: usize) -> TestChain {
    let mut workload = Workload::new(seed, 60, true);
    let mut chain = TestChain::new(7);
    for i in 0..blocks {
        let records: Vec<SignedRecord> = workload
            .block(&chain.harness.state, records_per_block)
            .into_iter()
            .map(|r| spread_over_hospitals(&workload, r))
            .collect();
        chain.block(i as u64 * 3 / 2, records);
    }
    chain
}

fn spread_over_hospitals(workload: &Workload, record: SignedRecord) -> SignedRecord {
    let RecordBody::Claim(mut claim) = record.envelope.body else {
        return record;
    };
    let hospital = HOSPITALS[claim.claim_id.tag.0[0] as usize % HOSPITALS.len()];
    claim.institution = hospital.parse::<InstitutionId>().expect("valid label");
    workload.kit.sign(
        Role::Health,
        RecordBody::Claim(claim),
        record.envelope.nonce,
        0,
    )
}
