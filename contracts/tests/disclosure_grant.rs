//! Disclosure as a grant (rules version 3): an accepted disclosure allows
//! its requester's officers a bounded number of `disclosure_fetch` records
//! within a window of days from the block that accepted it, under the
//! consortium's terms or the defaults of `policy/disclosure.toml`. Each
//! case shows the accepted fetch and the refused one with its exact code.

use fundtrail_contracts::engine::{execute_block, BlockContext};
use fundtrail_contracts::model::{key, Grant};
use fundtrail_contracts::policy::default_grant_terms;
use fundtrail_contracts::state::State;
use fundtrail_ledger::block::{Outcome, Verdict};
use fundtrail_ledger::codec;
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::record::*;
use fundtrail_ledger::types::*;
use fundtrail_testkit::{bodies::*, Harness, Kit};

const DAY_MS: u64 = 86_400_000;

fn code(o: &Outcome) -> String {
    match &o.verdict {
        Verdict::Accepted => "ACCEPTED".into(),
        Verdict::Rejected { code } => code.to_string(),
    }
}

/// A chain with an accepted claim; returns the claim record's id.
fn with_claim(h: &mut Harness) -> RecordId {
    let person = h.kit.person(1);
    let claim_id = h.kit.claim_id(1);
    let body = RecordBody::Claim(claim(
        claim_id,
        person,
        Amount::yuan(10_000),
        Amount::yuan(9_000),
    ));
    let record = h.record(Role::Health, body, 0);
    assert_eq!(
        code(&h.block(std::slice::from_ref(&record)).outcomes[0]),
        "ACCEPTED"
    );
    record.id()
}

fn disclosure(target: RecordId, requester: &str) -> RecordBody {
    RecordBody::Disclosure(DisclosureBody {
        target,
        holder: "gd-health".parse().unwrap(),
        requester: requester.parse().unwrap(),
        purpose: DisclosurePurpose::Audit,
        case_ref: None,
    })
}

/// The audit office's disclosure of `target`, approved by its officer,
/// accepted in a block stamped `at_ms`; returns its id.
fn granted(h: &mut Harness, target: RecordId, at_ms: u64) -> RecordId {
    let record = h.record(Role::Auditor, disclosure(target, "gd-audit"), 1);
    let outcome = h.block_at(at_ms, [(record.id(), &record)].into_iter());
    assert_eq!(code(&outcome.outcomes[0]), "ACCEPTED");
    record.id()
}

/// A fetch of `target` under `disclosure`, signed by `key` (the officer).
fn fetch(
    kit: &Kit,
    key: &Keypair,
    disclosure: RecordId,
    target: RecordId,
    nonce: u64,
) -> SignedRecord {
    let body = RecordBody::DisclosureFetch(DisclosureFetchBody { disclosure, target });
    Envelope::new(kit.chain_id.clone(), body, key.public(), nonce).sign(key)
}

/// Executes `record` alone in a block stamped `at_ms`; its code.
fn run_at(h: &mut Harness, at_ms: u64, record: &SignedRecord) -> String {
    code(
        &h.block_at(at_ms, [(record.id(), record)].into_iter())
            .outcomes[0],
    )
}

fn stored_grant(h: &Harness, disclosure: &RecordId) -> Option<Grant> {
    h.state
        .get(&key::grant(disclosure))
        .unwrap()
        .map(|v| codec::decode("grant", &v).unwrap())
}

/// Officer `n` (0 or 1) of the organisation with `role`.
fn officer(kit: &Kit, role: Role, n: usize) -> Keypair {
    Keypair::from_seed(kit.org(role).officers[n].secret_bytes())
}

fn t0() -> u64 {
    1_767_225_600_000 + 100 * DAY_MS
}

#[test]
fn a_disclosure_grants_the_default_number_of_fetches() {
    let mut h = Harness::new(7);
    let claim = with_claim(&mut h);
    let disclosure = granted(&mut h, claim, t0());
    let terms = default_grant_terms();
    assert_eq!(
        stored_grant(&h, &disclosure),
        Some(Grant {
            requester: "gd-audit".parse().unwrap(),
            target: claim,
            until_ms: t0() + u64::from(terms.valid_days) * DAY_MS,
            max_fetches: terms.max_fetches,
            used: 0,
        })
    );
    let officers = [0, 1].map(|n| officer(&h.kit, Role::Auditor, n));
    for n in 0..terms.max_fetches {
        // Either officer of the requester may fetch; each fetch counts.
        let f = fetch(
            &h.kit,
            &officers[usize::from(n % 2)],
            disclosure,
            claim,
            u64::from(n),
        );
        assert_eq!(run_at(&mut h, t0() + DAY_MS, &f), "ACCEPTED", "fetch {n}");
    }
    assert_eq!(
        stored_grant(&h, &disclosure).unwrap().used,
        terms.max_fetches
    );
    let past_count = fetch(&h.kit, &officers[0], disclosure, claim, 99);
    assert_eq!(run_at(&mut h, t0() + DAY_MS, &past_count), "GRANT_USED_UP");
    assert_eq!(
        stored_grant(&h, &disclosure).unwrap().used,
        terms.max_fetches
    );
}

#[test]
fn a_fetch_is_accepted_only_inside_the_window() {
    let mut h = Harness::new(7);
    let claim = with_claim(&mut h);
    let disclosure = granted(&mut h, claim, t0());
    let until = t0() + u64::from(default_grant_terms().valid_days) * DAY_MS;
    let officer = officer(&h.kit, Role::Auditor, 0);
    let last_moment = fetch(&h.kit, &officer, disclosure, claim, 1);
    assert_eq!(run_at(&mut h, until - 1, &last_moment), "ACCEPTED");
    let too_late = fetch(&h.kit, &officer, disclosure, claim, 2);
    assert_eq!(run_at(&mut h, until, &too_late), "GRANT_EXPIRED");
    assert_eq!(stored_grant(&h, &disclosure).unwrap().used, 1);
}

#[test]
fn only_an_officer_of_the_requesting_organisation_fetches() {
    let mut h = Harness::new(7);
    let claim = with_claim(&mut h);
    let disclosure = granted(&mut h, claim, t0());
    let kit = h.kit.clone();
    let at = t0() + 1;
    // The requester's submitter key files records; it does not fetch.
    let submitter = Keypair::from_seed(kit.org(Role::Auditor).submitter.secret_bytes());
    let by_submitter = fetch(&kit, &submitter, disclosure, claim, 1);
    assert_eq!(run_at(&mut h, at, &by_submitter), "ROLE_NOT_ALLOWED");
    // The holder's officer is an officer, but of another organisation.
    let by_holder = fetch(&kit, &officer(&kit, Role::Health, 0), disclosure, claim, 2);
    assert_eq!(run_at(&mut h, at, &by_holder), "ROLE_NOT_ALLOWED");
    let by_stranger = fetch(&kit, &Keypair::from_seed([9; 32]), disclosure, claim, 3);
    assert_eq!(run_at(&mut h, at, &by_stranger), "UNKNOWN_KEY");
    assert_eq!(
        stored_grant(&h, &disclosure).unwrap().used,
        0,
        "refusals use nothing"
    );
    let by_officer = fetch(&kit, &officer(&kit, Role::Auditor, 1), disclosure, claim, 4);
    assert_eq!(run_at(&mut h, at, &by_officer), "ACCEPTED");
}

#[test]
fn a_fetch_draws_on_an_accepted_disclosure_of_its_target() {
    let mut h = Harness::new(7);
    let claim = with_claim(&mut h);
    let officer = officer(&h.kit, Role::Auditor, 0);
    let at = t0() + 1;

    let nowhere = RecordId::from_hex(&"5e".repeat(32)).unwrap();
    let f = fetch(&h.kit, &officer, nowhere, claim, 1);
    assert_eq!(run_at(&mut h, at, &f), "UNKNOWN_RECORD");
    // A claim is on the chain, but grants nothing.
    let f = fetch(&h.kit, &officer, claim, claim, 2);
    assert_eq!(run_at(&mut h, at, &f), "NOT_A_GRANT");
    // A disclosure the rules rejected (no officer approval) grants nothing.
    let unapproved = h.record(Role::Auditor, disclosure(claim, "gd-audit"), 0);
    assert_eq!(run_at(&mut h, t0(), &unapproved), "MISSING_APPROVAL");
    assert_eq!(stored_grant(&h, &unapproved.id()), None);
    let f = fetch(&h.kit, &officer, unapproved.id(), claim, 3);
    assert_eq!(run_at(&mut h, at, &f), "NOT_A_GRANT");
    // An accepted one grants fetches of its own target only.
    let filed = granted(&mut h, claim, t0());
    let f = fetch(&h.kit, &officer, filed, unapproved.id(), 4);
    assert_eq!(run_at(&mut h, at, &f), "WRONG_TARGET");
    let f = fetch(&h.kit, &officer, filed, claim, 5);
    assert_eq!(run_at(&mut h, at, &f), "ACCEPTED");
}

#[test]
fn the_consortium_sets_the_terms_with_a_quorum() {
    let mut h = Harness::new(7);
    let claim = with_claim(&mut h);
    let before = granted(&mut h, claim, t0());
    let terms = RecordBody::Member(MemberBody::DisclosureGrant {
        max_fetches: 1,
        valid_days: 2,
    });
    let alone = h.kit.sign_by_orgs(Role::Insurance, terms.clone(), 50, &[]);
    assert_eq!(run_at(&mut h, t0(), &alone), "QUORUM");
    let agreed = h
        .kit
        .sign_by_orgs(Role::Insurance, terms, 51, &[Role::Health, Role::Finance]);
    assert_eq!(run_at(&mut h, t0(), &agreed), "ACCEPTED");

    let after = granted(&mut h, claim, t0());
    let grant = stored_grant(&h, &after).unwrap();
    assert_eq!((grant.max_fetches, grant.until_ms), (1, t0() + 2 * DAY_MS));
    let officer = officer(&h.kit, Role::Auditor, 0);
    let f = fetch(&h.kit, &officer, after, claim, 1);
    assert_eq!(run_at(&mut h, t0() + 1, &f), "ACCEPTED");
    let f = fetch(&h.kit, &officer, after, claim, 2);
    assert_eq!(run_at(&mut h, t0() + 1, &f), "GRANT_USED_UP");
    // A disclosure accepted earlier keeps the terms it was granted under.
    let f = fetch(&h.kit, &officer, before, claim, 3);
    assert_eq!(run_at(&mut h, t0() + 3 * DAY_MS, &f), "ACCEPTED");
    let f = fetch(&h.kit, &officer, after, claim, 4);
    assert_eq!(run_at(&mut h, t0() + 3 * DAY_MS, &f), "GRANT_EXPIRED");
}

#[test]
fn zero_terms_freeze_disclosures() {
    let mut h = Harness::new(7);
    let claim = with_claim(&mut h);
    let freeze = RecordBody::Member(MemberBody::DisclosureGrant {
        max_fetches: 5,
        valid_days: 0,
    });
    let agreed = h
        .kit
        .sign_by_orgs(Role::Insurance, freeze, 60, &[Role::Health, Role::Finance]);
    assert_eq!(run_at(&mut h, t0(), &agreed), "ACCEPTED");
    let disclosure = granted(&mut h, claim, t0());
    let officer = officer(&h.kit, Role::Auditor, 0);
    // Even in the block that accepted the disclosure, the window is empty.
    let f = fetch(&h.kit, &officer, disclosure, claim, 1);
    assert_eq!(run_at(&mut h, t0(), &f), "GRANT_EXPIRED");
}

#[test]
fn before_rules_version_3_a_disclosure_grants_nothing() {
    // A chain on rules version 2 keeps deciding and storing exactly what it
    // did: a disclosure writes only its own `rec/` entry, so recorded
    // chains replay to the same state roots.
    let kit = Kit::new(7);
    let mut genesis = kit.genesis();
    genesis.rules_version = 2;
    let mut h = Harness::with_genesis(kit, &genesis);
    let claim = with_claim(&mut h);
    let record = h.record(Role::Auditor, disclosure(claim, "gd-audit"), 1);
    let ctx = BlockContext {
        height: h.height.next(),
        timestamp_ms: t0(),
        prev_state_root: h.root,
    };
    let exec = execute_block(&ctx, std::slice::from_ref(&record), &h.state).unwrap();
    assert_eq!(code(&exec.outcomes[0]), "ACCEPTED");
    assert_eq!(exec.rules_version, 2);
    let keys: Vec<&[u8]> = exec.writes.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(keys, [key::record(&record.id()).as_slice()]);
    assert_eq!(run_at(&mut h, t0(), &record), "ACCEPTED");
    let officer = officer(&h.kit, Role::Auditor, 0);
    let f = fetch(&h.kit, &officer, record.id(), claim, 1);
    assert_eq!(run_at(&mut h, t0() + 1, &f), "NOT_A_GRANT");
}
