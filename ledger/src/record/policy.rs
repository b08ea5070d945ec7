//! Scheme parameters carried by `policy` records (design §5). Pure data: the
//! contract engine gives them meaning. Ratios are basis points, money is
//! [`Amount`]; no floats anywhere.

use serde::{Deserialize, Serialize};

use crate::types::{Amount, Bp, Category, Date, InstitutionLevel, RegionCode};

/// Parameters of one region for one policy year.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    pub region: RegionCode,
    pub year: u16,
    pub effective_from: Date,
    pub params: PolicyParams,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyParams {
    pub basic: BasicParams,
    pub critical_illness: CriticalIllnessParams,
    pub supplementary: SupplementaryParams,
    /// One entry per assistance category; a category without an entry gets
    /// no assistance.
    pub assistance: Vec<AssistanceParams>,
    pub approvals: ApprovalParams,
    pub signals: SignalParams,
}

/// Reimbursement ratio by institution level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelRatios {
    pub grassroots: Bp,
    pub secondary: Bp,
    pub tertiary: Bp,
}

impl LevelRatios {
    pub fn at(&self, level: InstitutionLevel) -> Bp {
        match level {
            InstitutionLevel::Grassroots => self.grassroots,
            InstitutionLevel::Secondary => self.secondary,
            InstitutionLevel::Tertiary => self.tertiary,
        }
    }
}

/// 基本医保.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicParams {
    /// Annual deductible (起付线) per person.
    pub deductible: Amount,
    /// Annual payout cap (封顶线) per person.
    pub annual_cap: Amount,
    pub resident_ratio: LevelRatios,
    pub employee_ratio: LevelRatios,
    /// Categories whose deductible is waived ...
    pub deductible_waived_for: Vec<Category>,
    /// ... at these institution levels.
    pub deductible_waived_at: Vec<InstitutionLevel>,
}

/// 大病保险, on the in-scope remainder after basic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticalIllnessParams {
    pub deductible: Amount,
    pub ratio: Bp,
    pub annual_cap: Amount,
    /// Categories treated as poor: lower deductible, higher ratio, and no cap
    /// when `poor_cap_exempt`.
    pub poor_categories: Vec<Category>,
    pub poor_deductible: Amount,
    pub poor_ratio: Bp,
    pub poor_cap_exempt: bool,
}

/// Optional commercial supplementary insurance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplementaryParams {
    pub ratio_in_catalogue: Bp,
    pub ratio_out_of_catalogue: Bp,
    pub annual_cap: Amount,
}

/// 医疗救助 for one eligibility category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistanceParams {
    pub category: Category,
    pub ratio: Bp,
    pub deductible: Amount,
    pub annual_cap: Amount,
}

/// Separation of duties on large payouts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalParams {
    /// Payouts strictly above this need `required` officer approvals.
    pub threshold: Amount,
    pub required: u8,
}

/// Thresholds for signals (recorded, never rejecting).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalParams {
    pub per_capita_disposable_income: Amount,
    /// Warn when yearly out-of-pocket exceeds this share of the income above.
    pub high_cost_share: Bp,
    /// Readmission of the same person within this many days is a split
    /// admission signal.
    pub readmission_days: u16,
    /// More than `region_change_max` distinct care regions within
    /// `region_change_window_days` is flagged.
    pub region_change_window_days: u16,
    pub region_change_max: u8,
}
