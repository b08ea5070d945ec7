//! `claim`: a hospital bill. One claim per claim id; a policy must cover the
//! insured region and service date; care outside the insured region needs a
//! filing covering the service date. Raises the high-cost, split-admission
//! and frequent-region-change signals. Under rules version 4 an inpatient
//! claim in a region paid by groups is also a grouped case
//! ([`super::group_case`]).

use fundtrail_ledger::record::{ClaimBody, SignalParams};
use fundtrail_ledger::types::{Admission, Amount, Date};

use crate::codes::RuleCode;
use crate::model::{key, ClaimEntry, FilingEntry, History, PersonYear};
use crate::quote::{self, Loaded};
use crate::state::Tx;

use super::{plus, reject, RecordCtx, RuleResult};

/// At most this many recent care regions are kept per person.
const HISTORY_LEN: usize = 32;

pub fn apply(tx: &mut Tx, ctx: &RecordCtx, body: &ClaimBody) -> RuleResult {
    let ck = key::claim(&body.claim_id);
    if tx.contains(&ck)? {
        return reject(RuleCode::DuplicateClaim);
    }
    let claim = ClaimEntry::from_body(body);
    let loaded = quote::load(tx, &claim)?;
    if claim.cross_region() && !has_filing(tx, &claim)? {
        return reject(RuleCode::NoFiling);
    }
    let quoted = quote::quote_loaded(&claim, &loaded);
    let Loaded { policy, year, .. } = loaded;
    let mut signals = Vec::new();
    if high_cost(tx, &claim, year, quoted.out_of_pocket, &policy.signals) {
        signals.push(RuleCode::HighCost);
    }
    signals.extend(history_signals(tx, &claim, &policy.signals)?);
    let readmission_days = policy.signals.readmission_days;
    signals.extend(super::group_case::apply(
        tx,
        ctx,
        &claim,
        body,
        quoted.basic,
        readmission_days,
    )?);
    tx.store(ck, &claim);
    Ok(signals)
}

fn has_filing(tx: &Tx, c: &ClaimEntry) -> Result<bool, crate::error::Fail> {
    let filings: Vec<FilingEntry> = tx.load(&key::filing(&c.person))?.unwrap_or_default();
    Ok(filings.iter().any(|f| {
        f.insured_region == c.insured_region
            && f.care_region == c.care_region
            && f.window.covers(c.service_date)
    }))
}

/// Adds the claim's projected out-of-pocket to the person's year and
/// reports whether the year is above the policy share of income.
fn high_cost(
    tx: &mut Tx,
    claim: &ClaimEntry,
    mut year: PersonYear,
    out_of_pocket: Amount,
    p: &SignalParams,
) -> bool {
    year.out_of_pocket = plus(year.out_of_pocket, out_of_pocket);
    let above = year.out_of_pocket > p.per_capita_disposable_income.mul_bp(p.high_cost_share);
    tx.store(key::person_year(&claim.person, claim.year()), &year);
    above
}

fn history_signals(
    tx: &mut Tx,
    claim: &ClaimEntry,
    p: &SignalParams,
) -> Result<Vec<RuleCode>, crate::error::Fail> {
    let hk = key::history(&claim.person);
    let mut h: History = tx.load(&hk)?.unwrap_or_default();
    let mut signals = Vec::new();
    let date = claim.service_date;
    if claim.admission == Admission::Inpatient {
        if h.last_inpatient
            .is_some_and(|last| days_apart(last, date) <= u32::from(p.readmission_days))
        {
            signals.push(RuleCode::SplitAdmission);
        }
        h.last_inpatient = Some(h.last_inpatient.map_or(date, |d| d.max(date)));
    }
    let window = u32::from(p.region_change_window_days);
    h.regions.push((date, claim.care_region.clone()));
    h.regions.sort();
    h.regions.retain(|(d, _)| d.days() + window >= date.days());
    let excess = h.regions.len().saturating_sub(HISTORY_LEN);
    h.regions.drain(..excess);
    let mut recent: Vec<_> = h
        .regions
        .iter()
        .filter(|(d, _)| days_apart(*d, date) <= window)
        .map(|(_, r)| r)
        .collect();
    recent.sort();
    recent.dedup();
    if recent.len() > usize::from(p.region_change_max) {
        signals.push(RuleCode::FrequentRegionChange);
    }
    tx.store(hk, &h);
    Ok(signals)
}

fn days_apart(a: Date, b: Date) -> u32 {
    a.days_since(b).max(b.days_since(a))
}
