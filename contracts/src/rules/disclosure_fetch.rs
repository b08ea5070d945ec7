//! `disclosure_fetch`: one delivery of the raw bill an accepted disclosure
//! granted, signed by an officer of the requesting organisation (the
//! pipeline admits only officer keys for this kind). It is accepted only
//! within the grant: by the requester, for the disclosure's target, in a
//! block stamped inside the window, and while fewer fetches than granted
//! were accepted. The holder serves only accepted fetches, each once.

use fundtrail_ledger::record::DisclosureFetchBody;

use super::{reject, RecordCtx, RuleResult};
use crate::codes::RuleCode;
use crate::model::{key, Grant, RecordMeta};
use crate::state::Tx;

pub fn apply(tx: &mut Tx, ctx: &RecordCtx, body: &DisclosureFetchBody) -> RuleResult {
    let grant_key = key::grant(&body.disclosure);
    let Some(mut grant): Option<Grant> = tx.load(&grant_key)? else {
        let known: Option<RecordMeta> = tx.load(&key::record(&body.disclosure))?;
        return reject(if known.is_some() {
            RuleCode::NotAGrant
        } else {
            RuleCode::UnknownRecord
        });
    };
    if grant.requester != ctx.org {
        return reject(RuleCode::RoleNotAllowed);
    }
    if grant.target != body.target {
        return reject(RuleCode::WrongTarget);
    }
    if ctx.timestamp_ms >= grant.until_ms {
        return reject(RuleCode::GrantExpired);
    }
    if grant.used >= grant.max_fetches {
        return reject(RuleCode::GrantUsedUp);
    }
    grant.used += 1;
    tx.store(grant_key, &grant);
    Ok(Vec::new())
}
