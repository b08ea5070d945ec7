//! 可用不可见 across node processes: the health department's node keeps a
//! claim's raw bill in its vault; another department gets it only through
//! an accepted disclosure record on the chain that names it as requester
//! and health as holder. Without one, or with one the rules rejected for
//! want of an officer's approval, the holder refuses, whether asked
//! through the requester's node or directly over libp2p; with one, the raw
//! bill is delivered and matches the claim's commitment, and every
//! disclosure, refused or not, shows in the record's history.

use std::sync::Arc;
use std::time::Duration;

use fundtrail_ledger::pseudonym::raw_commitment;
use fundtrail_ledger::record::{DisclosureBody, DisclosurePurpose, RecordBody};
use fundtrail_ledger::types::Role;
use fundtrail_ledger::{Hash32, Outcome, RecordId, SignedRecord, Verdict};
use fundtrail_node::p2p::NetConfig;
use fundtrail_node::wire::{
    DisclosureRequest, DisclosureResponse, VaultEntry, WireRequest, WireResponse,
};
use fundtrail_tests::cluster::{committed, serial, Http, TestCluster};
use fundtrail_tests::health_claim;
use serde_json::{json, Value};

const EXE: &str = env!("CARGO_BIN_EXE_fundtrail-e2e");

/// Nodes in devnet order.
const INSURANCE: usize = 0;
const CIVIL_AFFAIRS: usize = 1;
const HEALTH: usize = 2;

/// Submits through `node` and answers once that node has applied the
/// record, so the test can read it back there: its height and outcome.
async fn submit(cluster: &TestCluster, node: usize, record: &SignedRecord) -> (u64, Outcome) {
    let lines = cluster
        .client(node)
        .submit_applied(std::slice::from_ref(record))
        .await
        .unwrap();
    let (height, _, outcome) =
        committed(&lines[0]).unwrap_or_else(|| panic!("not committed: {:?}", lines[0]));
    (height, outcome.clone())
}

/// [`submit`] of a record the rules must accept; returns its height.
async fn submit_one(cluster: &TestCluster, node: usize, record: &SignedRecord) -> u64 {
    let (height, outcome) = submit(cluster, node, record).await;
    assert_eq!(outcome.verdict, Verdict::Accepted, "{outcome:?}");
    height
}

fn disclosure(target: RecordId, requester: &str, case: &str) -> RecordBody {
    RecordBody::Disclosure(DisclosureBody {
        target,
        holder: "gd-health".parse().unwrap(),
        requester: requester.parse().unwrap(),
        purpose: DisclosurePurpose::Audit,
        case_ref: Some(case.parse().unwrap()),
    })
}

/// Asks the health node directly over libp2p, as the civil-affairs node
/// (whose process is stopped, so the identity is free to use).
async fn ask_holder_directly(cluster: &TestCluster, requests: &[RecordId]) -> Vec<WireResponse> {
    let genesis = cluster.genesis().unwrap();
    let roster = fundtrail_node::roster::Roster::from_genesis(&genesis).unwrap();
    let holder = roster.members()[HEALTH].clone();
    assert_eq!(holder.org.as_str(), "gd-health");
    let key = fundtrail_node::keys::read(
        &cluster
            .devnet
            .dir
            .join("keys")
            .join("gd-civil-affairs-node.key"),
    )
    .unwrap();
    let keypair = libp2p::identity::Keypair::ed25519_from_bytes(key.secret_bytes()).unwrap();
    let (net, task) = fundtrail_node::p2p::spawn(
        NetConfig {
            keypair,
            listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
            peers: vec![(
                holder.peer,
                cluster.devnet.nodes[HEALTH].p2p.parse().unwrap(),
            )],
            roster,
            topic: "disclosure-test".into(),
            snapshot_deadline: Duration::from_secs(60),
            refusals: fundtrail_node::refusals::Refusals::new(Arc::default()),
        },
        Arc::new(|_, _| Box::pin(async { WireResponse::Refused("test peer".into()) })),
        Arc::new(|_| {}),
    )
    .unwrap();
    let mut out = Vec::new();
    for id in requests {
        let request = WireRequest::Disclose(DisclosureRequest {
            fetch: *id,
            height: fundtrail_ledger::types::Height(0),
        });
        out.push(
            net.request(holder.peer, request, Duration::from_secs(20))
                .await
                .expect("the holder answers a consortium node"),
        );
    }
    task.abort();
    out
}

async fn fetch(cluster: &TestCluster, node: usize, id: RecordId) -> Http {
    cluster
        .http_post(node, &format!("/v1/disclosures/{id}/fetch"), "")
        .await
        .unwrap()
}

/// `fundtrail disclose` as insurance: the approved disclosure's bill lands
/// in a file only its owner can read, and nothing of it is printed; the
/// unapproved one fails with its code and writes nothing.
async fn disclose_through_the_cli(
    cluster: &TestCluster,
    approved: RecordId,
    unapproved: RecordId,
    raw_bill: &[u8],
) {
    let dir = tempfile::tempdir().unwrap();
    let run = |id: RecordId, out: std::path::PathBuf| {
        tokio::process::Command::new(EXE)
            .args(["disclose", "--node", cluster.api(INSURANCE)])
            .arg(id.to_hex())
            .arg("--out")
            .arg(out)
            .output()
    };
    let out = dir.path().join("bill");
    let done = run(approved, out.clone()).await.unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(done.status.success(), "{printed}");
    assert!(
        printed.contains("matches its on-chain commitment"),
        "{printed}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), raw_bill);
    for raw in ["440106195803120419", "ZY2026-0000123"] {
        assert!(
            !printed.contains(raw),
            "printed a raw identifier: {printed}"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let refused_out = dir.path().join("refused");
    let refused = run(unapproved, refused_out.clone()).await.unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("MISSING_APPROVAL"), "{stderr}");
    assert!(!refused_out.exists(), "a refused disclosure writes no file");
}

fn refusal(r: &WireResponse) -> String {
    match r {
        WireResponse::Disclose(DisclosureResponse::Refused(reason)) => reason.clone(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_bill_only_through_an_on_chain_disclosure() {
    let _serial = serial().await;
    let started = std::time::Instant::now();
    let mut cluster = TestCluster::start(EXE.as_ref(), 3)
        .await
        .expect("cluster starts");
    let kit = fundtrail_testkit::Kit::new(7);
    let kit = &kit;

    // Health signs its claim on its own side; the raw bill stays there.
    let (claim, entry) = health_claim(&cluster, kit, HEALTH);
    let raw_bill = entry.raw_bill.clone();
    submit_one(&cluster, HEALTH, &claim).await;
    let stored = cluster
        .client(HEALTH)
        .post("/v1/vault", &serde_json::to_value([&entry]).unwrap())
        .await
        .expect("the health node keeps its own raw bill");
    assert_eq!(stored, json!({"stored": 1}));
    // Nobody else can put it into their vault.
    assert!(cluster
        .client(INSURANCE)
        .post("/v1/vault", &serde_json::to_value([&entry]).unwrap())
        .await
        .is_err());

    // Insurance settles the claim (a payout a disclosure may name).
    let claim_id = match &claim.envelope.body {
        RecordBody::Claim(c) => c.claim_id,
        _ => unreachable!(),
    };
    let quote = fundtrail_testkit::bodies::settle(
        claim_id,
        fundtrail_ledger::types::Scheme::Basic,
        "62300.00".parse().unwrap(),
    );
    let settlement = kit.sign(Role::Insurance, quote, 1, 2);
    submit_one(&cluster, INSURANCE, &settlement).await;

    // --- No disclosure on the chain: refused. ---
    let made_up = RecordId::from_hex(&"5e".repeat(32)).unwrap();
    let r = fetch(&cluster, INSURANCE, made_up).await;
    assert_eq!(r.status, 404, "{r:?}");
    assert!(r.error().is_some(), "{r:?}");
    let r = fetch(&cluster, INSURANCE, claim.id()).await;
    assert_eq!(r.status, 400, "a claim is not a disclosure: {r:?}");
    assert!(!r.text.contains(&raw_hex(&raw_bill)), "{r:?}");

    // The civil-affairs node stops; its identity asks the holder directly.
    cluster.kill9(CIVIL_AFFAIRS);
    let answers = ask_holder_directly(&cluster, &[made_up, claim.id()]).await;
    let reason = refusal(&answers[0]);
    assert!(reason.contains("no disclosure record"), "{reason}");
    let reason = refusal(&answers[1]);
    assert!(reason.contains("not a disclosure"), "{reason}");

    // --- A disclosure without an officer's approval: on the chain, but
    // rejected by the rules, so the holder refuses it. ---
    let unapproved = kit.sign(
        Role::Insurance,
        disclosure(claim.id(), "gd-insurance", "SJ-2026-016"),
        2,
        0,
    );
    let (_, outcome) = submit(&cluster, INSURANCE, &unapproved).await;
    assert_eq!(
        outcome.verdict,
        Verdict::Rejected {
            code: "MISSING_APPROVAL".parse().unwrap()
        }
    );
    let r = fetch(&cluster, INSURANCE, unapproved.id()).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.text.contains("rejected by the rules (MISSING_APPROVAL)"),
        "{r:?}"
    );
    assert!(!r.text.contains(&raw_hex(&raw_bill)), "{r:?}");
    // The holder checks for itself, whoever asks.
    let answers = ask_holder_directly(&cluster, &[unapproved.id()]).await;
    let reason = refusal(&answers[0]);
    assert!(reason.contains("rejected by the rules"), "{reason}");

    // --- A disclosure filed by insurance with its officer's approval,
    // naming health as holder. ---
    let filed = kit.sign(
        Role::Insurance,
        disclosure(claim.id(), "gd-insurance", "SJ-2026-017"),
        3,
        1,
    );
    submit_one(&cluster, INSURANCE, &filed).await;
    let v = cluster
        .client(INSURANCE)
        .post(
            &format!("/v1/disclosures/{}/fetch", filed.id()),
            &Value::Null,
        )
        .await
        .expect("the raw bill is delivered");
    assert_eq!(v["verified"], true, "{v}");
    let delivered: VaultEntry = serde_json::from_value(v["entry"].clone()).unwrap();
    assert_eq!(delivered, entry);
    assert_eq!(delivered.raw_bill, raw_bill, "the bill as health keeps it");
    disclose_through_the_cli(&cluster, filed.id(), unapproved.id(), &raw_bill).await;
    // ... and it matches the commitment on the chain, recomputed here.
    let on_chain = cluster
        .client(INSURANCE)
        .get(&format!("/v1/records/{}", claim.id()))
        .await
        .unwrap();
    let commitment: Hash32 = serde_json::from_value(
        on_chain["record"]["envelope"]["body"]["claim"]["raw_commitment"].clone(),
    )
    .unwrap();
    let salt: [u8; 32] = delivered.salt.as_slice().try_into().unwrap();
    assert_eq!(raw_commitment(&salt, &delivered.raw_bill), commitment);
    assert!(
        !on_chain.to_string().contains("440106195803120419")
            && !on_chain.to_string().contains("ZY2026-0000123"),
        "the chain has no raw identifiers"
    );

    // The same disclosure does not open the vault to another organisation.
    let answers = ask_holder_directly(&cluster, &[filed.id()]).await;
    let reason = refusal(&answers[0]);
    assert!(reason.contains("another organisation"), "{reason}");

    // A disclosure of the payout reaches the bill behind it.
    let of_payout = kit.sign(
        Role::Insurance,
        disclosure(settlement.id(), "gd-insurance", "SJ-2026-018"),
        4,
        1,
    );
    let height = submit_one(&cluster, HEALTH, &of_payout).await;
    cluster
        .wait_for_height(INSURANCE, height, Duration::from_secs(10))
        .await
        .expect("insurance applies the block");
    let r = fetch(&cluster, INSURANCE, of_payout.id()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["verified"], true);
    assert_eq!(r.json()["entry"], serde_json::to_value(&entry).unwrap());

    // --- The access is in the records' history, on every running node. ---
    for node in [INSURANCE, HEALTH] {
        let v = cluster
            .client(node)
            .get(&format!("/v1/records/{}", claim.id()))
            .await
            .unwrap();
        assert_eq!(
            v["acted_on_by"],
            json!([unapproved.id(), filed.id()]),
            "node {node}: the refused request is history too"
        );
        let v = cluster
            .client(node)
            .get(&format!("/v1/records/{}", settlement.id()))
            .await
            .unwrap();
        assert_eq!(v["acted_on_by"], json!([of_payout.id()]), "node {node}");
        let v = cluster
            .client(node)
            .get(&format!("/v1/records/{}", filed.id()))
            .await
            .unwrap();
        assert_eq!(v["kind"], "disclosure");
        assert_eq!(
            v["record"]["envelope"]["body"]["disclosure"]["requester"],
            "gd-insurance"
        );
    }
    // The civil-affairs node comes back and sees the same history.
    cluster.restart(CIVIL_AFFAIRS).unwrap();
    cluster.converge(Duration::from_secs(60)).await.unwrap();
    let v = cluster
        .client(CIVIL_AFFAIRS)
        .get(&format!("/v1/records/{}", claim.id()))
        .await
        .unwrap();
    assert_eq!(v["acted_on_by"], json!([unapproved.id(), filed.id()]));
    // The raw bill never left the health node's vault in the export.
    let bytes = cluster.client(HEALTH).export().await.unwrap();
    assert!(!contains(&bytes, &raw_bill), "the vault is never exported");
    assert!(!contains(&bytes, b"440106195803120419"));

    cluster.stop().await;
    eprintln!("disclosure test took {:?}", started.elapsed());
}

fn raw_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
