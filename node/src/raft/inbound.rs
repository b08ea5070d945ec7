//! Inbound Raft RPCs checked against the peer that sent them, before
//! openraft sees them. Raft tolerates crashes, not lies: without these
//! checks any allowlisted peer could speak for another node, append
//! entries as a leader it is not, or install a membership of its choosing.
//!
//! - An append or a snapshot chunk is taken only from the voter its vote
//!   names as leader; a vote request only from the candidate it names.
//!   Learners never lead and never ask for votes.
//! - Every batch entry must be signed by the node key of the leader that
//!   created it (the node its log id names), and a membership entry must
//!   be the consortium's: genesis voters, and learners among genesis
//!   non-voters.

use std::collections::BTreeSet;

use fundtrail_ledger::ChainId;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{BasicNode, EntryPayload, Membership, Vote};

use super::{NodeId, TypeConfig};
use crate::roster::{Member, Roster};

/// Why an inbound message was refused. The label names the kind for
/// metrics; the message is for the log and the refused peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a learner may not {0}")]
    Learner(&'static str),
    #[error("sent by node {sender}, but claims to be from node {claimed}")]
    Impersonation { sender: NodeId, claimed: NodeId },
    #[error("entry {index} was created by node {leader}, which is not a voter")]
    UnknownProposer { index: u64, leader: NodeId },
    #[error("entry {index} names proposer {named}, not the node key of its leader {leader}")]
    WrongProposer {
        index: u64,
        leader: NodeId,
        named: String,
    },
    #[error("entry {index} is not signed by its proposer")]
    UnsignedProposal { index: u64 },
    #[error("membership {0} is not the consortium's")]
    ForeignMembership(String),
    #[error("{0}")]
    Snapshot(String),
    #[error("{0}")]
    Limit(String),
}

impl Refusal {
    /// A short, fixed label for the refusal counter.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::Learner(_) => "learner",
            Refusal::Impersonation { .. } => "impersonation",
            Refusal::UnknownProposer { .. } | Refusal::WrongProposer { .. } => "proposer",
            Refusal::UnsignedProposal { .. } => "unsigned_proposal",
            Refusal::ForeignMembership(_) => "membership",
            Refusal::Snapshot(_) => "snapshot",
            Refusal::Limit(_) => "limit",
        }
    }
}

/// Checks inbound Raft messages against the consortium's roster.
#[derive(Clone)]
pub struct Inbound {
    roster: Roster,
    chain_id: ChainId,
}

impl Inbound {
    pub fn new(roster: Roster, chain_id: ChainId) -> Inbound {
        Inbound { roster, chain_id }
    }

    pub fn check_vote(&self, sender: &Member, r: &VoteRequest<NodeId>) -> Result<(), Refusal> {
        speaks_as_itself(sender, &r.vote, "ask for votes")
    }

    pub fn check_append(
        &self,
        sender: &Member,
        r: &AppendEntriesRequest<TypeConfig>,
    ) -> Result<(), Refusal> {
        speaks_as_itself(sender, &r.vote, "append entries")?;
        r.entries.iter().try_for_each(|e| self.check_entry(e))
    }

    pub fn check_snapshot(
        &self,
        sender: &Member,
        r: &InstallSnapshotRequest<TypeConfig>,
    ) -> Result<(), Refusal> {
        speaks_as_itself(sender, &r.vote, "send a snapshot")?;
        self.check_membership(r.meta.last_membership.membership())
    }

    fn check_entry(&self, entry: &openraft::Entry<TypeConfig>) -> Result<(), Refusal> {
        let index = entry.log_id.index;
        match &entry.payload {
            EntryPayload::Blank => Ok(()),
            EntryPayload::Membership(m) => self.check_membership(m),
            EntryPayload::Normal(batch) => {
                let leader = entry.log_id.leader_id.node_id;
                let member = self
                    .roster
                    .by_id(leader)
                    .filter(|m| m.voter)
                    .ok_or(Refusal::UnknownProposer { index, leader })?;
                if member.key != batch.proposer {
                    return Err(Refusal::WrongProposer {
                        index,
                        leader,
                        named: batch.proposer.short(),
                    });
                }
                batch
                    .check_signature(&self.chain_id)
                    .map_err(|_| Refusal::UnsignedProposal { index })
            }
        }
    }

    /// A membership is the consortium's when its one configuration is
    /// every genesis voter and its learners are genesis non-voters.
    pub fn check_membership(&self, m: &Membership<NodeId, BasicNode>) -> Result<(), Refusal> {
        let voters: BTreeSet<NodeId> = self.roster.voters().map(|v| v.id).collect();
        let configs = m.get_joint_config();
        let learners_known = m
            .learner_ids()
            .all(|id| self.roster.by_id(id).is_some_and(|l| !l.voter));
        if configs.len() == 1 && configs[0] == voters && learners_known {
            Ok(())
        } else {
            Err(Refusal::ForeignMembership(format!("{m:?}")))
        }
    }
}

/// The sender must be a voter and the node `vote` names.
fn speaks_as_itself(
    sender: &Member,
    vote: &Vote<NodeId>,
    act: &'static str,
) -> Result<(), Refusal> {
    if !sender.voter {
        return Err(Refusal::Learner(act));
    }
    let claimed = vote.leader_id.node_id;
    if claimed != sender.id {
        return Err(Refusal::Impersonation {
            sender: sender.id,
            claimed,
        });
    }
    Ok(())
}
