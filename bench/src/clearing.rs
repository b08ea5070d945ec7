//! Clearing-bucket benchmark: `payouts` cross-region settlements, every one
//! into the same bucket (one month, one pair of regions), executed under
//! rules version 1, which keeps the bucket's payout ids in one value, and
//! under version 2, which keeps one entry per payout. Each person has a
//! filing, one claim and its settlement; signing happens before the clock
//! starts. Reports the time per payout over the whole run and over its
//! last block, which shows whether a payout's cost grows with the bucket.

use std::time::Instant;

use fundtrail_ledger::record::{FilingBody, RecordBody, RecordId, SignedRecord};
use fundtrail_ledger::types::{Amount, Role, Scheme};
use fundtrail_testkit::bodies::{claim, date, settle};
use fundtrail_testkit::{region, Harness, Kit, AWAY, HOME};
use serde::Serialize;

/// Payouts per block: each block also holds their filings and claims.
pub const PAYOUTS_PER_BLOCK: usize = 500;

#[derive(Clone, Debug, Serialize)]
pub struct ClearingBenchReport {
    pub rules_version: u32,
    pub payouts: usize,
    pub seconds: f64,
    pub payouts_per_sec: f64,
    /// Microseconds per record of the last block (a third of them payouts).
    pub last_block_us_per_record: f64,
}

/// The blocks, signed: for each person a filing, a claim for care in the
/// away region in March 2026, and its basic settlement of 350.00.
pub fn blocks(payouts: usize) -> Vec<Vec<(RecordId, SignedRecord)>> {
    let kit = Kit::new(7);
    let mut nonce = 0;
    let mut sign = |role, body| {
        nonce += 1;
        let r = kit.sign(role, body, nonce, 0);
        (r.id(), r)
    };
    (0..payouts)
        .collect::<Vec<_>>()
        .chunks(PAYOUTS_PER_BLOCK)
        .map(|people| {
            let mut block = Vec::with_capacity(people.len() * 3);
            for &n in people {
                let (person, c) = (kit.person(n as u64), kit.claim_id(n as u64));
                let filing = RecordBody::Filing(FilingBody {
                    person,
                    insured_region: region(HOME),
                    care_region: region(AWAY),
                    valid_from: date("2026-01-01"),
                    valid_until: date("2026-12-31"),
                });
                let mut body = claim(c, person, Amount::yuan(2_000), Amount::yuan(1_500));
                body.care_region = region(AWAY);
                body.service_date = date("2026-03-10");
                block.push(sign(Role::Insurance, filing));
                block.push(sign(Role::Health, RecordBody::Claim(body)));
                block.push(sign(
                    Role::Insurance,
                    settle(c, Scheme::Basic, Amount::yuan(350)),
                ));
            }
            block
        })
        .collect()
}

/// Executes `blocks` from genesis under `rules_version`; every record must
/// be accepted.
pub fn run(blocks: &[Vec<(RecordId, SignedRecord)>], rules_version: u32) -> ClearingBenchReport {
    let kit = Kit::new(7);
    let mut genesis = kit.genesis();
    genesis.rules_version = rules_version;
    let mut h = Harness::with_genesis(kit, &genesis);
    let start = Instant::now();
    let mut last_block = 0f64;
    for block in blocks {
        let block_start = Instant::now();
        let exec = h.block_identified(block.iter().map(|(id, r)| (*id, r)));
        last_block = block_start.elapsed().as_secs_f64() / block.len() as f64;
        assert!(
            exec.outcomes.iter().all(|o| o.is_accepted()),
            "every benchmark record is accepted"
        );
    }
    let seconds = start.elapsed().as_secs_f64();
    let payouts = blocks.iter().map(|b| b.len() / 3).sum();
    ClearingBenchReport {
        rules_version,
        payouts,
        seconds,
        payouts_per_sec: payouts as f64 / seconds,
        last_block_us_per_record: last_block * 1e6,
    }
}

impl ClearingBenchReport {
    pub fn print(&self) {
        println!(
            "clearing bucket, rules version {}: {} payouts into one bucket in {:.2} s ({:.0} payouts/s); last block {:.1} µs per record",
            self.rules_version,
            self.payouts,
            self.seconds,
            self.payouts_per_sec,
            self.last_block_us_per_record
        );
    }
}
