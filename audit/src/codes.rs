//! Plain-language meanings of the contracts' rejection and signal codes
//! (docs/RULES.md), for readers of the report who do not know the rules.

use fundtrail_contracts::RuleCode;

/// Every code this build knows; codes are only ever added.
const KNOWN: [RuleCode; 28] = {
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
    ]
};

/// What `code` means, if this build knows it.
pub fn meaning(code: &str) -> Option<&'static str> {
    KNOWN
        .iter()
        .find(|c| c.as_str() == code)
        .map(|c| describe(*c))
}

fn describe(code: RuleCode) -> &'static str {
    use RuleCode::*;
    match code {
        UnknownKey => "submitter key not enrolled or revoked",
        RoleNotAllowed => "organisation may not submit this kind of record",
        MissingApproval => "too few officer approvals for the amount",
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
        WrongFund => "payout drawn on another tier's fund",
        InsufficientFunds => "fund balance does not cover the amount",
        AlreadyReversed => "record reversed before",
        NotReversible => "target is no payout or fund credit",
        AlreadyCleared => "payout already settled by a clearing",
        ClearingMismatch => "clearing amount or claim set does not match",
        HighCost => "person's yearly out-of-pocket above the high-cost line",
        SplitAdmission => "inpatient readmission within the readmission window",
        FrequentRegionChange => "care region changed unusually often",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_has_a_meaning_by_name() {
        for code in KNOWN {
            assert_eq!(meaning(code.as_str()), Some(describe(code)));
        }
        assert_eq!(meaning("NOT_A_CODE"), None);
    }
}
