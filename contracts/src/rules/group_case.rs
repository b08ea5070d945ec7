//! Grouped inpatient cases (rules version 4). In a care region whose
//! payment policy pays by groups, an inpatient claim must name a group of
//! the catalogue (`UNKNOWN_GROUP`) in a year not yet settled
//! (`ALREADY_SETTLED`). The case is stored with its standard, class,
//! points and the institution's entitlement (`gcase/<claim>`), joins its
//! institution's year with its points, itemised cost and entitlement, and
//! may raise the upcoding,
//! low-standard admission and same-group readmission signals.

use fundtrail_ledger::record::{ClaimBody, PaymentMethod, PaymentPolicyBody};
use fundtrail_ledger::types::{Admission, Amount, Date, GroupCode};

use crate::codes::RuleCode;
use crate::error::Fail;
use crate::model::{key, ClaimEntry, InstitutionCases, MonthCases, PaymentYear};
use crate::payment::{below_share, case_payment, GroupCase};
use crate::state::Tx;

use super::{plus, reject, RecordCtx, PAYMENT_FROM};

const BP: u128 = 10_000;

/// Books the claim's case if it is one; returns the signals it raised.
/// `itemised` is the claim's basic tier by item, `readmission_days` the
/// insured region's readmission window.
pub fn apply(
    tx: &mut Tx,
    ctx: &RecordCtx,
    claim: &ClaimEntry,
    body: &ClaimBody,
    itemised: Amount,
    readmission_days: u16,
) -> Result<Vec<RuleCode>, Fail> {
    if ctx.rules < PAYMENT_FROM || claim.admission != Admission::Inpatient {
        return Ok(Vec::new());
    }
    let year = claim.year();
    let policy = tx.shared::<PaymentPolicyBody>(&key::payment_policy(&claim.care_region, year))?;
    let Some(policy) = policy.filter(|p| p.method != PaymentMethod::Itemised) else {
        return Ok(Vec::new());
    };
    let Some(group) = body.drg_or_dip_group.as_ref().and_then(|g| policy.group(g)) else {
        return reject(RuleCode::UnknownGroup);
    };
    let yk = key::payment_year(&claim.care_region, year);
    let mut ledger: PaymentYear = tx.load(&yk)?.unwrap_or_default();
    if ledger.settled.is_some() {
        return reject(RuleCode::AlreadySettled);
    }
    let case = case_payment(&policy, group, claim.in_scope, itemised);
    let mut signals = Vec::new();
    if below_share(claim.in_scope, case.standard, policy.low_standard_ratio) {
        signals.push(RuleCode::LowStandardAdmission);
    }
    let inst = ledger.institution(&body.institution);
    inst.cases = inst.cases.saturating_add(1);
    inst.points = inst.points.saturating_add(case.points);
    inst.itemised = plus(inst.itemised, itemised);
    inst.entitled = plus(inst.entitled, case.entitlement);
    let month = claim.service_date.ymd().1 as u8;
    if upcoding(inst, month, group.points, &policy) {
        signals.push(RuleCode::Upcoding);
    }
    tx.store(yk, &ledger);
    let stored = GroupCase {
        institution: body.institution.clone(),
        group: group.code.clone(),
        itemised,
        payment: case,
    };
    tx.store(key::group_case(&body.claim_id), &stored);
    if readmitted_to_group(tx, claim, &group.code, readmission_days)? {
        signals.push(RuleCode::GroupReadmission);
    }
    Ok(signals)
}

/// Adds the case to its month; true the first time in a month that the
/// month's case-mix (mean catalogue points per case) is above the mean of
/// the earlier months by more than `upcoding_rise`, both with at least
/// `upcoding_min_cases` cases.
fn upcoding(
    inst: &mut InstitutionCases,
    month: u8,
    group_points: u32,
    p: &PaymentPolicyBody,
) -> bool {
    let i = match inst.months.binary_search_by(|m| m.month.cmp(&month)) {
        Ok(i) => i,
        Err(i) => {
            inst.months.insert(
                i,
                MonthCases {
                    month,
                    ..MonthCases::default()
                },
            );
            i
        }
    };
    let (earlier_cases, earlier_points) =
        inst.months[..i].iter().fold((0u128, 0u128), |(c, g), m| {
            (c + u128::from(m.cases), g + u128::from(m.group_points))
        });
    let m = &mut inst.months[i];
    m.cases = m.cases.saturating_add(1);
    m.group_points = m.group_points.saturating_add(u64::from(group_points));
    let min = u128::from(p.upcoding_min_cases.max(1));
    if m.flagged || u128::from(m.cases) < min || earlier_cases < min {
        return false;
    }
    let now = u128::from(m.group_points) * earlier_cases * BP;
    let bar = earlier_points * u128::from(m.cases) * (BP + u128::from(p.upcoding_rise.0));
    m.flagged = now > bar;
    m.flagged
}

/// Whether the person's previous grouped inpatient case was in the same
/// group within `days`; records this case as the last.
fn readmitted_to_group(
    tx: &mut Tx,
    claim: &ClaimEntry,
    group: &GroupCode,
    days: u16,
) -> Result<bool, Fail> {
    let k = key::last_group(&claim.person);
    let last: Option<(Date, GroupCode)> = tx.load(&k)?;
    let date = claim.service_date;
    let same = last.as_ref().is_some_and(|(d, g)| {
        g == group && d.days_since(date).max(date.days_since(*d)) <= u32::from(days)
    });
    let latest = match last {
        Some((d, g)) if d > date => (d, g),
        _ => (date, group.clone()),
    };
    tx.store(k, &latest);
    Ok(same)
}
