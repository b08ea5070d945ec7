//! The body of each record kind (design §3). Bodies carry pseudonyms and
//! commitments, never raw identifiers, and no free text: reasons and purposes
//! are closed enums so nothing personal can be typed into a record.

use serde::{Deserialize, Serialize};

use crate::crypto::PublicKey;
use crate::hash::Hash32;
use crate::pseudonym::{ClaimId, PersonId};
use crate::record::RecordId;
use crate::types::{
    Admission, Amount, Category, Date, FundId, GroupCode, Height, InstitutionId, InstitutionLevel,
    InsuredType, KeyRole, OrgId, RegionCode, Role, Scheme,
};

pub use crate::record::policy::PolicyBody;

/// Membership and rule-version changes; need a quorum of organisations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MemberBody {
    AddOrg {
        org: OrgId,
        role: Role,
    },
    RemoveOrg {
        org: OrgId,
    },
    AddKey {
        org: OrgId,
        key: PublicKey,
        key_role: KeyRole,
    },
    RevokeKey {
        org: OrgId,
        key: PublicKey,
    },
    /// Switch the contract rules to `version` from block `activation` on.
    ScheduleRules {
        version: u32,
        activation: Height,
    },
    /// What an accepted `disclosure` grants from then on: at most
    /// `max_fetches` fetches of the raw bill, each within `valid_days`
    /// days of the block that accepted it (docs/RULES.md, "disclosure").
    DisclosureGrant {
        max_fetches: u16,
        valid_days: u16,
    },
}

/// 民政 eligibility decision for assistance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EligibilityBody {
    pub person: PersonId,
    pub category: Category,
    pub decision: EligibilityDecision,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum EligibilityDecision {
    /// Eligible for service dates in `[valid_from, valid_until]`.
    Grant { valid_from: Date, valid_until: Date },
    /// Not eligible for service dates on or after `effective`.
    Revoke { effective: Date },
}

/// 异地就医备案: permission to receive care outside the insured region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilingBody {
    pub person: PersonId,
    pub insured_region: RegionCode,
    pub care_region: RegionCode,
    pub valid_from: Date,
    pub valid_until: Date,
}

/// A hospital bill, submitted by 卫健 for the institution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    pub claim_id: ClaimId,
    pub person: PersonId,
    pub institution: InstitutionId,
    pub institution_level: InstitutionLevel,
    pub insured_type: InsuredType,
    pub insured_region: RegionCode,
    pub care_region: RegionCode,
    pub service_date: Date,
    pub admission: Admission,
    /// Whole bill.
    pub total: Amount,
    /// Part within the policy catalogue (政策范围内).
    pub in_scope: Amount,
    pub drg_or_dip_group: Option<GroupCode>,
    /// Whether the person holds commercial supplementary cover.
    pub supplementary_cover: bool,
    /// `SHA-256(salt || canonical raw bill)`.
    pub raw_commitment: Hash32,
}

/// An insurance payout on a claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementBody {
    pub claim_id: ClaimId,
    pub scheme: Scheme,
    pub fund_id: FundId,
    pub amount: Amount,
}

/// A medical-assistance payout on a claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistanceBody {
    pub claim_id: ClaimId,
    pub category: Category,
    pub fund_id: FundId,
    pub amount: Amount,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReversalReason {
    DataEntryError,
    DuplicateBilling,
    FraudFinding,
    EligibilityCorrection,
    AppealUpheld,
}

/// Undoes the effect of an earlier accepted record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReversalBody {
    pub target: RecordId,
    pub reason: ReversalReason,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FundSource {
    /// A budget appropriation, identified by its public reference.
    Budget { appropriation: GroupCode },
    /// An authorised move from another fund (needs officer approvals).
    Transfer { from_fund: FundId },
}

/// 财政 money into a fund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundCreditBody {
    pub fund_id: FundId,
    pub amount: Amount,
    pub source: FundSource,
}

/// A calendar month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub year: u16,
    pub month: u8,
}

/// 清算: settles what `to_region` advanced for people insured in
/// `from_region` during `period`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearingBody {
    pub period: Period,
    pub from_region: RegionCode,
    pub to_region: RegionCode,
    pub amount: Amount,
    /// RFC 6962 root over the record ids of the cleared payouts, in order.
    pub claim_set_root: Hash32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisclosurePurpose {
    Audit,
    FraudInvestigation,
    Appeal,
    ClinicalReview,
}

/// A logged request to see the raw record behind `target`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureBody {
    pub target: RecordId,
    pub holder: OrgId,
    pub requester: OrgId,
    pub purpose: DisclosurePurpose,
    /// Public case reference, e.g. an audit file number.
    pub case_ref: Option<GroupCode>,
}

/// One delivery of the raw bill an accepted disclosure granted, signed by
/// the officer of the requesting organisation who receives it. `target`
/// repeats the disclosure's target, so the fetch is in that record's
/// history; the rules refuse a fetch whose target differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureFetchBody {
    pub disclosure: RecordId,
    pub target: RecordId,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("{what}: valid_from {from} is after valid_until {until}")]
    EmptyWindow {
        what: &'static str,
        from: Date,
        until: Date,
    },
    #[error("claim: in_scope {in_scope} exceeds total {total}")]
    InScopeAboveTotal { in_scope: Amount, total: Amount },
    #[error("period month {0} is not 1..=12")]
    BadMonth(u8),
    #[error("policy: ratio {0} basis points exceeds 10000")]
    RatioAbove100(u16),
    #[error("fund credit: transfer from {0} into itself")]
    SelfTransfer(String),
    #[error("{0}: not sorted, or an entry twice")]
    Unsorted(&'static str),
    #[error("payment policy: low-cost ratio {low} above high-cost ratio {high}")]
    OutlierBounds { low: u16, high: u16 },
}
