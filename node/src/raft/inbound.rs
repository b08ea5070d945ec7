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
//!   be the consortium's: configurations of voters it knows, and learners
//!   it knows (see [`Inbound::check_membership`]).

use std::collections::BTreeSet;

use fundtrail_ledger::membership::Membership as ChainMembership;
use fundtrail_ledger::ChainId;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{BasicNode, EntryPayload, Membership, Vote};

use crate::entry::{NodeId, TypeConfig};
use crate::roster::{joined_id, key_bound_to, Member, Roster};

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
        let committed = r.leader_commit.map(|c| c.index);
        r.entries
            .iter()
            .try_for_each(|e| self.check_entry(e, committed.is_some_and(|c| e.log_id.index <= c)))
    }

    pub fn check_snapshot(
        &self,
        sender: &Member,
        r: &InstallSnapshotRequest<TypeConfig>,
    ) -> Result<(), Refusal> {
        speaks_as_itself(sender, &r.vote, "send a snapshot")?;
        // A node far behind knows voters long replaced, and not yet their
        // successors: here the nodes it does not know count as in force,
        // and once the snapshot's chain is verified, its membership is
        // checked against the voters in force at the chain's head
        // (`super::snapshot_receive`).
        let m = r.meta.last_membership.membership();
        self.check_known(m)?;
        let enrolled: BTreeSet<NodeId> = self.roster.members().iter().map(|m| m.id).collect();
        let mut plausible = self.voters_in_force();
        plausible.extend(m.voter_ids().filter(|id| !enrolled.contains(id)));
        self.check_majority(m, &plausible)
    }

    /// Checks one entry. A membership the leader says is `committed`
    /// was taken by a majority already and is not this node's to weigh: a
    /// node catching up may not yet know the voters it names, so only their
    /// ids are checked. One still to be decided must keep a majority of the
    /// voters this node holds in force.
    fn check_entry(
        &self,
        entry: &openraft::Entry<TypeConfig>,
        committed: bool,
    ) -> Result<(), Refusal> {
        let index = entry.log_id.index;
        match &entry.payload {
            EntryPayload::Blank => Ok(()),
            EntryPayload::Membership(m) if committed => self.check_known(m),
            EntryPayload::Membership(m) => self.check_membership(m),
            EntryPayload::Normal(batch) => {
                let leader = entry.log_id.leader_id.node_id;
                let key = self.proposer_key(index, leader, batch)?;
                if key != batch.proposer {
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

    /// The node key of `leader`, the node that created entry `index`: a
    /// voter of the roster, or, for a node the chain here has not enrolled
    /// yet, the key the batch names if the id derives from it. Whether
    /// that key may propose is the chain's to decide when the entry is
    /// applied, identically on every node.
    fn proposer_key(
        &self,
        index: u64,
        leader: NodeId,
        batch: &crate::entry::Batch,
    ) -> Result<fundtrail_ledger::crypto::PublicKey, Refusal> {
        match self.roster.by_id(leader) {
            Some(m) if m.voter => Ok(m.key),
            Some(_) => Err(Refusal::UnknownProposer { index, leader }),
            None if joined_id(&batch.proposer) == leader => Ok(batch.proposer),
            None => Err(Refusal::UnknownProposer { index, leader }),
        }
    }

    /// A membership is the consortium's when every node in it is known
    /// ([`Inbound::check_known`]) and each configuration keeps a majority
    /// of the voters this node holds in force ([`Inbound::check_majority`]).
    pub fn check_membership(&self, m: &Membership<NodeId, BasicNode>) -> Result<(), Refusal> {
        self.check_known(m)?;
        self.check_majority(m, &self.voters_in_force())
    }

    fn voters_in_force(&self) -> BTreeSet<NodeId> {
        self.roster
            .voters()
            .iter()
            .filter(|v| self.roster.in_force(v))
            .map(|v| v.id)
            .collect()
    }

    /// Every node in `m` is known: a member of the roster, or a node
    /// enrolled after genesis whose address names the key its id derives
    /// from (the chain here may not have reached its enrolment yet); and
    /// known non-voters are only learners.
    pub fn check_known(&self, m: &Membership<NodeId, BasicNode>) -> Result<(), Refusal> {
        let bound = |id: &NodeId| {
            m.get_node(id)
                .is_some_and(|n| key_bound_to(*id, &n.addr).is_some())
        };
        let may_vote = |id: &NodeId| match self.roster.by_id(*id) {
            Some(member) => member.voter,
            None => bound(id),
        };
        let configs_known = m
            .get_joint_config()
            .iter()
            .all(|c| !c.is_empty() && c.iter().all(may_vote));
        let learners_known = m
            .learner_ids()
            .all(|id| self.roster.by_id(id).is_some() || bound(&id));
        if configs_known && learners_known {
            Ok(())
        } else {
            Err(Refusal::ForeignMembership(format!("{m:?}")))
        }
    }

    /// Each configuration of `m` (two while a change is joint) includes a
    /// majority of the voters `in_force`. Dropping voters the chain took
    /// out of force is how removals reach Raft (`super::membership`); a
    /// node key alone cannot shrink the voters to a minority of its
    /// choosing.
    pub fn check_majority(
        &self,
        m: &Membership<NodeId, BasicNode>,
        in_force: &BTreeSet<NodeId>,
    ) -> Result<(), Refusal> {
        let keeps_majority =
            |c: &BTreeSet<NodeId>| c.intersection(in_force).count() * 2 > in_force.len();
        if m.get_joint_config().iter().all(keeps_majority) {
            Ok(())
        } else {
            Err(Refusal::ForeignMembership(format!(
                "{m:?} leaves out most of the voters in force"
            )))
        }
    }

    /// The Raft ids of the voting node keys `membership` holds in force.
    pub fn voters_in_force_at(&self, membership: &ChainMembership) -> BTreeSet<NodeId> {
        membership
            .terms()
            .iter()
            .filter(|t| t.until.is_none())
            .filter(|t| {
                membership
                    .orgs()
                    .get(&t.org)
                    .is_some_and(|role| *role != fundtrail_ledger::types::Role::Auditor)
            })
            .map(|t| {
                self.roster
                    .by_key(&t.key)
                    .filter(|m| m.founding)
                    .map_or_else(|| joined_id(&t.key), |m| m.id)
            })
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Batch;
    use fundtrail_ledger::block::GenesisKey;
    use fundtrail_ledger::crypto::Keypair;
    use fundtrail_ledger::types::{KeyRole, Role};
    use fundtrail_testkit::chain::{node_keys, ChainBuilder};
    use openraft::{CommittedLeaderId, Entry, LogId};

    const TERM: u64 = 2;

    /// Four voting departments (ids 1–4, keys `node_keys()`) and the audit
    /// office's learner (id 5).
    fn consortium() -> (Inbound, Vec<Keypair>) {
        let (inbound, nodes, _) = consortium_and_genesis();
        (inbound, nodes)
    }

    fn consortium_and_genesis() -> (Inbound, Vec<Keypair>, fundtrail_ledger::Genesis) {
        let mut genesis = ChainBuilder::new(1, 10).genesis;
        let mut nodes = node_keys();
        nodes.push(Keypair::from_seed([0xaf; 32]));
        let audit = genesis
            .orgs
            .iter_mut()
            .find(|o| o.role == Role::Auditor)
            .expect("an audit office");
        audit.keys.push(GenesisKey {
            key: nodes[4].public(),
            role: KeyRole::Node,
        });
        let roster = Roster::from_genesis(&genesis).expect("roster");
        let inbound = Inbound::new(roster.clone(), genesis.chain_id.clone());
        (inbound, nodes, genesis)
    }

    fn member(inbound: &Inbound, id: NodeId) -> Member {
        inbound.roster.by_id(id).expect("member")
    }

    fn batch_entry(leader: NodeId, batch: Batch) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(TERM, leader), 7),
            payload: EntryPayload::Normal(batch),
        }
    }

    fn signed_by(inbound: &Inbound, key: &Keypair) -> Batch {
        Batch::propose(key, &inbound.chain_id, 1, Vec::new())
    }

    fn append(from: NodeId, entries: Vec<Entry<TypeConfig>>) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(TERM, from),
            prev_log_id: None,
            entries,
            leader_commit: None,
        }
    }

    #[test]
    fn only_the_leader_its_vote_names_appends_and_only_entries_it_signed() {
        let (inbound, nodes) = consortium();
        let leader = member(&inbound, 1);
        let signed = batch_entry(1, signed_by(&inbound, &nodes[0]));
        assert_eq!(
            inbound.check_append(&leader, &append(1, vec![signed.clone()])),
            Ok(())
        );

        let other = member(&inbound, 2);
        assert_eq!(
            inbound.check_append(&other, &append(1, vec![signed])),
            Err(Refusal::Impersonation {
                sender: 2,
                claimed: 1
            })
        );
        let by_another = batch_entry(1, signed_by(&inbound, &nodes[1]));
        let refused = inbound.check_append(&leader, &append(1, vec![by_another]));
        assert!(
            matches!(refused, Err(Refusal::WrongProposer { .. })),
            "{refused:?}"
        );

        let mut forged = signed_by(&inbound, &nodes[0]);
        forged.timestamp_ms += 1;
        let forged = batch_entry(1, forged);
        let refused = inbound.check_append(&leader, &append(1, vec![forged]));
        assert_eq!(refused, Err(Refusal::UnsignedProposal { index: 7 }));

        let by_learner = batch_entry(5, signed_by(&inbound, &nodes[4]));
        let refused = inbound.check_append(&leader, &append(1, vec![by_learner]));
        assert_eq!(
            refused,
            Err(Refusal::UnknownProposer {
                index: 7,
                leader: 5
            })
        );
    }

    #[test]
    fn votes_are_asked_only_by_the_candidate_and_never_by_a_learner() {
        let (inbound, _) = consortium();
        let candidate = member(&inbound, 3);
        let ask = |from| VoteRequest::new(Vote::new(TERM, from), None);
        assert_eq!(inbound.check_vote(&candidate, &ask(3)), Ok(()));
        assert!(matches!(
            inbound.check_vote(&candidate, &ask(4)),
            Err(Refusal::Impersonation { .. })
        ));
        let learner = member(&inbound, 5);
        assert_eq!(
            inbound.check_vote(&learner, &ask(5)),
            Err(Refusal::Learner("ask for votes"))
        );
    }

    #[test]
    fn only_memberships_of_genesis_nodes_are_taken() {
        let (inbound, _) = consortium();
        let voters = BTreeSet::from([1, 2, 3, 4]);
        let with_learner = BTreeSet::from([1, 2, 3, 4, 5]);
        let ours: Membership<NodeId, BasicNode> =
            Membership::new(vec![voters.clone()], with_learner);
        assert_eq!(inbound.check_membership(&ours), Ok(()));
        let founding: Membership<NodeId, BasicNode> = Membership::new(vec![voters.clone()], None);
        assert_eq!(inbound.check_membership(&founding), Ok(()));

        let fewer = BTreeSet::from([1, 2, 3]);
        let removing: Membership<NodeId, BasicNode> =
            Membership::new(vec![voters.clone(), fewer.clone()], None);
        assert_eq!(inbound.check_membership(&removing), Ok(()));
        let removed: Membership<NodeId, BasicNode> = Membership::new(vec![fewer], None);
        assert_eq!(inbound.check_membership(&removed), Ok(()));

        let learner_voting = BTreeSet::from([1, 2, 3, 4, 5]);
        let outsider_learner = BTreeSet::from([1, 2, 3, 4, 9]);
        let outsider_voter = BTreeSet::from([1, 2, 3, 9]);
        let minority = BTreeSet::from([1, 2]);
        let foreign: [Membership<NodeId, BasicNode>; 5] = [
            Membership::new(vec![BTreeSet::new()], None),
            Membership::new(vec![learner_voting], None),
            Membership::new(vec![voters.clone()], outsider_learner),
            Membership::new(vec![voters.clone(), outsider_voter], None),
            Membership::new(vec![voters.clone(), minority.clone()], None),
        ];
        for m in foreign {
            assert!(inbound.check_membership(&m).is_err(), "{m:?}");
        }
        // Once the chain took node 4 out of force, two of the three voters
        // left are a majority.
        let retired = inbound.roster.by_id(4).expect("node 4").key;
        inbound.roster.retire_unless(|k| *k != retired);
        let two_of_three: Membership<NodeId, BasicNode> = Membership::new(vec![minority], None);
        assert_eq!(inbound.check_membership(&two_of_three), Ok(()));
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(TERM, 1), 3),
            payload: EntryPayload::Membership(Membership::new(vec![BTreeSet::from([1, 9])], None)),
        };
        let leader = member(&inbound, 1);
        assert!(matches!(
            inbound.check_append(&leader, &append(1, vec![entry])),
            Err(Refusal::ForeignMembership(_))
        ));
    }

    /// A node enrolled after genesis, seen by a node whose chain has not
    /// reached its enrolment: its membership entries and the entries it
    /// proposes are taken when its id derives from the key they name.
    #[test]
    fn a_node_enrolled_later_is_known_by_the_key_its_id_derives_from() {
        let (inbound, _) = consortium();
        let joining = Keypair::from_seed([0x5e; 32]);
        let id = crate::roster::joined_id(&joining.public());
        let bound = BasicNode {
            addr: crate::roster::bound_address(&joining.public(), "/ip4/10.0.0.5/tcp/7005"),
        };
        let founding = |n: NodeId| (n, BasicNode::default());
        let nodes = |extra: (NodeId, BasicNode)| {
            (1..=4)
                .map(founding)
                .chain([extra])
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let voters = BTreeSet::from([1, 2, 3, 4]);
        let five = BTreeSet::from([1, 2, 3, 4, id]);
        let as_learner = Membership::new(vec![voters.clone()], nodes((id, bound.clone())));
        assert_eq!(inbound.check_membership(&as_learner), Ok(()));
        let as_voter = Membership::new(vec![five.clone()], nodes((id, bound.clone())));
        assert_eq!(inbound.check_membership(&as_voter), Ok(()));

        let other = Keypair::from_seed([0x5f; 32]);
        let wrong_key = BasicNode {
            addr: crate::roster::bound_address(&other.public(), ""),
        };
        for m in [
            Membership::new(vec![five.clone()], nodes((id, wrong_key))),
            Membership::new(vec![five], nodes((id, BasicNode::default()))),
        ] {
            assert!(inbound.check_membership(&m).is_err(), "{m:?}");
        }

        let leader = member(&inbound, 1);
        let by_joined = batch_entry(id, signed_by(&inbound, &joining));
        assert_eq!(
            inbound.check_append(&leader, &append(1, vec![by_joined])),
            Ok(())
        );
        let posing = batch_entry(id, signed_by(&inbound, &other));
        assert_eq!(
            inbound.check_append(&leader, &append(1, vec![posing])),
            Err(Refusal::UnknownProposer {
                index: 7,
                leader: id
            })
        );
    }

    /// Two of the four founding nodes replaced while a node was away: the
    /// membership it receives names voters it does not know. Committed in
    /// an append, it is taken; in a snapshot, it is taken as plausible when
    /// the snapshot arrives, and checked against the voters in force at the
    /// head of the snapshot's verified chain.
    #[test]
    fn a_snapshot_membership_is_judged_by_the_voters_at_its_chains_head() {
        use fundtrail_ledger::membership::Membership as Chain;
        use fundtrail_ledger::record::MemberBody;
        use fundtrail_ledger::types::Height;

        let (inbound, nodes, genesis) = consortium_and_genesis();
        let successors = [
            Keypair::from_seed([0x61; 32]),
            Keypair::from_seed([0x62; 32]),
        ];
        let ids: Vec<NodeId> = successors.iter().map(|k| joined_id(&k.public())).collect();
        let mut m: std::collections::BTreeMap<NodeId, BasicNode> =
            (3..=4).map(|n| (n, BasicNode::default())).collect();
        for (k, id) in successors.iter().zip(&ids) {
            let addr = crate::roster::bound_address(&k.public(), "");
            m.insert(*id, BasicNode { addr });
        }
        let config = BTreeSet::from([3, 4, ids[0], ids[1]]);
        let replaced: Membership<NodeId, BasicNode> = Membership::new(vec![config], m);
        assert!(
            inbound.check_membership(&replaced).is_err(),
            "two of the four voters it knows are not a majority"
        );
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(TERM, 3), 9),
            payload: EntryPayload::Membership(replaced.clone()),
        };
        let mut appended = append(3, vec![entry]);
        assert!(
            inbound
                .check_append(&member(&inbound, 3), &appended)
                .is_err(),
            "a membership still to be decided is weighed against the voters known here"
        );
        appended.leader_commit = Some(LogId::new(CommittedLeaderId::new(TERM, 3), 9));
        assert_eq!(
            inbound.check_append(&member(&inbound, 3), &appended),
            Ok(()),
            "a committed one is a majority's decision already"
        );

        let snapshot = InstallSnapshotRequest::<TypeConfig> {
            vote: Vote::new_committed(TERM, 3),
            meta: openraft::SnapshotMeta {
                last_log_id: None,
                last_membership: openraft::StoredMembership::new(None, replaced.clone()),
                snapshot_id: "s".into(),
            },
            offset: 0,
            data: Vec::new(),
            done: false,
        };
        assert_eq!(
            inbound.check_snapshot(&member(&inbound, 3), &snapshot),
            Ok(())
        );

        let mut chain = Chain::from_genesis(&genesis).expect("membership");
        let before = inbound.voters_in_force_at(&chain);
        assert_eq!(before, BTreeSet::from([1, 2, 3, 4]));
        assert!(inbound.check_majority(&replaced, &before).is_err());
        for (old, new) in nodes[..2].iter().zip(&successors) {
            let org = genesis.org_of_key(&old.public()).expect("org").id.clone();
            let revoke = MemberBody::RevokeKey {
                org: org.clone(),
                key: old.public(),
            };
            let enrol = MemberBody::AddKey {
                org,
                key: new.public(),
                key_role: KeyRole::Node,
            };
            chain.apply(Height(9), &enrol);
            chain.apply(Height(9), &revoke);
        }
        let after = inbound.voters_in_force_at(&chain);
        assert_eq!(after, BTreeSet::from([3, 4, ids[0], ids[1]]));
        assert_eq!(inbound.check_majority(&replaced, &after), Ok(()));

        let minority: Membership<NodeId, BasicNode> =
            Membership::new(vec![BTreeSet::from([3])], None);
        let hostile = InstallSnapshotRequest::<TypeConfig> {
            meta: openraft::SnapshotMeta {
                last_membership: openraft::StoredMembership::new(None, minority),
                ..snapshot.meta.clone()
            },
            ..snapshot
        };
        assert!(inbound
            .check_snapshot(&member(&inbound, 3), &hostile)
            .is_err());
    }
}
