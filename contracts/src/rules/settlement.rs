//! `settlement`: an insurance payout of one scheme on a claim. All payout
//! rules live in [`super::payout`].

use fundtrail_ledger::record::SettlementBody;

use crate::state::Tx;

use super::{RecordCtx, RuleResult};

use super::payout::{pay, PayoutRequest};

pub fn apply(tx: &mut Tx, ctx: &RecordCtx, body: &SettlementBody) -> RuleResult {
    let req = PayoutRequest {
        claim_id: body.claim_id,
        tier: body.scheme.into(),
        category: None,
        fund_id: &body.fund_id,
        amount: body.amount,
    };
    pay(tx, ctx, &req)
}
