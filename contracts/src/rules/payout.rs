//! The rules every payout (settlement or assistance) must pass, in order:
//! known claim, one payout per (claim, tier), eligibility, fund kind, tier
//! order, entitlement and annual cap (from [`mod@crate::quote`]), the claim-sum
//! bound, officer approvals above the threshold, and the fund's balance.

use fundtrail_ledger::pseudonym::ClaimId;
use fundtrail_ledger::types::{Amount, Category, FundId};

use crate::codes::RuleCode;
use crate::error::Fail;
use crate::model::{key, ClaimEntry, FundEntry, Paid, PayoutEntry, PersonYear, Reversible, Tier};
use crate::quote::{chain, load, QuoteInput, TierQuote};
use crate::state::Tx;

use super::clearing::{join, Bucket};
use super::{officer_approvals, plus, reject, RecordCtx, RuleResult};

pub struct PayoutRequest<'a> {
    pub claim_id: ClaimId,
    pub tier: Tier,
    pub category: Option<Category>,
    pub fund_id: &'a FundId,
    pub amount: Amount,
}

pub fn pay(tx: &mut Tx, ctx: &RecordCtx, req: &PayoutRequest) -> RuleResult {
    let ck = key::claim(&req.claim_id);
    let Some(mut claim): Option<ClaimEntry> = tx.load(&ck)? else {
        return reject(RuleCode::UnknownClaim);
    };
    if claim.paid(req.tier).is_some() {
        return reject(RuleCode::DuplicatePayment);
    }
    let l = load(tx, &claim)?;
    if req.category.is_some_and(|c| !l.eligible.contains(&c)) {
        return reject(RuleCode::NotEligible);
    }
    let fk = key::fund(req.fund_id);
    let Some(mut fund): Option<FundEntry> = tx.load(&fk)? else {
        return reject(RuleCode::UnknownFund);
    };
    // Each pooling region pays its own insured people, also for care
    // elsewhere (异地就医 is cleared between regions afterwards).
    if fund.kind != req.tier.fund_kind() || fund.region != claim.insured_region {
        return reject(RuleCode::WrongFund);
    }
    let input = QuoteInput {
        claim: &claim,
        policy: &l.policy,
        year: &l.year,
        eligible: &l.eligible,
    };
    let (tiers, _) = chain(&input, req.category);
    check_order(&claim, &tiers, req.tier)?;
    let q = tiers[req.tier as usize];
    check_entitlement(&claim, &q, req)?;
    let p = &l.policy.approvals;
    if req.amount > p.threshold && officer_approvals(tx, ctx)? < usize::from(p.required) {
        return reject(RuleCode::MissingApproval);
    }
    let Some(balance) = fund.balance.checked_sub(req.amount) else {
        return reject(RuleCode::InsufficientFunds);
    };
    fund.balance = balance;
    tx.store(fk, &fund);
    record_payout(tx, ctx, req, &mut claim, l.year, q.deductible_used)?;
    tx.store(ck, &claim);
    Ok(Vec::new())
}

/// Every earlier tier must be paid, or have nothing to pay; no later tier
/// may be paid yet.
fn check_order(claim: &ClaimEntry, tiers: &[TierQuote; 4], tier: Tier) -> Result<(), Fail> {
    let unsettled = Tier::ALL
        .into_iter()
        .take_while(|t| *t < tier)
        .any(|t| claim.paid(t).is_none() && !tiers[t as usize].amount.is_zero());
    let later_paid = claim.paid.iter().any(|p| p.tier > tier);
    if unsettled || later_paid {
        return reject(RuleCode::TierOrder);
    }
    Ok(())
}

/// The amount must not exceed the entitlement (`ANNUAL_CAP` when only the
/// cap is in the way), and the claim's payouts must stay within in-scope
/// (within the total, counting supplementary).
fn check_entitlement(claim: &ClaimEntry, q: &TierQuote, req: &PayoutRequest) -> Result<(), Fail> {
    if req.amount > q.amount {
        let code = if req.amount <= q.uncapped {
            RuleCode::AnnualCap
        } else {
            RuleCode::AboveEntitlement
        };
        return reject(code);
    }
    let supp = claim
        .paid(Tier::Supplementary)
        .map_or(0, |p| p.amount.fen());
    let others = claim.paid_total().fen() - supp;
    let within = match req.tier {
        Tier::Supplementary => others + supp + req.amount.fen() <= claim.total.fen(),
        _ => {
            others + req.amount.fen() <= claim.in_scope.fen()
                && others + supp + req.amount.fen() <= claim.total.fen()
        }
    };
    if !within {
        return reject(RuleCode::AboveEntitlement);
    }
    Ok(())
}

fn record_payout(
    tx: &mut Tx,
    ctx: &RecordCtx,
    req: &PayoutRequest,
    claim: &mut ClaimEntry,
    mut year: PersonYear,
    deductible_used: Amount,
) -> Result<(), Fail> {
    claim.paid.push(Paid {
        tier: req.tier,
        record: ctx.id,
        amount: req.amount,
    });
    claim.paid.sort_by_key(|p| p.tier);
    add_usage(
        &mut year,
        req.tier,
        req.category,
        req.amount,
        deductible_used,
    );
    tx.store(key::person_year(&claim.person, claim.year()), &year);
    let entry = PayoutEntry {
        claim: req.claim_id,
        tier: req.tier,
        category: req.category,
        fund: req.fund_id.clone(),
        amount: req.amount,
        deductible_used,
        org: ctx.org.clone(),
        reversed: false,
        cleared: false,
    };
    tx.store(key::reversible(&ctx.id), &Reversible::Payout(entry));
    if claim.cross_region() {
        join(tx, ctx.rules, &Bucket::of(claim), ctx.id, req.amount)?;
    }
    Ok(())
}

fn add_usage(
    y: &mut PersonYear,
    tier: Tier,
    category: Option<Category>,
    amount: Amount,
    deductible: Amount,
) {
    match (tier, category) {
        (Tier::Basic, _) => {
            y.basic_deductible_used = plus(y.basic_deductible_used, deductible);
            y.basic_paid = plus(y.basic_paid, amount);
        }
        (Tier::CriticalIllness, _) => {
            y.ci_deductible_used = plus(y.ci_deductible_used, deductible);
            y.ci_paid = plus(y.ci_paid, amount);
        }
        (Tier::Supplementary, _) => y.supplementary_paid = plus(y.supplementary_paid, amount),
        (Tier::Assistance, Some(c)) => {
            y.assistance_deductible_used = plus(y.assistance_deductible_used, deductible);
            y.set_assistance_paid(c, plus(y.assistance_paid(c), amount));
        }
        (Tier::Assistance, None) => {}
    }
}

/// Undoes `add_usage` for a reversed payout.
pub fn remove_usage(y: &mut PersonYear, e: &PayoutEntry) {
    let sub = |a: Amount, b: Amount| a.saturating_sub(b);
    match (e.tier, e.category) {
        (Tier::Basic, _) => {
            y.basic_deductible_used = sub(y.basic_deductible_used, e.deductible_used);
            y.basic_paid = sub(y.basic_paid, e.amount);
        }
        (Tier::CriticalIllness, _) => {
            y.ci_deductible_used = sub(y.ci_deductible_used, e.deductible_used);
            y.ci_paid = sub(y.ci_paid, e.amount);
        }
        (Tier::Supplementary, _) => y.supplementary_paid = sub(y.supplementary_paid, e.amount),
        (Tier::Assistance, Some(c)) => {
            y.assistance_deductible_used = sub(y.assistance_deductible_used, e.deductible_used);
            y.set_assistance_paid(c, sub(y.assistance_paid(c), e.amount));
        }
        (Tier::Assistance, None) => {}
    }
}
