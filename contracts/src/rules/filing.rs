//! `filing` (备案): insurance permits care outside the insured region for a
//! window of service dates. Claims check against it.

use fundtrail_ledger::record::FilingBody;

use crate::model::{key, FilingEntry, Window};
use crate::state::Tx;

use super::{RecordCtx, RuleResult};

pub fn apply(tx: &mut Tx, _ctx: &RecordCtx, body: &FilingBody) -> RuleResult {
    let k = key::filing(&body.person);
    let mut filings: Vec<FilingEntry> = tx.load(&k)?.unwrap_or_default();
    filings.push(FilingEntry {
        insured_region: body.insured_region.clone(),
        care_region: body.care_region.clone(),
        window: Window {
            from: body.valid_from,
            until: body.valid_until,
        },
    });
    tx.store(k, &filings);
    Ok(Vec::new())
}
