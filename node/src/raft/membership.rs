//! Raft membership and the network follow the chain's membership. When a
//! block enrols a node key, every node adds it to the roster and allows
//! its connections; the leader adds it as a learner and, once it has
//! caught up, as a voter if its organisation votes. When a block takes a
//! node key out of force, every node retires it in the roster and closes
//! its connections; the leader then takes it out of Raft. Voters change
//! by openraft's joint consensus (`ReplaceAllVoters`).
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
use crate::roster::{bound_address, Roster};

const RECONCILE_EVERY: Duration = Duration::from_secs(2);

/// Each time the head moves: adds to `roster` the node keys the chain
/// enrolled, retires those it took out of force, and lets the network
/// allow and close connections to match.
pub async fn follow_chain(chain: Arc<Chain>, roster: Roster, net: Net) {
    let mut heads = chain.subscribe();
    loop {
        let learned = roster.learn(&chain.membership());
        let retired = roster.retire_unless(|key| chain.node_key_in_force(key));
        if learned || retired {
            net.sync_allowlist();
        }
        if heads.changed().await.is_err() {
            return;
        }
    }
}

/// A learner this close to the leader's last log index has caught up and
/// may vote.
const CAUGHT_UP_ENTRIES: u64 = 64;

/// While this node leads: makes every node in force a learner first, and
/// keeps Raft's voters equal to the voting members in force that are
/// voters already or learners that have caught up.
pub async fn reconcile(raft: Raft, config: NodeConfig, roster: Roster) {
    loop {
        tokio::time::sleep(RECONCILE_EVERY).await;
        let metrics = raft.metrics().borrow().clone();
        if metrics.current_leader != Some(metrics.id) {
            continue;
        }
        let membership = metrics.membership_config.membership().clone();
        add_learners(&raft, &config, &roster, &membership).await;
        let desired = desired_voters(&roster, &membership, &metrics);
        let configs = membership.get_joint_config();
        let settled = configs.len() == 1 && configs[0] == desired;
        if !settled && !desired.is_empty() {
            change_voters(&raft, desired).await;
        }
        remove_retired_learners(&raft, &roster, &membership).await;
    }
}

fn desired_voters(
    roster: &Roster,
    membership: &Membership,
    metrics: &openraft::RaftMetrics<NodeId, BasicNode>,
) -> BTreeSet<NodeId> {
    let voting: BTreeSet<NodeId> = membership.voter_ids().collect();
    let last = metrics.last_log_index.unwrap_or(0);
    let caught_up = |id: NodeId| {
        let matched = metrics
            .replication
            .as_ref()
            .and_then(|r| r.get(&id).cloned().flatten());
        matched.is_some_and(|log_id| log_id.index + CAUGHT_UP_ENTRIES >= last)
    };
    roster
        .voters()
        .iter()
        .filter(|m| roster.in_force(m))
        .filter(|m| voting.contains(&m.id) || caught_up(m.id))
        .map(|m| m.id)
        .collect()
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

/// Adds every member in force that Raft does not hold yet as a learner,
/// with the address `peers` gives it, if any.
async fn add_learners(raft: &Raft, config: &NodeConfig, roster: &Roster, membership: &Membership) {
    let known: BTreeSet<NodeId> = membership.nodes().map(|(id, _)| *id).collect();
    for m in roster.members() {
        if known.contains(&m.id) || !roster.in_force(&m) || m.id == raft_id(raft) {
            continue;
        }
        let address = config
            .peers
            .iter()
            .find(|p| p.node_key == m.key)
            .map(|p| p.address.as_str())
            .unwrap_or_default();
        let addr = if m.founding {
            address.to_string()
        } else {
            bound_address(&m.key, address)
        };
        tracing::info!(org = %m.org, node = m.id, "adding a learner");
        if let Err(e) = raft.add_learner(m.id, BasicNode { addr }, false).await {
            tracing::warn!(learner = m.id, error = %e, "adding learner failed");
        }
    }
}

fn raft_id(raft: &Raft) -> NodeId {
    raft.metrics().borrow().id
}

async fn remove_retired_learners(raft: &Raft, roster: &Roster, membership: &Membership) {
    let retired: BTreeSet<NodeId> = membership
        .learner_ids()
        .filter(|id| roster.by_id(*id).is_some_and(|m| !roster.in_force(&m)))
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
