//! Raft membership and the network follow the chain's membership. When a
//! block takes a node key out of force, every node retires it in the
//! roster and closes its connections; the leader then replaces Raft's
//! voters with the voting members in force, by openraft's joint consensus.
//!
//! The leader reconciles rather than reacts: every few seconds it compares
//! Raft's membership with the chain's and proposes the difference. A
//! leader that crashes between the joint and the final configuration
//! leaves the cluster in the joint one; the next leader finds it differs
//! and proposes the final configuration again, so a crash halfway costs
//! one election, never a wrong membership.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, ChangeMembers};

use super::Raft;
use crate::chain::Chain;
use crate::config::NodeConfig;
use crate::entry::NodeId;
use crate::p2p::Net;
use crate::roster::Roster;

const RECONCILE_EVERY: Duration = Duration::from_secs(2);

/// Retires in `roster` every node key the chain took out of force, and
/// closes their connections, each time the head moves.
pub async fn retire_out_of_force(chain: Arc<Chain>, roster: Roster, net: Net) {
    let mut heads = chain.subscribe();
    loop {
        if roster.retire_unless(|key| chain.node_key_in_force(key)) {
            net.sync_allowlist();
        }
        if heads.changed().await.is_err() {
            return;
        }
    }
}

/// While this node leads: makes every configured learner in force a
/// learner, and keeps Raft's voters equal to the voting members in force.
pub async fn reconcile(raft: Raft, config: NodeConfig, roster: Roster) {
    loop {
        tokio::time::sleep(RECONCILE_EVERY).await;
        let metrics = raft.metrics().borrow().clone();
        if metrics.current_leader != Some(metrics.id) {
            continue;
        }
        let membership = metrics.membership_config.membership().clone();
        add_learners(&raft, &config, &roster, &membership).await;
        let desired: BTreeSet<NodeId> = roster
            .voters()
            .filter(|m| roster.in_force(m))
            .map(|m| m.id)
            .collect();
        let configs = membership.get_joint_config();
        let settled = configs.len() == 1 && configs[0] == desired;
        if !settled && !desired.is_empty() {
            change_voters(&raft, desired).await;
        }
        remove_retired_learners(&raft, &roster, &membership).await;
    }
}

async fn change_voters(raft: &Raft, voters: BTreeSet<NodeId>) {
    tracing::info!(voters = ?voters, "changing the Raft voters to the chain's");
    if let Err(e) = raft
        .change_membership(ChangeMembers::ReplaceAllVoters(voters), false)
        .await
    {
        tracing::warn!(error = %e, "changing the Raft voters failed; retrying");
    }
}

type Membership = openraft::Membership<NodeId, BasicNode>;

async fn add_learners(raft: &Raft, config: &NodeConfig, roster: &Roster, membership: &Membership) {
    let known: BTreeSet<NodeId> = membership.nodes().map(|(id, _)| *id).collect();
    for peer in &config.peers {
        let Some(m) = roster.by_key(&peer.node_key) else {
            continue;
        };
        if m.voter || !roster.in_force(m) || known.contains(&m.id) {
            continue;
        }
        let node = BasicNode {
            addr: peer.address.clone(),
        };
        if let Err(e) = raft.add_learner(m.id, node, false).await {
            tracing::warn!(learner = m.id, error = %e, "adding learner failed");
        }
    }
}

async fn remove_retired_learners(raft: &Raft, roster: &Roster, membership: &Membership) {
    let retired: BTreeSet<NodeId> = membership
        .learner_ids()
        .filter(|id| roster.by_id(*id).is_some_and(|m| !roster.in_force(m)))
        .collect();
    if retired.is_empty() {
        return;
    }
    if let Err(e) = raft
        .change_membership(ChangeMembers::RemoveNodes(retired), false)
        .await
    {
        tracing::warn!(error = %e, "removing retired learners failed; retrying");
    }
}
