//! Known abuses: which claims carry them (chosen once their entitlement is
//! known) and the final `abuses` wave, where every line must be rejected
//! with its code whatever order the wave arrives in.

use std::collections::BTreeSet;

use fundtrail_intake::{ClaimLine, SubmissionLine};
use fundtrail_ledger::types::{Admission, Amount, Role};
use rand::Rng;

use super::world::{care_elsewhere, date, plus_days};

use super::honest::tier_amount;
use super::{
    Abuse, Expect, Generator, ScenarioError, Special, Submission, ABUSE_EVERY, KEYING_ERROR_EVERY,
    YEAR,
};
use fundtrail_contracts::model::Tier;
use fundtrail_contracts::quote::Quote;
use fundtrail_contracts::RuleCode;

/// The last tier with an entitlement.
fn last_tier(q: &Quote) -> Option<Tier> {
    Tier::ALL
        .into_iter()
        .rev()
        .find(|t| !tier_amount(q, *t).is_zero())
}

/// The fund kind a wrong-fund payout of `tier` draws on (基金挤占).
fn wrong_fund(tier: Tier) -> Tier {
    match tier {
        Tier::Basic => Tier::CriticalIllness,
        _ => Tier::Basic,
    }
}

fn withhold(abuse: Abuse) -> impl Fn(Tier) -> Special {
    move |from| Special::Withhold { from, abuse }
}

fn reject(mut s: Submission, code: RuleCode) -> Submission {
    s.expect = Expect::Reject(code);
    s
}

impl Generator {
    /// After a round's claims are quoted: which of them carry an abuse or a
    /// keying error, at most one per person.
    pub(super) fn designate(&mut self, round: u8, first: usize) {
        let n = self.few(ABUSE_EVERY);
        if round == 1 {
            let threshold = self.threshold;
            let big_basic = |q: &Quote| (q.basic > threshold).then_some(Tier::Basic);
            self.mark(first, n, big_basic, withhold(Abuse::MissingApproval));
            self.mark(first, n, last_tier, withhold(Abuse::AboveEntitlement));
            self.mark(first, n, last_tier, withhold(Abuse::WrongFund));
            let worth_correcting =
                |q: &Quote| last_tier(q).filter(|t| tier_amount(q, *t) >= Amount::yuan(10));
            let n = self.few(KEYING_ERROR_EVERY);
            self.mark(first, n, worth_correcting, Special::Underpay);
        } else {
            let assisted =
                |q: &Quote| (q.assistance >= Amount::yuan(100)).then_some(Tier::Assistance);
            self.mark(first, n, assisted, withhold(Abuse::AfterRevoke));
        }
    }

    /// Gives `n` random plain claims from `first` on, for which `tier` finds
    /// a tier, the special plan `special(tier)`.
    fn mark(
        &mut self,
        first: usize,
        n: usize,
        tier: impl Fn(&Quote) -> Option<Tier>,
        special: impl Fn(Tier) -> Special,
    ) {
        let candidates: Vec<(usize, Tier)> = self
            .plain_claims()
            .into_iter()
            .filter(|c| *c >= first)
            .filter_map(|c| Some((c, tier(self.claims[c].plan.as_ref()?)?)))
            .collect();
        for i in self.pick(candidates.len(), n) {
            let (c, t) = candidates[i];
            self.claims[c].special = special(t);
            self.special_people.insert(self.claims[c].person);
        }
    }

    /// The injected abuses, all in one wave.
    pub(super) fn abuses(&mut self) -> Result<(), ScenarioError> {
        let mut lines = Vec::new();
        for c in 0..self.claims.len() {
            if let Special::Withhold { from, abuse } = self.claims[c].special {
                lines.extend(self.withheld_abuse(c, from, abuse)?);
            }
        }
        lines.extend(self.duplicate_payments());
        lines.extend(self.duplicate_claims());
        lines.extend(self.unfiled_claims());
        self.push("abuses".into(), lines)
    }

    /// The abusive payout a withheld claim receives.
    fn withheld_abuse(
        &mut self,
        c: usize,
        tier: Tier,
        abuse: Abuse,
    ) -> Result<Option<Submission>, ScenarioError> {
        let claim = &self.claims[c];
        let category = claim.plan.and_then(|q| q.assistance_category);
        let q = self.sim.tiers(&claim.id, category)?[tier as usize];
        let (amount, fund, approvals, code) = match abuse {
            Abuse::OverCap if q.uncapped > q.amount => (q.uncapped, tier, 2, RuleCode::AnnualCap),
            Abuse::MissingApproval if q.amount > self.threshold => {
                (q.amount, tier, 1, RuleCode::MissingApproval)
            }
            Abuse::AboveEntitlement => {
                let extra = Amount::yuan(self.rng.gen_range(50..=2_000));
                let amount = q.uncapped.checked_add(extra).unwrap_or(q.uncapped);
                (
                    amount,
                    tier,
                    self.approvals_for(amount),
                    RuleCode::AboveEntitlement,
                )
            }
            Abuse::WrongFund if !q.amount.is_zero() => {
                let approvals = self.approvals_for(q.amount);
                (q.amount, wrong_fund(tier), approvals, RuleCode::WrongFund)
            }
            Abuse::AfterRevoke => match claim.plan {
                Some(plan) if !plan.assistance.is_zero() => {
                    let a = plan.assistance;
                    (a, tier, self.approvals_for(a), RuleCode::NotEligible)
                }
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        Ok(Some(reject(
            self.payout(c, tier, amount, fund, approvals),
            code,
        )))
    }

    /// Payouts submitted again (a yuan less, as a re-keyed bill would be).
    fn duplicate_payments(&mut self) -> Vec<Submission> {
        let candidates: Vec<usize> = self
            .plain_claims()
            .into_iter()
            .filter(|c| {
                self.claims[*c]
                    .paid
                    .iter()
                    .any(|(_, s)| paid_amount(s) >= Amount::yuan(2))
            })
            .collect();
        let mut lines = Vec::new();
        for i in self.pick(candidates.len(), self.few(ABUSE_EVERY)) {
            let c = candidates[i];
            let big: Vec<&Submission> = self.claims[c]
                .paid
                .iter()
                .map(|(_, s)| s)
                .filter(|s| paid_amount(s) >= Amount::yuan(2))
                .collect();
            let mut s = big[self.rng.gen_range(0..big.len())].clone();
            set_amount(&mut s.line, |a| a.saturating_sub(Amount::yuan(1)));
            self.rekey(&mut s.line);
            lines.push(reject(s, RuleCode::DuplicatePayment));
        }
        lines
    }

    /// Bills submitted again with a higher total.
    fn duplicate_claims(&mut self) -> Vec<Submission> {
        let candidates = self.plain_claims();
        let mut lines = Vec::new();
        for i in self.pick(candidates.len(), self.few(ABUSE_EVERY)) {
            let mut line = self.claims[candidates[i]].line.clone();
            line.total = line
                .total
                .checked_add(Amount::yuan(200))
                .unwrap_or(line.total);
            let s = Submission {
                role: Role::Health,
                line: SubmissionLine::Claim(line),
                expect: Expect::Accept,
            };
            lines.push(reject(s, RuleCode::DuplicateClaim));
        }
        lines
    }

    /// Care in another region without a filing.
    fn unfiled_claims(&mut self) -> Vec<Submission> {
        let candidates: Vec<usize> = (0..self.world.people.len())
            .filter(|p| self.world.people[*p].filing.is_none())
            .filter(|p| !self.special_people.contains(p))
            .collect();
        let mut lines = Vec::new();
        for i in self.pick(candidates.len(), self.few(ABUSE_EVERY)) {
            let s = Submission {
                role: Role::Health,
                line: SubmissionLine::Claim(self.unfiled_claim(candidates[i])),
                expect: Expect::Accept,
            };
            lines.push(reject(s, RuleCode::NoFiling));
        }
        lines
    }

    /// Before round 1: people (no eligibility, no filing) whose one claim is
    /// so large the basic annual cap binds.
    pub(super) fn over_cap_people(&mut self) -> BTreeSet<usize> {
        let plain: Vec<usize> = (0..self.world.people.len())
            .filter(|p| {
                let person = &self.world.people[*p];
                person.eligibility.is_none() && person.filing.is_none()
            })
            .collect();
        let picked = self.pick(plain.len(), self.few(ABUSE_EVERY));
        let people: BTreeSet<usize> = picked.into_iter().map(|i| plain[i]).collect();
        self.special_people.extend(people.iter().copied());
        people
    }

    /// A claim of person `p` in a region they have no filing for.
    fn unfiled_claim(&mut self, p: usize) -> ClaimLine {
        let home = self.world.people[p].region.clone();
        let care = care_elsewhere(&mut self.rng, &home);
        let day = plus_days(date(YEAR.into(), 11, 1), self.rng.gen_range(0..28));
        self.world
            .claim(&mut self.rng, p, &care, day, Admission::Inpatient)
    }

    /// A claim too large for the basic annual cap, for an over-cap payout.
    pub(super) fn over_cap_claim(&mut self, p: usize) -> (ClaimLine, Special) {
        let day = self.round_one_date();
        let line = self.world.catastrophic(&mut self.rng, p, day);
        (line, withhold(Abuse::OverCap)(Tier::Basic))
    }
}

impl Generator {
    /// A re-keyed payout gets a serial of its own.
    fn rekey(&self, line: &mut SubmissionLine) {
        match line {
            SubmissionLine::Settlement(l) => l.reference = self.reference("JS"),
            SubmissionLine::Assistance(l) => l.reference = self.reference("JZ"),
            _ => {}
        }
    }
}

fn paid_amount(s: &Submission) -> Amount {
    match &s.line {
        SubmissionLine::Settlement(l) => l.amount,
        SubmissionLine::Assistance(l) => l.amount,
        _ => Amount::ZERO,
    }
}

fn set_amount(line: &mut SubmissionLine, f: impl Fn(Amount) -> Amount) {
    match line {
        SubmissionLine::Settlement(l) => l.amount = f(l.amount),
        SubmissionLine::Assistance(l) => l.amount = f(l.amount),
        _ => {}
    }
}
