//! A peer holding real genesis node keys lies to an honest node: it
//! appends entries as a leader it is not and entries its key did not
//! sign, asks for votes as a learner,
//! sends a snapshot with a membership of its own and one of a chain
//! nobody attested, announces a 1 GiB frame, and floods the node with
//! 10,000 concurrent requests. Each is refused, counted in `/metrics` and
//! logged; no honest node crashes or takes on the liar's term, and the
//! honest nodes keep committing throughout.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fundtrail_ledger::chainfile::{ChainReader, ChainWriter};
use fundtrail_ledger::types::{Category, Height, Role};
use fundtrail_ledger::Keypair;
use fundtrail_node::entry::{Batch, NodeId, TypeConfig};
use fundtrail_node::wire::{WireRequest, WireResponse};
use fundtrail_testkit::{bodies, Harness};
use fundtrail_tests::cluster::{committed, serial, TestCluster};
use fundtrail_tests::hostile::HostilePeer;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{
    BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, Membership, SnapshotMeta,
    StoredMembership, Vote,
};

const EXE: &str = env!("CARGO_BIN_EXE_fundtrail-e2e");
/// Devnet order: four voting departments, then the audit office's learner.
const FINANCE: usize = 3;
const AUDIT: usize = 4;
/// The reasons the lies below are refused for, as logged and counted.
const REFUSED: [&str; 6] = [
    "impersonation",
    "unsigned_proposal",
    "learner",
    "membership",
    "snapshot",
    "frame",
];

fn node_key(cluster: &TestCluster, i: usize) -> Keypair {
    let org = &cluster.devnet.nodes[i].org;
    let path = cluster
        .devnet
        .dir
        .join("keys")
        .join(format!("{org}-node.key"));
    fundtrail_node::keys::read(&path).expect("node key file")
}

fn node_id(i: usize) -> NodeId {
    i as NodeId + 1
}

/// Submits one record every 100 ms through the honest nodes until told to
/// stop; returns the heights they were committed at, in order.
fn steady_load(
    cluster: Arc<TestCluster>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<u64>> {
    tokio::spawn(async move {
        let mut harness = Harness::new(7);
        let mut heights = Vec::new();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let body = bodies::grant(
                harness.kit.person(n),
                Category::Dibao,
                "2026-01-01",
                "2026-12-31",
            );
            let record = harness.record(Role::CivilAffairs, body, 0);
            let lines = cluster
                .submit((n % 3) as usize, &[record])
                .await
                .expect("submission answered");
            let (height, _, _) = committed(&lines[0]).expect("committed under attack");
            heights.push(height);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        heights
    })
}

/// The leader once it is one of the nodes still running.
async fn honest_leader(cluster: &TestCluster) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match cluster.leader().await {
            Ok(i) if i < FINANCE => return i,
            _ if tokio::time::Instant::now() > deadline => {
                panic!("no leader among the honest nodes")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn refused(response: WireResponse) -> String {
    match response {
        WireResponse::Refused(reason) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn term_of(cluster: &TestCluster, i: usize) -> u64 {
    let head = cluster.client(i).get("/v1/head").await.expect("head");
    head["raft"]["term"].as_u64().expect("term")
}

/// The target's chain with every attestation left out.
async fn unattested_chain(cluster: &TestCluster, i: usize) -> Vec<u8> {
    let bytes = cluster.client(i).export().await.expect("export");
    let mut reader = ChainReader::new(&bytes[..]).expect("chain file");
    let header = reader.header().clone();
    let mut writer = ChainWriter::new(
        Vec::new(),
        reader.genesis(),
        header.from_height,
        header.to_height,
    )
    .expect("writer");
    while let Some(entry) = reader.next_entry().expect("entry") {
        writer.write_block(&entry.block, &[]).expect("write");
    }
    writer.finish().expect("finish")
}

fn snapshot_request(
    term: u64,
    from: NodeId,
    membership: Membership<NodeId, BasicNode>,
    data: Vec<u8>,
) -> WireRequest {
    let last = LogId::new(CommittedLeaderId::new(term, from), 1_000_000);
    WireRequest::InstallSnapshot(InstallSnapshotRequest::<TypeConfig> {
        vote: Vote::new_committed(term, from),
        meta: SnapshotMeta {
            last_log_id: Some(last),
            last_membership: StoredMembership::new(Some(last), membership),
            snapshot_id: format!("hostile-{term}"),
        },
        offset: 0,
        data,
        done: true,
    })
}

fn consortium_membership() -> Membership<NodeId, BasicNode> {
    let voters: BTreeSet<NodeId> = (0..4).map(node_id).collect();
    let nodes: BTreeSet<NodeId> = (0..5).map(node_id).collect();
    Membership::new(vec![voters], nodes)
}

fn refusal_count(metrics: &str, reason: &str) -> u64 {
    let prefix = format!("fundtrail_peer_refusals_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_stolen_node_keys_is_refused_while_the_cluster_commits() {
    let _serial = serial().await;
    let mut cluster = TestCluster::start(EXE.as_ref(), 5)
        .await
        .expect("cluster starts");
    cluster
        .converge(Duration::from_secs(60))
        .await
        .expect("converged");
    // The finance node and the audit learner stop; a liar takes their keys.
    cluster.terminate(FINANCE);
    cluster.terminate(AUDIT);
    let voter_key = node_key(&cluster, FINANCE);
    let learner_key = node_key(&cluster, AUDIT);
    let leader = honest_leader(&cluster).await;
    let target = (0..3).find(|i| *i != leader).expect("a follower");
    let target_key = node_key(&cluster, target).public();
    let target_addr = cluster.devnet.nodes[target].p2p.clone();
    let term = term_of(&cluster, target).await;
    let lie = term + 1_000;

    let cluster = Arc::new(cluster);
    let stop = Arc::new(AtomicBool::new(false));
    let load = steady_load(cluster.clone(), stop.clone());
    let mut liar = HostilePeer::connect(&voter_key, &target_key, &target_addr)
        .await
        .expect("the allowlist admits a genesis node key");
    let mut learner = HostilePeer::connect(&learner_key, &target_key, &target_addr)
        .await
        .expect("connects as the learner");

    let append = WireRequest::AppendEntries(AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(lie, node_id(leader)),
        prev_log_id: None,
        entries: Vec::new(),
        leader_commit: None,
    });
    let reason = refused(liar.request(append).await.expect("answered"));
    assert!(reason.contains("claims to be from node"), "{reason}");

    let genesis = cluster.genesis().expect("genesis");
    let mut forged = Batch::propose(&voter_key, &genesis.chain_id, 1, Vec::new());
    forged.timestamp_ms += 1;
    let unsigned = WireRequest::AppendEntries(AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(lie, node_id(FINANCE)),
        prev_log_id: None,
        entries: vec![Entry {
            log_id: LogId::new(CommittedLeaderId::new(lie, node_id(FINANCE)), 1_000_000),
            payload: EntryPayload::Normal(forged),
        }],
        leader_commit: None,
    });
    let reason = refused(liar.request(unsigned).await.expect("answered"));
    assert!(reason.contains("not signed by its proposer"), "{reason}");

    let vote = WireRequest::Vote(VoteRequest::new(Vote::new(lie, node_id(AUDIT)), None));
    let reason = refused(learner.request(vote).await.expect("answered"));
    assert!(reason.contains("a learner may not"), "{reason}");

    let own = Membership::new(vec![BTreeSet::from([node_id(FINANCE)])], None);
    let forged = snapshot_request(lie, node_id(FINANCE), own, Vec::new());
    let reason = refused(liar.request(forged).await.expect("answered"));
    assert!(reason.contains("membership"), "{reason}");

    let height = cluster.height(target).await.expect("height");
    cluster
        .wait_for_height(target, height + 2, Duration::from_secs(30))
        .await
        .expect("the load commits blocks");
    let data = unattested_chain(&cluster, target).await;
    let unattested = snapshot_request(lie, node_id(FINANCE), consortium_membership(), data);
    let reason = refused(liar.request(unattested).await.expect("answered"));
    assert!(
        reason.contains("snapshot refused") && reason.contains("attested"),
        "{reason}"
    );

    let empty = ChainWriter::new(Vec::new(), &genesis, Height(1), Height(0))
        .and_then(ChainWriter::finish)
        .expect("an empty chain file");
    let rollback = snapshot_request(lie, node_id(FINANCE), consortium_membership(), empty);
    let reason = refused(liar.request(rollback).await.expect("answered"));
    assert!(reason.contains("behind ours"), "{reason}");

    let mut gigabyte = (1u32 << 30).to_be_bytes().to_vec();
    gigabyte.extend_from_slice(&[0; 64]);
    let answer = liar.raw(gigabyte).await;
    assert!(
        answer.as_ref().map_or(true, Vec::is_empty),
        "a 1 GiB frame gets no answer: {answer:?}"
    );

    let flood = liar
        .flood(10_000, || {
            WireRequest::Vote(VoteRequest::new(Vote::new(1, node_id(FINANCE)), None))
        })
        .await
        .expect("flood ends");
    assert!(flood.refused + flood.failed > 0, "{flood:?}");

    stop.store(true, Ordering::Relaxed);
    let heights = load.await.expect("load task");
    assert!(heights.len() >= 5, "the load kept going: {heights:?}");
    assert!(heights.windows(2).all(|w| w[0] < w[1]), "{heights:?}");

    cluster
        .check_none_crashed()
        .expect("no honest node crashed");
    for i in 0..3 {
        assert!(
            term_of(&cluster, i).await < lie,
            "node {i} took the liar's term"
        );
    }
    let head = cluster
        .converge(Duration::from_secs(60))
        .await
        .expect("honest nodes agree");
    assert!(head["height"].as_u64().expect("height") >= *heights.last().expect("one"));
    cluster
        .verified_export(target, 3)
        .await
        .expect("the chain verifies");

    let metrics = cluster
        .http_get_with(&cluster.department(target), "/metrics")
        .await
        .expect("metrics")
        .text;
    for reason in REFUSED {
        assert!(
            refusal_count(&metrics, reason) > 0,
            "no {reason} refusal counted:\n{metrics}"
        );
    }
    assert!(
        refusal_count(&metrics, "busy") > 0 || flood.failed > 0,
        "the flood was neither refused nor dropped: {flood:?}"
    );
    let log = cluster.log(target);
    for reason in REFUSED {
        assert!(
            log.lines()
                .any(|l| l.contains("refused a peer message") && l.contains(reason)),
            "no {reason} line in the log"
        );
    }
}
