//! Payment by groups in the demo's year. Guangzhou pays its hospitals by
//! DIP and Shenzhen by DRG: the defaults of `contracts/policy/payment.toml`
//! with a budget sized to the prefecture and the consortium's stricter
//! upcoding thresholds. One Shenzhen hospital codes its December cases to
//! the heaviest group whatever they cost (高套分组), which the `UPCODING`
//! signal flags. The year ends with each region's period settlement by
//! points, after one that does not add up is refused.

use fundtrail_intake::SubmissionLine;
use fundtrail_ledger::record::{PaymentMethod, PaymentPolicyBody};
use fundtrail_ledger::types::{Amount, Bp, InstitutionId, InstitutionLevel, RegionCode, Role};
use rand::Rng;

use super::world::date;
use super::{label, Expect, Generator, ScenarioError, Submission, YEAR};
use fundtrail_contracts::payment::settlement_due;
use fundtrail_contracts::policy::default_payment_policy;
use fundtrail_contracts::RuleCode;

/// The prefectures that pay by groups, and how.
pub const GROUPED: [(&str, PaymentMethod); 2] = [
    ("440100", PaymentMethod::Dip),
    ("440300", PaymentMethod::Drg),
];

/// Budget per insured person of the prefecture, in yuan: about what its
/// hospitals' grouped cases cost the basic fund by item in the demo's year.
const BUDGET_PER_PERSON: u64 = 28_000;
/// Cases of the upcoding hospital in November (coded by cost) and in
/// December (coded to the heaviest group).
const UPCODED_CASES: usize = 16;

/// The upcoding hospital: Shenzhen's first secondary hospital.
pub fn upcoding_hospital() -> InstitutionId {
    label("H44030000011")
}

impl Generator {
    /// Each grouped prefecture's payment policy for the year.
    pub(super) fn payment_policies(&self) -> Vec<Submission> {
        GROUPED
            .iter()
            .map(|(region, method)| {
                let body = self.payment_policy(label(region), *method);
                Submission {
                    role: Role::Insurance,
                    line: SubmissionLine::PaymentPolicy(body),
                    expect: Expect::Accept,
                }
            })
            .collect()
    }

    fn payment_policy(&self, region: RegionCode, method: PaymentMethod) -> PaymentPolicyBody {
        let insured = self
            .world
            .people
            .iter()
            .filter(|p| p.region == region)
            .count() as u64;
        let mut body = default_payment_policy(method, region, YEAR);
        body.budget = Amount::yuan(insured.max(1) * BUDGET_PER_PERSON);
        // A month is compared only with fifteen cases or more, and flagged
        // only half again above the earlier months: at this scale a
        // hospital's honest month of a few cases varies by a fifth or more.
        body.upcoding_rise = Bp(5_000);
        body.upcoding_min_cases = 15;
        body
    }

    /// The upcoding hospital's November, coded by cost as every case is,
    /// then its December: cases of ordinary cost, all coded to the
    /// catalogue's heaviest group. November gives the signal a baseline
    /// however small the population.
    pub(super) fn upcoding(&mut self) -> Result<(), ScenarioError> {
        let lines = self.upcoding_month(11, false);
        self.push("upcoding-baseline".into(), lines)?;
        let lines = self.upcoding_month(12, true);
        self.push("upcoding".into(), lines)
    }

    fn upcoding_month(&mut self, month: u32, upcoded: bool) -> Vec<Submission> {
        let region: RegionCode = label("440300");
        let hospital = upcoding_hospital();
        debug_assert!(self
            .world
            .hospitals(&region, InstitutionLevel::Secondary)
            .contains(&hospital));
        let heaviest = default_payment_policy(PaymentMethod::Drg, region.clone(), YEAR)
            .groups
            .into_iter()
            .max_by_key(|g| g.points)
            .map(|g| g.code)
            .unwrap_or_else(|| label("IB13"));
        let people: Vec<usize> = (0..self.world.people.len())
            .filter(|p| self.world.people[*p].region == region)
            .take(UPCODED_CASES)
            .collect();
        let mut lines = Vec::new();
        for (day, p) in people.into_iter().enumerate() {
            let (in_scope, group) = if upcoded {
                (self.rng.gen_range(1_400_000..=2_400_000), heaviest.clone())
            } else {
                let in_scope = self.rng.gen_range(800_000..=2_000_000);
                let group = self.world.group_for(in_scope).unwrap_or(heaviest.clone());
                (in_scope, group)
            };
            let line = self.world.coded_claim(
                &mut self.rng,
                p,
                hospital.clone(),
                InstitutionLevel::Secondary,
                date(YEAR.into(), month, day as u32 + 1),
                group,
                in_scope,
            );
            lines.push(self.add_claim(p, line, super::Special::None));
        }
        lines
    }

    /// A settlement one fen short of the budget (refused), then each
    /// grouped prefecture's settlement as the rules compute it.
    pub(super) fn settlements(&mut self) -> Result<(), ScenarioError> {
        let mut due = Vec::new();
        for (region, _) in GROUPED {
            let body = settlement_due(self.sim.state(), &label(region), YEAR)?;
            due.extend(body);
        }
        if let Some(first) = due.first() {
            let mut short = first.clone();
            if let Some(line) = short.lines.iter_mut().find(|l| !l.amount.is_zero()) {
                line.amount = line
                    .amount
                    .saturating_sub(Amount::from_fen(1).unwrap_or_default());
            }
            let refused = Submission {
                role: Role::Insurance,
                line: SubmissionLine::PeriodSettlement(short),
                expect: Expect::Reject(RuleCode::SettlementMismatch),
            };
            self.push("settlement-refused".into(), vec![refused])?;
        }
        let lines = due
            .into_iter()
            .map(|body| Submission {
                role: Role::Insurance,
                line: SubmissionLine::PeriodSettlement(body),
                expect: Expect::Accept,
            })
            .collect();
        self.push("settlement".into(), lines)
    }
}
