//! The honest waves: setup, two rounds of claims each paid tier by tier at
//! exactly the quoted entitlement, eligibility revocations, reversals and
//! their corrections, clearing and auditors' disclosures. The one honest
//! deviation is a keying error: a few payouts are paid at 90 % (accepted:
//! below the entitlement), reversed, and paid right in `corrections`.

use std::collections::BTreeSet;

use fundtrail_intake::{
    ClaimLine, ClearingLine, DisclosureLine, EligibilityLine, FilingLine, FundCreditLine,
    PayoutRef, PayoutTier, ReversalLine, SubmissionLine, Target,
};
use fundtrail_ledger::record::{
    DisclosurePurpose, EligibilityDecision, FundSource, Period, ReversalReason,
};
use fundtrail_ledger::types::{
    Admission, Amount, Bp, Category, Date, FundKind, GroupCode, RegionCode, Role,
};
use rand::seq::index::sample;
use rand::Rng;

use super::world::{date, plus_days, PREFECTURES};
use super::{
    fund_name, label, payer, Abuse, Claim, Expect, Generator, ScenarioError, Special, Submission,
    FRAUD_EVERY, YEAR,
};
use fundtrail_contracts::model::Tier;
use fundtrail_contracts::quote::Quote;
use fundtrail_contracts::RuleCode;

/// A person's second claim is a readmission this often (per cent).
const READMISSION_PERCENT: u32 = 20;

pub fn tier_amount(q: &Quote, tier: Tier) -> Amount {
    match tier {
        Tier::Basic => q.basic,
        Tier::CriticalIllness => q.critical_illness,
        Tier::Supplementary => q.supplementary,
        Tier::Assistance => q.assistance,
    }
}

fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Basic => "basic",
        Tier::CriticalIllness => "critical-illness",
        Tier::Supplementary => "supplementary",
        Tier::Assistance => "assistance",
    }
}

pub fn payout_ref(claim: &Claim, tier: Tier) -> Target {
    let tier = match tier {
        Tier::Basic => PayoutTier::Basic,
        Tier::CriticalIllness => PayoutTier::CriticalIllness,
        Tier::Supplementary => PayoutTier::Supplementary,
        Tier::Assistance => PayoutTier::Assistance,
    };
    Target::Payout(PayoutRef {
        institution: claim.line.institution.clone(),
        bill_no: claim.line.bill_no.clone(),
        tier,
    })
}

fn accept(role: Role, line: SubmissionLine) -> Submission {
    Submission {
        role,
        line,
        expect: Expect::Accept,
    }
}

/// `disclosure` filed again without its officer's approval, which the
/// rules refuse: one request that must not open a vault.
fn unapproved(disclosure: &Submission) -> Submission {
    let mut line = disclosure.line.clone();
    if let SubmissionLine::Disclosure(d) = &mut line {
        d.approvals = 0;
        d.case_ref = Some(label(&format!("SJ-{YEAR}-000")));
    }
    Submission {
        role: disclosure.role,
        line,
        expect: Expect::Reject(RuleCode::MissingApproval),
    }
}

impl Generator {
    /// Fund credits, a mid-year policy change, eligibility grants, filings.
    pub(super) fn setup(&mut self) -> Result<(), ScenarioError> {
        let mut lines = self.fund_credits();
        lines.push(self.policy_update());
        lines.extend(self.payment_policies());
        for p in &self.world.people {
            if let Some((category, from, until)) = p.eligibility {
                let decision = EligibilityDecision::Grant {
                    valid_from: from,
                    valid_until: until,
                };
                let line = EligibilityLine {
                    reference: None,
                    id_card: p.id.clone(),
                    category,
                    decision,
                };
                lines.push(accept(
                    Role::CivilAffairs,
                    SubmissionLine::Eligibility(line),
                ));
            }
            if let Some(care_region) = &p.filing {
                let line = FilingLine {
                    reference: None,
                    id_card: p.id.clone(),
                    insured_region: p.region.clone(),
                    care_region: care_region.clone(),
                    valid_from: date(YEAR.into(), 1, 1),
                    valid_until: date(YEAR.into(), 12, 31),
                };
                lines.push(accept(Role::Insurance, SubmissionLine::Filing(line)));
            }
        }
        self.push("setup".into(), lines)
    }

    /// The year's budget for every fund (ample, so no balance ever depends on
    /// the order inside a wave), and a transfer from each basic fund to its
    /// critical-illness fund (大病保险 is financed from the basic pool).
    fn fund_credits(&self) -> Vec<Submission> {
        let budget = |kind| match kind {
            FundKind::Basic => 30_000,
            FundKind::CriticalIllness => 10_000,
            FundKind::Supplementary => 5_000,
            FundKind::Assistance => 3_000,
        };
        let mut lines = Vec::new();
        for (i, (region, _)) in PREFECTURES.iter().enumerate() {
            for kind in [
                FundKind::Basic,
                FundKind::CriticalIllness,
                FundKind::Supplementary,
                FundKind::Assistance,
            ] {
                let appropriation: GroupCode = label(&format!("GD-CZ-{YEAR}-{:04}", i + 1));
                lines.push(self.credit(
                    fund_name(kind, region),
                    Amount::yuan(budget(kind) * self.people as u64),
                    FundSource::Budget { appropriation },
                    0,
                ));
            }
            let from_fund = label(&fund_name(FundKind::Basic, region));
            let transfer = FundSource::Transfer { from_fund };
            let ci = fund_name(FundKind::CriticalIllness, region);
            lines.push(self.credit(ci, Amount::yuan(5_000_000), transfer, 2));
        }
        lines
    }

    fn credit(
        &self,
        fund: String,
        amount: Amount,
        source: FundSource,
        approvals: u8,
    ) -> Submission {
        let line = FundCreditLine {
            reference: self.reference("BK"),
            fund_id: label(&fund),
            amount,
            source,
            approvals,
        };
        accept(Role::Finance, SubmissionLine::FundCredit(line))
    }

    /// Shenzhen raises the residents' grassroots ratio to 85 % from July.
    fn policy_update(&self) -> Submission {
        let mut body = fundtrail_contracts::policy::default_policy(label("440300"), YEAR);
        body.effective_from = date(YEAR.into(), 7, 1);
        body.params.basic.resident_ratio.grassroots = Bp(8500);
        accept(Role::Insurance, SubmissionLine::Policy(body))
    }

    /// One round: claims, then one wave per tier.
    pub(super) fn round(&mut self, round: u8) -> Result<(), ScenarioError> {
        let first = self.claims.len();
        let lines = self.draw_claims(round);
        self.push(format!("claims-{round}"), lines)?;
        self.plan(first)?;
        self.designate(round, first);
        for tier in Tier::ALL {
            let lines = self.tier_wave(tier, first)?;
            self.push(format!("{}-{round}", tier_name(tier)), lines)?;
        }
        Ok(())
    }

    /// Round 1: everyone's first claim of the year (in person order).
    /// Round 2: a second claim for about a third of the people without a
    /// special plan, some of them readmissions.
    fn draw_claims(&mut self, round: u8) -> Vec<Submission> {
        let over_cap = match round {
            1 => self.over_cap_people(),
            _ => BTreeSet::new(),
        };
        let mut lines = Vec::new();
        for p in 0..self.world.people.len() {
            let drawn = match round {
                1 if over_cap.contains(&p) => Some(self.over_cap_claim(p)),
                1 => Some((self.first_claim(p), Special::None)),
                _ if self.special_people.contains(&p) || !self.rng.gen_ratio(35, 100) => None,
                _ => Some((self.second_claim(p), Special::None)),
            };
            if let Some((line, special)) = drawn {
                lines.push(self.add_claim(p, line, special));
            }
        }
        lines
    }

    pub(super) fn add_claim(
        &mut self,
        person: usize,
        line: ClaimLine,
        special: Special,
    ) -> Submission {
        let id = self.sim.claim_id(&line);
        let submission = accept(Role::Health, SubmissionLine::Claim(line.clone()));
        self.claims.push(Claim {
            person,
            line,
            id,
            special,
            paid: Vec::new(),
            plan: None,
        });
        submission
    }

    pub(super) fn round_one_date(&mut self) -> Date {
        plus_days(date(YEAR.into(), 1, 4), self.rng.gen_range(0..168))
    }

    fn first_claim(&mut self, p: usize) -> ClaimLine {
        let day = self.round_one_date();
        let admission = if self.rng.gen_ratio(65, 100) {
            Admission::Inpatient
        } else {
            Admission::Outpatient
        };
        let person = &self.world.people[p];
        let care = match &person.filing {
            Some(r) if self.rng.gen_ratio(75, 100) => r.clone(),
            _ => person.region.clone(),
        };
        self.world.claim(&mut self.rng, p, &care, day, admission)
    }

    fn second_claim(&mut self, p: usize) -> ClaimLine {
        let first = &self.claims[p].line;
        let (day, admission) = if first.admission == Admission::Inpatient
            && self.rng.gen_ratio(READMISSION_PERCENT, 100)
        {
            let day = plus_days(first.service_date, self.rng.gen_range(3..=14));
            (day, Admission::Inpatient)
        } else {
            let day = plus_days(date(YEAR.into(), 7, 1), self.rng.gen_range(0..150));
            let inpatient = self.rng.gen_ratio(50, 100);
            let admission = [Admission::Outpatient, Admission::Inpatient][usize::from(inpatient)];
            (day, admission)
        };
        let person = &self.world.people[p];
        let care: RegionCode = match &person.filing {
            Some(r) if self.rng.gen_ratio(20, 100) => r.clone(),
            _ => person.region.clone(),
        };
        self.world.claim(&mut self.rng, p, &care, day, admission)
    }

    /// Each new claim's entitlement split, as quoted right after acceptance.
    fn plan(&mut self, first: usize) -> Result<(), ScenarioError> {
        for c in first..self.claims.len() {
            let q = self.sim.quote(&self.claims[c].id)?;
            self.claims[c].plan = Some(q);
        }
        Ok(())
    }

    /// Whether `tier` of claim `c` is left to an abuse or a correction.
    fn withheld(&self, c: usize, tier: Tier) -> bool {
        match self.claims[c].special {
            Special::Withhold { from, .. } => tier >= from,
            Special::Underpay(t) => tier > t,
            Special::None | Special::Clawback => false,
        }
    }

    /// Every claim of the round with an entitlement in `tier` gets exactly it.
    fn tier_wave(&mut self, tier: Tier, first: usize) -> Result<Vec<Submission>, ScenarioError> {
        let mut lines = Vec::new();
        for c in first..self.claims.len() {
            if self.withheld(c, tier) {
                continue;
            }
            let mut amount = tier_amount(&self.sim.quote(&self.claims[c].id)?, tier);
            if amount.is_zero() {
                continue;
            }
            if self.claims[c].special == Special::Underpay(tier) {
                amount = amount.mul_bp(Bp(9000));
            }
            let s = self.payout(c, tier, amount, tier, self.approvals_for(amount));
            self.claims[c].paid.push((tier, s.clone()));
            lines.push(s);
        }
        Ok(lines)
    }

    /// Eligibility that ended: before the abusive assistance, and a few
    /// people whose status ends in December.
    pub(super) fn revocations(&mut self) -> Result<(), ScenarioError> {
        let mut lines = Vec::new();
        for c in 0..self.claims.len() {
            let claim = &self.claims[c];
            let (
                Special::Withhold {
                    abuse: Abuse::AfterRevoke,
                    ..
                },
                Some(category),
            ) = (
                claim.special,
                claim.plan.and_then(|q| q.assistance_category),
            )
            else {
                continue;
            };
            let back = self.rng.gen_range(1..=20);
            let effective = Date::from_days(claim.line.service_date.days().saturating_sub(back));
            lines.push(self.revoke(claim.person, category, effective));
        }
        let eligible: Vec<(usize, Category)> = (0..self.world.people.len())
            .filter(|p| !self.special_people.contains(p))
            .filter_map(|p| Some((p, self.world.people[p].eligibility?.0)))
            .collect();
        for i in self.pick(eligible.len(), self.few(FRAUD_EVERY)) {
            let (p, category) = eligible[i];
            self.special_people.insert(p);
            lines.push(self.revoke(p, category, date(YEAR.into(), 12, 1)));
        }
        self.push("revocations".into(), lines)
    }

    fn revoke(&self, p: usize, category: Category, effective: Date) -> Submission {
        let line = EligibilityLine {
            reference: None,
            id_card: self.world.people[p].id.clone(),
            category,
            decision: EligibilityDecision::Revoke { effective },
        };
        accept(Role::CivilAffairs, SubmissionLine::Eligibility(line))
    }

    /// `n` distinct indices below `len`, at random.
    pub(super) fn pick(&mut self, len: usize, n: usize) -> Vec<usize> {
        let mut picked = sample(&mut self.rng, len, n.min(len)).into_vec();
        picked.sort_unstable();
        picked
    }

    /// Claims without a special plan whose person has none either.
    pub(super) fn plain_claims(&self) -> Vec<usize> {
        (0..self.claims.len())
            .filter(|c| self.claims[*c].special == Special::None)
            .filter(|c| !self.special_people.contains(&self.claims[*c].person))
            .collect()
    }

    /// Keying errors (reversed, corrected next wave) and fraud findings
    /// (the last paid tier clawed back).
    pub(super) fn reversals(&mut self) -> Result<(), ScenarioError> {
        let paid: Vec<usize> = self
            .plain_claims()
            .into_iter()
            .filter(|c| !self.claims[*c].paid.is_empty())
            .collect();
        for i in self.pick(paid.len(), self.few(FRAUD_EVERY)) {
            self.claims[paid[i]].special = Special::Clawback;
            self.special_people.insert(self.claims[paid[i]].person);
        }
        let mut lines = Vec::new();
        for c in &self.claims {
            let (tier, reason) = match c.special {
                Special::Underpay(t) => (t, ReversalReason::DataEntryError),
                Special::Clawback => match c.paid.last() {
                    Some((t, _)) => (*t, ReversalReason::FraudFinding),
                    None => continue,
                },
                _ => continue,
            };
            let line = ReversalLine {
                reference: self.reference("CX"),
                target: payout_ref(c, tier),
                reason,
            };
            lines.push(accept(payer(tier), SubmissionLine::Reversal(line)));
        }
        self.push("reversals".into(), lines)
    }

    /// The keying errors paid again, at the entitlement.
    pub(super) fn corrections(&mut self) -> Result<(), ScenarioError> {
        let mut lines = Vec::new();
        for c in 0..self.claims.len() {
            let Special::Underpay(tier) = self.claims[c].special else {
                continue;
            };
            let amount = tier_amount(&self.sim.quote(&self.claims[c].id)?, tier);
            if !amount.is_zero() {
                lines.push(self.payout(c, tier, amount, tier, self.approvals_for(amount)));
            }
        }
        self.push("corrections".into(), lines)
    }

    /// One clearing per (month, insured region → care region) with
    /// uncleared payouts, and a few auditors' disclosures.
    pub(super) fn clearing(&mut self) -> Result<(), ScenarioError> {
        let buckets: BTreeSet<(u16, u8, RegionCode, RegionCode)> = self
            .claims
            .iter()
            .filter(|c| c.line.insured_region != c.line.care_region)
            .map(|c| {
                let (y, m, _) = c.line.service_date.ymd();
                let from = c.line.insured_region.clone();
                let year = u16::try_from(y).unwrap_or(YEAR);
                (year, m as u8, from, c.line.care_region.clone())
            })
            .collect();
        let mut lines = Vec::new();
        for (year, month, from, to) in buckets {
            let period = Period { year, month };
            let Some(amount) = self.sim.pending(period, &from, &to)? else {
                continue;
            };
            let line = ClearingLine {
                reference: None,
                period,
                from_region: from,
                to_region: to,
                amount,
                claim_set_root: None,
            };
            lines.push(accept(Role::Insurance, SubmissionLine::Clearing(line)));
        }
        lines.extend(self.disclosures());
        self.push("clearing".into(), lines)
    }

    fn disclosures(&mut self) -> Vec<Submission> {
        let org = |role: Role| {
            self.genesis
                .orgs
                .iter()
                .find(|o| o.role == role)
                .map(|o| o.id.clone())
        };
        let (Some(holder), Some(requester)) = (org(Role::Health), org(Role::Auditor)) else {
            return Vec::new();
        };
        let basic_paid: Vec<usize> = self
            .plain_claims()
            .into_iter()
            .filter(|c| self.claims[*c].paid.iter().any(|(t, _)| *t == Tier::Basic))
            .collect();
        let mut lines = Vec::new();
        for (n, i) in self.pick(basic_paid.len(), 3).into_iter().enumerate() {
            let line = DisclosureLine {
                reference: None,
                target: payout_ref(&self.claims[basic_paid[i]], Tier::Basic),
                holder: holder.clone(),
                requester: requester.clone(),
                purpose: DisclosurePurpose::Audit,
                case_ref: Some(label(&format!("SJ-{YEAR}-{:03}", n + 1))),
                approvals: 1,
            };
            lines.push(accept(Role::Auditor, SubmissionLine::Disclosure(line)));
        }
        if let Some(first) = lines.first() {
            lines.push(unapproved(first));
        }
        lines
    }
}
