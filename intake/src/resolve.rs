//! Completing lines that refer to earlier records, from chain state.

use fundtrail_ledger::pseudonym::PseudonymKey;

use super::convert::claim_id;
use super::{IntakeError, Lookup, SubmissionLine, Target};

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
