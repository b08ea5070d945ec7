//! `reversal`: undoes an accepted payout or fund credit, once, by the
//! organisation that submitted it. A payout reversal restores the fund
//! balance, the person's caps and deductibles, and frees the claim's tier;
//! it must reverse the claim's latest tier first and cannot touch a payout
//! already cleared.

use fundtrail_ledger::record::{RecordId, ReversalBody};

use crate::codes::RuleCode;
use crate::error::Fail;
use crate::model::{
    key, ClaimEntry, CreditEntry, FundEntry, PayoutEntry, PersonYear, RecordMeta, Reversible,
};
use crate::state::Tx;

use super::clearing::{leave, Bucket};
use super::payout::remove_usage;
use super::{plus, reject, RecordCtx, RuleResult};

pub fn apply(tx: &mut Tx, ctx: &RecordCtx, body: &ReversalBody) -> RuleResult {
    let rk = key::reversible(&body.target);
    let Some(target): Option<Reversible> = tx.load(&rk)? else {
        let known: Option<RecordMeta> = tx.load(&key::record(&body.target))?;
        return reject(if known.is_some() {
            RuleCode::NotReversible
        } else {
            RuleCode::UnknownRecord
        });
    };
    let reversed = match target {
        Reversible::Payout(e) => Reversible::Payout(reverse_payout(tx, ctx, &body.target, e)?),
        Reversible::Credit(e) => Reversible::Credit(reverse_credit(tx, ctx, e)?),
    };
    tx.store(rk, &reversed);
    Ok(Vec::new())
}

fn check_owner(
    reversed: bool,
    org: &fundtrail_ledger::types::OrgId,
    ctx: &RecordCtx,
) -> Result<(), Fail> {
    if reversed {
        return reject(RuleCode::AlreadyReversed);
    }
    if org != &ctx.org {
        return reject(RuleCode::RoleNotAllowed);
    }
    Ok(())
}

fn load_fund(tx: &Tx, id: &fundtrail_ledger::types::FundId) -> Result<FundEntry, Fail> {
    tx.load(&key::fund(id))?
        .ok_or(Fail::Fatal(crate::error::ExecError::Corrupt {
            key: key::fund(id),
            reason: "fund named by an accepted record is missing".into(),
        }))
}

fn reverse_payout(
    tx: &mut Tx,
    ctx: &RecordCtx,
    target: &RecordId,
    mut e: PayoutEntry,
) -> Result<PayoutEntry, Fail> {
    check_owner(e.reversed, &e.org, ctx)?;
    if e.cleared {
        return reject(RuleCode::AlreadyCleared);
    }
    let ck = key::claim(&e.claim);
    let Some(mut claim): Option<ClaimEntry> = tx.load(&ck)? else {
        return reject(RuleCode::UnknownClaim);
    };
    if claim.paid.iter().any(|p| p.tier > e.tier) {
        return reject(RuleCode::TierOrder);
    }
    claim.paid.retain(|p| p.tier != e.tier);
    let mut fund = load_fund(tx, &e.fund)?;
    fund.balance = plus(fund.balance, e.amount);
    tx.store(key::fund(&e.fund), &fund);
    let yk = key::person_year(&claim.person, claim.year());
    let mut year: PersonYear = tx.load(&yk)?.unwrap_or_default();
    remove_usage(&mut year, &e);
    tx.store(yk, &year);
    if claim.cross_region() {
        leave(tx, ctx.rules, &Bucket::of(&claim), target, e.amount)?;
    }
    tx.store(ck, &claim);
    e.reversed = true;
    Ok(e)
}

fn reverse_credit(tx: &mut Tx, ctx: &RecordCtx, mut e: CreditEntry) -> Result<CreditEntry, Fail> {
    check_owner(e.reversed, &e.org, ctx)?;
    let mut fund = load_fund(tx, &e.fund)?;
    let Some(balance) = fund.balance.checked_sub(e.amount) else {
        return reject(RuleCode::InsufficientFunds);
    };
    fund.balance = balance;
    tx.store(key::fund(&e.fund), &fund);
    if let Some(from) = &e.from_fund {
        let mut source = load_fund(tx, from)?;
        source.balance = plus(source.balance, e.amount);
        tx.store(key::fund(from), &source);
    }
    e.reversed = true;
    Ok(e)
}
