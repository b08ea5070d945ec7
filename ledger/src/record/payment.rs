//! Payment by groups (DRG/DIP) and the period settlement by points
//! (docs/RULES.md, "payment by groups"). Pure data: the contract engine
//! computes standards, points and the settlement. Money is [`Amount`],
//! ratios are basis points, points are integers; no floats.

use serde::{Deserialize, Serialize};

use crate::types::{Amount, Bp, GroupCode, InstitutionId, RegionCode};

/// How a region pays its institutions for inpatient care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// By item (按项目): no group standard, no points.
    Itemised,
    /// Diagnosis-related groups: a group's standard is its points (relative
    /// weight × 100) × `base_rate` ÷ 100.
    Drg,
    /// Disease-and-procedure scores (分值): a group's standard is its points
    /// × `base_rate` (the expected point value).
    Dip,
}

/// One group of the catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupStandard {
    pub code: GroupCode,
    /// DRG: relative weight × 100 (weight 1.25 is 125); DIP: the score.
    pub points: u32,
}

/// The payment terms of one care region for one year: how its
/// institutions are paid for inpatient cases, the group catalogue, the
/// outlier thresholds, the annual budget the period settlement divides,
/// and the thresholds of the payment signals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentPolicyBody {
    /// The region whose institutions are paid this way (the care region).
    pub region: RegionCode,
    pub year: u16,
    pub method: PaymentMethod,
    /// DRG: yuan for relative weight 1.00 (100 points); DIP: yuan per point.
    pub base_rate: Amount,
    /// Sorted by code, each code once.
    pub groups: Vec<GroupStandard>,
    /// A case whose in-scope bill is above this share of its standard is
    /// a high-cost case (高倍率), paid by item.
    pub high_cost_ratio: Bp,
    /// A case whose in-scope bill is below this share of its standard is
    /// a low-cost case (低倍率), paid by item.
    pub low_cost_ratio: Bp,
    /// 总额预算: what the period settlement divides among institutions.
    pub budget: Amount,
    /// 结余留用: share of a surplus against itemised cost the institution keeps.
    pub retention: Bp,
    /// 超支分担: share of an overspend the fund bears.
    pub overspend_share: Bp,
    /// Upcoding signal: a month's case-mix index this far above the
    /// institution's earlier months of the year.
    pub upcoding_rise: Bp,
    /// Upcoding signal: cases the month and the earlier months each need.
    pub upcoding_min_cases: u32,
    /// Low-standard admission signal: an inpatient bill below this share
    /// of its group's standard.
    pub low_standard_ratio: Bp,
}

impl PaymentPolicyBody {
    /// The catalogue entry of `code`.
    pub fn group(&self, code: &GroupCode) -> Option<&GroupStandard> {
        self.groups
            .binary_search_by(|g| g.code.cmp(code))
            .ok()
            .map(|i| &self.groups[i])
    }
}

/// One institution's line of a period settlement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementLine {
    pub institution: InstitutionId,
    /// Its cases' points in the period.
    pub points: u64,
    /// What the basic fund would have paid for its cases by item.
    pub itemised: Amount,
    /// Its cases' entitlements by group standard (the per-case payment).
    pub entitled: Amount,
    /// What the settlement pays it.
    pub amount: Amount,
}

/// 年终清算 by points: the region's budget divided among its institutions
/// by points, adjusted by retention and sharing. Lines are sorted by
/// institution, one per institution with cases.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodSettlementBody {
    pub region: RegionCode,
    pub year: u16,
    pub budget: Amount,
    pub lines: Vec<SettlementLine>,
}
