//! Signed records: the envelope every department signs, the record kinds,
//! and the checks that turn decoded bytes into a record the ledger accepts.
//!
//! `record_id = H("fundtrail/record/v1", canonical(envelope))` and the
//! submitter signs `record_id`. Officers approve a record by signing
//! `H("fundtrail/approval/v1", canonical(envelope with approvals = []))`, so
//! approvals are themselves covered by the record id.

pub mod body;
pub mod payment;
pub mod policy;

use serde::{Deserialize, Serialize};

use crate::codec::{self, DecodeError};
use crate::crypto::{Keypair, PublicKey, Signature, SignedDigest};
use crate::hash::{domain, hash_encoded, HashOf};
use crate::pseudonym::{ClaimId, PersonId};
use crate::types::{Bp, ChainId, FundId};

pub use body::*;
pub use payment::*;
pub use policy::*;

/// The only envelope version this code writes and reads.
pub const RECORD_VERSION: u16 = 1;
/// Upper bound on one encoded signed record.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;
/// Upper bound on approvals carried by one record.
pub const MAX_APPROVALS: usize = 16;

pub type RecordId = HashOf<Envelope>;

/// The kind and content of a record. The variant order is the canonical kind
/// tag (see docs/ENCODING.md) and must never be reordered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordBody {
    Member(MemberBody),
    Policy(PolicyBody),
    Eligibility(EligibilityBody),
    Filing(FilingBody),
    Claim(ClaimBody),
    Settlement(SettlementBody),
    Assistance(AssistanceBody),
    Reversal(ReversalBody),
    FundCredit(FundCreditBody),
    Clearing(ClearingBody),
    Disclosure(DisclosureBody),
    DisclosureFetch(DisclosureFetchBody),
    PaymentPolicy(PaymentPolicyBody),
    PeriodSettlement(PeriodSettlementBody),
}

/// Record kinds as plain names, for indexes, metrics and role tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Member,
    Policy,
    Eligibility,
    Filing,
    Claim,
    Settlement,
    Assistance,
    Reversal,
    FundCredit,
    Clearing,
    Disclosure,
    DisclosureFetch,
    PaymentPolicy,
    PeriodSettlement,
}

impl RecordKind {
    pub const ALL: [RecordKind; 14] = [
        RecordKind::Member,
        RecordKind::Policy,
        RecordKind::Eligibility,
        RecordKind::Filing,
        RecordKind::Claim,
        RecordKind::Settlement,
        RecordKind::Assistance,
        RecordKind::Reversal,
        RecordKind::FundCredit,
        RecordKind::Clearing,
        RecordKind::Disclosure,
        RecordKind::DisclosureFetch,
        RecordKind::PaymentPolicy,
        RecordKind::PeriodSettlement,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Member => "member",
            RecordKind::Policy => "policy",
            RecordKind::Eligibility => "eligibility",
            RecordKind::Filing => "filing",
            RecordKind::Claim => "claim",
            RecordKind::Settlement => "settlement",
            RecordKind::Assistance => "assistance",
            RecordKind::Reversal => "reversal",
            RecordKind::FundCredit => "fund_credit",
            RecordKind::Clearing => "clearing",
            RecordKind::Disclosure => "disclosure",
            RecordKind::DisclosureFetch => "disclosure_fetch",
            RecordKind::PaymentPolicy => "payment_policy",
            RecordKind::PeriodSettlement => "period_settlement",
        }
    }
}

impl RecordBody {
    pub fn kind(&self) -> RecordKind {
        match self {
            RecordBody::Member(_) => RecordKind::Member,
            RecordBody::Policy(_) => RecordKind::Policy,
            RecordBody::Eligibility(_) => RecordKind::Eligibility,
            RecordBody::Filing(_) => RecordKind::Filing,
            RecordBody::Claim(_) => RecordKind::Claim,
            RecordBody::Settlement(_) => RecordKind::Settlement,
            RecordBody::Assistance(_) => RecordKind::Assistance,
            RecordBody::Reversal(_) => RecordKind::Reversal,
            RecordBody::FundCredit(_) => RecordKind::FundCredit,
            RecordBody::Clearing(_) => RecordKind::Clearing,
            RecordBody::Disclosure(_) => RecordKind::Disclosure,
            RecordBody::DisclosureFetch(_) => RecordKind::DisclosureFetch,
            RecordBody::PaymentPolicy(_) => RecordKind::PaymentPolicy,
            RecordBody::PeriodSettlement(_) => RecordKind::PeriodSettlement,
        }
    }

    /// The claim this record is about, for the claim index.
    pub fn claim(&self) -> Option<ClaimId> {
        match self {
            RecordBody::Claim(c) => Some(c.claim_id),
            RecordBody::Settlement(s) => Some(s.claim_id),
            RecordBody::Assistance(a) => Some(a.claim_id),
            _ => None,
        }
    }

    /// The person this record names directly, for the person index.
    pub fn person(&self) -> Option<PersonId> {
        match self {
            RecordBody::Claim(c) => Some(c.person),
            RecordBody::Eligibility(e) => Some(e.person),
            RecordBody::Filing(f) => Some(f.person),
            _ => None,
        }
    }

    /// The earlier records this one acts on, for their history: a
    /// reversal's or a disclosure's target; a disclosure fetch's target
    /// (whose raw bill it delivers) and the disclosure it draws on.
    pub fn targets(&self) -> impl Iterator<Item = RecordId> {
        let (first, second) = match self {
            RecordBody::Reversal(r) => (Some(r.target), None),
            RecordBody::Disclosure(d) => (Some(d.target), None),
            RecordBody::DisclosureFetch(f) => (Some(f.target), Some(f.disclosure)),
            _ => (None, None),
        };
        first.into_iter().chain(second)
    }

    /// The funds this record moves money in or out of, for the fund index.
    pub fn funds(&self) -> Vec<&FundId> {
        match self {
            RecordBody::Settlement(s) => vec![&s.fund_id],
            RecordBody::Assistance(a) => vec![&a.fund_id],
            RecordBody::FundCredit(c) => match &c.source {
                FundSource::Transfer { from_fund } => vec![&c.fund_id, from_fund],
                FundSource::Budget { .. } => vec![&c.fund_id],
            },
            _ => vec![],
        }
    }

    /// Structural checks that need no ledger state.
    pub fn validate(&self) -> Result<(), BodyError> {
        match self {
            RecordBody::Eligibility(e) => match e.decision {
                EligibilityDecision::Grant {
                    valid_from,
                    valid_until,
                } => window("eligibility", valid_from, valid_until),
                EligibilityDecision::Revoke { .. } => Ok(()),
            },
            RecordBody::Filing(f) => window("filing", f.valid_from, f.valid_until),
            RecordBody::Claim(c) if c.in_scope > c.total => Err(BodyError::InScopeAboveTotal {
                in_scope: c.in_scope,
                total: c.total,
            }),
            RecordBody::Clearing(c) if !(1..=12).contains(&c.period.month) => {
                Err(BodyError::BadMonth(c.period.month))
            }
            RecordBody::Policy(p) => validate_policy(&p.params),
            RecordBody::PaymentPolicy(p) => validate_payment_policy(p),
            RecordBody::PeriodSettlement(s) => validate_period_settlement(s),
            RecordBody::FundCredit(FundCreditBody {
                fund_id,
                source: FundSource::Transfer { from_fund },
                ..
            }) if fund_id == from_fund => Err(BodyError::SelfTransfer(fund_id.to_string())),
            _ => Ok(()),
        }
    }
}

fn window(
    what: &'static str,
    from: crate::types::Date,
    until: crate::types::Date,
) -> Result<(), BodyError> {
    if from > until {
        return Err(BodyError::EmptyWindow { what, from, until });
    }
    Ok(())
}

fn validate_policy(p: &PolicyParams) -> Result<(), BodyError> {
    let mut ratios: Vec<Bp> = vec![
        p.critical_illness.ratio,
        p.critical_illness.poor_ratio,
        p.supplementary.ratio_in_catalogue,
        p.supplementary.ratio_out_of_catalogue,
        p.signals.high_cost_share,
    ];
    for r in [p.basic.resident_ratio, p.basic.employee_ratio] {
        ratios.extend([r.grassroots, r.secondary, r.tertiary]);
    }
    ratios.extend(p.assistance.iter().map(|a| a.ratio));
    match ratios.into_iter().find(|r| *r > Bp::FULL) {
        Some(r) => Err(BodyError::RatioAbove100(r.0)),
        None => Ok(()),
    }
}

fn validate_payment_policy(p: &PaymentPolicyBody) -> Result<(), BodyError> {
    if p.groups.windows(2).any(|w| w[0].code >= w[1].code) {
        return Err(BodyError::Unsorted("payment policy groups"));
    }
    if p.low_cost_ratio > p.high_cost_ratio {
        return Err(BodyError::OutlierBounds {
            low: p.low_cost_ratio.0,
            high: p.high_cost_ratio.0,
        });
    }
    match [p.retention, p.overspend_share, p.low_standard_ratio]
        .into_iter()
        .find(|r| *r > Bp::FULL)
    {
        Some(r) => Err(BodyError::RatioAbove100(r.0)),
        None => Ok(()),
    }
}

fn validate_period_settlement(s: &PeriodSettlementBody) -> Result<(), BodyError> {
    if s.lines
        .windows(2)
        .any(|w| w[0].institution >= w[1].institution)
    {
        return Err(BodyError::Unsorted("period settlement lines"));
    }
    Ok(())
}

/// An officer's co-signature on a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub key: PublicKey,
    pub signature: Signature,
}

/// What the submitter signs (through its hash, the record id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub version: u16,
    pub chain_id: ChainId,
    pub body: RecordBody,
    pub submitter_key: PublicKey,
    /// Chosen by the submitter so that two otherwise equal records differ.
    pub nonce: u64,
    pub approvals: Vec<Approval>,
}

/// An [`Envelope`] by reference: the same fields in the same order, so the
/// same encoding, without cloning the body.
#[derive(Serialize)]
struct EnvelopeView<'a> {
    version: u16,
    chain_id: &'a ChainId,
    body: &'a RecordBody,
    submitter_key: &'a PublicKey,
    nonce: u64,
    approvals: &'a [Approval],
}

impl Envelope {
    pub fn new(
        chain_id: ChainId,
        body: RecordBody,
        submitter_key: PublicKey,
        nonce: u64,
    ) -> Envelope {
        Envelope {
            version: RECORD_VERSION,
            chain_id,
            body,
            submitter_key,
            nonce,
            approvals: Vec::new(),
        }
    }

    pub fn id(&self) -> RecordId {
        RecordId::from_hash(hash_encoded(domain::RECORD, self))
    }

    /// What an officer signs to approve this record: the envelope's
    /// encoding with no approvals.
    pub fn approval_digest(&self) -> crate::hash::Hash32 {
        let bare = EnvelopeView {
            version: self.version,
            chain_id: &self.chain_id,
            body: &self.body,
            submitter_key: &self.submitter_key,
            nonce: self.nonce,
            approvals: &[],
        };
        hash_encoded(domain::APPROVAL, &bare)
    }

    /// Adds `officer`'s approval. Approvals must be added before signing.
    pub fn approve(&mut self, officer: &Keypair) {
        let signature = officer.sign(&self.approval_digest());
        self.approvals.push(Approval {
            key: officer.public(),
            signature,
        });
    }

    pub fn sign(self, submitter: &Keypair) -> SignedRecord {
        let signature = submitter.sign(&self.id().hash());
        SignedRecord {
            envelope: self,
            signature,
        }
    }
}

/// An envelope and the submitter's signature over its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRecord {
    pub envelope: Envelope,
    pub signature: Signature,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("record version {actual} is not supported (expected {expected})")]
    Version { expected: u16, actual: u16 },
    #[error("record is for chain {actual}, this chain is {expected}")]
    WrongChain { expected: String, actual: String },
    #[error("record carries {0} approvals, at most 16 are allowed")]
    TooManyApprovals(usize),
    #[error("record has two approvals by key {0}")]
    RepeatedApprover(String),
    #[error("record is {0} bytes, at most 16384 are allowed")]
    TooLarge(usize),
    #[error(transparent)]
    Body(#[from] BodyError),
}

impl SignedRecord {
    pub fn id(&self) -> RecordId {
        self.envelope.id()
    }

    pub fn kind(&self) -> RecordKind {
        self.envelope.body.kind()
    }

    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes and checks the form of a record from outside.
    pub fn decode(bytes: &[u8]) -> Result<SignedRecord, RecordError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge(bytes.len()));
        }
        let record: SignedRecord = codec::decode("signed record", bytes)?;
        record.check_form()?;
        Ok(record)
    }

    /// Version, approval count and body checks (no signatures, no state).
    pub fn check_form(&self) -> Result<(), RecordError> {
        let env = &self.envelope;
        if env.version != RECORD_VERSION {
            return Err(RecordError::Version {
                expected: RECORD_VERSION,
                actual: env.version,
            });
        }
        if env.approvals.len() > MAX_APPROVALS {
            return Err(RecordError::TooManyApprovals(env.approvals.len()));
        }
        let mut keys: Vec<&PublicKey> = env.approvals.iter().map(|a| &a.key).collect();
        keys.sort();
        if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
            return Err(RecordError::RepeatedApprover(w[0].short()));
        }
        env.body.validate()?;
        Ok(())
    }

    /// Checks the record belongs to `chain`.
    pub fn check_chain(&self, chain: &ChainId) -> Result<(), RecordError> {
        if &self.envelope.chain_id != chain {
            return Err(RecordError::WrongChain {
                expected: chain.to_string(),
                actual: self.envelope.chain_id.to_string(),
            });
        }
        Ok(())
    }

    /// Every signature the record carries, ready for batch verification:
    /// the submitter's over the record id, then each approval.
    pub fn signed_digests(&self, id: RecordId, out: &mut Vec<SignedDigest>) {
        out.push(SignedDigest {
            key: self.envelope.submitter_key,
            digest: id.hash(),
            signature: self.signature,
        });
        if self.envelope.approvals.is_empty() {
            return;
        }
        let digest = self.envelope.approval_digest();
        out.extend(self.envelope.approvals.iter().map(|a| SignedDigest {
            key: a.key,
            digest,
            signature: a.signature,
        }));
    }
}
