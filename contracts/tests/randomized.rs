//! Seeded randomized run: 10,000+ signed records, honest and abusive mixed,
//! in blocks of 200. After every block the invariants are checked against a
//! model built only from the accepted records (not from the engine's own
//! bookkeeping), plus the engine's claim entries.

use std::collections::BTreeMap;

use fundtrail_contracts::model::{key, ClaimEntry, Tier};
use fundtrail_contracts::policy::default_params;
use fundtrail_contracts::State;
use fundtrail_ledger::pseudonym::{ClaimId, PersonId};
use fundtrail_ledger::record::*;
use fundtrail_ledger::types::*;
use fundtrail_testkit::workload::Workload;
use fundtrail_testkit::Harness;

const BLOCKS: usize = 52;
const PER_BLOCK: usize = 200;

#[derive(Default)]
struct Model {
    claims: BTreeMap<ClaimId, ClaimBody>,
    /// Accepted, unreversed payouts by record id.
    payouts: BTreeMap<RecordId, (ClaimId, Tier, Option<Category>, Amount)>,
    /// Accepted, unreversed budget credits and transfers by record id.
    credits: BTreeMap<RecordId, (Amount, bool)>,
    eligibility: BTreeMap<(PersonId, Category), Vec<(Date, Date)>>,
    ever_poor: std::collections::BTreeSet<PersonId>,
    accepted: usize,
    rejected: BTreeMap<String, usize>,
}

fn tier_of(body: &RecordBody) -> Option<(ClaimId, Tier, Option<Category>, Amount)> {
    match body {
        RecordBody::Settlement(s) => Some((s.claim_id, s.scheme.into(), None, s.amount)),
        RecordBody::Assistance(a) => {
            Some((a.claim_id, Tier::Assistance, Some(a.category), a.amount))
        }
        _ => None,
    }
}

impl Model {
    fn eligible(&self, person: PersonId, category: Category, d: Date) -> bool {
        self.eligibility
            .get(&(person, category))
            .is_some_and(|ws| ws.iter().any(|(f, u)| *f <= d && d <= *u))
    }

    fn accept(&mut self, r: &SignedRecord) {
        self.accepted += 1;
        let id = r.id();
        match &r.envelope.body {
            RecordBody::Claim(c) => {
                assert!(
                    self.claims.insert(c.claim_id, c.clone()).is_none(),
                    "two accepted claims with one id"
                );
            }
            RecordBody::Eligibility(e) => self.eligibility_change(e),
            RecordBody::FundCredit(c) => {
                self.credits.insert(
                    id,
                    (c.amount, matches!(c.source, FundSource::Budget { .. })),
                );
            }
            RecordBody::Reversal(rev) => {
                let known = self.payouts.remove(&rev.target).is_some()
                    || self.credits.remove(&rev.target).is_some();
                assert!(known, "accepted reversal of something not standing");
            }
            body => {
                if let Some(p @ (claim, tier, category, _)) = tier_of(body) {
                    let dup = self
                        .payouts
                        .values()
                        .any(|(c, t, _, _)| *c == claim && *t == tier);
                    assert!(!dup, "two accepted payouts for one (claim, tier)");
                    let c = &self.claims[&claim];
                    if let Some(cat) = category {
                        assert!(
                            self.eligible(c.person, cat, c.service_date),
                            "assistance outside eligibility"
                        );
                    }
                    self.payouts.insert(id, p);
                }
            }
        }
    }

    fn eligibility_change(&mut self, e: &EligibilityBody) {
        let ws = self.eligibility.entry((e.person, e.category)).or_default();
        match e.decision {
            EligibilityDecision::Grant {
                valid_from,
                valid_until,
            } => {
                ws.push((valid_from, valid_until));
                if [Category::Tekun, Category::Orphan, Category::Dibao].contains(&e.category) {
                    self.ever_poor.insert(e.person);
                }
            }
            EligibilityDecision::Revoke { effective } => {
                ws.retain_mut(|(f, u)| {
                    if *u < effective {
                        return true;
                    }
                    if *f >= effective {
                        return false;
                    }
                    *u = Date::from_days(effective.days() - 1);
                    true
                });
            }
        }
    }

    fn check(&self, h: &Harness) {
        let p = default_params();
        let mut per_claim: BTreeMap<ClaimId, (u64, u64)> = BTreeMap::new();
        let mut per_person: BTreeMap<(PersonId, Tier, Option<Category>), u64> = BTreeMap::new();
        for (claim, tier, category, amount) in self.payouts.values() {
            let e = per_claim.entry(*claim).or_default();
            if *tier == Tier::Supplementary {
                e.1 += amount.fen();
            } else {
                e.0 += amount.fen();
            }
            let person = self.claims[claim].person;
            *per_person.entry((person, *tier, *category)).or_default() += amount.fen();
        }
        for (claim, (inside, supp)) in &per_claim {
            let c = &self.claims[claim];
            assert!(*inside <= c.in_scope.fen(), "claim paid above in-scope");
            assert!(inside + supp <= c.total.fen(), "claim paid above total");
        }
        for ((person, tier, category), fen) in &per_person {
            let cap = match (tier, category) {
                (Tier::Basic, _) => Some(p.basic.annual_cap),
                (Tier::CriticalIllness, _) if self.ever_poor.contains(person) => None,
                (Tier::CriticalIllness, _) => Some(p.critical_illness.annual_cap),
                (Tier::Supplementary, _) => Some(p.supplementary.annual_cap),
                (Tier::Assistance, Some(c)) => p
                    .assistance
                    .iter()
                    .find(|a| a.category == *c)
                    .map(|a| a.annual_cap),
                (Tier::Assistance, None) => Some(Amount::ZERO),
            };
            if let Some(cap) = cap {
                assert!(*fen <= cap.fen(), "person above the {tier:?} cap");
            }
        }
        // The engine's own claim entries agree with the model.
        for (claim, (inside, supp)) in &per_claim {
            let bytes = h.state.get(&key::claim(claim)).unwrap().unwrap();
            let e: ClaimEntry = fundtrail_ledger::codec::decode("claim", &bytes).unwrap();
            assert_eq!(e.paid_total().fen(), inside + supp);
        }
        self.check_funds(h);
    }

    /// Money is conserved: funds hold the opening balances plus standing
    /// budget credits minus standing payouts (transfers move, never create).
    fn check_funds(&self, h: &Harness) {
        let genesis = h.kit.genesis();
        let opening: u64 = genesis.funds.iter().map(|f| f.opening_balance.fen()).sum();
        let credits: u64 = self
            .credits
            .values()
            .filter(|(_, budget)| *budget)
            .map(|(a, _)| a.fen())
            .sum();
        let paid: u64 = self.payouts.values().map(|p| p.3.fen()).sum();
        let mut held = 0u64;
        for f in &genesis.funds {
            let bytes = h.state.get(&key::fund(&f.id)).unwrap().unwrap();
            let e: fundtrail_contracts::model::FundEntry =
                fundtrail_ledger::codec::decode("fund", &bytes).unwrap();
            held += e.balance.fen();
        }
        assert_eq!(held + paid, opening + credits, "money created or lost");
    }
}

#[test]
fn ten_thousand_mixed_records_keep_the_invariants() {
    let mut h = Harness::new(7);
    let mut w = Workload::new(2026, 300, true);
    let mut model = Model::default();
    for _ in 0..BLOCKS {
        let records = w.block(&h.state, PER_BLOCK);
        let exec = h.block(&records);
        for (r, o) in records.iter().zip(&exec.outcomes) {
            assert_eq!(o.record_id, r.id());
            match &o.verdict {
                fundtrail_ledger::block::Verdict::Accepted => model.accept(r),
                fundtrail_ledger::block::Verdict::Rejected { code } => {
                    *model.rejected.entry(code.to_string()).or_default() += 1
                }
            }
        }
        model.check(&h);
    }
    let total = model.accepted + model.rejected.values().sum::<usize>();
    eprintln!(
        "{total} records: {} accepted, rejected {:?}, {} standing payouts",
        model.accepted,
        model.rejected,
        model.payouts.len()
    );
    assert!(total >= 10_000);
    // Both honest and abusive records actually exercised the rules.
    assert!(
        model.accepted > total / 3,
        "accepted {} of {total}",
        model.accepted
    );
    for code in [
        "DUPLICATE_PAYMENT",
        "ABOVE_ENTITLEMENT",
        "WRONG_FUND",
        "TIER_ORDER",
        "NOT_ELIGIBLE",
        "MISSING_APPROVAL",
        "NO_FILING",
    ] {
        assert!(
            model.rejected.get(code).copied().unwrap_or(0) > 0,
            "no {code} in {:?}",
            model.rejected
        );
    }
    assert!(
        model.payouts.len() > 1_000,
        "{} standing payouts",
        model.payouts.len()
    );
}
