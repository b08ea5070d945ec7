//! The node as a real cluster: four department node processes on loopback
//! agree on one chain under load, survive `kill -9` of the leader and of a
//! follower, bring a wiped node back through a snapshot, refuse an
//! outsider, and refuse bad input while they keep serving.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fundtrail_contracts::RuleCode;
use fundtrail_ledger::block::Verdict;
use fundtrail_ledger::record::SignedRecord;
use fundtrail_ledger::types::Role;
use fundtrail_ledger::RecordId;
use fundtrail_node::api::{SubmitLine, BCS_CONTENT_TYPE};
use fundtrail_node::cli::client::BodyEncoding;
use fundtrail_node::wire::Receipt;
use fundtrail_testkit::workload::Workload;
use fundtrail_testkit::{Harness, Kit};
use fundtrail_tests::cluster::{record_ids, serial, TestCluster};

const EXE: &str = env!("CARGO_BIN_EXE_fundtrail-e2e");

/// `n` signed records in chunks, generated against an in-memory chain so
/// they form a realistic settlement flow (and some abuses).
fn records(seed: u64, n: usize, chunk: usize) -> Vec<Vec<SignedRecord>> {
    let mut harness = Harness::new(7);
    let mut workload = Workload::new(seed, 400, true);
    let mut out = Vec::new();
    let mut left = n;
    while left > 0 {
        let records = workload.block(&harness.state, chunk.min(left));
        harness.block(&records);
        left -= records.len();
        out.push(records);
    }
    out
}

fn committed_ids(lines: &[SubmitLine]) -> Vec<RecordId> {
    lines
        .iter()
        .filter_map(|l| match l {
            SubmitLine::Receipt(
                Receipt::Committed { outcome, .. } | Receipt::AlreadyCommitted { outcome, .. },
            ) => Some(outcome.record_id),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_departments_agree_on_5000_records() {
    let _serial = serial().await;
    let cluster = TestCluster::start(EXE.as_ref(), 4)
        .await
        .expect("cluster starts");
    let chunks = records(11, 5_000, 125);
    let mut tasks = Vec::new();
    let cluster = Arc::new(cluster);
    for (i, chunk) in chunks.into_iter().enumerate() {
        let cluster = cluster.clone();
        tasks.push(tokio::spawn(
            async move { cluster.submit(i % 4, &chunk).await },
        ));
    }
    let mut acked = Vec::new();
    let mut others = Vec::new();
    for t in tasks {
        let lines = t.await.expect("task").expect("submit succeeds");
        acked.extend(committed_ids(&lines));
        others.extend(
            lines
                .into_iter()
                .filter(|l| committed_ids(std::slice::from_ref(l)).is_empty()),
        );
    }
    assert_eq!(
        acked.len(),
        5_000,
        "all committed; first other: {:?}; log of node 1: {}",
        others.first(),
        cluster.log(1)
    );

    let head = cluster
        .converge(Duration::from_secs(60))
        .await
        .expect("converge");
    let (bytes, summary) = cluster
        .verified_export(0, 4)
        .await
        .expect("verified by 4 orgs");
    assert_eq!(summary.head_hash.to_hex(), head["hash"].as_str().unwrap());
    let ids = record_ids(&bytes).unwrap();
    assert_eq!(ids.len(), 5_000);
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 5_000, "no record is in the chain twice");
    for other in 1..4 {
        let (b, _) = cluster.verified_export(other, 4).await.expect("verifies");
        assert_eq!(b.len(), bytes.len(), "node {other} holds the same chain");
    }
    Arc::try_unwrap(cluster)
        .ok()
        .expect("sole owner")
        .stop()
        .await;
}

/// Submits chunks until told to stop, one node after another; returns the
/// ids acknowledged as committed, with the time of each acknowledgement.
async fn load(
    cluster: Arc<tokio::sync::RwLock<TestCluster>>,
    chunks: Vec<Vec<SignedRecord>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<(Instant, RecordId)> {
    let mut acked = Vec::new();
    for (i, chunk) in chunks.into_iter().enumerate() {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let result = cluster.read().await.submit(i % 4, &chunk).await;
        if let Ok(lines) = result {
            let now = Instant::now();
            acked.extend(committed_ids(&lines).into_iter().map(|id| (now, id)));
        }
    }
    acked
}

async fn crash_and_recover(cluster: &tokio::sync::RwLock<TestCluster>, victim: usize) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.write().await.kill9(victim);
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.write().await.restart(victim).expect("restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_leader_and_follower_loses_no_acknowledged_record() {
    let _serial = serial().await;
    let cluster = TestCluster::start(EXE.as_ref(), 4)
        .await
        .expect("cluster starts");
    let cluster = Arc::new(tokio::sync::RwLock::new(cluster));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loader = tokio::spawn(load(cluster.clone(), records(12, 24_000, 50), stop.clone()));

    let leader = cluster.read().await.leader().await.expect("a leader");
    let killed_leader_at = Instant::now() + Duration::from_millis(1500);
    crash_and_recover(&cluster, leader).await;
    let new_leader = cluster.read().await.leader().await.expect("a new leader");
    let follower = (0..4).find(|i| *i != new_leader).expect("a follower");
    crash_and_recover(&cluster, follower).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked = loader.await.expect("load task");

    assert!(
        acked
            .iter()
            .any(|(t, _)| *t > killed_leader_at + Duration::from_secs(3)),
        "the load went on after the leader was killed"
    );
    let cluster = cluster.read().await;
    cluster
        .converge(Duration::from_secs(90))
        .await
        .expect("all nodes converge");
    let (bytes, _) = cluster.verified_export(leader, 4).await.expect("verifies");
    let mut counts: BTreeMap<RecordId, usize> = BTreeMap::new();
    for id in record_ids(&bytes).unwrap() {
        *counts.entry(id).or_default() += 1;
    }
    for (_, id) in &acked {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "acknowledged record {id} is in the chain once"
        );
    }
    assert!(counts.values().all(|c| *c == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiped_node_rejoins_through_a_verified_snapshot() {
    let _serial = serial().await;
    let mut cluster = TestCluster::start(EXE.as_ref(), 4)
        .await
        .expect("cluster starts");
    let chunks = records(13, 3_000, 100);
    for (i, chunk) in chunks[..10].iter().enumerate() {
        cluster.submit(i % 4, chunk).await.expect("submit");
    }
    let victim = (cluster.leader().await.unwrap() + 1) % 4;
    cluster.terminate(victim);
    std::fs::remove_dir_all(cluster.data_dir(victim)).expect("wipe the data directory");
    for (i, chunk) in chunks[10..].iter().enumerate() {
        cluster
            .submit(i % 4, chunk)
            .await
            .expect("submit while it is down");
    }
    cluster.restart(victim).expect("restart");
    let head = cluster
        .converge(Duration::from_secs(90))
        .await
        .expect("converges");
    assert!(head["height"].as_u64().unwrap() > 0);
    let log = cluster.log(victim);
    assert!(
        log.contains("installed and verified chain snapshot"),
        "the wiped node caught up through a snapshot"
    );
    cluster
        .verified_export(victim, 4)
        .await
        .expect("its chain verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsider_cannot_connect_or_get_a_record_in() {
    let _serial = serial().await;
    let cluster = TestCluster::start(EXE.as_ref(), 3)
        .await
        .expect("cluster starts");
    let genesis: fundtrail_ledger::Genesis =
        serde_json::from_slice(&std::fs::read(cluster.devnet.dir.join("genesis.json")).unwrap())
            .unwrap();
    let roster = fundtrail_node::roster::Roster::from_genesis(&genesis).unwrap();
    let target = roster.members()[0].clone();
    let outsider = libp2p_keypair();
    let (net, _task) = fundtrail_node::p2p::spawn(
        fundtrail_node::p2p::NetConfig {
            keypair: outsider,
            listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
            peers: vec![(target.peer, cluster.devnet.nodes[0].p2p.parse().unwrap())],
            roster,
            topic: "outsider".into(),
            checkpoint_topic: "outsider-checkpoints".into(),
            snapshot_deadline: Duration::from_secs(60),
            refusals: fundtrail_node::refusals::Refusals::new(Arc::default()),
        },
        Arc::new(|_, _| {
            Box::pin(async { fundtrail_node::wire::WireResponse::Refused("x".into()) })
        }),
        (Arc::new(|_| {}), Arc::new(|_| {})),
    )
    .unwrap();
    let kit = Kit::new(7);
    let record = kit.sign(Role::Finance, budget_credit(), 1, 0);
    let request = fundtrail_node::wire::WireRequest::Submit(vec![record.clone()]);
    let refused = net
        .request(target.peer, request, Duration::from_secs(10))
        .await;
    assert!(
        refused.is_err(),
        "an outsider's request must fail, got {refused:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        cluster.log(0).contains("refused connection"),
        "the node logs the refusal"
    );

    // Over HTTP, a record signed by a key outside genesis is refused.
    let stranger = fundtrail_ledger::Keypair::from_seed([99; 32]);
    let mut env = record.envelope.clone();
    env.submitter_key = stranger.public();
    let forged = env.sign(&stranger);
    let lines = cluster.client(1).submit(&[forged]).await.unwrap();
    match &lines[0] {
        SubmitLine::Receipt(Receipt::Refused { reason, .. }) => {
            assert!(reason.contains("not a member key"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    cluster.stop().await;
}

fn libp2p_keypair() -> libp2p::identity::Keypair {
    libp2p::identity::Keypair::generate_ed25519()
}

fn budget_credit() -> fundtrail_ledger::RecordBody {
    use fundtrail_ledger::record::{FundCreditBody, FundSource, RecordBody};
    RecordBody::FundCredit(FundCreditBody {
        fund_id: "basic-440100".parse().unwrap(),
        amount: fundtrail_ledger::Amount::yuan(1000),
        source: FundSource::Budget {
            appropriation: "CZ-2026-001".parse().unwrap(),
        },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_the_cluster_keeps_serving() {
    let _serial = serial().await;
    let cluster = TestCluster::start(EXE.as_ref(), 3)
        .await
        .expect("cluster starts");
    let kit = &cluster.kit;
    let good = kit.sign(Role::Finance, budget_credit(), 1, 0);
    let mut bad_sig = kit.sign(Role::Finance, budget_credit(), 2, 0);
    bad_sig.signature.0[10] ^= 1;
    let wrong_role = kit.sign(Role::Health, budget_credit(), 3, 0);
    let before = cluster.client(0).get("/v1/head").await.unwrap()["height"].clone();

    let lines = cluster.client(0).submit(&[bad_sig.clone()]).await.unwrap();
    assert!(
        matches!(&lines[0], SubmitLine::Receipt(Receipt::Refused { reason, .. }) if reason.contains("does not verify")),
        "{lines:?}"
    );
    let after = cluster.client(0).get("/v1/head").await.unwrap()["height"].clone();
    assert_eq!(before, after, "a refused record changes nothing");

    let lines = cluster.client(1).submit(&[wrong_role]).await.unwrap();
    match &lines[0] {
        SubmitLine::Receipt(Receipt::Committed { outcome, .. }) => assert_eq!(
            outcome.verdict,
            Verdict::Rejected {
                code: RuleCode::RoleNotAllowed.code()
            }
        ),
        other => panic!("expected a recorded rejection, got {other:?}"),
    }

    let response = cluster
        .http_post(2, "/v1/records", "[{\"envelope\": ")
        .await
        .unwrap();
    assert_eq!(response.status, 400);
    assert!(
        response.error().unwrap().contains("malformed"),
        "{response:?}"
    );

    // The same in the records' canonical encoding: a cut-off body is a
    // clear error and submits nothing; a bad signature is refused.
    let encoded = fundtrail_ledger::codec::encode(&[&bad_sig]);
    let response = cluster
        .http_post_as(
            2,
            "/v1/records",
            BCS_CONTENT_TYPE,
            encoded[..encoded.len() - 7].to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(response.status, 400);
    assert!(
        response.error().unwrap().contains("malformed request"),
        "{response:?}"
    );
    let lines = cluster
        .client(2)
        .submit_as(&[bad_sig], BodyEncoding::Bcs)
        .await
        .unwrap();
    assert!(
        matches!(&lines[0], SubmitLine::Receipt(Receipt::Refused { reason, .. }) if reason.contains("does not verify")),
        "{lines:?}"
    );

    let lines = cluster
        .client(2)
        .submit_as(&[good], BodyEncoding::Bcs)
        .await
        .unwrap();
    match &lines[0] {
        SubmitLine::Receipt(Receipt::Committed { outcome, .. }) => {
            assert_eq!(outcome.verdict, Verdict::Accepted)
        }
        other => panic!("the cluster still serves: {other:?}"),
    }
    cluster.stop().await;
}
