//! The consortium's nodes as the network and Raft see them: each genesis
//! node key gets a stable Raft node id and a libp2p peer id. Nodes of
//! auditor organisations are learners: they replicate but do not vote.
//!
//! A node key that a `member` record took out of force is retired: it
//! keeps its id (entries it created stay checkable) but its connections
//! are closed, its messages refused, and the leader takes it out of the
//! Raft membership. Clones share one view of who is retired.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use fundtrail_ledger::crypto::PublicKey;
use fundtrail_ledger::types::{KeyRole, OrgId, Role};
use fundtrail_ledger::Genesis;
use libp2p::PeerId;

use crate::entry::NodeId;

#[derive(Clone, Debug)]
pub struct Member {
    pub id: NodeId,
    pub key: PublicKey,
    pub org: OrgId,
    pub peer: PeerId,
    pub voter: bool,
}

#[derive(Clone, Debug)]
pub struct Roster {
    members: Vec<Member>,
    retired: Arc<RwLock<BTreeSet<PublicKey>>>,
}

/// The libp2p peer id of an ed25519 node key.
pub fn peer_id(key: &PublicKey) -> Result<PeerId> {
    let ed = libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0)
        .context("node key is not a valid ed25519 public key")?;
    Ok(libp2p::identity::PublicKey::from(ed).to_peer_id())
}

impl Roster {
    /// Node ids follow genesis order (orgs, then their node keys), from 1.
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
                });
            }
        }
        Ok(Roster {
            members,
            retired: Arc::default(),
        })
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn by_key(&self, key: &PublicKey) -> Option<&Member> {
        self.members.iter().find(|m| &m.key == key)
    }

    pub fn by_id(&self, id: NodeId) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    pub fn by_peer(&self, peer: &PeerId) -> Option<&Member> {
        self.members.iter().find(|m| &m.peer == peer)
    }

    pub fn voters(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.voter)
    }

    /// Whether `member`'s node key is still in force.
    pub fn in_force(&self, member: &Member) -> bool {
        !self
            .retired
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&member.key)
    }

    /// Retires the members whose node keys `in_force` refuses; returns
    /// whether that changed who is retired.
    pub fn retire_unless(&self, in_force: impl Fn(&PublicKey) -> bool) -> bool {
        let retired: BTreeSet<PublicKey> = self
            .members
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
