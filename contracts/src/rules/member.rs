//! `member`: membership, rules-version changes and the terms a disclosure
//! grants. Each needs a quorum: more than half of the current
//! organisations, counting the submitter's and every organisation with an
//! approving officer key.

use fundtrail_ledger::record::MemberBody;
use fundtrail_ledger::types::{Height, OrgId};

use crate::codes::RuleCode;
use crate::model::{key, GrantTerms, KeyEntry, OrgEntry, RulesSchedule};
use crate::state::Tx;

use super::{backing_orgs, reject, RecordCtx, RuleResult, SUPPORTED_RULES};

pub fn apply(tx: &mut Tx, ctx: &RecordCtx, body: &MemberBody) -> RuleResult {
    let mut orgs: Vec<OrgId> = tx.load(key::ORGS)?.unwrap_or_default();
    let backing = backing_orgs(tx, ctx)?;
    let votes = orgs.iter().filter(|o| backing.contains(*o)).count();
    if votes * 2 <= orgs.len() {
        return reject(RuleCode::Quorum);
    }
    match body {
        MemberBody::AddOrg { org, role } => {
            if let Err(pos) = orgs.binary_search(org) {
                orgs.insert(pos, org.clone());
            }
            tx.store(key::ORGS.to_vec(), &orgs);
            tx.store(key::org(org), &OrgEntry { role: *role });
        }
        MemberBody::RemoveOrg { org } => {
            let Ok(pos) = orgs.binary_search(org) else {
                return reject(RuleCode::UnknownOrg);
            };
            orgs.remove(pos);
            tx.store(key::ORGS.to_vec(), &orgs);
            tx.remove(key::org(org));
        }
        MemberBody::AddKey {
            org,
            key: k,
            key_role,
        } => {
            if orgs.binary_search(org).is_err() {
                return reject(RuleCode::UnknownOrg);
            }
            let existing: Option<KeyEntry> = tx.load(&key::key(k))?;
            if existing.is_some_and(|e| &e.org != org) {
                return reject(RuleCode::RoleNotAllowed);
            }
            tx.store(
                key::key(k),
                &KeyEntry {
                    org: org.clone(),
                    role: *key_role,
                },
            );
        }
        MemberBody::RevokeKey { org, key: k } => {
            let existing: Option<KeyEntry> = tx.load(&key::key(k))?;
            if existing.is_none_or(|e| &e.org != org) {
                return reject(RuleCode::UnknownKey);
            }
            tx.remove(key::key(k));
        }
        MemberBody::ScheduleRules {
            version,
            activation,
        } => schedule(tx, ctx.height, *version, *activation)?,
        MemberBody::DisclosureGrant {
            max_fetches,
            valid_days,
        } => tx.store(
            key::GRANT_TERMS.to_vec(),
            &GrantTerms {
                max_fetches: *max_fetches,
                valid_days: *valid_days,
            },
        ),
    }
    Ok(Vec::new())
}

fn schedule(
    tx: &mut Tx,
    now: Height,
    version: u32,
    activation: Height,
) -> Result<(), crate::error::Fail> {
    if !SUPPORTED_RULES.contains(&version) {
        return reject(RuleCode::UnknownRulesVersion);
    }
    if activation <= now {
        return reject(RuleCode::BadActivation);
    }
    let mut s: RulesSchedule = tx
        .load(key::RULES)?
        .ok_or(crate::error::ExecError::NoGenesis)?;
    s.scheduled.retain(|(h, _)| *h != activation);
    s.scheduled.push((activation, version));
    s.scheduled.sort();
    tx.store(key::RULES.to_vec(), &s);
    Ok(())
}
