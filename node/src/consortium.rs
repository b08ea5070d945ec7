//! The consortium as `GET /v1/membership` shows it and `fundtrail
//! governance` reads it: organisations with their keys by role, node keys'
//! attester terms, the rules schedule, the disclosure grant's terms, and
//! the quorums that follow from them.

use fundtrail_contracts::model::{key, GrantTerms, RulesSchedule};
use fundtrail_ledger::codec;
use fundtrail_ledger::membership::{Membership, NodeTerm};
use fundtrail_ledger::store::StoreError;
use fundtrail_ledger::types::{ChainId, Height, KeyRole, OrgId, Role};
use fundtrail_ledger::PublicKey;
use serde::{Deserialize, Serialize};

use crate::chain::{Chain, ChainError};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsortiumView {
    pub chain_id: ChainId,
    /// The head this view was read at; its membership is in force from
    /// the next block on.
    pub height: Height,
    pub orgs: Vec<OrgView>,
    /// Every node key's terms as an attester, in the order they began.
    pub node_terms: Vec<NodeTerm>,
    /// Organisations that must back a `member` record: more than half.
    pub member_quorum: usize,
    /// Organisations whose attestations the next block needs by default.
    pub attestation_quorum: usize,
    /// The rules version of the head block.
    pub rules_version: u32,
    /// Rules versions scheduled after the head, by activation height.
    pub scheduled_rules: Vec<ScheduledRules>,
    /// Terms a `member` record set for disclosure grants; without one, the
    /// defaults in `contracts/policy/disclosure.toml` apply.
    pub disclosure_grant: Option<GrantTerms>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgView {
    pub org: OrgId,
    pub role: Role,
    pub keys: Vec<KeyView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    pub key: PublicKey,
    pub role: KeyRole,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledRules {
    pub activation: Height,
    pub version: u32,
}

impl ConsortiumView {
    /// The consortium in force after `chain`'s head.
    pub fn of(chain: &Chain) -> Result<ConsortiumView, ChainError> {
        let head = chain.head();
        let members = chain.membership();
        let schedule: Option<RulesSchedule> = state_value(chain, key::RULES)?;
        let rules_version = match chain.store().header(head.height)? {
            Some(header) => header.rules_version,
            None => chain.genesis().rules_version,
        };
        let next = head.height.next();
        Ok(ConsortiumView {
            chain_id: chain.genesis().chain_id.clone(),
            height: head.height,
            orgs: org_views(&members),
            node_terms: members.terms().to_vec(),
            member_quorum: members.orgs().len() / 2 + 1,
            attestation_quorum: members.majority(next),
            rules_version,
            scheduled_rules: schedule
                .map(|s| s.scheduled)
                .unwrap_or_default()
                .into_iter()
                .filter(|(at, _)| *at > head.height)
                .map(|(activation, version)| ScheduledRules {
                    activation,
                    version,
                })
                .collect(),
            disclosure_grant: state_value(chain, key::GRANT_TERMS)?,
        })
    }

    /// The organisation and role of a key in force.
    pub fn key(&self, key: &PublicKey) -> Option<(&OrgView, KeyRole)> {
        self.orgs
            .iter()
            .find_map(|o| o.keys.iter().find(|k| &k.key == key).map(|k| (o, k.role)))
    }
}

fn org_views(members: &Membership) -> Vec<OrgView> {
    members
        .orgs()
        .iter()
        .map(|(org, role)| OrgView {
            org: org.clone(),
            role: *role,
            keys: members
                .keys()
                .filter(|(_, e)| &e.org == org)
                .map(|(key, e)| KeyView {
                    key: *key,
                    role: e.role,
                })
                .collect(),
        })
        .collect()
}

fn state_value<T: serde::de::DeserializeOwned>(
    chain: &Chain,
    key: &[u8],
) -> Result<Option<T>, ChainError> {
    let Some(bytes) = chain.store().state_get(key)? else {
        return Ok(None);
    };
    codec::decode("state value", &bytes).map(Some).map_err(|e| {
        ChainError::Store(StoreError::Corrupt {
            what: e.to_string(),
            height: chain.head().height,
        })
    })
}
