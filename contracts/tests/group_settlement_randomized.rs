//! Seeded randomized periods of payment by groups: random catalogues,
//! methods, ratios, budgets and cases (some naming groups outside the
//! catalogue). In every period the settlement the rule computes sums to
//! the budget exactly, pays only institutions with catalogue cases, counts
//! exactly the points of the accepted cases (recomputed here from the
//! catalogue), is accepted, and the same settlement with one fen moved is
//! refused.

use std::collections::BTreeMap;

use fundtrail_contracts::payment::{case_payment, settlement_due};
use fundtrail_contracts::quote::quote;
use fundtrail_ledger::block::Verdict;
use fundtrail_ledger::record::{
    GroupStandard, PaymentMethod, PaymentPolicyBody, RecordBody, SignedRecord,
};
use fundtrail_ledger::types::{Amount, Bp, GroupCode, InstitutionId, RegionCode, Role};
use fundtrail_testkit::{bodies::claim, Harness, HOME};

const PERIODS: u64 = 200;

/// splitmix64: a small seeded generator, so the test needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

fn random_policy(rng: &mut Rng) -> PaymentPolicyBody {
    let groups: Vec<GroupStandard> = (0..rng.range(1, 12))
        .map(|i| GroupStandard {
            code: format!("G{i:02}").parse().unwrap(),
            points: rng.range(1, 2_000) as u32,
        })
        .collect();
    let (method, base_rate) = if rng.below(2) == 0 {
        (PaymentMethod::Drg, rng.range(100_000, 2_000_000))
    } else {
        (PaymentMethod::Dip, rng.range(100, 20_000))
    };
    let low = rng.range(0, 9_000) as u16;
    PaymentPolicyBody {
        region: HOME.parse().unwrap(),
        year: 2026,
        method,
        base_rate: Amount::from_fen(base_rate).unwrap(),
        groups,
        high_cost_ratio: Bp(rng.range(u64::from(low).max(10_000), 40_000) as u16),
        low_cost_ratio: Bp(low),
        budget: Amount::from_fen(rng.range(1, 200_000_000_000)).unwrap(),
        retention: Bp(rng.range(0, 10_000) as u16),
        overspend_share: Bp(rng.range(0, 10_000) as u16),
        upcoding_rise: Bp(2_000),
        upcoding_min_cases: 5,
        low_standard_ratio: Bp(3_000),
    }
}

fn code(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Accepted => "ACCEPTED".into(),
        Verdict::Rejected { code } => code.to_string(),
    }
}

#[test]
fn settlements_sum_to_the_budget_and_pay_only_catalogue_groups() {
    let mut rng = Rng(0x41_d1b);
    let region: RegionCode = HOME.parse().unwrap();
    for period in 0..PERIODS {
        let mut h = Harness::new(period as u8);
        let policy = random_policy(&mut rng);
        let out = h.submit(
            Role::Insurance,
            RecordBody::PaymentPolicy(policy.clone()),
            0,
        );
        assert_eq!(code(&out.verdict), "ACCEPTED");

        let institutions = rng.range(1, 8);
        let mut records: Vec<SignedRecord> = Vec::new();
        let mut planned = Vec::new();
        for n in 0..rng.range(1, 60) {
            let institution: InstitutionId = format!("H4401{:04}", rng.below(institutions))
                .parse()
                .unwrap();
            let group: GroupCode = if rng.below(10) == 0 {
                "X99".parse().unwrap()
            } else {
                let g = &policy.groups[rng.below(policy.groups.len() as u64) as usize];
                g.code.clone()
            };
            let in_scope = Amount::from_fen(rng.range(1, 50_000_000)).unwrap();
            let mut body = claim(h.kit.claim_id(n), h.kit.person(n), in_scope, in_scope);
            body.institution = institution.clone();
            body.drg_or_dip_group = Some(group.clone());
            records.push(h.record(Role::Health, RecordBody::Claim(body), 0));
            planned.push((n, institution, group, in_scope));
        }
        let outcomes = h.block(&records).outcomes;

        // Points, itemised cost and entitlement by standard per
        // institution, from the catalogue.
        let mut expected: BTreeMap<InstitutionId, (u64, u64, u64)> = BTreeMap::new();
        for ((n, institution, group, in_scope), o) in planned.iter().zip(&outcomes) {
            let Some(standard) = policy.group(group) else {
                assert_eq!(code(&o.verdict), "UNKNOWN_GROUP");
                continue;
            };
            assert_eq!(code(&o.verdict), "ACCEPTED");
            let itemised = quote(&h.state, &h.kit.claim_id(*n)).unwrap().basic;
            let case = case_payment(&policy, standard, *in_scope, itemised);
            let e = expected.entry(institution.clone()).or_default();
            e.0 += case.points;
            e.1 += itemised.fen();
            e.2 += case.entitlement.fen();
        }

        let due = settlement_due(&h.state, &region, 2026).unwrap();
        let Some(due) = due else {
            assert!(expected.values().all(|(p, ..)| *p == 0), "period {period}");
            continue;
        };
        let paid: BTreeMap<InstitutionId, (u64, u64, u64)> = due
            .lines
            .iter()
            .map(|l| {
                let figures = (l.points, l.itemised.fen(), l.entitled.fen());
                (l.institution.clone(), figures)
            })
            .collect();
        assert_eq!(paid, expected, "period {period}: points or institutions");
        let total: u64 = due.lines.iter().map(|l| l.amount.fen()).sum();
        assert_eq!(total, policy.budget.fen(), "period {period}: sum");

        if due.lines.len() > 1 {
            let mut moved = due.clone();
            let from = moved.lines.iter().position(|l| l.amount.fen() > 0).unwrap();
            let to = (from + 1) % moved.lines.len();
            moved.lines[from].amount =
                Amount::from_fen(moved.lines[from].amount.fen() - 1).unwrap();
            moved.lines[to].amount = Amount::from_fen(moved.lines[to].amount.fen() + 1).unwrap();
            let out = h.submit(Role::Insurance, RecordBody::PeriodSettlement(moved), 0);
            assert_eq!(code(&out.verdict), "SETTLEMENT_MISMATCH", "period {period}");
        }
        let out = h.submit(Role::Insurance, RecordBody::PeriodSettlement(due), 0);
        assert_eq!(code(&out.verdict), "ACCEPTED", "period {period}");
    }
}
