//! `disclosure`: a logged request to see the raw record behind an earlier
//! record. The target must exist, the holder must be a member, an
//! organisation files only its own requests, and an officer of the
//! requesting organisation must approve it besides the submitter: seeing a
//! person's raw bill is never one key's decision.

use fundtrail_ledger::record::DisclosureBody;

use super::{officer_approvals, reject, RecordCtx, RuleResult};
use crate::codes::RuleCode;
use crate::model::{key, OrgEntry, RecordMeta};
use crate::state::Tx;

/// Officer approvals a disclosure needs (rules version 1).
pub const DISCLOSURE_APPROVALS: usize = 1;

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
    Ok(Vec::new())
}
