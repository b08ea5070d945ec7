//! Completing lines that refer to earlier records, from chain state.

use crate::hash::Hash32;
use crate::pseudonym::{ClaimId, PseudonymKey};
use crate::record::{Period, RecordId};
use crate::types::RegionCode;

use super::convert::claim_id;
use super::{IntakeError, PayoutTier, SubmissionLine, Target};

/// A chain lookup failed (storage or network); carries no identifiers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LookupError(pub String);

/// What [`resolve`] asks the chain (implemented over contract state).
pub trait Lookup {
    /// The standing (accepted, unreversed) payout of `tier` on `claim`.
    fn payout(&self, claim: &ClaimId, tier: PayoutTier) -> Result<Option<RecordId>, LookupError>;

    /// The claim-set root of a clearing bucket's uncleared payouts.
    fn clearing_root(
        &self,
        period: Period,
        from: &RegionCode,
        to: &RegionCode,
    ) -> Result<Option<Hash32>, LookupError>;
}

/// Completes a line's references from chain state: a payout target becomes
/// its record id, a blank claim-set root the bucket's root.
pub fn resolve(
    line: SubmissionLine,
    key: &PseudonymKey,
    chain: &dyn Lookup,
) -> Result<SubmissionLine, IntakeError> {
    Ok(match line {
        SubmissionLine::Reversal(mut r) => {
            r.target = resolve_target(r.target, key, chain)?;
            SubmissionLine::Reversal(r)
        }
        SubmissionLine::Disclosure(mut d) => {
            d.target = resolve_target(d.target, key, chain)?;
            SubmissionLine::Disclosure(d)
        }
        SubmissionLine::Clearing(mut c) if c.claim_set_root.is_none() => {
            let field = "claim_set_root";
            let root = chain
                .clearing_root(c.period, &c.from_region, &c.to_region)
                .map_err(|e| IntakeError::Lookup { field, reason: e.0 })?;
            c.claim_set_root = Some(root.ok_or(IntakeError::NotFound { field })?);
            SubmissionLine::Clearing(c)
        }
        other => other,
    })
}

fn resolve_target(
    target: Target,
    key: &PseudonymKey,
    chain: &dyn Lookup,
) -> Result<Target, IntakeError> {
    let Target::Payout(p) = target else {
        return Ok(target);
    };
    let field = "target";
    let claim = claim_id(key, &p.institution, &p.bill_no);
    let id = chain
        .payout(&claim, p.tier)
        .map_err(|e| IntakeError::Lookup { field, reason: e.0 })?;
    id.map(Target::Record)
        .ok_or(IntakeError::NotFound { field })
}
