//! `fundtrail governance` against a real four-department cluster, as
//! docs/OPERATIONS.md runs it:
//! - a proposal short of quorum is shown so by `status`, and when
//!   submitted anyway the chain records it as `QUORUM` and nothing changes;
//! - a rules version scheduled on the running chain through the CLI
//!   switches at its activation height;
//! - a compromised submitter key revoked by a quorum: its records from the
//!   next block on are refused at admission and never committed, its
//!   earlier ones stand, and the exported chain verifies offline;
//! - a department's node removed under client load: the others close its
//!   connections, the leader takes it out of the Raft voters, they keep
//!   committing, and every acknowledged record is on the chain once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fundtrail_ledger::record::SignedRecord;
use fundtrail_ledger::types::{Height, Role};
use fundtrail_node::api::SubmitLine;
use fundtrail_node::wire::Receipt;
use fundtrail_tests::cluster::{
    committed, each_acknowledged_once, record_ids, serial, TestCluster,
};
use fundtrail_tests::governance::{refs, Governance};
use fundtrail_tests::{civil_load, output_text};

const EXE: &str = env!("CARGO_BIN_EXE_fundtrail-e2e");
/// The rules version the cluster starts with; the test schedules the next.
const FIRST_RULES: u32 = 2;
const NEXT_RULES: u32 = 3;

fn civil_record(cluster: &TestCluster, n: u64) -> SignedRecord {
    fundtrail_tests::eligibility_grant(&cluster.kit, n, 90_000 + n)
}

async fn submit_one(cluster: &TestCluster, record: SignedRecord) -> SubmitLine {
    let mut lines = cluster.submit(0, &[record]).await.expect("submit");
    lines.pop().expect("one receipt")
}

async fn rules_version_at(cluster: &TestCluster, height: u64) -> u64 {
    let block = cluster
        .http_get(0, &format!("/v1/blocks/{height}"))
        .await
        .expect("block")
        .json();
    block["header"]["rules_version"]
        .as_u64()
        .expect("a rules version")
}

#[tokio::test(flavor = "multi_thread")]
async fn quorum_rules_schedule_and_key_revocation_through_the_cli() {
    let _serial = serial().await;
    let cluster = TestCluster::start_with(EXE.as_ref(), 4, |plan| {
        plan.genesis.rules_version = FIRST_RULES;
    })
    .await
    .expect("cluster starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let gov = Governance {
        cluster: &cluster,
        dir: dir.path().to_path_buf(),
        via: 0,
    };

    short_of_quorum_is_shown_and_recorded_as_quorum(&gov).await;
    a_scheduled_rules_version_switches_at_its_height(&gov).await;
    a_revoked_submitter_key_is_refused_from_the_next_block(&gov).await;
    cluster.stop().await;
}

async fn short_of_quorum_is_shown_and_recorded_as_quorum(gov: &Governance<'_>) {
    let health = gov.cluster.kit.org(Role::Health).id.to_string();
    let proposal = gov
        .propose("remove-health.json", &["remove-org", "--org", &health])
        .await;
    let signed = gov.sign(&proposal, Role::Finance).await;
    let shown = String::from_utf8_lossy(&signed.stdout);
    assert!(shown.contains("remove organisation"), "{shown}");

    let status = gov.with_proposal("status", &proposal).await;
    assert!(!status.status.success(), "short of quorum exits non-zero");
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(out.contains("SHORT OF QUORUM"), "{}", output_text(&status));
    assert!(
        out.contains("backed by 2 of the 3"),
        "{}",
        output_text(&status)
    );

    let submitted = gov.with_proposal("submit", &proposal).await;
    assert!(!submitted.status.success());
    assert!(
        String::from_utf8_lossy(&submitted.stderr).contains("QUORUM"),
        "{}",
        output_text(&submitted)
    );
    let view = gov
        .cluster
        .http_get(0, "/v1/membership")
        .await
        .expect("membership")
        .json();
    let orgs: Vec<&str> = view["orgs"]
        .as_array()
        .expect("orgs")
        .iter()
        .filter_map(|o| o["org"].as_str())
        .collect();
    assert!(orgs.contains(&health.as_str()), "nothing changed: {orgs:?}");
}

async fn a_scheduled_rules_version_switches_at_its_height(gov: &Governance<'_>) {
    let cluster = gov.cluster;
    let activation = cluster.height(0).await.expect("height") + 4;
    let proposal = gov
        .propose(
            "rules.json",
            &[
                "schedule-rules",
                "--version",
                &NEXT_RULES.to_string(),
                "--activation",
                &activation.to_string(),
            ],
        )
        .await;
    gov.sign(&proposal, Role::Health).await;
    gov.sign(&proposal, Role::Finance).await;
    let status = gov.with_proposal("status", &proposal).await;
    assert!(status.status.success(), "{}", output_text(&status));
    assert!(String::from_utf8_lossy(&status.stdout).contains("QUORUM REACHED"));
    let submitted = gov.with_proposal("submit", &proposal).await;
    assert!(submitted.status.success(), "{}", output_text(&submitted));

    let show = gov
        .run(&refs(&{
            let mut a: Vec<std::ffi::OsString> = vec!["show".into()];
            a.extend(gov.node_args());
            a
        }))
        .await;
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(
        shown.contains(&format!(
            "version {NEXT_RULES} from block {activation} (pending)"
        )),
        "{}",
        output_text(&show)
    );

    let mut n = 1;
    while cluster.height(0).await.expect("height") < activation {
        assert!(committed(&submit_one(cluster, civil_record(cluster, n)).await).is_some());
        n += 1;
    }
    assert_eq!(
        rules_version_at(cluster, activation - 1).await,
        u64::from(FIRST_RULES)
    );
    assert_eq!(
        rules_version_at(cluster, activation).await,
        u64::from(NEXT_RULES)
    );
}

async fn a_revoked_submitter_key_is_refused_from_the_next_block(gov: &Governance<'_>) {
    let cluster = gov.cluster;
    let before = civil_record(cluster, 100);
    let (before_height, _, outcome) = match committed(&submit_one(cluster, before.clone()).await) {
        Some((h, i, o)) => (h, i, o.clone()),
        None => panic!("the record before the revocation commits"),
    };
    assert!(outcome.is_accepted());

    let civil = cluster.kit.org(Role::CivilAffairs);
    let civil_key = civil.submitter.public().to_hex();
    let proposal = gov
        .propose(
            "revoke-civil.json",
            &[
                "revoke-key",
                "--org",
                &civil.id.to_string(),
                "--public",
                &civil_key,
            ],
        )
        .await;
    gov.sign(&proposal, Role::Health).await;
    gov.sign(&proposal, Role::Finance).await;
    let submitted = gov.with_proposal("submit", &proposal).await;
    assert!(submitted.status.success(), "{}", output_text(&submitted));
    let revoked_at = cluster.height(0).await.expect("height");
    assert!(revoked_at > before_height);

    let after = civil_record(cluster, 101);
    match submit_one(cluster, after.clone()).await {
        SubmitLine::Receipt(Receipt::Refused { reason, .. }) => {
            assert!(reason.contains("not a member key"), "{reason}")
        }
        other => panic!("a record by the revoked key is refused, got {other:?}"),
    }
    let head = cluster
        .converge(Duration::from_secs(30))
        .await
        .expect("converge");
    let (bytes, summary) = cluster
        .verified_export(0, 3)
        .await
        .expect("the chain verifies");
    assert_eq!(
        summary.head_height,
        Height(head["height"].as_u64().expect("height"))
    );
    let ids = record_ids(&bytes).expect("record ids");
    assert!(ids.contains(&before.id()), "the earlier record stands");
    assert!(
        !ids.contains(&after.id()),
        "the later record never entered a block"
    );
}

/// The leading node is the one removed: the hardest case, since its
/// own entries stop making blocks and the others must elect a new leader
/// before Raft's voters can change.
#[tokio::test(flavor = "multi_thread")]
async fn the_leaders_node_removed_under_load_loses_nothing_and_the_rest_keep_committing() {
    let _serial = serial().await;
    let mut cluster = TestCluster::start(EXE.as_ref(), 4)
        .await
        .expect("cluster starts");
    let removed = cluster.leader().await.expect("a leader");
    let others: Vec<usize> = (0..4).filter(|i| *i != removed).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let stop = Arc::new(AtomicBool::new(false));
    let clients = others.iter().map(|i| cluster.client(*i)).collect();
    let loader = tokio::spawn(civil_load(cluster.kit.clone(), clients, stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let gov = Governance {
        cluster: &cluster,
        dir: dir.path().to_path_buf(),
        via: others[0],
    };
    let org = cluster.devnet.nodes[removed].org.to_string();
    let node_key = cluster
        .devnet
        .key_file(&cluster.devnet.nodes[removed].org, "node");
    let proposal = gov
        .propose(
            "remove-node.json",
            &[
                "remove-node",
                "--org",
                &org,
                "--public",
                &node_key.to_string_lossy(),
            ],
        )
        .await;
    gov.sign(&proposal, Role::Health).await;
    gov.sign(&proposal, Role::CivilAffairs).await;
    let submitted = gov.with_proposal("submit", &proposal).await;
    assert!(submitted.status.success(), "{}", output_text(&submitted));
    let removed_at = cluster.height(others[0]).await.expect("height");

    let start = Instant::now();
    while cluster.voters(others[0]).await.len() != 3 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the leader takes the finance node out of the voters"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let after_removal = cluster.height(others[0]).await.expect("height");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let acknowledged = loader.await.expect("load task");
    assert!(
        cluster.height(others[0]).await.expect("height") > after_removal,
        "the remaining nodes keep committing after the removal"
    );

    cluster.terminate(removed);
    cluster
        .converge(Duration::from_secs(30))
        .await
        .expect("the remaining nodes converge");
    let (bytes, summary) = cluster
        .verified_export(others[0], 3)
        .await
        .expect("the chain verifies");
    assert!(summary.head_height.0 > removed_at);
    each_acknowledged_once(&bytes, &acknowledged, 100).expect("nothing acknowledged is lost");
    cluster.stop().await;
}
