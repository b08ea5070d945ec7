//! Nodes whose keys genesis does not list join a running consortium,
//! through `fundtrail governance` and nothing else:
//! - a fifth department is admitted with its keys and node; the node
//!   starts from genesis and its own config, catches up, becomes a Raft
//!   voter and attests, its attestations count from its activation height
//!   on, and the exported chain verifies offline;
//! - the insurance node's key is rotated under client load: the new node
//!   joins, the old key is revoked, the other nodes close the old node's
//!   connections, its attestations stop at the revocation, and no
//!   acknowledged record is lost.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fundtrail_ledger::crypto::PublicKey;
use fundtrail_ledger::record::SignedRecord;
use fundtrail_ledger::types::{Height, OrgId, Role};
use fundtrail_node::roster::joined_id;
use fundtrail_tests::cluster::{committed, each_acknowledged_once, serial, TestCluster};
use fundtrail_tests::governance::Governance;
use fundtrail_tests::joining::{add_peer, attested_by, new_node_key, start_joining_node};
use fundtrail_tests::{civil_load, output_text};

const EXE: &str = env!("CARGO_BIN_EXE_fundtrail-e2e");

fn civil_record(cluster: &TestCluster, n: u64) -> SignedRecord {
    fundtrail_tests::eligibility_grant(&cluster.kit, n, 70_000 + n)
}

async fn wait_for_voters(cluster: &TestCluster, i: usize, want: &BTreeSet<u64>, what: &str) {
    let start = Instant::now();
    while &cluster.voters(i).await != want {
        assert!(start.elapsed() < Duration::from_secs(90), "{what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Node `i`'s export, once `fundtrail verify` accepts it with its default
/// quorum (a majority of the organisations attesting at each height); the
/// newest blocks may still be collecting their attestations.
async fn verified_by_cli(cluster: &TestCluster, i: usize) -> Vec<u8> {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let start = Instant::now();
    loop {
        let bytes = cluster.client(i).export().await.expect("export");
        std::fs::write(file.path(), &bytes).expect("write chain file");
        let output = tokio::process::Command::new(cluster.exe())
            .arg("verify")
            .arg(file.path())
            .output()
            .await
            .expect("run fundtrail verify");
        if output.status.success() {
            return bytes;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            output_text(&output)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fifth_department_joins_catches_up_votes_and_attests() {
    let _serial = serial().await;
    let mut cluster = TestCluster::start(EXE.as_ref(), 4)
        .await
        .expect("cluster starts");
    for n in 0..60 {
        assert!(committed(&submit_one(&cluster, civil_record(&cluster, n)).await).is_some());
    }
    let org = OrgId::new("gd-sz-health").expect("org id");
    let (node_file, node_key) = new_node_key(&cluster, &org, "node").expect("node key");
    let (_, submitter) = new_node_key(&cluster, &org, "submitter").expect("submitter key");
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let gov = Governance {
            cluster: &cluster,
            dir: dir.path().to_path_buf(),
            via: 0,
        };
        let signers = [Role::Health, Role::Finance, Role::CivilAffairs];
        let admit = gov
            .propose(
                "org.json",
                &["add-org", "--org", org.as_str(), "--role", "health"],
            )
            .await;
        gov.pass(&admit, &signers).await;
        let submitter_hex = submitter.public().to_hex();
        let key = gov
            .propose(
                "submitter.json",
                &[
                    "add-key",
                    "--org",
                    org.as_str(),
                    "--role",
                    "submitter",
                    "--public",
                    &submitter_hex,
                ],
            )
            .await;
        gov.pass(&key, &signers).await;
        let node_hex = node_key.public().to_hex();
        let node = gov
            .propose(
                "node.json",
                &["add-node", "--org", org.as_str(), "--public", &node_hex],
            )
            .await;
        gov.pass(&node, &signers).await;
    }
    let activation = Height(term_of_when_shown(&cluster, 0, &node_key.public()).await.0);

    let joined = start_joining_node(&mut cluster, &org, &node_file).expect("the new node starts");
    let id = joined_id(&node_key.public());
    let five: BTreeSet<u64> = [1, 2, 3, 4, id].into();
    wait_for_voters(&cluster, 0, &five, "the leader makes the new node a voter").await;
    wait_for_voters(&cluster, joined, &five, "the new node sees itself a voter").await;

    for n in 100..140 {
        let line = cluster
            .client(joined)
            .submit(&[civil_record(&cluster, n)])
            .await
            .expect("submit through the new node")
            .pop()
            .expect("one receipt");
        assert!(committed(&line).is_some(), "{line:?}");
    }
    let head = cluster
        .converge(Duration::from_secs(60))
        .await
        .expect("all five nodes converge");
    let head_height = head["height"].as_u64().expect("height");

    let bytes = verified_by_cli(&cluster, joined).await;
    let attested = attested_by(&bytes, &node_key.public()).expect("attestations");
    assert!(
        attested.first().is_some_and(|h| *h >= activation),
        "no attestation before the activation height {activation}: {attested:?}"
    );
    assert!(
        attested.iter().any(|h| h.0 + 5 >= head_height),
        "the new node attests the latest blocks (head {head_height}): {attested:?}"
    );
    cluster.stop().await;
}

async fn submit_one(
    cluster: &TestCluster,
    record: SignedRecord,
) -> fundtrail_node::api::SubmitLine {
    let mut lines = cluster.submit(0, &[record]).await.expect("submit");
    lines.pop().expect("one receipt")
}

/// The term of `key` as node `i`'s membership shows it, once `done`
/// accepts it: (from, until).
async fn term_when(
    cluster: &TestCluster,
    i: usize,
    key: &PublicKey,
    done: impl Fn(u64, Option<u64>) -> bool,
) -> (u64, Option<u64>) {
    let start = Instant::now();
    loop {
        let view = cluster
            .http_get(i, "/v1/membership")
            .await
            .expect("membership")
            .json();
        let term = view["node_terms"]
            .as_array()
            .expect("node terms")
            .iter()
            .find(|t| t["key"].as_str() == Some(key.to_hex().as_str()))
            .and_then(|t| Some((t["from"].as_u64()?, t["until"].as_u64())));
        if let Some((from, until)) = term.filter(|(f, u)| done(*f, *u)) {
            return (from, until);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no such term for {} in {view}",
            key.short()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn term_of_when_shown(
    cluster: &TestCluster,
    i: usize,
    key: &PublicKey,
) -> (u64, Option<u64>) {
    term_when(cluster, i, key, |_, _| true).await
}

async fn term_of_when_closed(cluster: &TestCluster, i: usize, key: &PublicKey) -> (u64, u64) {
    let (from, until) = term_when(cluster, i, key, |_, until| until.is_some()).await;
    (from, until.unwrap_or_default())
}

/// The insurance node's key, rotated through the CLI while `load` (if
/// any) runs: the new node joins and votes, then the old key is revoked
/// and leaves the voters.
struct Rotation {
    old: usize,
    old_key: PublicKey,
    joined: usize,
    new_key: PublicKey,
    new_id: u64,
    /// The new key's term starts here; the old key's ends at `until`.
    new_from: u64,
    until: u64,
}

/// The insurance node and the others' indices.
fn insurance_node(cluster: &TestCluster) -> (usize, Vec<usize>) {
    let insurance = &cluster.kit.org(Role::Insurance).id;
    let old = (0..4)
        .find(|i| &cluster.devnet.nodes[*i].org == insurance)
        .expect("an insurance node");
    (old, (0..4).filter(|i| *i != old).collect())
}

async fn rotate_insurance_node(cluster: &mut TestCluster, dir: &Path, via: usize) -> Rotation {
    let insurance = cluster.kit.org(Role::Insurance).id.clone();
    let (old, _) = insurance_node(cluster);
    let old_key = fundtrail_node::keys::read(&cluster.devnet.key_file(&insurance, "node"))
        .expect("old node key")
        .public();
    let (new_file, new_key) = new_node_key(cluster, &insurance, "node-2").expect("new node key");
    let signers = [Role::Health, Role::CivilAffairs];
    let gov = Governance {
        cluster,
        dir: dir.to_path_buf(),
        via,
    };
    let add = gov
        .propose(
            "rotate.json",
            &[
                "rotate-key",
                "--org",
                insurance.as_str(),
                "--role",
                "node",
                "--old",
                &old_key.to_hex(),
                "--new",
                &new_key.public().to_hex(),
            ],
        )
        .await;
    gov.pass(&add, &signers).await;
    let (new_from, _) = term_of_when_shown(cluster, via, &new_key.public()).await;
    let joined = start_joining_node(cluster, &insurance, &new_file).expect("the new node starts");
    let new_id = joined_id(&new_key.public());
    let old_id = old as u64 + 1;
    let mut voters: BTreeSet<u64> = [1, 2, 3, 4, new_id].into();
    wait_for_voters(
        cluster,
        via,
        &voters,
        "the new insurance node becomes a voter",
    )
    .await;

    let gov = Governance {
        cluster,
        dir: dir.to_path_buf(),
        via,
    };
    gov.pass(&dir.join("rotate-revoke.json"), &signers).await;
    let (_, until) = term_of_when_closed(cluster, via, &old_key).await;
    voters.remove(&old_id);
    wait_for_voters(
        cluster,
        via,
        &voters,
        "the old insurance node leaves the voters",
    )
    .await;
    Rotation {
        old,
        old_key,
        joined,
        new_key: new_key.public(),
        new_id,
        new_from,
        until,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_insurance_node_key_is_rotated_under_load_without_losing_a_record() {
    let _serial = serial().await;
    let mut cluster = TestCluster::start(EXE.as_ref(), 4)
        .await
        .expect("cluster starts");
    let (old, others) = insurance_node(&cluster);
    let dir = tempfile::tempdir().expect("temp dir");
    let clients = others.iter().map(|i| cluster.client(*i)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let loader = tokio::spawn(civil_load(cluster.kit.clone(), clients, stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let Rotation {
        old_key,
        joined,
        new_key,
        new_from,
        until,
        ..
    } = rotate_insurance_node(&mut cluster, dir.path(), others[0]).await;

    // The old node still runs, but no one takes its connections: it falls
    // behind while the others commit.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let old_height = cluster.height(old).await.expect("old node's height");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let acknowledged = loader.await.expect("load task");
    let others_height = cluster.height(others[0]).await.expect("height");
    assert!(
        others_height > old_height + 1,
        "the others commit ({others_height}) past the cut-off old node ({old_height})"
    );
    assert_eq!(
        cluster.height(old).await.expect("old node's height"),
        old_height
    );
    assert!(
        cluster
            .log(others[0])
            .contains("node key out of force: connections closed"),
        "the others close the old key's connections"
    );

    cluster.terminate(old);
    cluster
        .converge(Duration::from_secs(60))
        .await
        .expect("the remaining nodes converge");
    let bytes = verified_by_cli(&cluster, joined).await;
    let old_attested = attested_by(&bytes, &old_key).expect("attestations");
    assert!(
        old_attested.iter().all(|h| h.0 < until),
        "no attestation of the old key from its revocation ({until}) on counts: {old_attested:?}"
    );
    let new_attested = attested_by(&bytes, &new_key).expect("attestations");
    assert!(
        !new_attested.is_empty() && new_attested.iter().all(|h| h.0 >= new_from),
        "the new key attests from {new_from} on: {new_attested:?}"
    );

    each_acknowledged_once(&bytes, &acknowledged, 100).expect("nothing acknowledged is lost");
    cluster.stop().await;
}

/// A node that was down while the new insurance node joined, restarted
/// while that node leads: with its config as it was, it refuses the
/// leader it does not know and stays behind; once its operator lists the
/// new node in `peers`, it follows that leader and catches up.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_down_during_a_rotation_catches_up_from_the_new_leader_it_is_told_of() {
    let _serial = serial().await;
    let mut cluster = TestCluster::start(EXE.as_ref(), 4)
        .await
        .expect("cluster starts");
    let (_, others) = insurance_node(&cluster);
    let (lagging, via) = (others[1], others[0]);
    cluster.terminate(lagging);
    let dir = tempfile::tempdir().expect("temp dir");
    let Rotation {
        old,
        joined,
        new_id,
        ..
    } = rotate_insurance_node(&mut cluster, dir.path(), via).await;
    cluster.terminate(old);
    let third = others[2];
    lead_with(&mut cluster, joined, [via, third], new_id).await;
    for n in 0..10 {
        assert!(committed(&submit_one(&cluster, civil_record(&cluster, n)).await).is_some());
    }
    let head = cluster.height(via).await.expect("height");

    cluster.restart(lagging).expect("restart");
    tokio::time::sleep(Duration::from_secs(8)).await;
    let behind = cluster.height(lagging).await.expect("height");
    assert!(
        behind < head,
        "without the new node in its peers it refuses the leader ({behind} < {head})"
    );
    assert_eq!(cluster.leader().await.expect("leader"), joined);

    cluster.terminate(lagging);
    add_peer(&cluster, lagging, joined).expect("add the new node to its peers");
    cluster.restart(lagging).expect("restart");
    cluster
        .wait_for_height(lagging, head, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| {
            let log = cluster.log(lagging);
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "it catches up from the new leader: {e:#}\n{}",
                tail.join("\n")
            )
        });
    let converged = cluster
        .converge(Duration::from_secs(30))
        .await
        .expect("converge");
    assert!(converged["height"].as_u64().expect("height") >= head);
    cluster.stop().await;
}

/// Restarts the leader among `founding` until `joined` leads.
async fn lead_with(cluster: &mut TestCluster, joined: usize, founding: [usize; 2], id: u64) {
    for _ in 0..20 {
        let leader = cluster.leader().await.ok();
        if leader == Some(joined) {
            return;
        }
        if let Some(leader) = leader.filter(|l| founding.contains(l)) {
            cluster.terminate(leader);
            cluster.restart(leader).expect("restart");
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    panic!("node {id} never led");
}
