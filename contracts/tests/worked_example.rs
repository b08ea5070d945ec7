//! The worked example of docs/RULES.md, to the fen, under the default
//! policy: a 低保 person at a tertiary hospital in the insured region, bill
//! 100,000.00 of which 90,000.00 in scope.

use fundtrail_contracts::quote::quote;
use fundtrail_contracts::Quote;
use fundtrail_ledger::block::Verdict;
use fundtrail_ledger::record::RecordBody;
use fundtrail_ledger::types::{Amount, Category, Role, Scheme};
use fundtrail_testkit::{bodies::*, Harness};

fn yuan(s: &str) -> Amount {
    s.parse().unwrap()
}

fn code(o: &fundtrail_ledger::block::Outcome) -> String {
    match &o.verdict {
        Verdict::Accepted => "ACCEPTED".into(),
        Verdict::Rejected { code } => code.to_string(),
    }
}

#[test]
fn dibao_patient_at_tertiary_hospital() {
    let mut h = Harness::new(1);
    let person = h.kit.person(1);
    let claim_id = h.kit.claim_id(1);
    assert_eq!(
        code(&h.submit(
            Role::CivilAffairs,
            grant(person, Category::Dibao, "2026-01-01", "2026-12-31"),
            0
        )),
        "ACCEPTED"
    );
    let body = claim(claim_id, person, yuan("100000.00"), yuan("90000.00"));
    assert_eq!(
        code(&h.submit(Role::Health, RecordBody::Claim(body), 0)),
        "ACCEPTED"
    );

    let q = quote(&h.state, &claim_id).unwrap();
    assert_eq!(
        q,
        Quote {
            // (90,000 − 1,000 deductible) × 70 %: the waiver is for level 1–2 only.
            basic: yuan("62300.00"),
            // (90,000 − 62,300 − 5,000 poor deductible) × 65 %, no cap for the poor.
            critical_illness: yuan("14755.00"),
            supplementary: yuan("0.00"),
            // (27,700 − 14,755) × 70 %, no deductible for 低保.
            assistance: yuan("9061.50"),
            assistance_category: Some(Category::Dibao),
            // 100,000 − 62,300 − 14,755 − 9,061.50
            out_of_pocket: yuan("13883.50"),
        }
    );

    // Basic is above the 50,000 threshold: two officers approve.
    assert_eq!(
        code(&h.submit(Role::Insurance, settle(claim_id, Scheme::Basic, q.basic), 2)),
        "ACCEPTED"
    );
    assert_eq!(
        code(&h.submit(Role::Insurance, settle(claim_id, Scheme::Basic, q.basic), 2)),
        "DUPLICATE_PAYMENT"
    );
    assert_eq!(
        code(&h.submit(
            Role::Insurance,
            settle(claim_id, Scheme::CriticalIllness, q.critical_illness),
            0
        )),
        "ACCEPTED"
    );
    let over = q
        .assistance
        .checked_add(Amount::from_fen(1).unwrap())
        .unwrap();
    assert_eq!(
        code(&h.submit(
            Role::CivilAffairs,
            assist(claim_id, Category::Dibao, over),
            0
        )),
        "ABOVE_ENTITLEMENT"
    );
    assert_eq!(
        code(&h.submit(
            Role::CivilAffairs,
            assist(claim_id, Category::Dibao, q.assistance),
            0
        )),
        "ACCEPTED"
    );

    // Everything paid: the quote now shows the payouts and the same remainder.
    assert_eq!(quote(&h.state, &claim_id).unwrap(), q);
}
