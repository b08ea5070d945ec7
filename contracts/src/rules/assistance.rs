//! `assistance`: a medical-assistance payout (救助) for one eligibility
//! category on a claim. All payout rules live in [`super::payout`].

use fundtrail_ledger::record::AssistanceBody;

use crate::model::Tier;
use crate::state::Tx;

use super::{RecordCtx, RuleResult};

use super::payout::{pay, PayoutRequest};

pub fn apply(tx: &mut Tx, ctx: &RecordCtx, body: &AssistanceBody) -> RuleResult {
    let req = PayoutRequest {
        claim_id: body.claim_id,
        tier: Tier::Assistance,
        category: Some(body.category),
        fund_id: &body.fund_id,
        amount: body.amount,
    };
    pay(tx, ctx, &req)
}
