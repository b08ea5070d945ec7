//! Submission intake: the JSON-lines format departments write, with raw
//! identifiers, and its conversion into record bodies with pseudonyms
//! (docs/SUBMISSION.md).
//!
//! A line names people by 18-character ID-card number and bills by
//! institution plus hospital bill number. [`pseudonymise`] replaces them with
//! the consortium's keyed pseudonyms and, for a claim, commits to the raw bill
//! (`SHA-256(salt || canonical raw bill)`); the raw bill and its salt go back
//! to the caller for the department's private vault. Lines that point at
//! earlier records by bill (reversals, disclosures) or leave a clearing's
//! claim-set root blank are first completed from chain state by [`resolve`].
//!
//! Nothing here ever shows a raw identifier: [`IdCard`], [`BillNo`] and
//! [`RawBill`] hide their values in `Debug`, and every error names the field
//! and the line, never the value.

mod convert;
mod identity;
mod ids;
mod parse;
mod resolve;

use serde::{Deserialize, Serialize};

use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::{
    BodyError, DisclosurePurpose, EligibilityDecision, FundSource, PaymentPolicyBody, Period,
    PeriodSettlementBody, PolicyBody, RecordId, RecordKind, ReversalReason,
};
use fundtrail_ledger::types::{
    Admission, Amount, Category, Date, FundId, GroupCode, InstitutionId, InstitutionLevel,
    InsuredType, OrgId, RegionCode, Scheme,
};

pub use convert::{canonical_raw_bill, pseudonymise, Intake, RawBill, RAW_BILL_DOMAIN};
pub use fundtrail_ledger::lookup::{Lookup, LookupError, PayoutTier};
pub use identity::{check_references, LineIdentity};
pub use ids::{BillNo, BillNoError, IdCard, IdCardError, Reference, ReferenceError};
pub use parse::{parse_file, parse_file_each, parse_line, redact};
pub use resolve::resolve;

/// One line of a submission file: a record as a department writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SubmissionLine {
    Policy(PolicyBody),
    Eligibility(EligibilityLine),
    Filing(FilingLine),
    Claim(ClaimLine),
    Settlement(SettlementLine),
    Assistance(AssistanceLine),
    Reversal(ReversalLine),
    FundCredit(FundCreditLine),
    Clearing(ClearingLine),
    Disclosure(DisclosureLine),
    PaymentPolicy(PaymentPolicyBody),
    PeriodSettlement(PeriodSettlementBody),
}

/// [`EligibilityBody`](fundtrail_ledger::record::EligibilityBody) with the person's ID-card number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EligibilityLine {
    /// The department's own reference, if it has one (docs/SUBMISSION.md).
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    pub id_card: IdCard,
    pub category: Category,
    pub decision: EligibilityDecision,
}

/// [`FilingBody`](fundtrail_ledger::record::FilingBody) with the person's ID-card number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilingLine {
    /// The department's own reference, if it has one (docs/SUBMISSION.md).
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    pub id_card: IdCard,
    pub insured_region: RegionCode,
    pub care_region: RegionCode,
    pub valid_from: Date,
    pub valid_until: Date,
}

/// [`ClaimBody`](fundtrail_ledger::record::ClaimBody) with the ID-card and bill numbers instead of pseudonyms and
/// commitment. The whole line is the raw bill the commitment binds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimLine {
    pub id_card: IdCard,
    pub institution: InstitutionId,
    pub bill_no: BillNo,
    pub institution_level: InstitutionLevel,
    pub insured_type: InsuredType,
    pub insured_region: RegionCode,
    pub care_region: RegionCode,
    pub service_date: Date,
    pub admission: Admission,
    pub total: Amount,
    pub in_scope: Amount,
    #[serde(default)]
    pub drg_or_dip_group: Option<GroupCode>,
    #[serde(default)]
    pub supplementary_cover: bool,
}

/// [`SettlementBody`](fundtrail_ledger::record::SettlementBody) naming the claim by its bill, plus officer approvals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementLine {
    /// The department's own reference, required: the same reference is the
    /// same record, another reference another record (docs/SUBMISSION.md).
    #[serde(rename = "ref")]
    pub reference: Reference,
    pub institution: InstitutionId,
    pub bill_no: BillNo,
    pub scheme: Scheme,
    pub fund_id: FundId,
    pub amount: Amount,
    /// How many officer approvals of the submitting organisation to attach.
    #[serde(default)]
    pub approvals: u8,
}

/// [`AssistanceBody`](fundtrail_ledger::record::AssistanceBody) naming the claim by its bill, plus officer approvals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistanceLine {
    /// The department's own reference, required: the same reference is the
    /// same record, another reference another record (docs/SUBMISSION.md).
    #[serde(rename = "ref")]
    pub reference: Reference,
    pub institution: InstitutionId,
    pub bill_no: BillNo,
    pub category: Category,
    pub fund_id: FundId,
    pub amount: Amount,
    /// How many officer approvals of the submitting organisation to attach.
    #[serde(default)]
    pub approvals: u8,
}

/// The standing payout of one tier on the claim of a bill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutRef {
    pub institution: InstitutionId,
    pub bill_no: BillNo,
    pub tier: PayoutTier,
}

/// An earlier record: by id, or (resolved by [`resolve`]) as a payout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    Record(RecordId),
    Payout(PayoutRef),
}

/// [`ReversalBody`](fundtrail_ledger::record::ReversalBody) with a target that may name a payout by its bill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReversalLine {
    /// The department's own reference, required: the same reference is the
    /// same record, another reference another record (docs/SUBMISSION.md).
    #[serde(rename = "ref")]
    pub reference: Reference,
    pub target: Target,
    pub reason: ReversalReason,
}

/// [`FundCreditBody`](fundtrail_ledger::record::FundCreditBody) plus officer approvals (a transfer needs them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundCreditLine {
    /// The department's own reference, required: the same reference is the
    /// same record, another reference another record (docs/SUBMISSION.md).
    #[serde(rename = "ref")]
    pub reference: Reference,
    pub fund_id: FundId,
    pub amount: Amount,
    pub source: FundSource,
    /// How many officer approvals of the submitting organisation to attach.
    #[serde(default)]
    pub approvals: u8,
}

/// [`ClearingBody`](fundtrail_ledger::record::ClearingBody); a blank `claim_set_root` is filled in by [`resolve`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearingLine {
    /// The department's own reference, if it has one (docs/SUBMISSION.md).
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    pub period: Period,
    pub from_region: RegionCode,
    pub to_region: RegionCode,
    pub amount: Amount,
    #[serde(default)]
    pub claim_set_root: Option<Hash32>,
}

/// [`DisclosureBody`](fundtrail_ledger::record::DisclosureBody) with a target that may name a payout by its bill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureLine {
    /// The department's own reference, if it has one (docs/SUBMISSION.md).
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    pub target: Target,
    pub holder: OrgId,
    pub requester: OrgId,
    pub purpose: DisclosurePurpose,
    #[serde(default)]
    pub case_ref: Option<GroupCode>,
    /// How many officer approvals of the requesting organisation to attach
    /// (the rules need one).
    #[serde(default)]
    pub approvals: u8,
}

impl SubmissionLine {
    /// The kind of record this line becomes.
    pub fn kind(&self) -> RecordKind {
        match self {
            SubmissionLine::Policy(_) => RecordKind::Policy,
            SubmissionLine::Eligibility(_) => RecordKind::Eligibility,
            SubmissionLine::Filing(_) => RecordKind::Filing,
            SubmissionLine::Claim(_) => RecordKind::Claim,
            SubmissionLine::Settlement(_) => RecordKind::Settlement,
            SubmissionLine::Assistance(_) => RecordKind::Assistance,
            SubmissionLine::Reversal(_) => RecordKind::Reversal,
            SubmissionLine::FundCredit(_) => RecordKind::FundCredit,
            SubmissionLine::Clearing(_) => RecordKind::Clearing,
            SubmissionLine::Disclosure(_) => RecordKind::Disclosure,
            SubmissionLine::PaymentPolicy(_) => RecordKind::PaymentPolicy,
            SubmissionLine::PeriodSettlement(_) => RecordKind::PeriodSettlement,
        }
    }

    /// The line as one line of JSON (what [`parse_line`] reads back).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("submission lines always serialise")
    }

    /// Officer approvals the line asks for.
    pub fn approvals(&self) -> u8 {
        match self {
            SubmissionLine::Settlement(s) => s.approvals,
            SubmissionLine::Assistance(a) => a.approvals,
            SubmissionLine::FundCredit(f) => f.approvals,
            SubmissionLine::Disclosure(d) => d.approvals,
            _ => 0,
        }
    }

    /// The department's reference of the line, if it carries one. Claims
    /// have none (the bill number is theirs), nor do policies and period
    /// settlements.
    pub fn reference(&self) -> Option<&Reference> {
        match self {
            SubmissionLine::Policy(_)
            | SubmissionLine::Claim(_)
            | SubmissionLine::PaymentPolicy(_)
            | SubmissionLine::PeriodSettlement(_) => None,
            SubmissionLine::Eligibility(e) => e.reference.as_ref(),
            SubmissionLine::Filing(f) => f.reference.as_ref(),
            SubmissionLine::Clearing(c) => c.reference.as_ref(),
            SubmissionLine::Disclosure(d) => d.reference.as_ref(),
            SubmissionLine::Settlement(s) => Some(&s.reference),
            SubmissionLine::Assistance(a) => Some(&a.reference),
            SubmissionLine::Reversal(r) => Some(&r.reference),
            SubmissionLine::FundCredit(f) => Some(&f.reference),
        }
    }

    /// Whether [`resolve`] must complete this line from chain state.
    pub fn needs_lookup(&self) -> bool {
        match self {
            SubmissionLine::Reversal(r) => matches!(r.target, Target::Payout(_)),
            SubmissionLine::Disclosure(d) => matches!(d.target, Target::Payout(_)),
            SubmissionLine::Clearing(c) => c.claim_set_root.is_none(),
            _ => false,
        }
    }
}

/// Why a line was refused. Names fields, never their values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    #[error("{}{message}", field_prefix(*.field))]
    Json {
        /// The first field whose value does not parse, when one is to blame.
        field: Option<&'static str>,
        message: String,
    },
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("approvals: {0} requested, at most 16 are allowed")]
    TooManyApprovals(u8),
    #[error("{field}: refers to an earlier record; resolve the line against the chain first")]
    Unresolved { field: &'static str },
    #[error("ref: line {first_line} uses the same reference for another record; a reference names one record")]
    ReferenceReused { first_line: usize },
    #[error("{field}: nothing on the chain matches")]
    NotFound { field: &'static str },
    #[error("{field}: chain lookup failed: {reason}")]
    Lookup { field: &'static str, reason: String },
}

fn field_prefix(field: Option<&str>) -> String {
    field.map(|f| format!("{f}: ")).unwrap_or_default()
}

/// A refused line of a file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct LineError {
    /// 1-based line number in the file.
    pub line: usize,
    pub error: IntakeError,
}

#[cfg(test)]
mod tests;
