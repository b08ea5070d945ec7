//! One-stop entitlement (一站式结算): the exact split of a claim over basic
//! insurance, critical illness (大病), supplementary cover and assistance,
//! by subtractive chaining (减法衔接). Each tier works on the in-scope
//! remainder the earlier tiers left; a tier already paid counts with the
//! amount actually paid. The settlement and assistance rules check every
//! payout against this same computation.

use fundtrail_ledger::pseudonym::ClaimId;
use fundtrail_ledger::record::PolicyParams;
use fundtrail_ledger::types::{Amount, Bp, Category, InsuredType};

use crate::codes::RuleCode;
use crate::error::Fail;
use crate::model::{eligible_on, key, ClaimEntry, Eligibility, PersonYear, Tier};
use crate::policy::{policy_for, PolicyInForce};
use crate::state::{BlockOverlay, State, Tx};

/// The split of one claim. `out_of_pocket` is what the patient still pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Quote {
    pub basic: Amount,
    pub critical_illness: Amount,
    pub supplementary: Amount,
    pub assistance: Amount,
    pub assistance_category: Option<Category>,
    pub out_of_pocket: Amount,
}

/// One tier's entitlement, with what the caps and deductibles did to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierQuote {
    /// The entitlement: the most this tier may pay.
    pub amount: Amount,
    /// The entitlement before the annual cap.
    pub uncapped: Amount,
    /// Annual deductible this payout would consume.
    pub deductible_used: Amount,
    /// The part of `amount` that falls within the in-scope total.
    pub in_scope_part: Amount,
}

impl Default for TierQuote {
    fn default() -> TierQuote {
        let z = Amount::ZERO;
        TierQuote {
            amount: z,
            uncapped: z,
            deductible_used: z,
            in_scope_part: z,
        }
    }
}

/// Everything the chain reads, gathered once.
pub struct QuoteInput<'a> {
    pub claim: &'a ClaimEntry,
    pub policy: &'a PolicyParams,
    pub year: &'a PersonYear,
    /// Categories with eligibility covering the service date.
    pub eligible: &'a [Category],
}

/// The four tiers in order. Assistance is computed for `category`, or for
/// the first eligible category with assistance parameters when `None`.
pub fn chain(input: &QuoteInput, category: Option<Category>) -> ([TierQuote; 4], Option<Category>) {
    let category = category.or_else(|| default_category(input));
    let mut remaining = input.claim.in_scope;
    let mut out = [TierQuote::default(); 4];
    for (i, tier) in Tier::ALL.into_iter().enumerate() {
        let q = match input.claim.paid(tier) {
            Some(p) => paid_as_quote(input, tier, p.amount, remaining),
            None => tier_quote(input, tier, remaining, category),
        };
        remaining = remaining.saturating_sub(q.in_scope_part);
        out[i] = q;
    }
    (out, category)
}

fn default_category(input: &QuoteInput) -> Option<Category> {
    let has_params = |c: &Category| input.policy.assistance.iter().any(|a| a.category == *c);
    input.eligible.iter().copied().find(has_params)
}

fn paid_as_quote(input: &QuoteInput, tier: Tier, amount: Amount, remaining: Amount) -> TierQuote {
    let in_scope_part = match tier {
        Tier::Supplementary => {
            amount.min(remaining.mul_bp(input.policy.supplementary.ratio_in_catalogue))
        }
        _ => amount,
    };
    TierQuote {
        amount,
        uncapped: amount,
        deductible_used: Amount::ZERO,
        in_scope_part,
    }
}

fn tier_quote(
    input: &QuoteInput,
    tier: Tier,
    remaining: Amount,
    category: Option<Category>,
) -> TierQuote {
    match tier {
        Tier::Basic => basic(input, remaining),
        Tier::CriticalIllness => critical_illness(input, remaining),
        Tier::Supplementary => supplementary(input, remaining),
        Tier::Assistance => category
            .map(|c| assistance(input, remaining, c))
            .unwrap_or_default(),
    }
}

/// `min(ratio × max(0, base − remaining deductible), remaining cap)`.
fn capped(base: Amount, deductible_left: Amount, ratio: Bp, cap_left: Amount) -> TierQuote {
    let uncapped = base.saturating_sub(deductible_left).mul_bp(ratio);
    let amount = uncapped.min(cap_left);
    TierQuote {
        amount,
        uncapped,
        deductible_used: base.min(deductible_left),
        in_scope_part: amount,
    }
}

fn any_of(eligible: &[Category], listed: &[Category]) -> bool {
    eligible.iter().any(|c| listed.contains(c))
}

fn basic(input: &QuoteInput, remaining: Amount) -> TierQuote {
    let p = &input.policy.basic;
    let c = input.claim;
    let waived = any_of(input.eligible, &p.deductible_waived_for)
        && p.deductible_waived_at.contains(&c.level);
    let deductible_left = if waived {
        Amount::ZERO
    } else {
        p.deductible
            .saturating_sub(input.year.basic_deductible_used)
    };
    let ratios = match c.insured_type {
        InsuredType::Resident => p.resident_ratio,
        InsuredType::Employee => p.employee_ratio,
    };
    let cap_left = p.annual_cap.saturating_sub(input.year.basic_paid);
    capped(remaining, deductible_left, ratios.at(c.level), cap_left)
}

fn critical_illness(input: &QuoteInput, remaining: Amount) -> TierQuote {
    let p = &input.policy.critical_illness;
    let poor = any_of(input.eligible, &p.poor_categories);
    let (deductible, ratio) = if poor {
        (p.poor_deductible, p.poor_ratio)
    } else {
        (p.deductible, p.ratio)
    };
    let deductible_left = deductible.saturating_sub(input.year.ci_deductible_used);
    let cap_left = if poor && p.poor_cap_exempt {
        Amount::from_fen(Amount::MAX_FEN).unwrap_or(Amount::ZERO)
    } else {
        p.annual_cap.saturating_sub(input.year.ci_paid)
    };
    capped(remaining, deductible_left, ratio, cap_left)
}

/// In-catalogue remainder at one ratio, the out-of-scope part at another,
/// one cap over both (taken from the in-catalogue part first).
fn supplementary(input: &QuoteInput, remaining: Amount) -> TierQuote {
    let c = input.claim;
    if !c.supplementary_cover {
        return TierQuote::default();
    }
    let p = &input.policy.supplementary;
    let inside = remaining.mul_bp(p.ratio_in_catalogue);
    let outside = c
        .total
        .saturating_sub(c.in_scope)
        .mul_bp(p.ratio_out_of_catalogue);
    let uncapped = inside.checked_add(outside).unwrap_or(inside);
    let amount = uncapped.min(p.annual_cap.saturating_sub(input.year.supplementary_paid));
    TierQuote {
        amount,
        uncapped,
        deductible_used: Amount::ZERO,
        in_scope_part: amount.min(inside),
    }
}

fn assistance(input: &QuoteInput, remaining: Amount, category: Category) -> TierQuote {
    if !input.eligible.contains(&category) {
        return TierQuote::default();
    }
    let Some(p) = input
        .policy
        .assistance
        .iter()
        .find(|a| a.category == category)
    else {
        return TierQuote::default();
    };
    let deductible_left = p
        .deductible
        .saturating_sub(input.year.assistance_deductible_used);
    let cap_left = p
        .annual_cap
        .saturating_sub(input.year.assistance_paid(category));
    capped(remaining, deductible_left, p.ratio, cap_left)
}

/// The state a quote reads for one claim.
pub struct Loaded {
    pub policy: PolicyInForce,
    pub year: PersonYear,
    pub eligible: Vec<Category>,
}

pub fn load(tx: &Tx, claim: &ClaimEntry) -> Result<Loaded, Fail> {
    let policy = policy_for(tx, &claim.insured_region, claim.service_date)?
        .ok_or(Fail::Reject(RuleCode::NoPolicy))?;
    let year = tx
        .load(&key::person_year(&claim.person, claim.year()))?
        .unwrap_or_default();
    let elig: Eligibility = tx
        .load(&key::eligibility(&claim.person))?
        .unwrap_or_default();
    Ok(Loaded {
        policy,
        year,
        eligible: eligible_on(&elig, claim.service_date),
    })
}

fn to_quote(claim: &ClaimEntry, tiers: &[TierQuote; 4], category: Option<Category>) -> Quote {
    let paid: u64 = tiers.iter().map(|t| t.amount.fen()).sum();
    Quote {
        basic: tiers[0].amount,
        critical_illness: tiers[1].amount,
        supplementary: tiers[2].amount,
        assistance: tiers[3].amount,
        assistance_category: category,
        out_of_pocket: Amount::from_fen(claim.total.fen().saturating_sub(paid))
            .unwrap_or(Amount::ZERO),
    }
}

/// The split of `claim` given the state [`load`] read for it.
pub fn quote_loaded(claim: &ClaimEntry, l: &Loaded) -> Quote {
    let input = QuoteInput {
        claim,
        policy: &l.policy,
        year: &l.year,
        eligible: &l.eligible,
    };
    let (tiers, category) = chain(&input, None);
    to_quote(claim, &tiers, category)
}

/// The entitlement split of an accepted claim, counting what has already
/// been paid on it. Rejects with `UNKNOWN_CLAIM` or `NO_POLICY`.
pub fn quote(state: &dyn State, claim_id: &ClaimId) -> Result<Quote, Fail> {
    let mut overlay = BlockOverlay::new(state);
    let tx = overlay.tx();
    let claim: ClaimEntry = tx
        .load(&key::claim(claim_id))?
        .ok_or(Fail::Reject(RuleCode::UnknownClaim))?;
    Ok(quote_loaded(&claim, &load(&tx, &claim)?))
}
