//! The rules: one module per record kind, the rules versions, and what the
//! kinds share. Each `apply` reads and writes through the record's
//! [`Tx`] and returns the signals it raised, or the code it rejects with.
//! Settlement and assistance share [`payout`].

pub mod assistance;
pub mod claim;
pub mod clearing;
pub mod disclosure;
pub mod disclosure_fetch;
pub mod eligibility;
pub mod filing;
pub mod fund_credit;
pub mod group_case;
pub mod member;
pub mod payment_policy;
pub mod payout;
pub mod period_settlement;
pub mod policy;
pub mod reversal;
pub mod settlement;

use std::collections::BTreeSet;

use fundtrail_ledger::record::{RecordId, SignedRecord};
use fundtrail_ledger::types::{Amount, Height, KeyRole, OrgId, Role};

use crate::codes::RuleCode;
use crate::error::Fail;
use crate::model::{key, KeyEntry};
use crate::state::Tx;

/// Rules versions this build can execute. Version 2 differs from 1 only
/// in how a clearing bucket keeps its payouts; version 3 adds that an
/// accepted disclosure grants a bounded number of fetches within a window;
/// version 4 adds payment by groups and the period settlement by points
/// (docs/RULES.md, "Rules versions").
pub const SUPPORTED_RULES: &[u32] = &[1, 2, 3, 4];

/// The rules version a new chain starts with.
pub const LATEST_RULES: u32 = 4;

/// The first rules version with payment policies, grouped cases and
/// period settlements.
pub const PAYMENT_FROM: u32 = 4;

/// The first rules version in which an accepted disclosure grants fetches.
pub const GRANTS_FROM: u32 = 3;

/// One record as a rule sees it.
pub struct RecordCtx<'r> {
    pub id: RecordId,
    pub record: &'r SignedRecord,
    pub height: Height,
    /// The block's timestamp (ms since epoch), fixed by consensus.
    pub timestamp_ms: u64,
    pub org: OrgId,
    pub role: Role,
    /// The rules version in force at `height`.
    pub rules: u32,
}

/// What a rule returns when it accepts: the signals it raised.
pub type RuleResult = Result<Vec<RuleCode>, Fail>;

/// Shorthand for a rejection.
pub fn reject<T>(code: RuleCode) -> Result<T, Fail> {
    Err(Fail::Reject(code))
}

/// `a + b`, saturating at the largest amount.
pub fn plus(a: Amount, b: Amount) -> Amount {
    a.checked_add(b)
        .unwrap_or_else(|| Amount::from_fen(Amount::MAX_FEN).unwrap_or(Amount::ZERO))
}

/// Distinct officer keys of the submitter's organisation, other than the
/// submitter's key, that approved the record.
pub fn officer_approvals(tx: &Tx, ctx: &RecordCtx) -> Result<usize, Fail> {
    let env = &ctx.record.envelope;
    let mut officers = BTreeSet::new();
    for a in env.approvals.iter().filter(|a| a.key != env.submitter_key) {
        let entry: Option<KeyEntry> = tx.load(&key::key(&a.key))?;
        if matches!(entry, Some(k) if k.role == KeyRole::Officer && k.org == ctx.org) {
            officers.insert(a.key);
        }
    }
    Ok(officers.len())
}

/// Distinct organisations that back the record: the submitter's and each
/// approving officer's.
pub fn backing_orgs(tx: &Tx, ctx: &RecordCtx) -> Result<BTreeSet<OrgId>, Fail> {
    let mut orgs = BTreeSet::from([ctx.org.clone()]);
    for a in &ctx.record.envelope.approvals {
        let entry: Option<KeyEntry> = tx.load(&key::key(&a.key))?;
        if let Some(k) = entry.filter(|k| k.role == KeyRole::Officer) {
            orgs.insert(k.org);
        }
    }
    Ok(orgs)
}
