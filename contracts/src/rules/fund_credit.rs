//! `fund_credit`: finance puts money into a fund, from a budget
//! appropriation or as a transfer from another fund. Transfers are the only
//! way money moves between funds (基金之间不得相互挤占): they need
//! [`TRANSFER_APPROVALS`] officer approvals of the finance organisation and
//! the source fund's balance must cover them.

use fundtrail_ledger::record::{FundCreditBody, FundSource};

use crate::codes::RuleCode;
use crate::model::{key, CreditEntry, FundEntry, Reversible};
use crate::state::Tx;

use super::{officer_approvals, plus, reject, RecordCtx, RuleResult};

/// Officer approvals a fund-to-fund transfer needs (rules version 1).
pub const TRANSFER_APPROVALS: usize = 2;

pub fn apply(tx: &mut Tx, ctx: &RecordCtx, body: &FundCreditBody) -> RuleResult {
    let fk = key::fund(&body.fund_id);
    let Some(mut fund): Option<FundEntry> = tx.load(&fk)? else {
        return reject(RuleCode::UnknownFund);
    };
    let from_fund = match &body.source {
        FundSource::Budget { .. } => None,
        FundSource::Transfer { from_fund } => {
            let sk = key::fund(from_fund);
            let Some(mut source): Option<FundEntry> = tx.load(&sk)? else {
                return reject(RuleCode::UnknownFund);
            };
            if officer_approvals(tx, ctx)? < TRANSFER_APPROVALS {
                return reject(RuleCode::MissingApproval);
            }
            let Some(balance) = source.balance.checked_sub(body.amount) else {
                return reject(RuleCode::InsufficientFunds);
            };
            source.balance = balance;
            tx.store(sk, &source);
            Some(from_fund.clone())
        }
    };
    fund.balance = plus(fund.balance, body.amount);
    tx.store(fk, &fund);
    let entry = CreditEntry {
        fund: body.fund_id.clone(),
        amount: body.amount,
        from_fund,
        org: ctx.org.clone(),
        reversed: false,
    };
    tx.store(key::reversible(&ctx.id), &Reversible::Credit(entry));
    Ok(Vec::new())
}
