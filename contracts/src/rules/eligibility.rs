//! `eligibility`: civil affairs grants assistance eligibility for a window
//! of service dates, or revokes it from a date on (the window is cut short).

use fundtrail_ledger::record::{EligibilityBody, EligibilityDecision};
use fundtrail_ledger::types::Date;

use crate::codes::RuleCode;
use crate::model::{key, Eligibility, Window};
use crate::state::Tx;

use super::{reject, RecordCtx, RuleResult};

pub fn apply(tx: &mut Tx, _ctx: &RecordCtx, body: &EligibilityBody) -> RuleResult {
    let k = key::eligibility(&body.person);
    let mut windows: Eligibility = tx.load(&k)?.unwrap_or_default();
    match body.decision {
        EligibilityDecision::Grant {
            valid_from,
            valid_until,
        } => {
            windows.push((
                body.category,
                Window {
                    from: valid_from,
                    until: valid_until,
                },
            ));
        }
        EligibilityDecision::Revoke { effective } => {
            if !windows
                .iter()
                .any(|(c, w)| *c == body.category && w.until >= effective)
            {
                return reject(RuleCode::NotEligible);
            }
            revoke(&mut windows, body.category, effective);
        }
    }
    tx.store(k, &windows);
    Ok(Vec::new())
}

/// Ends every window of `category` the day before `effective`.
fn revoke(windows: &mut Eligibility, category: fundtrail_ledger::types::Category, effective: Date) {
    windows.retain_mut(|(c, w)| {
        if *c != category || w.until < effective {
            return true;
        }
        if effective.days() == 0 || w.from >= effective {
            return false;
        }
        w.until = Date::from_days(effective.days() - 1);
        true
    });
}
