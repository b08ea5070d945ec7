//! `policy`: insurance publishes scheme parameters for a region and year.
//! Claims use the latest policy effective on their service date.

use fundtrail_ledger::record::PolicyBody;

use crate::model::{key, Policies};
use crate::policy::insert_policy;
use crate::state::Tx;

use super::{RecordCtx, RuleResult};

pub fn apply(tx: &mut Tx, _ctx: &RecordCtx, body: &PolicyBody) -> RuleResult {
    let k = key::policy(&body.region, body.year);
    let mut list: Policies = tx.load(&k)?.unwrap_or_default();
    insert_policy(&mut list, body.clone());
    tx.store(k, &list);
    Ok(Vec::new())
}
