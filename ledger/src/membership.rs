//! The consortium as the chain says it is at each height: organisations
//! with their roles, and every key with its organisation and role. Genesis
//! sets it; an accepted `member` record changes it from the next block on,
//! exactly as the contracts' key registry changes. Which signatures count,
//! who may propose a block and whose attestations count are all read from
//! it, so a node and an offline verifier judge each height alike.
//!
//! A key is in force while it is enrolled and its organisation is a member.
//! A key that strict enrolment refuses (docs/ENCODING.md, "Signature
//! validity") may be enrolled by the rules but signs nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::block::{Block, Genesis};
use crate::crypto::{CryptoError, KeyRing, PublicKey};
use crate::record::{MemberBody, RecordBody};
use crate::types::{Height, KeyRole, OrgId, Role};

/// A key's organisation and role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    pub org: OrgId,
    pub role: KeyRole,
}

/// A node key's term as an attester of `org`: blocks from `from` up to,
/// not including, `until`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTerm {
    pub key: PublicKey,
    pub org: OrgId,
    pub from: Height,
    pub until: Option<Height>,
}

impl NodeTerm {
    fn covers(&self, height: Height) -> bool {
        self.from <= height && self.until.is_none_or(|u| height < u)
    }
}

/// A key that an accepted `member` record put in force but strict
/// enrolment refuses: it signs nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedKey {
    pub height: Height,
    pub key: PublicKey,
    pub reason: CryptoError,
}

/// The membership in force at one height, with the attester terms of every
/// height before it.
#[derive(Clone)]
pub struct Membership {
    orgs: BTreeMap<OrgId, Role>,
    keys: BTreeMap<PublicKey, Enrolment>,
    terms: Vec<NodeTerm>,
    weak: BTreeSet<PublicKey>,
    ring: KeyRing,
    /// Every node key that has held a term: an attestation is checked
    /// against it, and counts only within the key's term.
    attester_ring: KeyRing,
}

/// What a node stores to reopen a [`Membership`] without reading its chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedMembership {
    orgs: BTreeMap<OrgId, Role>,
    keys: BTreeMap<PublicKey, Enrolment>,
    terms: Vec<NodeTerm>,
    weak: BTreeSet<PublicKey>,
}

impl Membership {
    /// The membership of block 1. Every genesis key must pass strict
    /// enrolment.
    pub fn from_genesis(genesis: &Genesis) -> Result<Membership, CryptoError> {
        let mut m = Membership {
            orgs: BTreeMap::new(),
            keys: BTreeMap::new(),
            terms: Vec::new(),
            weak: BTreeSet::new(),
            ring: KeyRing::new(),
            attester_ring: KeyRing::new(),
        };
        for org in &genesis.orgs {
            m.orgs.insert(org.id.clone(), org.role);
            for k in &org.keys {
                m.keys.insert(
                    k.key,
                    Enrolment {
                        org: org.id.clone(),
                        role: k.role,
                    },
                );
            }
        }
        for key in m.in_force().into_keys() {
            m.ring.enrol(key)?;
        }
        m.open_terms(&BTreeMap::new(), Height(1));
        Ok(m)
    }

    /// Reopens a stored membership, enrolling its keys again.
    pub fn from_saved(stored: SavedMembership) -> Membership {
        let mut m = Membership {
            orgs: stored.orgs,
            keys: stored.keys,
            terms: stored.terms,
            weak: stored.weak,
            ring: KeyRing::new(),
            attester_ring: KeyRing::new(),
        };
        let keys: Vec<PublicKey> = m.in_force().into_keys().collect();
        for key in keys {
            if !m.weak.contains(&key) && m.ring.enrol(key).is_err() {
                m.weak.insert(key);
            }
        }
        for term in &m.terms {
            // A weak key holds a term that counts nothing.
            let _ = m.attester_ring.enrol(term.key);
        }
        m
    }

    pub fn to_saved(&self) -> SavedMembership {
        SavedMembership {
            orgs: self.orgs.clone(),
            keys: self.keys.clone(),
            terms: self.terms.clone(),
            weak: self.weak.clone(),
        }
    }

    /// Applies the accepted `member` records of `block`; the changes are in
    /// force from the next block on. Returns the keys it put in force that
    /// sign nothing.
    pub fn apply_block(&mut self, block: &Block) -> Vec<RefusedKey> {
        let height = block.header.height;
        let mut refused = Vec::new();
        for body in accepted_member_bodies(block) {
            refused.extend(self.apply(height, body));
        }
        refused
    }

    /// Applies one accepted `member` record of the block at `height`.
    pub fn apply(&mut self, height: Height, body: &MemberBody) -> Vec<RefusedKey> {
        let before = self.in_force();
        match body {
            MemberBody::AddOrg { org, role } => {
                self.orgs.insert(org.clone(), *role);
            }
            MemberBody::RemoveOrg { org } => {
                self.orgs.remove(org);
            }
            MemberBody::AddKey { org, key, key_role } => {
                let enrolment = Enrolment {
                    org: org.clone(),
                    role: *key_role,
                };
                self.keys.insert(*key, enrolment);
            }
            MemberBody::RevokeKey { key, .. } => {
                self.keys.remove(key);
            }
            MemberBody::ScheduleRules { .. } | MemberBody::DisclosureGrant { .. } => {
                return Vec::new()
            }
        }
        let from = height.next();
        self.close_terms(from);
        self.open_terms(&before, from);
        self.sync_ring(&before, from)
    }

    /// Keys in force, each with its enrolment.
    fn in_force(&self) -> BTreeMap<PublicKey, Enrolment> {
        self.keys
            .iter()
            .filter(|(_, e)| self.orgs.contains_key(&e.org))
            .map(|(k, e)| (*k, e.clone()))
            .collect()
    }

    fn node_keys_in_force(&self) -> BTreeMap<PublicKey, OrgId> {
        self.in_force()
            .into_iter()
            .filter(|(_, e)| e.role == KeyRole::Node)
            .map(|(k, e)| (k, e.org))
            .collect()
    }

    /// Ends the open term of every node key no longer in force for its
    /// organisation.
    fn close_terms(&mut self, from: Height) {
        let nodes = self.node_keys_in_force();
        for term in self.terms.iter_mut().filter(|t| t.until.is_none()) {
            if nodes.get(&term.key) != Some(&term.org) {
                term.until = Some(from);
            }
        }
    }

    /// Opens a term for every node key in force that was not, as a node
    /// key of the same organisation, in `before`.
    fn open_terms(&mut self, before: &BTreeMap<PublicKey, Enrolment>, from: Height) {
        for (key, org) in self.node_keys_in_force() {
            let held = before
                .get(&key)
                .is_some_and(|e| e.role == KeyRole::Node && e.org == org);
            if !held {
                // A weak key holds a term that counts nothing.
                let _ = self.attester_ring.enrol(key);
                self.terms.push(NodeTerm {
                    key,
                    org,
                    from,
                    until: None,
                });
            }
        }
    }

    fn sync_ring(
        &mut self,
        before: &BTreeMap<PublicKey, Enrolment>,
        at: Height,
    ) -> Vec<RefusedKey> {
        let after = self.in_force();
        for key in before.keys().filter(|k| !after.contains_key(*k)) {
            self.ring.remove(key);
        }
        let mut refused = Vec::new();
        for key in after.keys().filter(|k| !before.contains_key(*k)) {
            if self.weak.contains(key) {
                continue;
            }
            if let Err(reason) = self.ring.enrol(*key) {
                self.weak.insert(*key);
                refused.push(RefusedKey {
                    height: Height(at.0 - 1),
                    key: *key,
                    reason,
                });
            }
        }
        refused
    }

    /// The keys whose signatures count.
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// Every node key that has attested or may attest.
    pub fn attester_ring(&self) -> &KeyRing {
        &self.attester_ring
    }

    /// Whether `key` may sign: in force and strictly enrolled.
    pub fn signs(&self, key: &PublicKey) -> bool {
        self.ring.contains(key)
    }

    /// The organisation and role of a key in force.
    pub fn enrolment(&self, key: &PublicKey) -> Option<&Enrolment> {
        self.keys
            .get(key)
            .filter(|e| self.orgs.contains_key(&e.org))
    }

    /// Whether `key` may propose a block now: a node key in force of an
    /// organisation that votes (not an auditor).
    pub fn proposes(&self, key: &PublicKey) -> bool {
        self.enrolment(key).is_some_and(|e| {
            e.role == KeyRole::Node
                && self.signs(key)
                && self.orgs.get(&e.org).is_some_and(|r| *r != Role::Auditor)
        })
    }

    /// The organisation whose attestation of the block at `height` `key`
    /// signs, if its term covers that height.
    pub fn attester(&self, key: &PublicKey, height: Height) -> Option<&OrgId> {
        if self.weak.contains(key) {
            return None;
        }
        self.terms
            .iter()
            .find(|t| t.key == *key && t.covers(height))
            .map(|t| &t.org)
    }

    /// Organisations with a node key whose term covers `height`.
    pub fn attesting_orgs(&self, height: Height) -> BTreeSet<&OrgId> {
        self.terms
            .iter()
            .filter(|t| t.covers(height) && !self.weak.contains(&t.key))
            .map(|t| &t.org)
            .collect()
    }

    /// A majority of the organisations that attest `height`: the default
    /// attestation quorum.
    pub fn majority(&self, height: Height) -> usize {
        self.attesting_orgs(height).len() / 2 + 1
    }

    /// Member organisations and their roles.
    pub fn orgs(&self) -> &BTreeMap<OrgId, Role> {
        &self.orgs
    }

    /// Keys in force, in key order.
    pub fn keys(&self) -> impl Iterator<Item = (&PublicKey, &Enrolment)> {
        self.keys
            .iter()
            .filter(|(_, e)| self.orgs.contains_key(&e.org))
    }

    /// Every node key's attester terms, in the order they began.
    pub fn terms(&self) -> &[NodeTerm] {
        &self.terms
    }
}

/// The bodies of `block`'s accepted `member` records, in block order.
pub fn accepted_member_bodies(block: &Block) -> impl Iterator<Item = &MemberBody> {
    block
        .records
        .iter()
        .zip(&block.outcomes)
        .filter(|(_, o)| o.is_accepted())
        .filter_map(|(r, _)| match &r.envelope.body {
            RecordBody::Member(m) => Some(m),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;

    fn key(seed: u8) -> PublicKey {
        Keypair::from_seed([seed; 32]).public()
    }

    fn org(name: &str) -> OrgId {
        OrgId::new(name).expect("org id")
    }

    fn genesis() -> Genesis {
        use crate::block::{GenesisKey, GenesisOrg};
        let org_with = |id: &str, role, keys: &[(u8, KeyRole)]| GenesisOrg {
            id: org(id),
            role,
            keys: keys
                .iter()
                .map(|(s, r)| GenesisKey {
                    key: key(*s),
                    role: *r,
                })
                .collect(),
        };
        Genesis {
            version: 1,
            chain_id: crate::types::ChainId::new("membership-test").expect("chain id"),
            timestamp_ms: 0,
            orgs: vec![
                org_with(
                    "ins",
                    Role::Insurance,
                    &[(1, KeyRole::Node), (2, KeyRole::Submitter)],
                ),
                org_with("civ", Role::CivilAffairs, &[(3, KeyRole::Node)]),
                org_with("aud", Role::Auditor, &[(4, KeyRole::Node)]),
            ],
            funds: Vec::new(),
            policies: Vec::new(),
            rules_version: 1,
        }
    }

    #[test]
    fn a_revoked_key_stops_signing_and_attesting_from_the_next_block() {
        let mut m = Membership::from_genesis(&genesis()).expect("genesis");
        assert!(m.signs(&key(2)) && m.proposes(&key(1)));
        m.apply(
            Height(5),
            &MemberBody::RevokeKey {
                org: org("ins"),
                key: key(1),
            },
        );
        assert!(!m.signs(&key(1)), "revoked keys leave the ring");
        assert!(!m.proposes(&key(1)));
        assert_eq!(m.attester(&key(1), Height(5)), Some(&org("ins")));
        assert_eq!(m.attester(&key(1), Height(6)), None);
        assert_eq!(m.attesting_orgs(Height(5)).len(), 3);
        assert_eq!(m.attesting_orgs(Height(6)).len(), 2);
    }

    #[test]
    fn an_added_node_key_attests_from_the_block_after_it_was_accepted() {
        let mut m = Membership::from_genesis(&genesis()).expect("genesis");
        m.apply(
            Height(2),
            &MemberBody::AddOrg {
                org: org("fin"),
                role: Role::Finance,
            },
        );
        m.apply(
            Height(3),
            &MemberBody::AddKey {
                org: org("fin"),
                key: key(9),
                key_role: KeyRole::Node,
            },
        );
        assert_eq!(m.attester(&key(9), Height(3)), None);
        assert_eq!(m.attester(&key(9), Height(4)), Some(&org("fin")));
        assert!(m.proposes(&key(9)));
        assert_eq!(m.majority(Height(3)), 2);
        assert_eq!(m.majority(Height(4)), 3);
        assert!(!m.proposes(&key(4)), "an auditor's node does not propose");
    }

    #[test]
    fn removing_an_organisation_takes_its_keys_out_and_adding_it_back_restores_them() {
        let mut m = Membership::from_genesis(&genesis()).expect("genesis");
        m.apply(Height(7), &MemberBody::RemoveOrg { org: org("ins") });
        assert!(!m.signs(&key(2)) && m.attester(&key(1), Height(8)).is_none());
        m.apply(
            Height(9),
            &MemberBody::AddOrg {
                org: org("ins"),
                role: Role::Insurance,
            },
        );
        assert!(m.signs(&key(2)));
        assert_eq!(m.attester(&key(1), Height(8)), None);
        assert_eq!(m.attester(&key(1), Height(10)), Some(&org("ins")));
    }

    #[test]
    fn a_weak_key_is_enrolled_by_the_rules_but_signs_nothing() {
        let mut m = Membership::from_genesis(&genesis()).expect("genesis");
        let identity = PublicKey({
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        });
        let refused = m.apply(
            Height(3),
            &MemberBody::AddKey {
                org: org("civ"),
                key: identity,
                key_role: KeyRole::Submitter,
            },
        );
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].height, Height(3));
        assert!(m.enrolment(&identity).is_some() && !m.signs(&identity));
    }

    #[test]
    fn a_stored_membership_reopens_as_it_was() {
        let mut m = Membership::from_genesis(&genesis()).expect("genesis");
        m.apply(
            Height(4),
            &MemberBody::RevokeKey {
                org: org("civ"),
                key: key(3),
            },
        );
        let bytes = crate::codec::encode(&m.to_saved());
        let back: SavedMembership = crate::codec::decode("membership", &bytes).expect("decode");
        let reopened = Membership::from_saved(back);
        assert_eq!(reopened.to_saved(), m.to_saved());
        assert!(!reopened.signs(&key(3)) && reopened.signs(&key(2)));
        assert_eq!(reopened.attester(&key(3), Height(4)), Some(&org("civ")));
    }
}
