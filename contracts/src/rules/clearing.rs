//! `clearing` (清算): settles what `to_region` advanced in `period` for
//! people insured in `from_region`. The amount must equal the sum of that
//! bucket's accepted, unreversed, uncleared cross-region payouts, and the
//! claim-set root must be the RFC 6962 root over their record ids in
//! acceptance order. Each payout is cleared once.

use fundtrail_ledger::merkle;
use fundtrail_ledger::record::ClearingBody;

use crate::codes::RuleCode;
use crate::engine::{reject, RecordCtx, RuleResult};
use crate::model::{key, PendingClearing, Reversible};
use crate::state::Tx;

pub fn apply(tx: &mut Tx, _ctx: &RecordCtx, body: &ClearingBody) -> RuleResult {
    let p = &body.period;
    let xk = key::clearing(p.year, p.month, &body.from_region, &body.to_region);
    let pending: PendingClearing = tx.load(&xk)?.unwrap_or_default();
    if pending.payouts.is_empty()
        || pending.total != body.amount
        || claim_set_root(&pending) != body.claim_set_root
    {
        return reject(RuleCode::ClearingMismatch);
    }
    for id in &pending.payouts {
        let rk = key::reversible(id);
        if let Some(Reversible::Payout(mut e)) = tx.load(&rk)? {
            e.cleared = true;
            tx.store(rk, &Reversible::Payout(e));
        }
    }
    tx.remove(xk);
    Ok(Vec::new())
}

/// The root a clearing record must carry for `pending`.
pub fn claim_set_root(pending: &PendingClearing) -> fundtrail_ledger::hash::Hash32 {
    let leaves: Vec<_> = pending
        .payouts
        .iter()
        .map(|id| merkle::leaf_hash(id.as_bytes()))
        .collect();
    merkle::root(&leaves)
}
