//! Real chains for the report tests and the demo example: records executed
//! and sealed by the testkit's `ChainBuilder` on days after the genesis,
//! then verified and replayed from the genesis.

#![allow(dead_code)]

use fundtrail_audit::Verification;
use fundtrail_contracts::model::{key, FundEntry};
use fundtrail_contracts::state::State;
use fundtrail_contracts::Auditor;
use fundtrail_ledger::block::{Block, Genesis, Verdict};
use fundtrail_ledger::record::{RecordBody, RecordId, SignedRecord};
use fundtrail_ledger::types::{Amount, FundId, Height, InstitutionId, Role};
use fundtrail_testkit::chain::ChainBuilder;
use fundtrail_testkit::workload::Workload;
use fundtrail_testkit::Kit;

pub const DAY_MS: u64 = 86_400_000;

/// A chain being built; the insurance department's node proposes every
/// block.
pub struct TestChain {
    pub builder: ChainBuilder,
    pub genesis: Genesis,
    pub blocks: Vec<Block>,
}

impl TestChain {
    pub fn new(seed: u8) -> TestChain {
        TestChain::from_builder(ChainBuilder::for_kit(Kit::new(seed)))
    }

    fn from_builder(builder: ChainBuilder) -> TestChain {
        TestChain {
            genesis: builder.genesis.clone(),
            builder,
            blocks: Vec::new(),
        }
    }

    pub fn kit(&self) -> &Kit {
        self.builder.kit()
    }

    /// Signs the next record as `role` with `approvals` officer approvals.
    pub fn record(&mut self, role: Role, body: RecordBody, approvals: usize) -> SignedRecord {
        self.builder.record(role, body, approvals)
    }

    /// Executes `records` as the next block, stamped `day` days after the
    /// genesis (plus its height in milliseconds), and seals it.
    pub fn block(&mut self, day: u64, records: Vec<SignedRecord>) -> &Block {
        let height = self.builder.height().next();
        let timestamp_ms = self.genesis.timestamp_ms + day * DAY_MS + height.0;
        let block = self.builder.seal_verified_at(timestamp_ms, records);
        self.blocks.push(block.into_block());
        self.blocks.last().expect("just pushed")
    }

    /// The contracts' balance of `fund` after the last block.
    pub fn fund_balance(&self, fund: &FundId) -> Amount {
        let bytes = self
            .builder
            .state
            .get(&key::fund(fund))
            .expect("memory state")
            .expect("fund exists");
        let entry: FundEntry = fundtrail_ledger::codec::decode("fund", &bytes).expect("fund entry");
        entry.balance
    }

    /// Verifies and replays the chain from the genesis.
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

/// Audits the chain as an auditor's CLI would: the ledger checks and the
/// contract replay of `fundtrail_contracts::Auditor`.
pub fn verify_and_replay(genesis: &Genesis, blocks: &[Block]) -> Verification {
    let mut auditor = Auditor::new(genesis.clone()).expect("genesis keys are valid");
    let entries = blocks.iter().map(|b| (b.clone(), Vec::new())).collect();
    if let Err(e) = auditor.audit_blocks(entries) {
        return Verification::from_audit(&auditor.report(), Some(&e));
    }
    let seen = auditor.report();
    let head = blocks.last().map_or(Height(0), |b| b.header.height);
    match auditor.finish(head) {
        Ok(report) => Verification::from_audit(&report, None),
        Err(e) => Verification::from_audit(&seen, Some(&e)),
    }
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
    let workload = Workload::with_kit(Kit::new(7), seed, 60, true);
    let mut chain = TestChain::from_builder(ChainBuilder::with_workload(workload));
    for i in 0..blocks {
        let records: Vec<SignedRecord> = chain
            .builder
            .workload_records(records_per_block)
            .into_iter()
            .map(|r| spread_over_hospitals(chain.kit(), r))
            .collect();
        chain.block(i as u64 * 3 / 2, records);
    }
    chain
}

fn spread_over_hospitals(kit: &Kit, record: SignedRecord) -> SignedRecord {
    let RecordBody::Claim(mut claim) = record.envelope.body else {
        return record;
    };
    let hospital = HOSPITALS[claim.claim_id.tag.0[0] as usize % HOSPITALS.len()];
    claim.institution = hospital.parse::<InstitutionId>().expect("valid label");
    kit.sign(
        Role::Health,
        RecordBody::Claim(claim),
        record.envelope.nonce,
        0,
    )
}
