//! `payment_policy` (rules version 4): insurance sets how a care region
//! pays its institutions for a year: the method, the group catalogue, the
//! outlier thresholds, the budget and the settlement ratios. A later
//! record for the same region and year replaces the earlier until the
//! year is settled.

use fundtrail_ledger::record::PaymentPolicyBody;

use crate::codes::RuleCode;
use crate::model::{key, PaymentYear};
use crate::state::Tx;

use super::{reject, RecordCtx, RuleResult, PAYMENT_FROM};

pub fn apply(tx: &mut Tx, ctx: &RecordCtx, body: &PaymentPolicyBody) -> RuleResult {
    if ctx.rules < PAYMENT_FROM {
        return reject(RuleCode::NotInRulesVersion);
    }
    let ledger: Option<PaymentYear> = tx.load(&key::payment_year(&body.region, body.year))?;
    if ledger.is_some_and(|l| l.settled.is_some()) {
        return reject(RuleCode::AlreadySettled);
    }
    tx.store(key::payment_policy(&body.region, body.year), body);
    Ok(Vec::new())
}
