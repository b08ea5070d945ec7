//! `disclosure`: a logged request to see the raw record behind an earlier
//! record. The target must exist, the holder must be a member, an
//! organisation files only its own requests, and an officer of the
//! requesting organisation must approve it besides the submitter: seeing a
//! person's raw bill is never one key's decision. From rules version 3 an
//! accepted disclosure is a grant: the terms in force then bound how many
//! `disclosure_fetch` records may draw on it, and until when.

use fundtrail_ledger::record::DisclosureBody;

use super::{officer_approvals, reject, RecordCtx, RuleResult, GRANTS_FROM};
use crate::codes::RuleCode;
use crate::error::Fail;
use crate::model::{key, Grant, OrgEntry, RecordMeta};
use crate::policy::grant_terms;
use crate::state::Tx;

/// Officer approvals a disclosure needs (rules version 1).
pub const DISCLOSURE_APPROVALS: usize = 1;

/// Milliseconds in a day of the grant window.
const DAY_MS: u64 = 86_400_000;

pub fn apply(tx: &mut Tx, ctx: &RecordCtx, body: &DisclosureBody) -> RuleResult {
    let target: Option<RecordMeta> = tx.load(&key::record(&body.target))?;
    if target.is_none() {
        return reject(RuleCode::UnknownRecord);
    }
    let holder: Option<OrgEntry> = tx.load(&key::org(&body.holder))?;
    if holder.is_none() {
        return reject(RuleCode::UnknownOrg);
    }
    if body.requester != ctx.org {
        return reject(RuleCode::RoleNotAllowed);
    }
    if officer_approvals(tx, ctx)? < DISCLOSURE_APPROVALS {
        return reject(RuleCode::MissingApproval);
    }
    if ctx.rules >= GRANTS_FROM {
        record_grant(tx, ctx, body)?;
    }
    Ok(Vec::new())
}

fn record_grant(tx: &mut Tx, ctx: &RecordCtx, body: &DisclosureBody) -> Result<(), Fail> {
    let terms = grant_terms(tx)?;
    let window = u64::from(terms.valid_days).saturating_mul(DAY_MS);
    let grant = Grant {
        requester: body.requester.clone(),
        target: body.target,
        until_ms: ctx.timestamp_ms.saturating_add(window),
        max_fetches: terms.max_fetches,
        used: 0,
    };
    tx.store(key::grant(&ctx.id), &grant);
    Ok(())
}
