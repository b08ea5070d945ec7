//! `clearing` (清算): settles what `to_region` advanced in `period` for
//! people insured in `from_region`. The amount must equal the sum of that
//! bucket's accepted, unreversed, uncleared cross-region payouts, and the
//! claim-set root must be the RFC 6962 root over their record ids in
//! acceptance order. Each payout is cleared once.
//!
//! How a bucket keeps its payouts is the one thing rules versions 1 and 2
//! do differently. Version 1 keeps their ids in one value (`xr/`), which
//! every payout decodes, extends and rewrites: work per payout grows with
//! the bucket. Version 2 keeps a small head (`xb/`, [`ClearingHead`]) and
//! one entry per payout (`xq/`), so joining or leaving a bucket costs the
//! same whatever its size, and only a clearing reads them all. A bucket
//! left in the version 1 form when version 2 takes over is read and
//! cleared with the new one, its payouts first.

use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::merkle;
use fundtrail_ledger::record::{ClearingBody, RecordId};
use fundtrail_ledger::types::{Amount, RegionCode};

use crate::codes::RuleCode;
use crate::error::{ExecError, Fail};
use crate::model::{key, ClaimEntry, ClearingHead, PendingClearing, Reversible};
use crate::state::Tx;

use super::{plus, reject, RecordCtx, RuleResult};

/// The state keys of one clearing bucket, in both forms.
pub struct Bucket {
    /// Version 1's single value (`xr/…`).
    legacy: Vec<u8>,
    /// Version 2's head (`xb/…`); its entries are keyed from it.
    head: Vec<u8>,
}

impl Bucket {
    pub fn new(year: u16, month: u8, from: &RegionCode, to: &RegionCode) -> Bucket {
        Bucket {
            legacy: key::clearing(year, month, from, to),
            head: key::clearing_head(year, month, from, to),
        }
    }

    /// The bucket of a cross-region claim: its service month, from the
    /// insured region to the care region that advanced the money.
    pub fn of(claim: &ClaimEntry) -> Bucket {
        let (y, m, _) = claim.service_date.ymd();
        Bucket::new(
            u16::try_from(y).unwrap_or(u16::MAX),
            m as u8,
            &claim.insured_region,
            &claim.care_region,
        )
    }
}

pub fn apply(tx: &mut Tx, ctx: &RecordCtx, body: &ClearingBody) -> RuleResult {
    let p = &body.period;
    let bucket = Bucket::new(p.year, p.month, &body.from_region, &body.to_region);
    // The heads give the total: a clearing that names another one is
    // refused before the bucket's entries, one per payout of the month, are
    // read. The verdict is what reading them all would give.
    if pending_total(tx, &bucket)? != body.amount {
        return reject(RuleCode::ClearingMismatch);
    }
    let pending = pending(tx, &bucket)?;
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
    if ctx.rules == 1 || tx.contains(&bucket.legacy)? {
        tx.remove(bucket.legacy.clone());
    }
    if let Some(head) = tx.load::<ClearingHead>(&bucket.head)? {
        empty(tx, &bucket, &head);
    }
    Ok(Vec::new())
}

/// What a bucket holds for clearing, in either form or both: the
/// version 1 payouts first, then version 2's unreversed ones in the order
/// they joined, and their total.
pub fn pending(tx: &Tx, bucket: &Bucket) -> Result<PendingClearing, ExecError> {
    let mut pending: PendingClearing = tx.load(&bucket.legacy)?.unwrap_or_default();
    let Some(head) = tx.load::<ClearingHead>(&bucket.head)? else {
        return Ok(pending);
    };
    for seq in 0..head.next {
        let entry = key::clearing_entry(&bucket.head, seq);
        if let Some(id) = tx.load::<RecordId>(&entry)? {
            if !reversed(tx, &id)? {
                pending.payouts.push(id);
            }
        }
    }
    pending.total = plus(pending.total, head.total);
    Ok(pending)
}

/// What [`pending`] totals, from the bucket's version 1 value and version 2
/// head alone.
fn pending_total(tx: &Tx, bucket: &Bucket) -> Result<Amount, ExecError> {
    let legacy: PendingClearing = tx.load(&bucket.legacy)?.unwrap_or_default();
    Ok(match tx.load::<ClearingHead>(&bucket.head)? {
        Some(head) => plus(legacy.total, head.total),
        None => legacy.total,
    })
}

/// A cross-region payout joins its bucket: version 1 appends it to the
/// list, version 2 adds an entry and updates the head.
pub fn join(
    tx: &mut Tx,
    rules: u32,
    bucket: &Bucket,
    id: RecordId,
    amount: Amount,
) -> Result<(), Fail> {
    if rules == 1 {
        let mut pending: PendingClearing = tx.load(&bucket.legacy)?.unwrap_or_default();
        pending.total = plus(pending.total, amount);
        pending.payouts.push(id);
        tx.store(bucket.legacy.clone(), &pending);
        return Ok(());
    }
    let mut head: ClearingHead = tx.load(&bucket.head)?.unwrap_or_default();
    let seq = head.next;
    head.next = seq.checked_add(1).ok_or_else(|| ExecError::Corrupt {
        key: bucket.head.clone(),
        reason: "clearing bucket has no sequence number left".into(),
    })?;
    head.live += 1;
    head.total = plus(head.total, amount);
    tx.store(key::clearing_entry(&bucket.head, seq), &id);
    tx.store(bucket.head.clone(), &head);
    Ok(())
}

/// A reversed cross-region payout leaves its bucket, in the form it
/// joined: out of version 1's list if it is there, else (under version 2,
/// or once a version 2 head exists) out of the head's total and count.
/// Its version 2 entry stays until the bucket is cleared or empties
/// ([`pending`] skips it, its `rev/` entry being reversed), so leaving
/// needs no search.
pub fn leave(
    tx: &mut Tx,
    rules: u32,
    bucket: &Bucket,
    target: &RecordId,
    amount: Amount,
) -> Result<(), Fail> {
    let legacy: Option<PendingClearing> = tx.load(&bucket.legacy)?;
    let in_legacy = legacy.as_ref().is_some_and(|p| p.payouts.contains(target));
    if in_legacy || (rules == 1 && !tx.contains(&bucket.head)?) {
        let mut pending = legacy.unwrap_or_default();
        pending.total = pending.total.saturating_sub(amount);
        pending.payouts.retain(|id| id != target);
        if pending.payouts.is_empty() {
            tx.remove(bucket.legacy.clone());
        } else {
            tx.store(bucket.legacy.clone(), &pending);
        }
        return Ok(());
    }
    let Some(mut head) = tx.load::<ClearingHead>(&bucket.head)? else {
        return Ok(());
    };
    head.total = head.total.saturating_sub(amount);
    head.live = head.live.saturating_sub(1);
    if head.live == 0 {
        empty(tx, bucket, &head);
    } else {
        tx.store(bucket.head.clone(), &head);
    }
    Ok(())
}

/// Removes a version 2 bucket's head and every entry under it.
fn empty(tx: &mut Tx, bucket: &Bucket, head: &ClearingHead) {
    for seq in 0..head.next {
        tx.remove(key::clearing_entry(&bucket.head, seq));
    }
    tx.remove(bucket.head.clone());
}

fn reversed(tx: &Tx, id: &RecordId) -> Result<bool, ExecError> {
    let entry: Option<Reversible> = tx.load(&key::reversible(id))?;
    Ok(matches!(entry, Some(Reversible::Payout(e)) if e.reversed))
}

/// The root a clearing record must carry for `pending`.
pub fn claim_set_root(pending: &PendingClearing) -> Hash32 {
    let leaves: Vec<_> = pending
        .payouts
        .iter()
        .map(|id| merkle::leaf_hash(id.as_bytes()))
        .collect();
    merkle::root(&leaves)
}
