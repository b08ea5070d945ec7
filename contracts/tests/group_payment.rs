//! The payment-by-groups worked example of docs/RULES.md, to the fen: three
//! institutions of one DIP region, six cases, a budget of 90,000.00; the
//! point value, each institution's settlement with retention and sharing,
//! and the amounts summing to the budget. Then the settlements the rule
//! refuses, and the signals.

use fundtrail_contracts::model::{key, PaymentYear};
use fundtrail_contracts::payment::{case_payment, settle, settlement_due, CaseClass, GroupCase};
use fundtrail_contracts::quote::quote;
use fundtrail_contracts::State;
use fundtrail_ledger::block::{Outcome, Verdict};
use fundtrail_ledger::record::{
    GroupStandard, PaymentMethod, PaymentPolicyBody, PeriodSettlementBody, RecordBody,
    SettlementLine,
};
use fundtrail_ledger::types::{Admission, Amount, Bp, InstitutionId, RegionCode, Role};
use fundtrail_testkit::{bodies::*, Harness, HOME};

fn yuan(s: &str) -> Amount {
    s.parse().unwrap()
}

fn code(o: &Outcome) -> String {
    match &o.verdict {
        Verdict::Accepted => "ACCEPTED".into(),
        Verdict::Rejected { code } => code.to_string(),
    }
}

fn signals(o: &Outcome) -> Vec<String> {
    o.signals.iter().map(|s| s.to_string()).collect()
}

fn inst(n: u8) -> InstitutionId {
    format!("H4401000{n}").parse().unwrap()
}

fn group(code: &str, points: u32) -> GroupStandard {
    GroupStandard {
        code: code.parse().unwrap(),
        points,
    }
}

/// The example's DIP policy: 100.00 yuan per point, three groups.
fn example_policy() -> PaymentPolicyBody {
    PaymentPolicyBody {
        region: HOME.parse().unwrap(),
        year: 2026,
        method: PaymentMethod::Dip,
        base_rate: yuan("100.00"),
        groups: vec![group("ES23", 90), group("FM19", 250), group("RE13", 200)],
        high_cost_ratio: Bp(20000),
        low_cost_ratio: Bp(4000),
        budget: yuan("90000.00"),
        retention: Bp(7000),
        overspend_share: Bp(5000),
        upcoding_rise: Bp(2000),
        upcoding_min_cases: 5,
        low_standard_ratio: Bp(3000),
    }
}

struct Case {
    institution: u8,
    group: &'static str,
    in_scope: &'static str,
}

/// The six cases of the example, each of another resident (so each pays
/// the full 1,000.00 deductible) at a tertiary hospital (basic 70 %).
const CASES: [Case; 6] = [
    Case {
        institution: 1,
        group: "ES23",
        in_scope: "8000.00",
    },
    Case {
        institution: 1,
        group: "FM19",
        in_scope: "30000.00",
    },
    Case {
        institution: 2,
        group: "FM19",
        in_scope: "20000.00",
    },
    Case {
        institution: 2,
        group: "RE13",
        in_scope: "50000.00",
    },
    Case {
        institution: 3,
        group: "ES23",
        in_scope: "3000.00",
    },
    Case {
        institution: 3,
        group: "RE13",
        in_scope: "19000.00",
    },
];

fn grouped_claim(
    h: &Harness,
    n: u64,
    institution: u8,
    group: &str,
    in_scope: Amount,
) -> RecordBody {
    let mut body = claim(h.kit.claim_id(n), h.kit.person(n), in_scope, in_scope);
    body.institution = inst(institution);
    body.drg_or_dip_group = Some(group.parse().unwrap());
    RecordBody::Claim(body)
}

/// A harness with the example policy and its six claims accepted.
fn example() -> Harness {
    let mut h = Harness::new(41);
    let policy = RecordBody::PaymentPolicy(example_policy());
    assert_eq!(code(&h.submit(Role::Insurance, policy, 0)), "ACCEPTED");
    for (n, c) in CASES.iter().enumerate() {
        let body = grouped_claim(&h, n as u64 + 1, c.institution, c.group, yuan(c.in_scope));
        let out = h.submit(Role::Health, body, 0);
        assert_eq!(code(&out), "ACCEPTED", "case {n}");
    }
    h
}

fn line(n: u8, points: u64, itemised: &str, entitled: &str, amount: &str) -> SettlementLine {
    SettlementLine {
        institution: inst(n),
        points,
        itemised: yuan(itemised),
        entitled: yuan(entitled),
        amount: yuan(amount),
    }
}

fn expected_settlement() -> PeriodSettlementBody {
    PeriodSettlementBody {
        region: HOME.parse().unwrap(),
        year: 2026,
        budget: yuan("90000.00"),
        lines: vec![
            // 340 points: 23,181.82 by points, overspend 2,018.18 against
            // 25,200.00, half shared (1,009.09), pool rest 143.31.
            // By standard: ES23 9,000 − (8,000 − 4,900) = 5,900 and FM19
            // 25,000 − (30,000 − 20,300) = 15,300.
            line(1, 340, "25200.00", "21200.00", "24334.22"),
            // 750 points: 51,136.36, surplus 3,536.36 of which 30 %
            // (1,060.91) back to the pool, pool rest 316.12.
            // By standard: FM19 25,000 − 6,700 = 18,300; RE13 high-cost
            // by item, 34,300.
            line(2, 750, "47600.00", "52600.00", "50391.57"),
            // 230 points: 15,681.82, surplus 1,681.82, 504.55 back, rest 96.94.
            // By standard: ES23 low-cost by item, 1,400; RE13 20,000 − 6,400.
            line(3, 230, "14000.00", "15000.00", "15274.21"),
        ],
    }
}

#[test]
fn per_case_payment_follows_the_group_standard() {
    let p = example_policy();
    let fm19 = &p.groups[1];
    // 30,000 in scope, standard 250 × 100 = 25,000; by item basic pays
    // (30,000 − 1,000) × 70 % = 20,300, the patient side 9,700; the
    // institution's entitlement is 25,000 − 9,700 = 15,300.
    let c = case_payment(&p, fm19, yuan("30000.00"), yuan("20300.00"));
    assert_eq!(c.standard, yuan("25000.00"));
    assert_eq!(c.class, CaseClass::Normal);
    assert_eq!((c.points, c.entitlement), (250, yuan("15300.00")));
    // RE13 at 50,000 is above 200 % of 20,000: by item, 500 points.
    let high = case_payment(&p, &p.groups[2], yuan("50000.00"), yuan("34300.00"));
    assert_eq!(high.class, CaseClass::HighCost);
    assert_eq!((high.points, high.entitlement), (500, yuan("34300.00")));
    // ES23 at 3,000 is below 40 % of 9,000: by item, 30 points.
    let low = case_payment(&p, &p.groups[0], yuan("3000.00"), yuan("1400.00"));
    assert_eq!(low.class, CaseClass::LowCost);
    assert_eq!((low.points, low.entitlement), (30, yuan("1400.00")));
    // DRG: 250 points are relative weight 2.50 at a base rate of 10,000.
    let drg = PaymentPolicyBody {
        method: PaymentMethod::Drg,
        base_rate: yuan("10000.00"),
        ..p.clone()
    };
    assert_eq!(
        case_payment(&drg, fm19, yuan("30000.00"), yuan("20300.00")).standard,
        yuan("25000.00")
    );
}

#[test]
fn the_patient_side_is_the_one_stop_quote_and_the_institution_side_is_stored_apart() {
    let h = example();
    // The second case: the patient side is unchanged by group payment.
    let q = quote(&h.state, &h.kit.claim_id(2)).unwrap();
    assert_eq!(q.basic, yuan("20300.00"));
    // The institution side, stored beside the claim.
    let bytes = h
        .state
        .get(&key::group_case(&h.kit.claim_id(2)))
        .unwrap()
        .unwrap();
    let case: GroupCase = fundtrail_ledger::codec::decode("group case", &bytes).unwrap();
    assert_eq!(case.institution, inst(1));
    assert_eq!(case.group.as_str(), "FM19");
    assert_eq!(case.itemised, yuan("20300.00"));
    assert_eq!(case.payment.standard, yuan("25000.00"));
    assert_eq!(case.payment.entitlement, yuan("15300.00"));
    // An outpatient claim, or a claim in a region paid by item, has none.
    let mut h = h;
    let mut body = claim(
        h.kit.claim_id(50),
        h.kit.person(50),
        yuan("900.00"),
        yuan("900.00"),
    );
    body.admission = Admission::Outpatient;
    assert_eq!(
        code(&h.submit(Role::Health, RecordBody::Claim(body), 0)),
        "ACCEPTED"
    );
    assert_eq!(
        h.state.get(&key::group_case(&h.kit.claim_id(50))).unwrap(),
        None
    );
}

#[test]
fn worked_example_settles_to_the_fen() {
    let mut h = example();
    let region: RegionCode = HOME.parse().unwrap();
    let due = settlement_due(&h.state, &region, 2026).unwrap().unwrap();
    assert_eq!(due, expected_settlement());

    // The steps of docs/RULES.md: point value 9,000,000 fen ÷ 1,320
    // points; by points, given back (30 % of a surplus), the overspend
    // claim paid (50 %), the pool's rest by points.
    let bytes = h
        .state
        .get(&key::payment_year(&region, 2026))
        .unwrap()
        .unwrap();
    let year: PaymentYear = fundtrail_ledger::codec::decode("payment year", &bytes).unwrap();
    let s = settle(&example_policy(), &year).unwrap();
    assert_eq!(s.point_value(), (9_000_000, 1_320));
    let steps: Vec<[u64; 5]> = s
        .lines
        .iter()
        .map(|l| [l.by_points, l.given_back, l.shared, l.pool_rest, l.amount])
        .collect();
    assert_eq!(
        steps,
        [
            [2_318_182, 0, 100_909, 14_331, 2_433_422],
            [5_113_636, 106_091, 0, 31_612, 5_039_157],
            [1_568_182, 50_455, 0, 9_694, 1_527_421],
        ]
    );
    let total: u64 = due.lines.iter().map(|l| l.amount.fen()).sum();
    assert_eq!(total, due.budget.fen());

    let ins = Role::Insurance;
    // Moving one fen from one institution to another still sums to the
    // budget, but is not the rule's settlement.
    let mut shifted = due.clone();
    shifted.lines[0].amount = yuan("24334.21");
    shifted.lines[1].amount = yuan("50391.58");
    assert_eq!(
        code(&h.submit(ins, RecordBody::PeriodSettlement(shifted), 0)),
        "SETTLEMENT_MISMATCH"
    );
    // Amounts that do not add up to the budget.
    let mut short = due.clone();
    short.lines[2].amount = yuan("15274.20");
    assert_eq!(
        code(&h.submit(ins, RecordBody::PeriodSettlement(short), 0)),
        "SETTLEMENT_MISMATCH"
    );
    // A settlement that leaves out an institution.
    let mut partial = due.clone();
    partial.lines.pop();
    assert_eq!(
        code(&h.submit(ins, RecordBody::PeriodSettlement(partial), 0)),
        "SETTLEMENT_MISMATCH"
    );
    // Another budget than the policy's.
    let mut budget = due.clone();
    budget.budget = yuan("90000.01");
    budget.lines[0].amount = yuan("24334.23");
    assert_eq!(
        code(&h.submit(ins, RecordBody::PeriodSettlement(budget), 0)),
        "SETTLEMENT_MISMATCH"
    );

    assert_eq!(
        code(&h.submit(ins, RecordBody::PeriodSettlement(due.clone()), 0)),
        "ACCEPTED"
    );
    assert_eq!(settlement_due(&h.state, &region, 2026).unwrap(), None);
    assert_eq!(
        code(&h.submit(ins, RecordBody::PeriodSettlement(due), 0)),
        "ALREADY_SETTLED"
    );
    // The year is closed: no more cases, no new policy.
    let late = grouped_claim(&h, 20, 1, "ES23", yuan("8000.00"));
    assert_eq!(code(&h.submit(Role::Health, late, 0)), "ALREADY_SETTLED");
    let again = RecordBody::PaymentPolicy(example_policy());
    assert_eq!(code(&h.submit(ins, again, 0)), "ALREADY_SETTLED");
}

#[test]
fn only_insurance_settles_and_only_a_grouped_region() {
    let mut h = example();
    let due = expected_settlement();
    let health = Role::Health;
    assert_eq!(
        code(&h.submit(health, RecordBody::PeriodSettlement(due.clone()), 0)),
        "ROLE_NOT_ALLOWED"
    );
    let mut elsewhere = due;
    elsewhere.region = "110000".parse().unwrap();
    let ins = Role::Insurance;
    assert_eq!(
        code(&h.submit(ins, RecordBody::PeriodSettlement(elsewhere), 0)),
        "NO_POLICY"
    );
}

#[test]
fn a_grouped_inpatient_claim_needs_a_catalogue_group() {
    let mut h = example();
    let health = Role::Health;
    let unknown = grouped_claim(&h, 30, 1, "ZZ99", yuan("8000.00"));
    assert_eq!(code(&h.submit(health, unknown, 0)), "UNKNOWN_GROUP");
    let RecordBody::Claim(mut none) = grouped_claim(&h, 31, 1, "ES23", yuan("8000.00")) else {
        unreachable!()
    };
    none.drg_or_dip_group = None;
    assert_eq!(
        code(&h.submit(health, RecordBody::Claim(none.clone()), 0)),
        "UNKNOWN_GROUP"
    );
    // Outpatient care is paid by item and needs no group.
    none.admission = Admission::Outpatient;
    assert_eq!(
        code(&h.submit(health, RecordBody::Claim(none), 0)),
        "ACCEPTED"
    );
}

#[test]
fn payment_records_need_rules_version_4() {
    let kit = fundtrail_testkit::Kit::new(41);
    let mut genesis = kit.genesis();
    genesis.rules_version = 3;
    let mut h = Harness::with_genesis(kit, &genesis);
    let ins = Role::Insurance;
    let policy = RecordBody::PaymentPolicy(example_policy());
    assert_eq!(code(&h.submit(ins, policy, 0)), "NOT_IN_RULES_VERSION");
    let settlement = RecordBody::PeriodSettlement(expected_settlement());
    assert_eq!(code(&h.submit(ins, settlement, 0)), "NOT_IN_RULES_VERSION");
    // Claims with groups are accepted as before, without group payment.
    let body = grouped_claim(&h, 1, 1, "ZZ99", yuan("8000.00"));
    assert_eq!(code(&h.submit(Role::Health, body, 0)), "ACCEPTED");
}

#[test]
fn signals_low_standard_same_group_readmission_and_upcoding() {
    let mut h = example();
    let health = Role::Health;
    // 2,000 is below 30 % of ES23's 9,000 (2,700).
    let low = grouped_claim(&h, 40, 2, "ES23", yuan("2000.00"));
    assert_eq!(
        signals(&h.submit(health, low, 0)),
        ["LOW_STANDARD_ADMISSION"]
    );
    // The same person again in ES23 five days later.
    let RecordBody::Claim(mut again) = grouped_claim(&h, 41, 2, "ES23", yuan("9000.00")) else {
        unreachable!()
    };
    again.person = h.kit.person(40);
    again.service_date = date("2026-03-06");
    let out = h.submit(health, RecordBody::Claim(again), 0);
    assert!(
        signals(&out).contains(&"GROUP_READMISSION".to_string()),
        "{out:?}"
    );

    // Institution 4: five ES23 cases in April, then FM19 cases in May;
    // the fifth May case makes May's case mix (250) more than 20 % above
    // April's (90), once.
    let mut raised = Vec::new();
    for n in 0..12u64 {
        let (month, g, bill) = if n < 5 {
            ("04", "ES23", "9000.00")
        } else {
            ("05", "FM19", "25000.00")
        };
        let RecordBody::Claim(mut c) = grouped_claim(&h, 100 + n, 4, g, yuan(bill)) else {
            unreachable!()
        };
        c.service_date = date(&format!("2026-{month}-{:02}", 1 + n));
        raised.push(
            signals(&h.submit(health, RecordBody::Claim(c), 0)).contains(&"UPCODING".to_string()),
        );
    }
    let at: Vec<usize> = raised
        .iter()
        .enumerate()
        .filter(|(_, r)| **r)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at, [9]);
    // An institution whose mix stays the same is not flagged.
    for n in 0..12u64 {
        let month = if n < 5 { "04" } else { "05" };
        let RecordBody::Claim(mut c) = grouped_claim(&h, 200 + n, 5, "RE13", yuan("20000.00"))
        else {
            unreachable!()
        };
        c.service_date = date(&format!("2026-{month}-{:02}", 1 + n));
        assert!(
            !signals(&h.submit(health, RecordBody::Claim(c), 0)).contains(&"UPCODING".to_string())
        );
    }
}

#[test]
fn malformed_payment_records_are_refused_before_the_rules() {
    use fundtrail_ledger::record::{BodyError, RecordError, SignedRecord};
    let h = Harness::new(41);
    let decode = |body: RecordBody| {
        let bytes = h.kit.sign(Role::Insurance, body, 1, 0).encode();
        SignedRecord::decode(&bytes).map(|_| ())
    };
    assert_eq!(decode(RecordBody::PaymentPolicy(example_policy())), Ok(()));
    let mut unsorted = example_policy();
    unsorted.groups.swap(0, 1);
    let mut twice = example_policy();
    twice.groups[1].code = twice.groups[0].code.clone();
    for body in [unsorted, twice] {
        assert_eq!(
            decode(RecordBody::PaymentPolicy(body)),
            Err(RecordError::Body(BodyError::Unsorted(
                "payment policy groups"
            )))
        );
    }
    let mut bounds = example_policy();
    bounds.low_cost_ratio = Bp(20001);
    assert_eq!(
        decode(RecordBody::PaymentPolicy(bounds)),
        Err(RecordError::Body(BodyError::OutlierBounds {
            low: 20001,
            high: 20000
        }))
    );
    let mut retention = example_policy();
    retention.retention = Bp(10001);
    assert_eq!(
        decode(RecordBody::PaymentPolicy(retention)),
        Err(RecordError::Body(BodyError::RatioAbove100(10001)))
    );
    let mut lines = expected_settlement();
    lines.lines.swap(1, 2);
    assert_eq!(
        decode(RecordBody::PeriodSettlement(lines)),
        Err(RecordError::Body(BodyError::Unsorted(
            "period settlement lines"
        )))
    );
}
