//! The payment-by-groups part of the report against a real chain: the
//! worked example of docs/RULES.md (three hospitals of a DIP region, six
//! cases, a budget of 90,000.00), a refused and an accepted period
//! settlement, and a hospital whose case mix jumps. The report's groups,
//! case mix, settlement and signals are those of the records; the page
//! shows them with their charts.

mod common;

use common::TestChain;
use fundtrail_audit::{html, ReportBuilder};
use fundtrail_contracts::payment::settlement_due;
use fundtrail_ledger::record::{
    GroupStandard, PaymentMethod, PaymentPolicyBody, PeriodSettlementBody, RecordBody,
};
use fundtrail_ledger::types::{Amount, Bp, Role};
use fundtrail_testkit::bodies::{claim, date};
use fundtrail_testkit::{region, HOME};

fn yuan(s: &str) -> Amount {
    s.parse().unwrap()
}

fn policy() -> PaymentPolicyBody {
    let group = |code: &str, points| GroupStandard {
        code: code.parse().unwrap(),
        points,
    };
    PaymentPolicyBody {
        region: region(HOME),
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
        upcoding_min_cases: 2,
        low_standard_ratio: Bp(3000),
    }
}

/// `(hospital, group, in-scope, service date)`.
const CASES: [(u8, &str, &str, &str); 8] = [
    (1, "ES23", "8000.00", "2026-03-01"),
    (1, "FM19", "30000.00", "2026-03-01"),
    (2, "FM19", "20000.00", "2026-03-01"),
    (2, "RE13", "50000.00", "2026-03-01"),
    (3, "ES23", "3000.00", "2026-03-01"),
    (3, "RE13", "19000.00", "2026-03-01"),
    // Hospital 3 in April: two FM19 cases against March's mix.
    (3, "FM19", "25000.00", "2026-04-02"),
    (3, "FM19", "25000.00", "2026-04-03"),
];

fn chain() -> (TestChain, PeriodSettlementBody) {
    let mut c = TestChain::new(41);
    let r = c.record(Role::Insurance, RecordBody::PaymentPolicy(policy()), 0);
    c.block(1, vec![r]);
    let mut records = Vec::new();
    for (n, (hospital, group, bill, day)) in CASES.iter().enumerate() {
        let n = n as u64 + 1;
        let mut body = claim(
            c.kit().claim_id(n),
            c.kit().person(n),
            yuan(bill),
            yuan(bill),
        );
        body.institution = format!("H4401000{hospital}").parse().unwrap();
        body.drg_or_dip_group = Some(group.parse().unwrap());
        body.service_date = date(day);
        records.push(c.record(Role::Health, RecordBody::Claim(body), 0));
    }
    c.block(2, records);
    let due = settlement_due(&c.builder.state, &region(HOME), 2026)
        .unwrap()
        .unwrap();
    let mut wrong = due.clone();
    wrong.lines[0].amount = wrong.lines[0]
        .amount
        .checked_sub(Amount::from_fen(1).unwrap())
        .unwrap();
    let records = vec![
        c.record(Role::Insurance, RecordBody::PeriodSettlement(wrong), 0),
        c.record(
            Role::Insurance,
            RecordBody::PeriodSettlement(due.clone()),
            0,
        ),
    ];
    c.block(3, records);
    (c, due)
}

#[test]
fn report_shows_groups_case_mix_settlement_and_signals() {
    let (chain, due) = chain();
    let mut builder = ReportBuilder::new(&chain.genesis);
    for block in &chain.blocks {
        builder.add_block(block);
    }
    let report = builder.finish(chain.verify());
    assert!(report.verification.ok, "{:?}", report.verification.error);
    let [r] = report.payment.as_slice() else {
        panic!("one region: {:?}", report.payment);
    };
    assert_eq!((r.region.as_str(), r.method), (HOME, PaymentMethod::Dip));
    assert_eq!(r.settlements_refused, 1);

    // Groups: cases, mean in-scope bill, standard, mean ÷ standard.
    let groups: Vec<(&str, u64, Amount, Amount, u64)> = r
        .groups
        .iter()
        .map(|g| {
            (
                g.code.as_str(),
                g.cases,
                g.mean_bill,
                g.standard,
                g.ratio_bp,
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("ES23", 2, yuan("5500.00"), yuan("9000.00"), 6111),
            ("FM19", 4, yuan("25000.00"), yuan("25000.00"), 10000),
            ("RE13", 2, yuan("34500.00"), yuan("20000.00"), 17250),
        ]
    );

    // Institutions: case mix against the region's 1,580 catalogue points
    // over 8 cases (197.5 a case); the settlement's lines; hospital 3's
    // April jump.
    let s = r.settlement.as_ref().expect("settled");
    assert_eq!(s.paid, yuan("90000.00"));
    assert_eq!(
        s.total_points,
        due.lines.iter().map(|l| l.points).sum::<u64>()
    );
    let rows: Vec<(u64, u64, Amount, Amount, Amount)> = r
        .institutions
        .iter()
        .map(|i| {
            let settled = i.settled.as_ref().unwrap();
            (
                i.cases,
                i.case_mix_bp,
                settled.amount,
                settled.surplus,
                settled.overspend,
            )
        })
        .collect();
    let amounts: Vec<Amount> = due.lines.iter().map(|l| l.amount).collect();
    assert_eq!(rows.iter().map(|r| r.2).collect::<Vec<_>>(), amounts);
    assert_eq!(rows[0].0, 2);
    assert_eq!(rows[0].1, 8_607); // (90 + 250) / 2 = 170 against 197.5
    for (row, line) in rows.iter().zip(&due.lines) {
        assert_eq!(
            (row.3, row.4),
            (
                line.amount.saturating_sub(line.itemised),
                line.itemised.saturating_sub(line.amount)
            )
        );
    }
    let entitled: Vec<Amount> = r
        .institutions
        .iter()
        .filter_map(|i| i.settled.as_ref().map(|s| s.entitled))
        .collect();
    assert_eq!(
        entitled,
        due.lines.iter().map(|l| l.entitled).collect::<Vec<_>>()
    );
    // Hospitals 1 and 2 as in the worked example: 21,200.00 and 52,600.00.
    assert_eq!(entitled[..2], [yuan("21200.00"), yuan("52600.00")]);
    let upcoding = |i: usize| {
        r.institutions[i]
            .signals
            .iter()
            .find(|(c, _)| c.as_str() == "UPCODING")
            .map(|(_, n)| *n)
    };
    assert_eq!(
        (upcoding(0), upcoding(1), upcoding(2)),
        (None, None, Some(1))
    );
    assert!(report
        .signals
        .totals
        .keys()
        .any(|c| c.as_str() == "UPCODING"));

    let page = html::render(&report);
    assert!(page.contains("Payment by groups"));
    // 9,000,000 fen over 340 + 750 + 730 points.
    assert_eq!(s.total_points, 1_820);
    assert_eq!(s.point_value, "49.4505");
    assert!(page.contains("point value ¥49.4505"));
    for needle in [
        "Mean bill against standard per group",
        "Case-mix index per institution",
        "Settlement against itemised cost",
        "upcoding flagged",
    ] {
        assert!(page.contains(needle), "{needle}");
    }
    assert_eq!(page.matches("<svg").count(), page.matches("</svg>").count());
}
