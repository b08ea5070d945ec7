//! `period_settlement` (rules version 4): the year-end settlement by
//! points of a care region. The rule computes the settlement from the
//! year's cases and the payment policy ([`crate::payment::settle`]) and
//! accepts the record only if it states exactly that: the policy's
//! budget, one line per institution with cases, their points, itemised
//! cost and amounts, which sum to the budget. It closes the year.

use fundtrail_ledger::record::{PaymentMethod, PaymentPolicyBody, PeriodSettlementBody};

use crate::codes::RuleCode;
use crate::model::{key, PaymentYear};
use crate::payment::settle;
use crate::state::Tx;

use super::{reject, RecordCtx, RuleResult, PAYMENT_FROM};

pub fn apply(tx: &mut Tx, ctx: &RecordCtx, body: &PeriodSettlementBody) -> RuleResult {
    if ctx.rules < PAYMENT_FROM {
        return reject(RuleCode::NotInRulesVersion);
    }
    let policy: Option<PaymentPolicyBody> =
        tx.load(&key::payment_policy(&body.region, body.year))?;
    let Some(policy) = policy.filter(|p| p.method != PaymentMethod::Itemised) else {
        return reject(RuleCode::NoPolicy);
    };
    let yk = key::payment_year(&body.region, body.year);
    let mut ledger: PaymentYear = tx.load(&yk)?.unwrap_or_default();
    if ledger.settled.is_some() {
        return reject(RuleCode::AlreadySettled);
    }
    let stated_total: u128 = body.lines.iter().map(|l| u128::from(l.amount.fen())).sum();
    let due = settle(&policy, &ledger).map(|s| s.body(body.region.clone(), body.year));
    if stated_total != u128::from(body.budget.fen()) || due.as_ref() != Some(body) {
        return reject(RuleCode::SettlementMismatch);
    }
    ledger.settled = Some(ctx.id);
    tx.store(yk, &ledger);
    Ok(Vec::new())
}
