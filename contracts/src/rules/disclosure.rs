//! `disclosure`: a logged request to see the raw record behind an earlier
//! record. The target must exist, the holder must be a member, and an
//! organisation files only its own requests.

use fundtrail_ledger::record::DisclosureBody;

use crate::codes::RuleCode;
use crate::engine::{reject, RecordCtx, RuleResult};
use crate::model::{key, OrgEntry, RecordMeta};
use crate::state::Tx;

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
    Ok(Vec::new())
}
