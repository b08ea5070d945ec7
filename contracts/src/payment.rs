//! Payment by groups (DRG/DIP), as pure functions of the payment policy:
//! a case's standard, outlier class, points and the institution's
//! entitlement from the basic fund; and the period settlement by points,
//! exact to the fen by largest remainder (docs/RULES.md, "payment by
//! groups"). Integer arithmetic on fen, basis points and points only.

use fundtrail_ledger::record::{
    GroupStandard, PaymentMethod, PaymentPolicyBody, PeriodSettlementBody, SettlementLine,
};
use fundtrail_ledger::types::{Amount, Bp, GroupCode, InstitutionId, RegionCode};

use crate::error::ExecError;
use crate::model::{key, PaymentYear};
use crate::state::{BlockOverlay, State};

const BP: u128 = 10_000;

/// How a case is paid against its group's standard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseClass {
    /// Paid the standard; counts its group's points.
    Normal,
    /// In-scope bill above `high_cost_ratio` × standard: paid by item.
    HighCost,
    /// In-scope bill below `low_cost_ratio` × standard: paid by item.
    LowCost,
}

/// One inpatient case under group payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CasePayment {
    /// The group's standard per case.
    pub standard: Amount,
    pub class: CaseClass,
    /// What the case counts in the period settlement: the group's points,
    /// or for an outlier the points in proportion to its bill.
    pub points: u64,
    /// The institution's entitlement from the basic fund for the case.
    pub entitlement: Amount,
}

/// The institution side of an accepted grouped claim, as stored under
/// `gcase/<claim>`: beside the claim's patient-side quote, never mixed
/// into it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupCase {
    pub institution: InstitutionId,
    pub group: GroupCode,
    /// The basic tier by item at claim time (the one-stop quote).
    pub itemised: Amount,
    pub payment: CasePayment,
}

fn fen(amount: u128) -> Amount {
    Amount::from_fen(
        u64::try_from(amount)
            .unwrap_or(Amount::MAX_FEN)
            .min(Amount::MAX_FEN),
    )
    .unwrap_or(Amount::ZERO)
}

/// `n ÷ d` rounded half up (`d > 0`).
fn div_round(n: u128, d: u128) -> u128 {
    (n + d / 2) / d
}

/// The standard per case of a group with `points`.
pub fn standard(policy: &PaymentPolicyBody, points: u32) -> Amount {
    let product = u128::from(policy.base_rate.fen()) * u128::from(points);
    match policy.method {
        PaymentMethod::Drg => fen(div_round(product, 100)),
        PaymentMethod::Dip => fen(product),
        PaymentMethod::Itemised => Amount::ZERO,
    }
}

/// The payment of one case of `group` whose in-scope bill is `in_scope`
/// and whose basic tier by item (the one-stop quote) is `itemised`.
pub fn case_payment(
    policy: &PaymentPolicyBody,
    group: &GroupStandard,
    in_scope: Amount,
    itemised: Amount,
) -> CasePayment {
    let standard = standard(policy, group.points);
    let (bill, std) = (u128::from(in_scope.fen()), u128::from(standard.fen()));
    let class = if bill * BP > std * u128::from(policy.high_cost_ratio.0) {
        CaseClass::HighCost
    } else if bill * BP < std * u128::from(policy.low_cost_ratio.0) {
        CaseClass::LowCost
    } else {
        CaseClass::Normal
    };
    let group_points = u64::from(group.points);
    let (points, entitlement) = match class {
        CaseClass::Normal => {
            let patient_side = in_scope.saturating_sub(itemised);
            (group_points, standard.saturating_sub(patient_side))
        }
        _ if std == 0 => (group_points, itemised),
        _ => {
            let points = div_round(u128::from(group_points) * bill, std);
            (u64::try_from(points).unwrap_or(u64::MAX), itemised)
        }
    };
    CasePayment {
        standard,
        class,
        points,
        entitlement,
    }
}

/// Whether `bill` is below `ratio` × `standard` (the low-standard
/// admission signal).
pub fn below_share(bill: Amount, standard: Amount, ratio: Bp) -> bool {
    u128::from(bill.fen()) * BP < u128::from(standard.fen()) * u128::from(ratio.0)
}

/// Splits `total` in proportion to `weights` by largest remainder: each
/// share is rounded down, and the units left over go one each to the
/// largest remainders, equal remainders to the earlier entry. `None` when
/// every weight is zero but `total` is not.
pub fn apportion(total: u64, weights: &[u64]) -> Option<Vec<u64>> {
    let sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if sum == 0 {
        return (total == 0).then(|| vec![0; weights.len()]);
    }
    let exact: Vec<(u128, u128)> = weights
        .iter()
        .map(|w| {
            let n = u128::from(total) * u128::from(*w);
            (n / sum, n % sum)
        })
        .collect();
    let mut shares: Vec<u64> = exact.iter().map(|(q, _)| *q as u64).collect();
    let given: u64 = shares.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| exact[*b].1.cmp(&exact[*a].1).then(a.cmp(b)));
    for i in order.into_iter().take((total - given) as usize) {
        shares[i] += 1;
    }
    Some(shares)
}

/// One institution's part of a period settlement, in fen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettledInstitution {
    pub institution: InstitutionId,
    pub points: u64,
    pub itemised: u64,
    /// Its cases' entitlements by group standard.
    pub entitled: u64,
    /// Its points' share of the budget (points × point value).
    pub by_points: u64,
    /// The part of its surplus it does not keep (1 − retention).
    pub given_back: u64,
    /// The fund's share of its overspend it receives.
    pub shared: u64,
    /// Its points' share of what the overspends left of the pool.
    pub pool_rest: u64,
    /// What it is paid: by points − given back + shared + pool rest.
    pub amount: u64,
}

/// A period settlement as the rule computes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub budget: u64,
    pub total_points: u64,
    pub lines: Vec<SettledInstitution>,
}

impl Settlement {
    /// The point value, yuan per point, as an exact fraction of fen:
    /// `(budget fen, total points)`.
    pub fn point_value(&self) -> (u64, u64) {
        (self.budget, self.total_points)
    }

    /// The settlement as a record body.
    pub fn body(&self, region: RegionCode, year: u16) -> PeriodSettlementBody {
        PeriodSettlementBody {
            region,
            year,
            budget: fen(u128::from(self.budget)),
            lines: self
                .lines
                .iter()
                .map(|l| SettlementLine {
                    institution: l.institution.clone(),
                    points: l.points,
                    itemised: fen(u128::from(l.itemised)),
                    entitled: fen(u128::from(l.entitled)),
                    amount: fen(u128::from(l.amount)),
                })
                .collect(),
        }
    }
}

/// The period settlement of `year`'s cases under `policy`:
/// 1. each institution's points share of the budget (largest remainder);
/// 2. a surplus against itemised cost gives back `1 − retention` of
///    itself into a pool; an overspend claims `overspend_share` of itself;
/// 3. the pool pays the claims in full if it can (the rest of the pool
///    goes back to all by points), else pro rata to the claims.
///
/// The amounts sum to the budget exactly. `None` when no case has points.
pub fn settle(policy: &PaymentPolicyBody, year: &PaymentYear) -> Option<Settlement> {
    let points: Vec<u64> = year.institutions.iter().map(|i| i.points).collect();
    let total_points: u128 = points.iter().map(|p| u128::from(*p)).sum();
    if total_points == 0 {
        return None;
    }
    let budget = policy.budget.fen();
    let by_points = apportion(budget, &points)?;
    let mut given_back = Vec::with_capacity(points.len());
    let mut claims = Vec::with_capacity(points.len());
    for (inst, base) in year.institutions.iter().zip(&by_points) {
        let itemised = inst.itemised.fen();
        let surplus = Amount::from_fen(base.saturating_sub(itemised)).unwrap_or(Amount::ZERO);
        let overspend = Amount::from_fen(itemised.saturating_sub(*base)).unwrap_or(Amount::ZERO);
        given_back.push(surplus.fen() - surplus.mul_bp(policy.retention).fen());
        claims.push(overspend.mul_bp(policy.overspend_share).fen());
    }
    let pool: u64 = given_back.iter().sum();
    let claimed: u128 = claims.iter().map(|c| u128::from(*c)).sum();
    let (shared, rest) = if claimed <= u128::from(pool) {
        (claims, apportion(pool - claimed as u64, &points)?)
    } else {
        (apportion(pool, &claims)?, vec![0; points.len()])
    };
    let lines = year
        .institutions
        .iter()
        .enumerate()
        .map(|(i, inst)| SettledInstitution {
            institution: inst.institution.clone(),
            points: inst.points,
            itemised: inst.itemised.fen(),
            entitled: inst.entitled.fen(),
            by_points: by_points[i],
            given_back: given_back[i],
            shared: shared[i],
            pool_rest: rest[i],
            amount: by_points[i] - given_back[i] + shared[i] + rest[i],
        })
        .collect();
    Some(Settlement {
        budget,
        total_points: u64::try_from(total_points).unwrap_or(u64::MAX),
        lines,
    })
}

/// The settlement the rules would accept now for `region` and `year`, as
/// a record body: `None` without a group-payment policy, without cases, or
/// once the year is settled.
pub fn settlement_due(
    state: &dyn State,
    region: &RegionCode,
    year: u16,
) -> Result<Option<PeriodSettlementBody>, ExecError> {
    let mut overlay = BlockOverlay::new(state);
    let tx = overlay.tx();
    let Some(policy) = tx.load::<PaymentPolicyBody>(&key::payment_policy(region, year))? else {
        return Ok(None);
    };
    let ledger: PaymentYear = tx
        .load(&key::payment_year(region, year))?
        .unwrap_or_default();
    if ledger.settled.is_some() || policy.method == PaymentMethod::Itemised {
        return Ok(None);
    }
    Ok(settle(&policy, &ledger).map(|s| s.body(region.clone(), year)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_sums_exactly_and_breaks_ties_by_order() {
        assert_eq!(apportion(100, &[1, 1, 1]), Some(vec![34, 33, 33]));
        assert_eq!(apportion(10, &[0, 5, 5]), Some(vec![0, 5, 5]));
        assert_eq!(apportion(7, &[2, 3, 5]), Some(vec![1, 2, 4]));
        assert_eq!(apportion(1, &[0, 0]), None);
        assert_eq!(apportion(0, &[0, 0]), Some(vec![0, 0]));
    }

    #[test]
    fn extreme_values_saturate_and_still_sum_to_the_budget() {
        use crate::model::InstitutionCases;
        use fundtrail_ledger::types::Bp;
        let max = Amount::from_fen(Amount::MAX_FEN).unwrap();
        let policy = PaymentPolicyBody {
            region: "440100".parse().unwrap(),
            year: 2026,
            method: PaymentMethod::Dip,
            base_rate: Amount::from_fen(1).unwrap(),
            groups: vec![GroupStandard {
                code: "G1".parse().unwrap(),
                points: u32::MAX,
            }],
            high_cost_ratio: Bp(u16::MAX),
            low_cost_ratio: Bp(0),
            budget: max,
            retention: Bp(0),
            overspend_share: Bp(10_000),
            upcoding_rise: Bp(0),
            upcoding_min_cases: 0,
            low_standard_ratio: Bp(0),
        };
        let case = case_payment(&policy, &policy.groups[0], max, max);
        assert_eq!(case.class, CaseClass::HighCost);
        // Points follow cost: at most the bill over the rate per point.
        assert_eq!(case.points, Amount::MAX_FEN);
        let inst = |n: u8, points, itemised| InstitutionCases {
            institution: format!("H{n}").parse().unwrap(),
            cases: 1,
            points,
            itemised,
            entitled: Amount::ZERO,
            months: Vec::new(),
        };
        let year = PaymentYear {
            institutions: vec![
                inst(1, u64::MAX, Amount::ZERO),
                inst(2, u64::MAX, max),
                inst(3, 1, max),
            ],
            settled: None,
        };
        let s = settle(&policy, &year).unwrap();
        assert_eq!(s.total_points, u64::MAX);
        let total: u128 = s.lines.iter().map(|l| u128::from(l.amount)).sum();
        assert_eq!(total, u128::from(Amount::MAX_FEN));
    }
}
