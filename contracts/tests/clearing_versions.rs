//! Clearing buckets under rules versions 1 and 2. Version 2 keeps a small
//! head and one entry per payout instead of one list every payout
//! rewrites: the tests show the head stays the same size as a bucket
//! grows, that both versions decide every record of a seeded workload
//! alike, and that a bucket left in version 1's form is cleared with the
//! new one after a chain switches.

use fundtrail_contracts::model::PendingClearing;
use fundtrail_contracts::rules::clearing::claim_set_root;
use fundtrail_contracts::rules_version_at;
use fundtrail_ledger::block::{Outcome, Verdict};
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::pseudonym::PersonId;
use fundtrail_ledger::record::*;
use fundtrail_ledger::types::*;
use fundtrail_testkit::workload::Workload;
use fundtrail_testkit::{bodies::*, region, Harness, Kit, AWAY, HOME};

fn code(o: &Outcome) -> String {
    match &o.verdict {
        Verdict::Accepted => "ACCEPTED".into(),
        Verdict::Rejected { code } => code.to_string(),
    }
}

fn accepted(o: Outcome) {
    assert_eq!(code(&o), "ACCEPTED");
}

fn harness(rules_version: u32) -> Harness {
    let kit = Kit::new(7);
    let mut genesis = kit.genesis();
    genesis.rules_version = rules_version;
    Harness::with_genesis(kit, &genesis)
}

fn filing(person: PersonId) -> RecordBody {
    RecordBody::Filing(FilingBody {
        person,
        insured_region: region(HOME),
        care_region: region(AWAY),
        valid_from: date("2026-01-01"),
        valid_until: date("2026-12-31"),
    })
}

/// A claim for care in the away region in March 2026, settled from the
/// basic fund for 350.00; returns the settlement's record id.
fn march_payout(h: &mut Harness, person: PersonId, n: u64) -> RecordId {
    let c = h.kit.claim_id(n);
    let mut body = claim(c, person, Amount::yuan(2_000), Amount::yuan(1_500));
    body.care_region = region(AWAY);
    body.service_date = date("2026-03-10");
    accepted(h.submit(Role::Health, RecordBody::Claim(body), 0));
    let pay = h.record(
        Role::Insurance,
        settle(c, Scheme::Basic, Amount::yuan(350)),
        0,
    );
    accepted(h.block(std::slice::from_ref(&pay)).outcomes.remove(0));
    pay.id()
}

fn march_clearing(amount: Amount, root: Hash32) -> RecordBody {
    clearing(3, amount, root)
}

fn reversal(target: RecordId) -> RecordBody {
    RecordBody::Reversal(ReversalBody {
        target,
        reason: ReversalReason::DataEntryError,
    })
}

/// The keys of the state that start with `prefix`, and the longest value
/// under them.
fn under(h: &Harness, prefix: &[u8]) -> (usize, usize) {
    h.state
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .fold((0, 0), |(n, longest), (_, v)| (n + 1, longest.max(v.len())))
}

fn pending(total: Amount, payouts: Vec<RecordId>) -> PendingClearing {
    PendingClearing { total, payouts }
}

#[test]
fn a_version_2_bucket_grows_by_one_entry_per_payout_and_clears_whole() {
    let mut h = harness(2);
    let person = h.kit.person(8);
    accepted(h.submit(Role::Insurance, filing(person), 0));
    let mut ids = Vec::new();
    let mut head_sizes = Vec::new();
    for n in 1..=24 {
        ids.push(march_payout(&mut h, person, n));
        let (heads, head_len) = under(&h, b"xb/");
        assert_eq!(heads, 1);
        head_sizes.push(head_len);
        assert_eq!(under(&h, b"xq/").0, ids.len());
    }
    assert_eq!(under(&h, b"xr/").0, 0, "version 2 writes no list");
    // Head sizes may grow only with the varint of its counters, never with
    // the number of payouts' ids.
    let (smallest, largest) = (head_sizes[0], head_sizes[head_sizes.len() - 1]);
    assert!(largest <= smallest + 2, "head grew {smallest} -> {largest}");

    let reversed = ids.remove(2);
    accepted(h.submit(Role::Insurance, reversal(reversed), 0));
    let total = Amount::yuan(350 * ids.len() as u64);
    let root = claim_set_root(&pending(total, ids.clone()));
    let with_reversed = {
        let mut all = ids.clone();
        all.insert(2, reversed);
        claim_set_root(&pending(Amount::yuan(350 * 24), all))
    };
    for (amount, root) in [
        (Amount::yuan(350 * 24), with_reversed),
        (total, with_reversed),
        (total.checked_sub(Amount::yuan(1)).unwrap(), root),
    ] {
        assert_eq!(
            code(&h.submit(Role::Insurance, march_clearing(amount, root), 0)),
            "CLEARING_MISMATCH"
        );
    }
    accepted(h.submit(Role::Insurance, march_clearing(total, root), 0));
    assert_eq!(under(&h, b"xb/").0, 0);
    assert_eq!(under(&h, b"xq/").0, 0);
    assert_eq!(
        code(&h.submit(Role::Insurance, reversal(ids[0]), 0)),
        "ALREADY_CLEARED"
    );
    assert_eq!(
        code(&h.submit(Role::Insurance, march_clearing(total, root), 0)),
        "CLEARING_MISMATCH",
        "a bucket is cleared once"
    );
}

#[test]
fn a_version_2_bucket_whose_payouts_are_all_reversed_is_removed() {
    let mut h = harness(2);
    let person = h.kit.person(9);
    accepted(h.submit(Role::Insurance, filing(person), 0));
    let ids: Vec<RecordId> = (1..=3).map(|n| march_payout(&mut h, person, n)).collect();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(under(&h, b"xb/").0, 1, "bucket kept after {i} reversals");
        accepted(h.submit(Role::Insurance, reversal(*id), 0));
    }
    assert_eq!(under(&h, b"xb/").0, 0);
    assert_eq!(under(&h, b"xq/").0, 0);
}

/// A chain that runs version 1 and switches to version 2 with a bucket
/// still pending: the payouts of both forms are cleared together, the
/// older first, and a reversal finds its payout in either form.
#[test]
fn a_version_1_bucket_is_cleared_with_version_2_payouts_after_the_switch() {
    let mut h = harness(1);
    let person = h.kit.person(10);
    accepted(h.submit(Role::Insurance, filing(person), 0));
    let v1: Vec<RecordId> = (1..=3).map(|n| march_payout(&mut h, person, n)).collect();
    assert_eq!(under(&h, b"xr/").0, 1);
    let activation = Height(h.height.0 + 2);
    let switch = h.kit.sign_by_orgs(
        Role::Insurance,
        RecordBody::Member(MemberBody::ScheduleRules {
            version: 2,
            activation,
        }),
        900,
        &[Role::Health, Role::Finance],
    );
    accepted(h.block(&[switch]).outcomes.remove(0));
    assert_eq!(rules_version_at(&h.state, h.height).unwrap(), 1);
    assert_eq!(rules_version_at(&h.state, activation).unwrap(), 2);
    assert_eq!(h.height.next(), activation);
    let v2: Vec<RecordId> = (4..=6).map(|n| march_payout(&mut h, person, n)).collect();
    assert_eq!(
        under(&h, b"xr/").0,
        1,
        "the version 1 list is left as it was"
    );
    assert_eq!(under(&h, b"xq/").0, 3);

    accepted(h.submit(Role::Insurance, reversal(v1[1]), 0));
    accepted(h.submit(Role::Insurance, reversal(v2[0]), 0));
    let order = vec![v1[0], v1[2], v2[1], v2[2]];
    let total = Amount::yuan(350 * 4);
    let v2_first = claim_set_root(&pending(total, vec![v2[1], v2[2], v1[0], v1[2]]));
    assert_eq!(
        code(&h.submit(Role::Insurance, march_clearing(total, v2_first), 0)),
        "CLEARING_MISMATCH"
    );
    let root = claim_set_root(&pending(total, order));
    accepted(h.submit(Role::Insurance, march_clearing(total, root), 0));
    for prefix in [b"xr/", b"xb/", b"xq/"] {
        assert_eq!(under(&h, prefix).0, 0);
    }
}

/// The state root version 1 reached on the workload below before version
/// 2 existed (computed with the code of commit 7cd5368): version 1 must
/// replay the chains made under it unchanged.
const VERSION_1_ROOT: &str = "f59ce919a1e259560359214a12e6d0850a435f04b022cc69796a27eb06d50526";

/// Both versions decide every record of a seeded workload (payouts in and
/// out of clearing buckets, reversals, clearings with right and wrong
/// amounts) the same way; only the state's layout, and so the roots,
/// differ, and version 1's root is the one it always gave.
#[test]
fn both_versions_decide_a_workload_alike() {
    let (mut one, mut two) = (harness(1), harness(2));
    let (mut w1, mut w2) = (
        Workload::new(515, 120, false),
        Workload::new(515, 120, false),
    );
    let (mut clearings, mut cleared) = (0, 0);
    for _ in 0..25 {
        let records = w1.block(&one.state, 160);
        assert_eq!(records, w2.block(&two.state, 160));
        let (a, b) = (one.block(&records), two.block(&records));
        assert_eq!(a.outcomes, b.outcomes);
        for (r, o) in records.iter().zip(&a.outcomes) {
            if r.kind() == RecordKind::Clearing {
                clearings += 1;
                cleared += usize::from(o.is_accepted());
            }
        }
    }
    assert!(
        cleared > 0 && cleared < clearings,
        "{cleared} of {clearings}"
    );
    assert_eq!(one.root.to_string(), VERSION_1_ROOT);
    assert_ne!(one.root, two.root);
    assert_eq!(under(&two, b"xr/").0, 0);
    assert_eq!(under(&one, b"xb/").0, 0);
}

/// A state that counts the reads a block makes.
struct CountedReads<'a> {
    state: &'a fundtrail_contracts::MemoryState,
    reads: std::cell::Cell<usize>,
}

impl fundtrail_contracts::State for CountedReads<'_> {
    fn get(
        &self,
        key: &[u8],
    ) -> Result<Option<std::borrow::Cow<'_, [u8]>>, fundtrail_contracts::StateError> {
        self.reads.set(self.reads.get() + 1);
        self.state.get(key)
    }
}

/// The reads a clearing of March's bucket for `amount` makes, and its
/// verdict, after `payouts` payouts joined the bucket.
fn clearing_reads(payouts: u64, amount: impl Fn(u64) -> Amount) -> (usize, String) {
    let mut h = harness(fundtrail_contracts::LATEST_RULES);
    let person = h.kit.person(8);
    accepted(h.submit(Role::Insurance, filing(person), 0));
    let ids: Vec<RecordId> = (1..=payouts)
        .map(|n| march_payout(&mut h, person, n))
        .collect();
    let total = Amount::yuan(350 * payouts);
    let root = claim_set_root(&pending(total, ids));
    let record = h.record(Role::Insurance, march_clearing(amount(payouts), root), 0);
    let counted = CountedReads {
        state: &h.state,
        reads: std::cell::Cell::new(0),
    };
    let ctx = fundtrail_contracts::engine::BlockContext {
        height: h.height.next(),
        timestamp_ms: Harness::timestamp_ms(h.height.next()),
        prev_state_root: h.root,
    };
    let exec = fundtrail_contracts::engine::execute_identified(
        &ctx,
        [(record.id(), &record)].into_iter(),
        &counted,
    )
    .expect("executes");
    (counted.reads.get(), code(&exec.outcomes[0]))
}

#[test]
fn a_clearing_naming_another_total_is_refused_from_the_head_alone() {
    let one_fen_over = |n: u64| {
        Amount::yuan(350 * n)
            .checked_add(Amount::from_fen(1).unwrap())
            .unwrap()
    };
    let (small, small_verdict) = clearing_reads(2, one_fen_over);
    let (large, large_verdict) = clearing_reads(30, one_fen_over);
    assert_eq!(small_verdict, "CLEARING_MISMATCH");
    assert_eq!(large_verdict, "CLEARING_MISMATCH");
    assert_eq!(
        small, large,
        "a refused clearing reads the same in any bucket"
    );
    // The right total goes on to read every entry and is accepted.
    let exact = |n: u64| Amount::yuan(350 * n);
    let (small, verdict) = clearing_reads(2, exact);
    assert_eq!(verdict, "ACCEPTED");
    let (large, verdict) = clearing_reads(30, exact);
    assert_eq!(verdict, "ACCEPTED");
    assert!(
        large >= small + 28,
        "an accepted clearing reads its entries: {small} -> {large}"
    );
}
