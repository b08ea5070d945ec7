//! Stable outcome codes. A code is part of the chain's history: once a block
//! records one it must keep its spelling forever, so codes are only added.

use fundtrail_ledger::block::Code;

/// Every rejection and signal code the rules can emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RuleCode {
    // identity and roles
    UnknownKey,
    RoleNotAllowed,
    MissingApproval,
    Quorum,
    UnknownOrg,
    DuplicateRecord,
    // rules versions
    UnknownRulesVersion,
    BadActivation,
    // references
    UnknownClaim,
    UnknownRecord,
    UnknownFund,
    NoPolicy,
    // claims and filings
    DuplicateClaim,
    NoFiling,
    NotEligible,
    // payouts
    DuplicatePayment,
    AboveEntitlement,
    TierOrder,
    AnnualCap,
    WrongFund,
    InsufficientFunds,
    // reversals and clearing
    AlreadyReversed,
    NotReversible,
    AlreadyCleared,
    ClearingMismatch,
    // signals (never reject)
    HighCost,
    SplitAdmission,
    FrequentRegionChange,
}

impl RuleCode {
    pub fn as_str(self) -> &'static str {
        use RuleCode::*;
        match self {
            UnknownKey => "UNKNOWN_KEY",
            RoleNotAllowed => "ROLE_NOT_ALLOWED",
            MissingApproval => "MISSING_APPROVAL",
            Quorum => "QUORUM",
            UnknownOrg => "UNKNOWN_ORG",
            DuplicateRecord => "DUPLICATE_RECORD",
            UnknownRulesVersion => "UNKNOWN_RULES_VERSION",
            BadActivation => "BAD_ACTIVATION",
            UnknownClaim => "UNKNOWN_CLAIM",
            UnknownRecord => "UNKNOWN_RECORD",
            UnknownFund => "UNKNOWN_FUND",
            NoPolicy => "NO_POLICY",
            DuplicateClaim => "DUPLICATE_CLAIM",
            NoFiling => "NO_FILING",
            NotEligible => "NOT_ELIGIBLE",
            DuplicatePayment => "DUPLICATE_PAYMENT",
            AboveEntitlement => "ABOVE_ENTITLEMENT",
            TierOrder => "TIER_ORDER",
            AnnualCap => "ANNUAL_CAP",
            WrongFund => "WRONG_FUND",
            InsufficientFunds => "INSUFFICIENT_FUNDS",
            AlreadyReversed => "ALREADY_REVERSED",
            NotReversible => "NOT_REVERSIBLE",
            AlreadyCleared => "ALREADY_CLEARED",
            ClearingMismatch => "CLEARING_MISMATCH",
            HighCost => "HIGH_COST",
            SplitAdmission => "SPLIT_ADMISSION",
            FrequentRegionChange => "FREQUENT_REGION_CHANGE",
        }
    }

    /// The code as it appears in an [`fundtrail_ledger::Outcome`].
    pub fn code(self) -> Code {
        Code::new(self.as_str()).expect("rule codes are valid labels")
    }
}

impl std::fmt::Display for RuleCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
