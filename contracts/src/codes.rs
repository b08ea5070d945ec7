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
    // disclosure grants
    NotAGrant,
    GrantUsedUp,
    GrantExpired,
    WrongTarget,
    // payment by groups (rules version 4)
    NotInRulesVersion,
    UnknownGroup,
    AlreadySettled,
    SettlementMismatch,
    Upcoding,
    LowStandardAdmission,
    GroupReadmission,
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
            NotAGrant => "NOT_A_GRANT",
            GrantUsedUp => "GRANT_USED_UP",
            GrantExpired => "GRANT_EXPIRED",
            WrongTarget => "WRONG_TARGET",
            NotInRulesVersion => "NOT_IN_RULES_VERSION",
            UnknownGroup => "UNKNOWN_GROUP",
            AlreadySettled => "ALREADY_SETTLED",
            SettlementMismatch => "SETTLEMENT_MISMATCH",
            Upcoding => "UPCODING",
            LowStandardAdmission => "LOW_STANDARD_ADMISSION",
            GroupReadmission => "GROUP_READMISSION",
        }
    }

    /// Every code, in declaration order; codes are only ever added.
    pub const ALL: [RuleCode; 39] = {
        use RuleCode::*;
        [
            UnknownKey,
            RoleNotAllowed,
            MissingApproval,
            Quorum,
            UnknownOrg,
            DuplicateRecord,
            UnknownRulesVersion,
            BadActivation,
            UnknownClaim,
            UnknownRecord,
            UnknownFund,
            NoPolicy,
            DuplicateClaim,
            NoFiling,
            NotEligible,
            DuplicatePayment,
            AboveEntitlement,
            TierOrder,
            AnnualCap,
            WrongFund,
            InsufficientFunds,
            AlreadyReversed,
            NotReversible,
            AlreadyCleared,
            ClearingMismatch,
            HighCost,
            SplitAdmission,
            FrequentRegionChange,
            NotAGrant,
            GrantUsedUp,
            GrantExpired,
            WrongTarget,
            NotInRulesVersion,
            UnknownGroup,
            AlreadySettled,
            SettlementMismatch,
            Upcoding,
            LowStandardAdmission,
            GroupReadmission,
        ]
    };

    /// The code with this spelling, if this build knows it.
    pub fn parse(code: &str) -> Option<RuleCode> {
        RuleCode::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// What the code means, in a sentence for readers who do not know the
    /// rules (the audit report shows it beside the code).
    pub fn meaning(self) -> &'static str {
        use RuleCode::*;
        match self {
            UnknownKey => "submitter key not enrolled or revoked",
            RoleNotAllowed => "key role or organisation may not submit this kind of record",
            MissingApproval => {
                "too few officer approvals (large payout, fund transfer or disclosure)"
            }
            Quorum => "membership change without a quorum of organisations",
            UnknownOrg => "organisation is not a member",
            DuplicateRecord => "the same signed record submitted again",
            UnknownRulesVersion => "rules version unknown to this build",
            BadActivation => "rules activation not after the current block",
            UnknownClaim => "payout on a claim never accepted",
            UnknownRecord => "refers to a record never executed",
            UnknownFund => "fund does not exist",
            NoPolicy => "no policy for the insured region and date",
            DuplicateClaim => "the same bill claimed twice",
            NoFiling => "care outside the insured region without a filing",
            NotEligible => "assistance without eligibility on the service date",
            DuplicatePayment => "second payout of the same tier on a claim",
            AboveEntitlement => "amount above the computed entitlement",
            TierOrder => "tiers paid out of order",
            AnnualCap => "amount above the annual cap",
            WrongFund => "payout drawn on another tier's or region's fund",
            InsufficientFunds => "fund balance does not cover the amount",
            AlreadyReversed => "record reversed before",
            NotReversible => "target is no payout or fund credit",
            AlreadyCleared => "payout already settled by a clearing",
            ClearingMismatch => "clearing amount or claim set does not match",
            HighCost => "person's yearly out-of-pocket above the high-cost line",
            SplitAdmission => "inpatient readmission within the readmission window",
            FrequentRegionChange => "care region changed unusually often",
            NotAGrant => "fetch under a record that grants no fetch (no accepted disclosure)",
            GrantUsedUp => "fetch beyond the number the disclosure granted",
            GrantExpired => "fetch after the disclosure's validity window",
            WrongTarget => "fetch naming another target than its disclosure's",
            NotInRulesVersion => "record kind not available under the rules version in force",
            UnknownGroup => "inpatient claim in a grouped region without a catalogue group",
            AlreadySettled => "the region's payment year is settled already",
            SettlementMismatch => {
                "period settlement that does not match the points, the budget or the rule"
            }
            Upcoding => "institution's case-mix index jumped above its earlier months",
            LowStandardAdmission => "inpatient bill far below its group's standard",
            GroupReadmission => "readmission into the same group within the readmission window",
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
