//! Nodes whose keys genesis does not list join a running consortium,
//! through `fundtrail governance` and nothing else:
//! - a fifth department is admitted with its keys and node; the node
//!   starts from genesis and its own config, catches up, becomes a Raft
//!   voter and attests, its attestations count from its activation height
//!   on, and the exported chain verifies offline;
//! - the insurance node's key is rotated under client load: the new node
//!   joins, the old key is revoked, the other nodes close the old node's
//!   connections, its attestations stop at the revocation, and no
//!   acknowledged record is lost;
//! - a node that was down during a rotation and restarts while the new
//!   node leads stays behind until its operator lists the new node in its
//!   `peers`, then catches up;
//! - after two of the four founding nodes were replaced, a new
//!   department's node starting from genesis still joins: it judges the
//!   Raft membership it receives by the chain it receives with it.

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

/// Waits until node `i` reports `want` as Raft's voters; fails with
/// `what` and what the nodes' logs say of learners, voters and refusals.
async fn wait_for_voters(cluster: &TestCluster, i: usize, want: &BTreeSet<u64>, what: &str) {
    let start = Instant::now();
    while &cluster.voters(i).await != want {
        if start.elapsed() > Duration::from_secs(90) {
            panic!("{what}:\n{}", membership_log(cluster));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The nodes' log lines on learners, voters and refused messages (the
/// first few of each node's), cut to a readable width.
fn membership_log(cluster: &TestCluster) -> String {
    let mut lines = Vec::new();
    for k in 0..cluster.node_count() {
        let log = cluster.log(k);
        let refused = log.lines().filter(|l| l.contains("refus")).take(3);
        let membership = log
            .lines()
            .filter(|l| l.contains("learner") || l.contains("voters"));
        for line in membership.chain(refused) {
            let cut: String = line.chars().take(400).collect();
            lines.push(format!("[node {k}] {cut}"));
        }
    }
    lines.join("\n")
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

/// Admits `org` as a health department with a submitter key and a node
/// key, through node `via`; returns the node's key file and key.
async fn admit_department(
    cluster: &TestCluster,
    org: &OrgId,
    dir: &Path,
    via: usize,
) -> (std::path::PathBuf, fundtrail_ledger::crypto::Keypair) {
    let (node_file, node_key) = new_node_key(cluster, org, "node").expect("node key");
    let (_, submitter) = new_node_key(cluster, org, "submitter").expect("submitter key");
    let gov = Governance {
        cluster,
        dir: dir.to_path_buf(),
        via,
    };
    let signers = [Role::Health, Role::Finance, Role::CivilAffairs];
    let org = org.as_str();
    let submitter = submitter.public().to_hex();
    let node = node_key.public().to_hex();
    let steps: [(&str, Vec<&str>); 3] = [
        (
            "org.json",
            vec!["add-org", "--org", org, "--role", "health"],
        ),
        (
            "submitter.json",
            vec![
                "add-key",
                "--org",
                org,
                "--role",
                "submitter",
                "--public",
                &submitter,
            ],
        ),
        (
            "node.json",
            vec!["add-node", "--org", org, "--public", &node],
        ),
    ];
    for (file, action) in steps {
        let proposal = gov.propose(file, &action).await;
        gov.pass(&proposal, &signers).await;
    }
    (node_file, node_key)
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
    let dir = tempfile::tempdir().expect("temp dir");
    let (node_file, node_key) = admit_department(&cluster, &org, dir.path(), 0).await;
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

/// A node key rotated by [`rotate_node`].
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

/// The index of `role`'s node and the others' indices.
fn node_of(cluster: &TestCluster, role: Role) -> (usize, Vec<usize>) {
    let org = &cluster.kit.org(role).id;
    let node = (0..4)
        .find(|i| &cluster.devnet.nodes[*i].org == org)
        .expect("a node of the organisation");
    (node, (0..4).filter(|i| *i != node).collect())
}

/// Rotates `role`'s node key through node `via`: the proposal, approved by
/// two other departments' officers beside insurance's submitter, adds the
/// new key; the new node joins and votes; then the old key is revoked and
/// leaves the voters.
async fn rotate_node(cluster: &mut TestCluster, role: Role, dir: &Path, via: usize) -> Rotation {
    let org = cluster.kit.org(role).id.clone();
    let (old, _) = node_of(cluster, role);
    let old_key = fundtrail_node::keys::read(&cluster.devnet.key_file(&org, "node"))
        .expect("old node key")
        .public();
    let (new_file, new_key) = new_node_key(cluster, &org, "node-2").expect("new node key");
    let signers: Vec<Role> = [Role::Health, Role::CivilAffairs, Role::Finance]
        .into_iter()
        .filter(|r| *r != role)
        .take(2)
        .collect();
    let gov = Governance {
        cluster,
        dir: dir.to_path_buf(),
        via,
    };
    let add = gov
        .propose(
            &format!("rotate-{org}.json"),
            &[
                "rotate-key",
                "--org",
                org.as_str(),
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
    let joined = start_joining_node(cluster, &org, &new_file).expect("the new node starts");
    let new_id = joined_id(&new_key.public());
    let mut voters = cluster.voters(via).await;
    voters.insert(new_id);
    wait_for_voters(cluster, via, &voters, "the new node becomes a voter").await;

    let gov = Governance {
        cluster,
        dir: dir.to_path_buf(),
        via,
    };
    gov.pass(&dir.join(format!("rotate-{org}-revoke.json")), &signers)
        .await;
    let (_, until) = term_of_when_closed(cluster, via, &old_key).await;
    voters.remove(&(old as u64 + 1));
    wait_for_voters(cluster, via, &voters, "the old node leaves the voters").await;
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
    let (old, others) = node_of(&cluster, Role::Insurance);
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
    } = rotate_node(&mut cluster, Role::Insurance, dir.path(), others[0]).await;

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
    let (_, others) = node_of(&cluster, Role::Insurance);
    let (lagging, via) = (others[1], others[0]);
    cluster.terminate(lagging);
    let dir = tempfile::tempdir().expect("temp dir");
    let Rotation {
        old,
        joined,
        new_id,
        ..
    } = rotate_node(&mut cluster, Role::Insurance, dir.path(), via).await;
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

/// Stops and restarts the leader among `founding` until `joined` leads.
async fn lead_with(cluster: &mut TestCluster, joined: usize, founding: [usize; 2], id: u64) {
    let mut leaders = Vec::new();
    for _ in 0..20 {
        let leader = cluster.leader().await.ok();
        leaders.push(leader);
        if leader == Some(joined) {
            return;
        }
        if let Some(leader) = leader.filter(|l| founding.contains(l)) {
            // Restarted at once, a leader takes up its term again; away for
            // longer than an election timeout, it comes back to an election.
            cluster.terminate(leader);
            tokio::time::sleep(Duration::from_secs(2)).await;
            cluster.restart(leader).expect("restart");
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    panic!(
        "node {id} never led; leaders seen: {leaders:?}\n{}",
        membership_log(cluster)
    );
}

/// Years on, two of the four founding nodes have been replaced. A fifth
/// department's node starting from genesis knows only the founding nodes,
/// two of which are gone, and receives the chain as a snapshot whose Raft
/// membership is mostly nodes it does not know: it checks that membership
/// against the voters in force at the head of the snapshot's chain, and
/// joins.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_joins_after_most_founding_nodes_were_replaced() {
    let _serial = serial().await;
    let mut cluster = TestCluster::start(EXE.as_ref(), 4)
        .await
        .expect("cluster starts");
    let (health, _) = node_of(&cluster, Role::Health);
    let dir = tempfile::tempdir().expect("temp dir");
    for role in [Role::Insurance, Role::CivilAffairs] {
        let Rotation { old, .. } = rotate_node(&mut cluster, role, dir.path(), health).await;
        cluster.terminate(old);
    }
    for n in 0..30 {
        assert!(committed(&submit_one(&cluster, civil_record(&cluster, n)).await).is_some());
    }
    let org = OrgId::new("gd-sz-health").expect("org id");
    let (node_file, node_key) = admit_department(&cluster, &org, dir.path(), health).await;
    let joined = start_joining_node(&mut cluster, &org, &node_file).expect("the node starts");
    let mut voters = cluster.voters(health).await;
    voters.insert(joined_id(&node_key.public()));
    wait_for_voters(&cluster, health, &voters, "the new department's node votes").await;
    let head = cluster
        .converge(Duration::from_secs(60))
        .await
        .expect("converge");
    assert_eq!(
        cluster.height(joined).await.expect("height"),
        head["height"].as_u64().expect("height")
    );
    verified_by_cli(&cluster, joined).await;
    cluster.stop().await;
}
