//! Payment by groups as the chain shows it, per care region and year: each
//! catalogue group's cases and mean in-scope bill against its standard;
//! each institution's case mix, payment signals and, once settled, its
//! points, itemised cost, settlement and surplus or overspend; and the
//! period settlement itself. Built from accepted `payment_policy`, claim
//! and `period_settlement` records alone, with the contracts' formulas.

use std::collections::BTreeMap;

use fundtrail_contracts::payment::standard;
use fundtrail_ledger::block::{Code, Outcome};
use fundtrail_ledger::record::{
    ClaimBody, PaymentMethod, PaymentPolicyBody, PeriodSettlementBody, RecordId,
};
use fundtrail_ledger::types::{Admission, Amount, GroupCode, Height, InstitutionId, RegionCode};
use serde::{Deserialize, Serialize};

use super::funds::plus;

/// Signals the institution table counts, in its column order.
pub const PAYMENT_SIGNALS: [&str; 3] = ["UPCODING", "LOW_STANDARD_ADMISSION", "GROUP_READMISSION"];

/// One care region's year of payment by groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionPayment {
    pub region: RegionCode,
    pub year: u16,
    pub method: PaymentMethod,
    pub budget: Amount,
    pub groups: Vec<GroupRow>,
    pub institutions: Vec<PaymentInstitutionRow>,
    pub settlement: Option<SettlementSeen>,
    /// Period settlements for this region and year the rules refused.
    pub settlements_refused: u64,
}

/// One catalogue group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRow {
    pub code: GroupCode,
    pub points: u32,
    /// Standard per case under the region's latest payment policy.
    pub standard: Amount,
    pub cases: u64,
    /// Mean in-scope bill of its cases (rounded down to the fen).
    pub mean_bill: Amount,
    /// Mean bill ÷ standard, in basis points (10,000 = the standard).
    pub ratio_bp: u64,
}

/// One institution with grouped cases.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentInstitutionRow {
    pub institution: InstitutionId,
    pub cases: u64,
    /// Case-mix index × 10,000: its mean catalogue points per case ÷ the
    /// region's (10,000 = the region's mix).
    pub case_mix_bp: u64,
    /// Payment signals raised on its cases, by code.
    pub signals: BTreeMap<Code, u64>,
    /// From the accepted settlement, when there is one.
    pub settled: Option<SettledRow>,
}

/// An institution's line of the accepted settlement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettledRow {
    pub points: u64,
    pub itemised: Amount,
    /// Its cases' entitlements by group standard.
    pub entitled: Amount,
    pub amount: Amount,
    /// `amount − itemised` when positive.
    pub surplus: Amount,
    /// `itemised − amount` when positive.
    pub overspend: Amount,
}

/// The accepted period settlement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementSeen {
    pub height: Height,
    pub record_id: RecordId,
    pub total_points: u64,
    /// Budget ÷ total points, yuan per point, to four decimals (rounded down).
    pub point_value: String,
    pub paid: Amount,
}

#[derive(Default)]
struct GroupTally {
    cases: u64,
    bills: u64,
}

#[derive(Default)]
struct InstitutionTally {
    cases: u64,
    group_points: u64,
    signals: BTreeMap<Code, u64>,
}

struct RegionBook {
    policy: PaymentPolicyBody,
    groups: BTreeMap<GroupCode, GroupTally>,
    institutions: BTreeMap<InstitutionId, InstitutionTally>,
    settlement: Option<(Height, RecordId, PeriodSettlementBody)>,
    refused: u64,
}

#[derive(Default)]
pub(crate) struct PaymentBook {
    regions: BTreeMap<(RegionCode, u16), RegionBook>,
}

impl PaymentBook {
    pub fn policy(&mut self, body: &PaymentPolicyBody) {
        let key = (body.region.clone(), body.year);
        match self.regions.get_mut(&key) {
            Some(book) => book.policy = body.clone(),
            None => {
                self.regions.insert(
                    key,
                    RegionBook {
                        policy: body.clone(),
                        groups: BTreeMap::new(),
                        institutions: BTreeMap::new(),
                        settlement: None,
                        refused: 0,
                    },
                );
            }
        }
    }

    /// Books an accepted claim if it is a grouped case.
    pub fn claim(&mut self, body: &ClaimBody, outcome: &Outcome) {
        if body.admission != Admission::Inpatient {
            return;
        }
        let year = u16::try_from(body.service_date.year()).unwrap_or(u16::MAX);
        let Some(book) = self.regions.get_mut(&(body.care_region.clone(), year)) else {
            return;
        };
        if book.policy.method == PaymentMethod::Itemised {
            return;
        }
        let Some(group) = body
            .drg_or_dip_group
            .as_ref()
            .and_then(|g| book.policy.group(g))
        else {
            return;
        };
        let g = book.groups.entry(group.code.clone()).or_default();
        g.cases += 1;
        g.bills = g.bills.saturating_add(body.in_scope.fen());
        let i = book
            .institutions
            .entry(body.institution.clone())
            .or_default();
        i.cases += 1;
        i.group_points = i.group_points.saturating_add(u64::from(group.points));
        for signal in &outcome.signals {
            if PAYMENT_SIGNALS.contains(&signal.as_str()) {
                *i.signals.entry(signal.clone()).or_default() += 1;
            }
        }
    }

    pub fn settlement(
        &mut self,
        height: Height,
        id: RecordId,
        body: &PeriodSettlementBody,
        accepted: bool,
    ) {
        let Some(book) = self.regions.get_mut(&(body.region.clone(), body.year)) else {
            return;
        };
        if accepted {
            book.settlement = Some((height, id, body.clone()));
        } else {
            book.refused += 1;
        }
    }

    pub fn finish(self) -> Vec<RegionPayment> {
        self.regions
            .into_iter()
            .map(|((region, year), book)| book.finish(region, year))
            .collect()
    }
}

impl RegionBook {
    fn finish(self, region: RegionCode, year: u16) -> RegionPayment {
        let policy = &self.policy;
        let groups = policy
            .groups
            .iter()
            .map(|g| {
                let tally = self.groups.get(&g.code);
                let (cases, bills) = tally.map_or((0, 0), |t| (t.cases, t.bills));
                let standard = standard(policy, g.points);
                let mean = bills.checked_div(cases).unwrap_or(0);
                GroupRow {
                    code: g.code.clone(),
                    points: g.points,
                    standard,
                    cases,
                    mean_bill: Amount::from_fen(mean).unwrap_or(Amount::ZERO),
                    ratio_bp: ratio_bp(mean, standard.fen()),
                }
            })
            .collect();
        let (all_cases, all_points) = self.institutions.values().fold((0u64, 0u64), |(c, p), i| {
            (c + i.cases, p.saturating_add(i.group_points))
        });
        let lines: BTreeMap<&InstitutionId, _> = self
            .settlement
            .iter()
            .flat_map(|(_, _, s)| s.lines.iter().map(|l| (&l.institution, l)))
            .collect();
        let institutions = self
            .institutions
            .iter()
            .map(|(id, t)| PaymentInstitutionRow {
                institution: id.clone(),
                cases: t.cases,
                case_mix_bp: case_mix_bp(t.group_points, t.cases, all_points, all_cases),
                signals: t.signals.clone(),
                settled: lines.get(id).map(|l| SettledRow {
                    points: l.points,
                    itemised: l.itemised,
                    entitled: l.entitled,
                    amount: l.amount,
                    surplus: l.amount.saturating_sub(l.itemised),
                    overspend: l.itemised.saturating_sub(l.amount),
                }),
            })
            .collect();
        let settlement = self.settlement.as_ref().map(|(height, id, s)| {
            let total_points = s.lines.iter().fold(0u64, |t, l| t.saturating_add(l.points));
            let paid = s.lines.iter().fold(Amount::ZERO, |t, l| plus(t, l.amount));
            SettlementSeen {
                height: *height,
                record_id: *id,
                total_points,
                point_value: point_value(s.budget.fen(), total_points),
                paid,
            }
        });
        RegionPayment {
            region,
            year,
            method: policy.method,
            budget: policy.budget,
            groups,
            institutions,
            settlement,
            settlements_refused: self.refused,
        }
    }
}

fn ratio_bp(part: u64, whole: u64) -> u64 {
    (u128::from(part) * 10_000)
        .checked_div(u128::from(whole))
        .map_or(0, |r| r as u64)
}

/// `(points ÷ cases) ÷ (all points ÷ all cases)` × 10,000.
fn case_mix_bp(points: u64, cases: u64, all_points: u64, all_cases: u64) -> u64 {
    let num = u128::from(points) * u128::from(all_cases) * 10_000;
    let den = u128::from(cases) * u128::from(all_points);
    num.checked_div(den).map_or(0, |r| r as u64)
}

/// `budget fen ÷ points` as yuan with four decimals, rounded down.
pub fn point_value(budget_fen: u64, points: u64) -> String {
    let Some(ten_thousandths) = (u128::from(budget_fen) * 100).checked_div(u128::from(points))
    else {
        return "—".into();
    };
    format!(
        "{}.{:04}",
        ten_thousandths / 10_000,
        ten_thousandths % 10_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_value_and_ratios_are_exact_integers() {
        assert_eq!(point_value(9_000_000, 1_320), "68.1818");
        assert_eq!(point_value(1, 0), "—");
        assert_eq!(ratio_bp(15_000, 10_000), 15_000);
        assert_eq!(case_mix_bp(250, 1, 340, 2), 14_705);
    }
}
