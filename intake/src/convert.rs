//! From a submission line to a record body: pseudonyms for people and
//! bills, and the commitment to a claim's raw bill.

use std::fmt;

use fundtrail_ledger::codec;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::pseudonym::{raw_commitment, ClaimId, PseudonymKey};
use fundtrail_ledger::record::{
    AssistanceBody, ClaimBody, ClearingBody, DisclosureBody, EligibilityBody, FilingBody,
    FundCreditBody, RecordBody, RecordId, ReversalBody, SettlementBody, MAX_APPROVALS,
};
use fundtrail_ledger::types::InstitutionId;

use super::{
    AssistanceLine, BillNo, ClaimLine, ClearingLine, FundCreditLine, IntakeError, SettlementLine,
    SubmissionLine, Target,
};

/// Domain prefix of the canonical raw bill (see [`canonical_raw_bill`]).
pub const RAW_BILL_DOMAIN: &str = "fundtrail/raw-bill/v1";

/// The raw bill and salt behind a claim's commitment: for the submitting
/// department's private vault, never for the chain. Hidden in `Debug`;
/// wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct RawBill {
    /// [`canonical_raw_bill`] of the claim line.
    pub canonical: Vec<u8>,
    pub salt: [u8; 32],
}

impl RawBill {
    /// `SHA-256(salt || canonical)`, the claim's `raw_commitment`.
    pub fn commitment(&self) -> Hash32 {
        raw_commitment(&self.salt, &self.canonical)
    }
}

impl Drop for RawBill {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.canonical);
        zeroize::Zeroize::zeroize(&mut self.salt);
    }
}

impl fmt::Debug for RawBill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawBill({} bytes, hidden)", self.canonical.len())
    }
}

/// The canonical raw bill: BCS of `(RAW_BILL_DOMAIN, line)` (docs/SUBMISSION.md).
pub fn canonical_raw_bill(line: &ClaimLine) -> Vec<u8> {
    codec::encode(&(RAW_BILL_DOMAIN, line))
}

/// A pseudonymised line, ready to sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intake {
    pub body: RecordBody,
    /// For a claim: what the department keeps in its vault.
    pub raw: Option<RawBill>,
    /// Officer approvals the signer attaches (payouts above the policy
    /// threshold, fund transfers).
    pub approvals: u8,
}

/// Replaces raw identifiers with `key`'s pseudonyms and, for a claim,
/// commits to the raw bill under `salt`. References must be resolved.
pub fn pseudonymise(
    line: SubmissionLine,
    key: &PseudonymKey,
    salt: [u8; 32],
) -> Result<Intake, IntakeError> {
    let approvals = line.approvals();
    if usize::from(approvals) > MAX_APPROVALS {
        return Err(IntakeError::TooManyApprovals(approvals));
    }
    let raw = match &line {
        SubmissionLine::Claim(c) => Some(RawBill {
            canonical: canonical_raw_bill(c),
            salt,
        }),
        _ => None,
    };
    let commitment = raw.as_ref().map_or(Hash32::ZERO, RawBill::commitment);
    let body = body_of(line, key, commitment)?;
    body.validate()?;
    Ok(Intake {
        body,
        raw,
        approvals,
    })
}

fn body_of(
    line: SubmissionLine,
    key: &PseudonymKey,
    commitment: Hash32,
) -> Result<RecordBody, IntakeError> {
    Ok(match line {
        SubmissionLine::Policy(p) => RecordBody::Policy(p),
        SubmissionLine::PaymentPolicy(p) => RecordBody::PaymentPolicy(p),
        SubmissionLine::PeriodSettlement(s) => RecordBody::PeriodSettlement(s),
        SubmissionLine::Eligibility(e) => RecordBody::Eligibility(EligibilityBody {
            person: key.person(e.id_card.expose()),
            category: e.category,
            decision: e.decision,
        }),
        SubmissionLine::Filing(f) => RecordBody::Filing(FilingBody {
            person: key.person(f.id_card.expose()),
            insured_region: f.insured_region,
            care_region: f.care_region,
            valid_from: f.valid_from,
            valid_until: f.valid_until,
        }),
        SubmissionLine::Claim(c) => claim_body(c, key, commitment),
        SubmissionLine::Settlement(s) => settlement_body(&s, key),
        SubmissionLine::Assistance(a) => assistance_body(&a, key),
        SubmissionLine::Reversal(r) => RecordBody::Reversal(ReversalBody {
            target: record_target(&r.target)?,
            reason: r.reason,
        }),
        SubmissionLine::FundCredit(f) => RecordBody::FundCredit(fund_credit_body(f)),
        SubmissionLine::Clearing(c) => RecordBody::Clearing(clearing_body(c)?),
        SubmissionLine::Disclosure(d) => RecordBody::Disclosure(DisclosureBody {
            target: record_target(&d.target)?,
            holder: d.holder,
            requester: d.requester,
            purpose: d.purpose,
            case_ref: d.case_ref,
        }),
    })
}

pub(super) fn claim_id(
    key: &PseudonymKey,
    institution: &InstitutionId,
    bill_no: &BillNo,
) -> ClaimId {
    key.claim(institution, bill_no.expose())
}

fn claim_body(c: ClaimLine, key: &PseudonymKey, raw_commitment: Hash32) -> RecordBody {
    RecordBody::Claim(ClaimBody {
        claim_id: claim_id(key, &c.institution, &c.bill_no),
        person: key.person(c.id_card.expose()),
        institution: c.institution,
        institution_level: c.institution_level,
        insured_type: c.insured_type,
        insured_region: c.insured_region,
        care_region: c.care_region,
        service_date: c.service_date,
        admission: c.admission,
        total: c.total,
        in_scope: c.in_scope,
        drg_or_dip_group: c.drg_or_dip_group,
        supplementary_cover: c.supplementary_cover,
        raw_commitment,
    })
}

fn settlement_body(s: &SettlementLine, key: &PseudonymKey) -> RecordBody {
    RecordBody::Settlement(SettlementBody {
        claim_id: claim_id(key, &s.institution, &s.bill_no),
        scheme: s.scheme,
        fund_id: s.fund_id.clone(),
        amount: s.amount,
    })
}

fn assistance_body(a: &AssistanceLine, key: &PseudonymKey) -> RecordBody {
    RecordBody::Assistance(AssistanceBody {
        claim_id: claim_id(key, &a.institution, &a.bill_no),
        category: a.category,
        fund_id: a.fund_id.clone(),
        amount: a.amount,
    })
}

fn fund_credit_body(f: FundCreditLine) -> FundCreditBody {
    FundCreditBody {
        fund_id: f.fund_id,
        amount: f.amount,
        source: f.source,
    }
}

fn record_target(t: &Target) -> Result<RecordId, IntakeError> {
    match t {
        Target::Record(id) => Ok(*id),
        Target::Payout(_) => Err(IntakeError::Unresolved { field: "target" }),
    }
}

fn clearing_body(c: ClearingLine) -> Result<ClearingBody, IntakeError> {
    let claim_set_root = c.claim_set_root.ok_or(IntakeError::Unresolved {
        field: "claim_set_root",
    })?;
    Ok(ClearingBody {
        period: c.period,
        from_region: c.from_region,
        to_region: c.to_region,
        amount: c.amount,
        claim_set_root,
    })
}
