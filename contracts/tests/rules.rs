//! Every rule and signal: the accepted case and the rejected (or flagged)
//! case, asserting the exact code.

use fundtrail_contracts::engine::{execute_block, BlockContext};
use fundtrail_contracts::error::ExecError;
use fundtrail_contracts::quote::quote;
use fundtrail_contracts::rules::clearing::claim_set_root;
use fundtrail_contracts::{genesis_state, rules_version_at, MemoryState};
use fundtrail_ledger::block::{Outcome, Verdict};
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::pseudonym::{ClaimId, PersonId};
use fundtrail_ledger::record::*;
use fundtrail_ledger::types::*;
use fundtrail_testkit::{bodies::*, fund, region, Harness, Kit, AWAY, HOME};

fn code(o: &Outcome) -> String {
    match &o.verdict {
        Verdict::Accepted => "ACCEPTED".into(),
        Verdict::Rejected { code } => code.to_string(),
    }
}

fn signals(o: &Outcome) -> Vec<String> {
    o.signals.iter().map(|s| s.to_string()).collect()
}

fn y(n: u64) -> Amount {
    Amount::yuan(n)
}

fn fen(n: u64) -> Amount {
    Amount::from_fen(n).unwrap()
}

/// A harness with one 低保 person and one accepted claim (the worked example).
fn with_claim(total: u64, in_scope: u64) -> (Harness, PersonId, ClaimId) {
    let mut h = Harness::new(7);
    let person = h.kit.person(1);
    let c = h.kit.claim_id(1);
    assert_eq!(
        code(&h.submit(
            Role::CivilAffairs,
            grant(person, Category::Dibao, "2026-01-01", "2026-12-31"),
            0
        )),
        "ACCEPTED"
    );
    assert_eq!(
        code(&h.submit(
            Role::Health,
            RecordBody::Claim(claim(c, person, y(total), y(in_scope))),
            0
        )),
        "ACCEPTED"
    );
    (h, person, c)
}

fn accepted(o: Outcome) {
    assert_eq!(code(&o), "ACCEPTED");
}

#[test]
fn duplicate_payment() {
    let (mut h, _, c) = with_claim(10_000, 9_000);
    accepted(h.submit(Role::Insurance, settle(c, Scheme::Basic, y(100)), 0));
    assert_eq!(
        code(&h.submit(Role::Insurance, settle(c, Scheme::Basic, y(100)), 0)),
        "DUPLICATE_PAYMENT"
    );
}

#[test]
fn above_entitlement() {
    let (mut h, _, c) = with_claim(10_000, 9_000);
    // (9,000 − 1,000) × 70 % = 5,600
    assert_eq!(quote(&h.state, &c).unwrap().basic, y(5_600));
    assert_eq!(
        code(&h.submit(Role::Insurance, settle(c, Scheme::Basic, fen(560_001)), 0)),
        "ABOVE_ENTITLEMENT"
    );
    accepted(h.submit(Role::Insurance, settle(c, Scheme::Basic, y(5_600)), 0));
}

#[test]
fn tier_order() {
    let (mut h, _, c) = with_claim(100_000, 90_000);
    assert_eq!(
        code(&h.submit(
            Role::Insurance,
            settle(c, Scheme::CriticalIllness, y(14_755)),
            0
        )),
        "TIER_ORDER"
    );
    assert_eq!(
        code(&h.submit(Role::CivilAffairs, assist(c, Category::Dibao, y(1)), 0)),
        "TIER_ORDER"
    );
    let basic = h.record(Role::Insurance, settle(c, Scheme::Basic, y(62_300)), 2);
    accepted(h.block(std::slice::from_ref(&basic)).outcomes.remove(0));
    accepted(h.submit(
        Role::Insurance,
        settle(c, Scheme::CriticalIllness, y(14_755)),
        0,
    ));
    // An earlier tier cannot be reversed while a later one stands.
    let rev = RecordBody::Reversal(ReversalBody {
        target: basic.id(),
        reason: ReversalReason::DataEntryError,
    });
    assert_eq!(code(&h.submit(Role::Insurance, rev, 0)), "TIER_ORDER");
}

#[test]
fn zero_tiers_do_not_block_later_tiers() {
    // In-scope below the basic deductible: basic and critical illness are 0.
    let (mut h, _, c) = with_claim(900, 800);
    let q = quote(&h.state, &c).unwrap();
    assert_eq!(
        (q.basic, q.critical_illness, q.assistance),
        (y(0), y(0), y(560))
    );
    accepted(h.submit(Role::CivilAffairs, assist(c, Category::Dibao, y(560)), 0));
}

#[test]
fn annual_cap() {
    let (mut h, _, c) = with_claim(800_000, 700_000);
    // (700,000 − 1,000) × 70 % = 489,300, capped at 400,000.
    assert_eq!(quote(&h.state, &c).unwrap().basic, y(400_000));
    assert_eq!(
        code(&h.submit(
            Role::Insurance,
            settle(c, Scheme::Basic, fen(40_000_001)),
            2
        )),
        "ANNUAL_CAP"
    );
    accepted(h.submit(Role::Insurance, settle(c, Scheme::Basic, y(400_000)), 2));
    // The cap is per person and year: a second claim gets no basic.
    let person = h.kit.person(1);
    let c2 = h.kit.claim_id(2);
    accepted(h.submit(
        Role::Health,
        RecordBody::Claim(claim(c2, person, y(10_000), y(10_000))),
        0,
    ));
    assert_eq!(quote(&h.state, &c2).unwrap().basic, y(0));
    assert_eq!(
        code(&h.submit(Role::Insurance, settle(c2, Scheme::Basic, y(1)), 0)),
        "ANNUAL_CAP"
    );
}

#[test]
fn eligibility_and_revoke() {
    let mut h = Harness::new(7);
    let person = h.kit.person(2);
    let c = h.kit.claim_id(2);
    accepted(h.submit(
        Role::Health,
        RecordBody::Claim(claim(c, person, y(900), y(800))),
        0,
    ));
    assert_eq!(
        code(&h.submit(Role::CivilAffairs, assist(c, Category::Dibao, y(1)), 0)),
        "NOT_ELIGIBLE"
    );
    accepted(h.submit(
        Role::CivilAffairs,
        grant(person, Category::Dibao, "2026-01-01", "2026-12-31"),
        0,
    ));
    // Revoked from before the service date (2026-03-01): the leak is closed.
    accepted(h.submit(
        Role::CivilAffairs,
        revoke(person, Category::Dibao, "2026-02-01"),
        0,
    ));
    assert_eq!(
        code(&h.submit(Role::CivilAffairs, assist(c, Category::Dibao, y(1)), 0)),
        "NOT_ELIGIBLE"
    );
    // A revoke with nothing to revoke is rejected too.
    assert_eq!(
        code(&h.submit(
            Role::CivilAffairs,
            revoke(person, Category::Tekun, "2026-02-01"),
            0
        )),
        "NOT_ELIGIBLE"
    );
    accepted(h.submit(
        Role::CivilAffairs,
        grant(person, Category::Dibao, "2026-03-01", "2026-03-31"),
        0,
    ));
    accepted(h.submit(Role::CivilAffairs, assist(c, Category::Dibao, y(1)), 0));
}

fn filing(person: PersonId, care: &str) -> RecordBody {
    RecordBody::Filing(FilingBody {
        person,
        insured_region: region(HOME),
        care_region: region(care),
        valid_from: date("2026-01-01"),
        valid_until: date("2026-12-31"),
    })
}

fn away_claim(c: ClaimId, person: PersonId, care: &str, day: &str) -> RecordBody {
    let mut b = claim(c, person, y(2_000), y(1_500));
    b.care_region = region(care);
    b.service_date = date(day);
    RecordBody::Claim(b)
}

#[test]
fn cross_region_needs_filing() {
    let mut h = Harness::new(7);
    let person = h.kit.person(3);
    assert_eq!(
        code(&h.submit(
            Role::Health,
            away_claim(h.kit.claim_id(1), person, AWAY, "2026-03-01"),
            0
        )),
        "NO_FILING"
    );
    accepted(h.submit(Role::Insurance, filing(person, AWAY), 0));
    accepted(h.submit(
        Role::Health,
        away_claim(h.kit.claim_id(1), person, AWAY, "2026-03-01"),
        0,
    ));
}

#[test]
fn fund_separation() {
    let (mut h, _, c) = with_claim(10_000, 9_000);
    let wrong = RecordBody::Settlement(SettlementBody {
        claim_id: c,
        scheme: Scheme::Basic,
        fund_id: fund("ci-440100"),
        amount: y(10),
    });
    assert_eq!(code(&h.submit(Role::Insurance, wrong, 0)), "WRONG_FUND");
    // The right kind, but another pooling region's fund.
    let other_region = RecordBody::Settlement(SettlementBody {
        claim_id: c,
        scheme: Scheme::Basic,
        fund_id: fund("basic-110000"),
        amount: y(10),
    });
    assert_eq!(
        code(&h.submit(Role::Insurance, other_region, 0)),
        "WRONG_FUND"
    );
    let unknown = RecordBody::Settlement(SettlementBody {
        claim_id: c,
        scheme: Scheme::Basic,
        fund_id: fund("nope"),
        amount: y(10),
    });
    assert_eq!(code(&h.submit(Role::Insurance, unknown, 0)), "UNKNOWN_FUND");
    // Drain the basic fund to 100 yuan by an authorised transfer.
    let transfer = |amount| {
        RecordBody::FundCredit(FundCreditBody {
            fund_id: fund("basic-110000"),
            amount,
            source: FundSource::Transfer {
                from_fund: fund("basic-440100"),
            },
        })
    };
    assert_eq!(
        code(&h.submit(Role::Finance, transfer(y(49_999_900)), 1)),
        "MISSING_APPROVAL"
    );
    accepted(h.submit(Role::Finance, transfer(y(49_999_900)), 2));
    assert_eq!(
        code(&h.submit(Role::Finance, transfer(y(101)), 2)),
        "INSUFFICIENT_FUNDS"
    );
    assert_eq!(
        code(&h.submit(Role::Insurance, settle(c, Scheme::Basic, y(5_600)), 0)),
        "INSUFFICIENT_FUNDS"
    );
    let budget = RecordBody::FundCredit(FundCreditBody {
        fund_id: fund("basic-440100"),
        amount: y(10_000),
        source: FundSource::Budget {
            appropriation: "2026-GD-044".parse().unwrap(),
        },
    });
    accepted(h.submit(Role::Finance, budget, 0));
    accepted(h.submit(Role::Insurance, settle(c, Scheme::Basic, y(5_600)), 0));
}

#[test]
fn separation_of_duties() {
    let (mut h, _, c) = with_claim(100_000, 90_000);
    // 62,300 is above the 50,000 threshold: two distinct officers needed.
    assert_eq!(
        code(&h.submit(Role::Insurance, settle(c, Scheme::Basic, y(62_300)), 1)),
        "MISSING_APPROVAL"
    );
    // Officers of another organisation do not count.
    let r = h.kit.sign_by_orgs(
        Role::Insurance,
        settle(c, Scheme::Basic, y(62_300)),
        9_001,
        &[Role::Health, Role::Finance],
    );
    assert_eq!(code(&h.block(&[r]).outcomes[0]), "MISSING_APPROVAL");
    accepted(h.submit(Role::Insurance, settle(c, Scheme::Basic, y(62_300)), 2));
}

#[test]
fn roles() {
    let (mut h, person, c) = with_claim(10_000, 9_000);
    let c2 = h.kit.claim_id(2);
    let body = RecordBody::Claim(claim(c2, person, y(100), y(100)));
    assert_eq!(
        code(&h.submit(Role::Insurance, body.clone(), 0)),
        "ROLE_NOT_ALLOWED"
    );
    accepted(h.submit(Role::Health, body, 0));
    assert_eq!(
        code(&h.submit(Role::Health, settle(c, Scheme::Basic, y(1)), 0)),
        "ROLE_NOT_ALLOWED"
    );
    // A reversal comes only from the payout's own organisation.
    let pay = h.record(Role::Insurance, settle(c, Scheme::Basic, y(1)), 0);
    accepted(h.block(std::slice::from_ref(&pay)).outcomes.remove(0));
    let rev = RecordBody::Reversal(ReversalBody {
        target: pay.id(),
        reason: ReversalReason::DataEntryError,
    });
    assert_eq!(
        code(&h.submit(Role::CivilAffairs, rev.clone(), 0)),
        "ROLE_NOT_ALLOWED"
    );
    accepted(h.submit(Role::Insurance, rev, 0));
    // An officer key may approve but not submit.
    let org = h.kit.org(Role::Insurance);
    let r = Envelope::new(
        h.kit.chain_id.clone(),
        settle(c, Scheme::Basic, y(1)),
        org.officers[0].public(),
        77,
    )
    .sign(&org.officers[0]);
    assert_eq!(code(&h.block(&[r]).outcomes[0]), "ROLE_NOT_ALLOWED");
}

#[test]
fn unknown_and_revoked_keys() {
    let mut h = Harness::new(7);
    let stranger = Keypair::from_seed([99; 32]);
    let body = grant(h.kit.person(1), Category::Dibao, "2026-01-01", "2026-12-31");
    let r =
        Envelope::new(h.kit.chain_id.clone(), body.clone(), stranger.public(), 1).sign(&stranger);
    assert_eq!(code(&h.block(&[r]).outcomes[0]), "UNKNOWN_KEY");
    accepted(h.submit(Role::CivilAffairs, body.clone(), 0));
    let civ = h.kit.org(Role::CivilAffairs);
    let revoke_key = RecordBody::Member(MemberBody::RevokeKey {
        org: civ.id.clone(),
        key: civ.submitter.public(),
    });
    let r = h.kit.sign_by_orgs(
        Role::Insurance,
        revoke_key,
        500,
        &[Role::Health, Role::Finance],
    );
    accepted(h.block(&[r]).outcomes.remove(0));
    assert_eq!(code(&h.submit(Role::CivilAffairs, body, 0)), "UNKNOWN_KEY");
}

#[test]
fn membership_needs_quorum() {
    let mut h = Harness::new(7);
    let new_org: OrgId = "gd-hospital-assoc".parse().unwrap();
    let add = RecordBody::Member(MemberBody::AddOrg {
        org: new_org.clone(),
        role: Role::Health,
    });
    // Two of five organisations are not a majority.
    let r = h
        .kit
        .sign_by_orgs(Role::Insurance, add.clone(), 600, &[Role::Health]);
    assert_eq!(code(&h.block(&[r]).outcomes[0]), "QUORUM");
    let r = h
        .kit
        .sign_by_orgs(Role::Insurance, add, 601, &[Role::Health, Role::Finance]);
    accepted(h.block(&[r]).outcomes.remove(0));
    let key = RecordBody::Member(MemberBody::AddKey {
        org: "gd-nobody".parse().unwrap(),
        key: Keypair::from_seed([3; 32]).public(),
        key_role: KeyRole::Submitter,
    });
    // Six organisations now: four are needed.
    let r = h.kit.sign_by_orgs(
        Role::Insurance,
        key,
        602,
        &[Role::Health, Role::Finance, Role::CivilAffairs],
    );
    assert_eq!(code(&h.block(&[r]).outcomes[0]), "UNKNOWN_ORG");
}

#[test]
fn rules_versions_dispatch_by_activation_height() {
    let mut h = Harness::new(7);
    let sched = |version, activation| {
        RecordBody::Member(MemberBody::ScheduleRules {
            version,
            activation: Height(activation),
        })
    };
    let r = h.kit.sign_by_orgs(
        Role::Insurance,
        sched(9, 10),
        700,
        &[Role::Health, Role::Finance],
    );
    assert_eq!(code(&h.block(&[r]).outcomes[0]), "UNKNOWN_RULES_VERSION");
    let r = h.kit.sign_by_orgs(
        Role::Insurance,
        sched(1, 1),
        701,
        &[Role::Health, Role::Finance],
    );
    assert_eq!(code(&h.block(&[r]).outcomes[0]), "BAD_ACTIVATION");
    let r = h.kit.sign_by_orgs(
        Role::Insurance,
        sched(1, 10),
        702,
        &[Role::Health, Role::Finance],
    );
    accepted(h.block(&[r]).outcomes.remove(0));
    assert_eq!(rules_version_at(&h.state, Height(10)).unwrap(), 1);

    // A chain whose genesis names a version this build lacks stops with a
    // fatal error instead of guessing.
    let kit = Kit::new(7);
    let mut genesis = kit.genesis();
    genesis.rules_version = 5;
    let mut state = MemoryState::new();
    state.apply(&genesis_state(&genesis));
    assert_eq!(rules_version_at(&state, Height(1)).unwrap(), 5);
    let ctx = BlockContext {
        height: Height(1),
        timestamp_ms: 0,
        prev_state_root: Hash32::ZERO,
    };
    assert_eq!(
        execute_block(&ctx, &[], &state),
        Err(ExecError::UnsupportedRules {
            height: Height(1),
            version: 5
        })
    );
}

#[test]
fn unknown_references() {
    let (mut h, _, _) = with_claim(10_000, 9_000);
    let ghost = h.kit.claim_id(404);
    assert_eq!(
        code(&h.submit(Role::Insurance, settle(ghost, Scheme::Basic, y(1)), 0)),
        "UNKNOWN_CLAIM"
    );
    let nowhere = RecordId::from_hash(Hash32([4; 32]));
    let rev = RecordBody::Reversal(ReversalBody {
        target: nowhere,
        reason: ReversalReason::DataEntryError,
    });
    assert_eq!(code(&h.submit(Role::Insurance, rev, 0)), "UNKNOWN_RECORD");
    let disclose = |target| {
        RecordBody::Disclosure(DisclosureBody {
            target,
            holder: "gd-health".parse().unwrap(),
            requester: "gd-audit".parse().unwrap(),
            purpose: DisclosurePurpose::Audit,
            case_ref: None,
        })
    };
    assert_eq!(
        code(&h.submit(Role::Auditor, disclose(nowhere), 0)),
        "UNKNOWN_RECORD"
    );
    let some = h.record(
        Role::Health,
        RecordBody::Claim(claim(h.kit.claim_id(5), h.kit.person(5), y(1), y(1))),
        0,
    );
    accepted(h.block(std::slice::from_ref(&some)).outcomes.remove(0));
    // Seeing a raw record takes an officer of the requesting organisation
    // besides the submitter.
    assert_eq!(
        code(&h.submit(Role::Auditor, disclose(some.id()), 0)),
        "MISSING_APPROVAL"
    );
    let by_holder = h
        .kit
        .sign_by_orgs(Role::Auditor, disclose(some.id()), 90, &[Role::Health]);
    assert_eq!(
        code(&h.block(&[by_holder]).outcomes.remove(0)),
        "MISSING_APPROVAL"
    );
    accepted(h.submit(Role::Auditor, disclose(some.id()), 1));
    // A claim is evidence, not a payout: it cannot be reversed.
    let rev = RecordBody::Reversal(ReversalBody {
        target: some.id(),
        reason: ReversalReason::DataEntryError,
    });
    assert_eq!(code(&h.submit(Role::Health, rev, 0)), "NOT_REVERSIBLE");
}

#[test]
fn claims_are_unique_and_need_a_policy() {
    let (mut h, person, c) = with_claim(10_000, 9_000);
    assert_eq!(
        code(&h.submit(
            Role::Health,
            RecordBody::Claim(claim(c, person, y(1), y(1))),
            0
        )),
        "DUPLICATE_CLAIM"
    );
    let mut next_year = claim(h.kit.claim_id(9), person, y(1), y(1));
    next_year.service_date = date("2027-01-05");
    assert_eq!(
        code(&h.submit(Role::Health, RecordBody::Claim(next_year.clone()), 0)),
        "NO_POLICY"
    );
    let mut policy = fundtrail_contracts::policy::default_policy(region(HOME), 2027);
    policy.effective_from = date("2027-01-01");
    accepted(h.submit(Role::Insurance, RecordBody::Policy(policy), 0));
    accepted(h.submit(Role::Health, RecordBody::Claim(next_year), 0));
}

#[test]
fn a_record_is_executed_once() {
    let (mut h, _, c) = with_claim(10_000, 9_000);
    let r = h.record(Role::Insurance, settle(c, Scheme::Basic, y(10)), 0);
    let out = h.block(&[r.clone(), r]).outcomes;
    assert_eq!(
        (code(&out[0]).as_str(), code(&out[1]).as_str()),
        ("ACCEPTED", "DUPLICATE_RECORD")
    );
}

fn fund_balance(h: &Harness, id: &str) -> Amount {
    use fundtrail_contracts::model::{key, FundEntry};
    let bytes = fundtrail_contracts::State::get(&h.state, &key::fund(&fund(id)))
        .unwrap()
        .unwrap();
    fundtrail_ledger::codec::decode::<FundEntry>("fund", &bytes)
        .unwrap()
        .balance
}

#[test]
fn reversal_restores_caps_and_balances_once() {
    let (mut h, _, c) = with_claim(800_000, 700_000);
    let before = fund_balance(&h, "basic-440100");
    let pay = h.record(Role::Insurance, settle(c, Scheme::Basic, y(400_000)), 2);
    accepted(h.block(std::slice::from_ref(&pay)).outcomes.remove(0));
    assert_eq!(
        fund_balance(&h, "basic-440100"),
        before.checked_sub(y(400_000)).unwrap()
    );
    let rev = RecordBody::Reversal(ReversalBody {
        target: pay.id(),
        reason: ReversalReason::DataEntryError,
    });
    accepted(h.submit(Role::Insurance, rev.clone(), 0));
    assert_eq!(fund_balance(&h, "basic-440100"), before);
    assert_eq!(quote(&h.state, &c).unwrap().basic, y(400_000));
    assert_eq!(code(&h.submit(Role::Insurance, rev, 0)), "ALREADY_REVERSED");
    accepted(h.submit(Role::Insurance, settle(c, Scheme::Basic, y(400_000)), 2));
}

#[test]
fn clearing_matches_pending_cross_region_payouts_once() {
    let mut h = Harness::new(7);
    let person = h.kit.person(8);
    accepted(h.submit(Role::Insurance, filing(person, AWAY), 0));
    let c = h.kit.claim_id(8);
    accepted(h.submit(Role::Health, away_claim(c, person, AWAY, "2026-03-10"), 0));
    // (1,500 − 1,000) × 70 % = 350
    let pay = h.record(Role::Insurance, settle(c, Scheme::Basic, y(350)), 0);
    accepted(h.block(std::slice::from_ref(&pay)).outcomes.remove(0));
    let pending = fundtrail_contracts::model::PendingClearing {
        total: y(350),
        payouts: vec![pay.id()],
    };
    let march = |amount, root| clearing(3, amount, root);
    let root = claim_set_root(&pending);
    assert_eq!(
        code(&h.submit(Role::Insurance, march(y(349), root), 0)),
        "CLEARING_MISMATCH"
    );
    assert_eq!(
        code(&h.submit(Role::Insurance, march(y(350), Hash32([0; 32])), 0)),
        "CLEARING_MISMATCH"
    );
    accepted(h.submit(Role::Insurance, march(y(350), root), 0));
    assert_eq!(
        code(&h.submit(Role::Insurance, march(y(350), root), 0)),
        "CLEARING_MISMATCH"
    );
    let rev = RecordBody::Reversal(ReversalBody {
        target: pay.id(),
        reason: ReversalReason::DataEntryError,
    });
    assert_eq!(code(&h.submit(Role::Insurance, rev, 0)), "ALREADY_CLEARED");
}

#[test]
fn high_cost_signal() {
    // Out-of-pocket 13,883.50 per claim; the threshold is 50 % of 55,000.
    let (mut h, person, _) = with_claim(100_000, 90_000);
    let c2 = h.kit.claim_id(2);
    let mut second = claim(c2, person, y(100_000), y(90_000));
    second.admission = Admission::Outpatient;
    let o = h.submit(Role::Health, RecordBody::Claim(second), 0);
    assert_eq!(signals(&o), ["HIGH_COST"]);
    let (mut h, person, _) = with_claim(10_000, 9_000);
    let mut small = claim(h.kit.claim_id(3), person, y(100), y(100));
    small.admission = Admission::Outpatient;
    assert!(h
        .submit(Role::Health, RecordBody::Claim(small), 0)
        .signals
        .is_empty());
}

#[test]
fn split_admission_signal() {
    let (mut h, person, _) = with_claim(10_000, 9_000);
    let mut late = claim(h.kit.claim_id(2), person, y(100), y(100));
    late.service_date = date("2026-03-20");
    assert!(h
        .submit(Role::Health, RecordBody::Claim(late), 0)
        .signals
        .is_empty());
    let mut soon = claim(h.kit.claim_id(3), person, y(100), y(100));
    soon.service_date = date("2026-03-30");
    assert_eq!(
        signals(&h.submit(Role::Health, RecordBody::Claim(soon), 0)),
        ["SPLIT_ADMISSION"]
    );
}

#[test]
fn frequent_region_change_signal() {
    let mut h = Harness::new(7);
    let person = h.kit.person(4);
    let regions = ["110000", "120000", "310000"];
    for r in regions {
        accepted(h.submit(Role::Insurance, filing(person, r), 0));
    }
    let outpatient = |h: &Harness, n, care: &str, day: &str| {
        let mut b = claim(h.kit.claim_id(n), person, y(100), y(100));
        b.care_region = region(care);
        b.service_date = date(day);
        b.admission = Admission::Outpatient;
        RecordBody::Claim(b)
    };
    let days = ["2026-03-01", "2026-03-10", "2026-03-20", "2026-04-01"];
    let cares = [HOME, regions[0], regions[1], regions[2]];
    for (n, (care, day)) in cares.iter().zip(days).enumerate() {
        let body = outpatient(&h, n as u64, care, day);
        let o = h.submit(Role::Health, body, 0);
        let expected: Vec<&str> = if n == 3 {
            vec!["FREQUENT_REGION_CHANGE"]
        } else {
            vec![]
        };
        assert_eq!(signals(&o), expected, "claim {n}");
    }
    // Three months later the window has moved on.
    let body = outpatient(&h, 9, regions[1], "2026-09-01");
    assert!(h.submit(Role::Health, body, 0).signals.is_empty());
}
