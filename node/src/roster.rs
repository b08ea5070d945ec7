//! The consortium's nodes as the network and Raft see them: each node key
//! gets a stable Raft node id and a libp2p peer id. Nodes of auditor
//! organisations are learners: they replicate but do not vote.
//!
//! Genesis node keys take ids 1, 2, … in genesis order. A node key that a
//! `member` record enrols later takes an id derived from the key itself
//! ([`joined_id`]), so every node names it alike without asking anyone;
//! the roster learns it as its chain reaches the record. In Raft's
//! membership such a node's address carries its key ([`bound_address`]),
//! so a node whose chain has not reached the record yet can still check
//! that the id belongs to that key.
//!
//! A key listed in this node's `peers` that its chain has not enrolled is
//! expected: trusted as a voter by this node alone, on its operator's
//! word, until the chain enrols it (it becomes a member) or revokes it
//! (retired). This is how a node that was down while a node joined, and
//! restarts while that node leads, follows it and catches up.
//!
//! A node key that a `member` record took out of force is retired: it
//! keeps its id (entries it created stay checkable) but its connections
//! are closed, its messages refused, and the leader takes it out of the
//! Raft membership. Clones share one view of the members and of who is
//! retired.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use fundtrail_ledger::crypto::PublicKey;
use fundtrail_ledger::hash::hash_domain;
use fundtrail_ledger::membership::Membership;
use fundtrail_ledger::types::{KeyRole, OrgId, Role};
use fundtrail_ledger::Genesis;
use libp2p::PeerId;

use crate::entry::NodeId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: NodeId,
    pub key: PublicKey,
    pub org: OrgId,
    pub peer: PeerId,
    pub voter: bool,
    /// Listed in genesis, so its id is its place there.
    pub founding: bool,
}

#[derive(Clone, Debug)]
pub struct Roster {
    members: Arc<RwLock<Vec<Member>>>,
    /// Configured peers the chain has not enrolled yet.
    expected: Arc<RwLock<Vec<Member>>>,
    retired: Arc<RwLock<BTreeSet<PublicKey>>>,
}

/// The organisation an expected peer is shown under until the chain
/// names its own.
const UNENROLLED: &str = "unenrolled";

/// The libp2p peer id of an ed25519 node key.
pub fn peer_id(key: &PublicKey) -> Result<PeerId> {
    let ed = libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0)
        .context("node key is not a valid ed25519 public key")?;
    Ok(libp2p::identity::PublicKey::from(ed).to_peer_id())
}

/// Ids of node keys enrolled after genesis start here, far above any
/// genesis id, and stay below 2^53 so JSON readers keep them exact.
const JOINED_IDS: NodeId = 1 << 40;

/// The Raft node id of a node key enrolled after genesis: 40 bits of its
/// hash above 2^40.
pub fn joined_id(key: &PublicKey) -> NodeId {
    let hash = hash_domain("fundtrail/node-id/v1", &key.0);
    let mut low = [0u8; 8];
    low[3..].copy_from_slice(&hash.0[..5]);
    JOINED_IDS | NodeId::from_be_bytes(low)
}

/// The address Raft's membership carries for a node enrolled after
/// genesis: its node key, `@`, then where it listens (may be empty).
pub fn bound_address(key: &PublicKey, address: &str) -> String {
    format!("{}@{address}", key.to_hex())
}

/// The node key a [`bound_address`] names, if `id` is that key's id.
pub fn key_bound_to(id: NodeId, address: &str) -> Option<PublicKey> {
    let (hex, _) = address.split_once('@')?;
    let key = PublicKey::from_hex(hex).ok()?;
    (joined_id(&key) == id).then_some(key)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

impl Roster {
    /// The founding nodes, ids in genesis order (orgs, then their node
    /// keys), from 1.
    pub fn from_genesis(genesis: &Genesis) -> Result<Roster> {
        let mut members = Vec::new();
        for org in &genesis.orgs {
            for k in org.keys.iter().filter(|k| k.role == KeyRole::Node) {
                members.push(Member {
                    id: members.len() as NodeId + 1,
                    key: k.key,
                    org: org.id.clone(),
                    peer: peer_id(&k.key)?,
                    voter: org.role != Role::Auditor,
                    founding: true,
                });
            }
        }
        Ok(Roster {
            members: Arc::new(RwLock::new(members)),
            expected: Arc::default(),
            retired: Arc::default(),
        })
    }

    /// Expects the configured peers' `keys` the roster does not hold.
    pub fn expect(&self, keys: impl IntoIterator<Item = PublicKey>) -> Result<()> {
        let org = OrgId::new(UNENROLLED).context("the unenrolled organisation's id")?;
        let unknown: Vec<PublicKey> = keys
            .into_iter()
            .filter(|k| self.by_key(k).is_none())
            .collect();
        let mut expected = self.expected.write().unwrap_or_else(|p| p.into_inner());
        for key in unknown {
            expected.push(Member {
                id: joined_id(&key),
                key,
                org: org.clone(),
                peer: peer_id(&key)?,
                voter: true,
                founding: false,
            });
        }
        Ok(())
    }

    /// Adds every node key `membership` has given a term that the roster
    /// does not hold yet; returns whether it added any.
    pub fn learn(&self, membership: &Membership) -> bool {
        let mut members = self.members.write().unwrap_or_else(|p| p.into_inner());
        let mut added = false;
        for term in membership.terms() {
            if members.iter().any(|m| m.key == term.key) {
                continue;
            }
            let id = joined_id(&term.key);
            if members.iter().any(|m| m.id == id) {
                tracing::error!(
                    id,
                    "two node keys share a Raft node id; the later is ignored"
                );
                continue;
            }
            let Ok(peer) = peer_id(&term.key) else {
                continue;
            };
            let voter = membership
                .orgs()
                .get(&term.org)
                .is_some_and(|role| *role != Role::Auditor);
            tracing::info!(org = %term.org, node = id, voter, "node key enrolled by the chain");
            members.push(Member {
                id,
                key: term.key,
                org: term.org.clone(),
                peer,
                voter,
                founding: false,
            });
            added = true;
        }
        drop(members);
        if added {
            let members = read(&self.members);
            let mut expected = self.expected.write().unwrap_or_else(|p| p.into_inner());
            expected.retain(|e| !members.iter().any(|m| m.key == e.key));
        }
        added
    }

    /// The node keys the chain has enrolled, in force or retired.
    pub fn members(&self) -> Vec<Member> {
        read(&self.members).clone()
    }

    /// The members and the expected peers: everyone the network admits
    /// while in force.
    pub fn admitted(&self) -> Vec<Member> {
        let mut all = self.members();
        all.extend(read(&self.expected).iter().cloned());
        all
    }

    /// A member, or else an expected peer, that `pick` accepts.
    fn find(&self, pick: impl Fn(&Member) -> bool) -> Option<Member> {
        let found = read(&self.members).iter().find(|m| pick(m)).cloned();
        found.or_else(|| read(&self.expected).iter().find(|m| pick(m)).cloned())
    }

    pub fn by_key(&self, key: &PublicKey) -> Option<Member> {
        self.find(|m| &m.key == key)
    }

    pub fn by_id(&self, id: NodeId) -> Option<Member> {
        self.find(|m| m.id == id)
    }

    pub fn by_peer(&self, peer: &PeerId) -> Option<Member> {
        self.find(|m| &m.peer == peer)
    }

    /// The enrolled members that vote.
    pub fn voters(&self) -> Vec<Member> {
        read(&self.members)
            .iter()
            .filter(|m| m.voter)
            .cloned()
            .collect()
    }

    /// Whether `member`'s node key is still in force.
    pub fn in_force(&self, member: &Member) -> bool {
        !read(&self.retired).contains(&member.key)
    }

    /// Retires the members whose node keys `in_force` refuses; returns
    /// whether that changed who is retired.
    pub fn retire_unless(&self, in_force: impl Fn(&PublicKey) -> bool) -> bool {
        let retired: BTreeSet<PublicKey> = read(&self.members)
            .iter()
            .map(|m| m.key)
            .filter(|k| !in_force(k))
            .collect();
        let mut current = self.retired.write().unwrap_or_else(|p| p.into_inner());
        if *current == retired {
            return false;
        }
        *current = retired;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundtrail_ledger::crypto::Keypair;
    use fundtrail_ledger::record::MemberBody;
    use fundtrail_ledger::types::Height;
    use fundtrail_testkit::chain::ChainBuilder;

    #[test]
    fn an_expected_peer_is_admitted_until_the_chain_enrols_it_as_a_member() {
        let genesis = ChainBuilder::new(1, 10).genesis;
        let roster = Roster::from_genesis(&genesis).expect("roster");
        let founding = roster.members();
        let key = Keypair::from_seed([0x42; 32]).public();
        roster.expect([key, founding[0].key]).expect("expect");
        assert_eq!(roster.admitted().len(), founding.len() + 1);
        assert_eq!(roster.by_key(&founding[0].key), Some(founding[0].clone()));
        let expected = roster.by_key(&key).expect("expected");
        assert_eq!(expected.id, joined_id(&key));
        assert!(expected.voter && !expected.founding);
        assert!(roster.members().iter().all(|m| m.key != key));
        assert!(roster.voters().iter().all(|m| m.key != key));

        let mut membership = Membership::from_genesis(&genesis).expect("membership");
        let health = genesis
            .orgs
            .iter()
            .find(|o| o.role == Role::Health)
            .expect("a health department");
        let enrol = MemberBody::AddKey {
            org: health.id.clone(),
            key,
            key_role: KeyRole::Node,
        };
        membership.apply(Height(5), &enrol);
        assert!(roster.learn(&membership));
        let member = roster.by_key(&key).expect("a member");
        assert_eq!(member.org, health.id);
        assert_eq!(roster.admitted().len(), founding.len() + 1);
        assert!(roster.voters().iter().any(|m| m.key == key));
        assert!(!roster.learn(&membership), "learning again adds nothing");
        assert!(roster.retire_unless(|k| *k != key));
        assert!(!roster.in_force(&member));
    }

    #[test]
    fn a_bound_address_names_only_the_key_its_id_derives_from() {
        let key = Keypair::from_seed([0x43; 32]).public();
        let other = Keypair::from_seed([0x44; 32]).public();
        let id = joined_id(&key);
        assert!(id > JOINED_IDS && id < 1 << 53);
        let addr = bound_address(&key, "/ip4/10.0.0.5/tcp/7005");
        assert_eq!(key_bound_to(id, &addr), Some(key));
        assert_eq!(key_bound_to(joined_id(&other), &addr), None);
        assert_eq!(key_bound_to(id, "/ip4/10.0.0.5/tcp/7005"), None);
        assert_eq!(key_bound_to(id, "zz@/ip4/10.0.0.5/tcp/7005"), None);
    }
}
