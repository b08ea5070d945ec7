//! 可用不可见 across node processes, and disclosure as a grant: the health
//! department's node keeps a claim's raw bill in its vault; another
//! department gets it only through an accepted disclosure on the chain
//! that names it as requester and health as holder, and only one fetch at
//! a time: each fetch is a `disclosure_fetch` record its officer signs,
//! which the rules accept within the grant's count and window, and which
//! the holder serves once. Without a grant, past its count or its window,
//! or signed by anyone but the requester's officer, the fetch is refused,
//! whether asked through the requester's node or directly over libp2p.
//! Every disclosure and fetch, refused or not, shows in the record's
//! history and in the audit report; a holder that delivers another claim's
//! bill, or a changed one, is caught by the requester's node.

use std::sync::Arc;
use std::time::Duration;

use fundtrail_ledger::pseudonym::raw_commitment;
use fundtrail_ledger::record::{
    DisclosureBody, DisclosureFetchBody, DisclosurePurpose, MemberBody, RecordBody,
};
use fundtrail_ledger::types::Role;
use fundtrail_ledger::{Hash32, Outcome, RecordId, SignedRecord, Verdict};
use fundtrail_node::p2p::NetConfig;
use fundtrail_node::wire::{
    DisclosureRequest, DisclosureResponse, VaultEntry, WireRequest, WireResponse,
};
use fundtrail_testkit::Kit;
use fundtrail_tests::cluster::{committed, serial, Http, TestCluster};
use fundtrail_tests::{fetch_request, health_claim, health_claim_of, officer_fetch, CLAIM_LINE};
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

/// [`submit`] of a record the rules must reject with `code`.
async fn submit_refused(cluster: &TestCluster, node: usize, record: &SignedRecord, code: &str) {
    let (_, outcome) = submit(cluster, node, record).await;
    assert_eq!(
        outcome.verdict,
        Verdict::Rejected {
            code: code.parse().unwrap()
        }
    );
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

/// A p2p endpoint holding the node key of `org`'s node, which dials
/// `peers` and answers every request with `answer`.
fn endpoint(
    cluster: &TestCluster,
    org: &str,
    peers: &[usize],
    answer: Arc<dyn Fn(WireRequest) -> WireResponse + Send + Sync>,
) -> (fundtrail_node::p2p::Net, tokio::task::JoinHandle<()>) {
    let genesis = cluster.genesis().unwrap();
    let roster = fundtrail_node::roster::Roster::from_genesis(&genesis).unwrap();
    let key = fundtrail_node::keys::read(
        &cluster
            .devnet
            .dir
            .join("keys")
            .join(format!("{org}-node.key")),
    )
    .unwrap();
    let keypair = libp2p::identity::Keypair::ed25519_from_bytes(key.secret_bytes()).unwrap();
    let peers = peers
        .iter()
        .map(|&i| {
            (
                roster.members()[i].peer,
                cluster.devnet.nodes[i].p2p.parse().unwrap(),
            )
        })
        .collect();
    fundtrail_node::p2p::spawn(
        NetConfig {
            keypair,
            listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
            peers,
            roster,
            topic: "disclosure-test".into(),
            checkpoint_topic: "disclosure-test-checkpoints".into(),
            snapshot_deadline: Duration::from_secs(60),
            refusals: fundtrail_node::refusals::Refusals::new(Arc::default()),
        },
        Arc::new(move |_, request| {
            let response = answer(request);
            Box::pin(async move { response })
        }),
        (Arc::new(|_| {}), Arc::new(|_| {})),
    )
    .unwrap()
}

/// Asks the health node directly over libp2p, as the civil-affairs node
/// (whose process is stopped, so the identity is free to use), naming
/// each of `fetches`.
async fn ask_holder_directly(cluster: &TestCluster, fetches: &[RecordId]) -> Vec<WireResponse> {
    let refuse = Arc::new(|_: WireRequest| WireResponse::Refused("test peer".into()));
    let (net, task) = endpoint(cluster, "gd-civil-affairs", &[HEALTH], refuse);
    let holder = fundtrail_node::roster::Roster::from_genesis(&cluster.genesis().unwrap())
        .unwrap()
        .members()[HEALTH]
        .peer;
    let mut out = Vec::new();
    for fetch in fetches {
        let request = WireRequest::Disclose(DisclosureRequest {
            fetch: *fetch,
            height: fundtrail_ledger::types::Height(0),
        });
        out.push(
            net.request(holder, request, Duration::from_secs(20))
                .await
                .expect("the holder answers a consortium node"),
        );
    }
    task.abort();
    out
}

/// `POST /v1/disclosures/{disclosure}/fetch` on `node`, naming `fetch`,
/// asked by the officer who signed the fetch (or, for a fetch no kit
/// officer signed, an officer of the node's organisation).
async fn fetch(
    cluster: &TestCluster,
    node: usize,
    disclosure: RecordId,
    fetch: &SignedRecord,
) -> Http {
    let signer = cluster
        .kit
        .orgs
        .iter()
        .flat_map(|o| o.officers.iter())
        .find(|k| k.public() == fetch.envelope.submitter_key);
    let client = match signer {
        Some(officer) => cluster.client_as(node, officer),
        None => cluster.officer(node),
    };
    cluster
        .http_post_with(
            &client,
            &format!("/v1/disclosures/{disclosure}/fetch"),
            fetch_request(fetch).to_string(),
        )
        .await
        .unwrap()
}

fn refusal(r: &WireResponse) -> String {
    match r {
        WireResponse::Disclose(DisclosureResponse::Refused(reason)) => reason.clone(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// `fundtrail disclose` as insurance's second officer.
async fn disclose_cli(
    cluster: &TestCluster,
    disclosure: RecordId,
    out: &std::path::Path,
) -> std::process::Output {
    let key = cluster
        .devnet
        .dir
        .join("keys")
        .join("gd-insurance-officer-2.key");
    tokio::process::Command::new(EXE)
        .args(["disclose", "--node", cluster.api(INSURANCE), "--key"])
        .arg(key)
        .arg(disclosure.to_hex())
        .arg("--out")
        .arg(out)
        .arg("--json")
        .output()
        .await
        .unwrap()
}

fn printed(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The record id the CLI names after `before` in its output.
fn id_after(text: &str, before: &str) -> RecordId {
    let at = text.find(before).unwrap_or_else(|| panic!("{text}")) + before.len();
    RecordId::from_hex(&text[at..at + 64]).unwrap()
}

/// `fundtrail disclose` as insurance's officer: a fetch within the grant
/// lands in a file only its owner can read and nothing of the bill is
/// printed; a disclosure the rules rejected fails with its code before any
/// fetch is signed. Returns the fetch the command put on the chain.
async fn disclose_within_the_grant(
    cluster: &TestCluster,
    approved: RecordId,
    unapproved: RecordId,
    raw_bill: &[u8],
) -> RecordId {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bill");
    let done = disclose_cli(cluster, approved, &out).await;
    let text = printed(&done);
    assert!(done.status.success(), "{text}");
    let report: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(report["matches_commitment"], true, "{text}");
    assert_eq!(std::fs::read(&out).unwrap(), raw_bill);
    for raw in ["440106195803120419", "ZY2026-0000123"] {
        assert!(!text.contains(raw), "printed a raw identifier: {text}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let refused_out = dir.path().join("refused");
    let refused = disclose_cli(cluster, unapproved, &refused_out).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("MISSING_APPROVAL"), "{stderr}");
    assert!(!refused_out.exists(), "a refused disclosure writes no file");
    serde_json::from_value(report["fetch"].clone()).unwrap()
}

/// `fundtrail disclose` past the grant: the rules refuse the fetch it
/// signs, the command fails with the code and writes nothing. Returns the
/// refused fetch.
async fn disclose_past_the_grant(cluster: &TestCluster, approved: RecordId) -> RecordId {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bill");
    let refused = disclose_cli(cluster, approved, &out).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("GRANT_USED_UP"), "{stderr}");
    assert!(!out.exists(), "a refused fetch writes no file");
    id_after(&stderr, "the disclosure fetch ")
}

async fn history(cluster: &TestCluster, node: usize, id: RecordId) -> Value {
    let v = cluster
        .client(node)
        .get(&format!("/v1/records/{id}"))
        .await
        .unwrap();
    v["acted_on_by"].clone()
}

fn ids(records: &[RecordId]) -> Value {
    serde_json::to_value(records).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_bill_only_through_an_on_chain_grant() {
    let _serial = serial().await;
    let started = std::time::Instant::now();
    let mut cluster = TestCluster::start(EXE.as_ref(), 3)
        .await
        .expect("cluster starts");
    let kit = &Kit::new(7);

    // Health signs its claims on its own side; the raw bills stay there.
    let (claim, entry) = health_claim(&cluster, kit, HEALTH);
    let other_line = CLAIM_LINE.replace("ZY2026-0000123", "ZY2026-0000456");
    let (other_claim, other_entry) = health_claim_of(&cluster, kit, HEALTH, &other_line);
    let raw_bill = entry.raw_bill.clone();
    submit_one(&cluster, HEALTH, &claim).await;
    submit_one(&cluster, HEALTH, &other_claim).await;
    let stored = cluster
        .department(HEALTH)
        .post(
            "/v1/vault",
            &serde_json::to_value([&entry, &other_entry]).unwrap(),
        )
        .await
        .expect("the health node keeps its own raw bills");
    assert_eq!(stored, json!({"stored": 2}));
    // Nobody else can put them into their vault.
    assert!(cluster
        .department(INSURANCE)
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

    // --- No grant on the chain: refused. ---
    let made_up = RecordId::from_hex(&"5e".repeat(32)).unwrap();
    let r = cluster
        .http_post_with(
            &cluster.officer(INSURANCE),
            &format!("/v1/disclosures/{made_up}/fetch"),
            json!({ "fetch": made_up }).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    let r = fetch(&cluster, INSURANCE, claim.id(), &claim).await;
    assert_eq!(r.status, 400, "a claim is not a disclosure: {r:?}");
    assert!(!r.text.contains(&raw_hex(&raw_bill)), "{r:?}");

    // The civil-affairs node stops; its identity asks the holder directly.
    cluster.kill9(CIVIL_AFFAIRS);
    let answers = ask_holder_directly(&cluster, &[made_up, claim.id()]).await;
    let reason = refusal(&answers[0]);
    assert!(reason.contains("no disclosure_fetch record"), "{reason}");
    let reason = refusal(&answers[1]);
    assert!(reason.contains("not a disclosure_fetch"), "{reason}");

    // --- A disclosure without an officer's approval: on the chain, but
    // rejected by the rules, so it grants no fetch. ---
    let unapproved = kit.sign(
        Role::Insurance,
        disclosure(claim.id(), "gd-insurance", "SJ-2026-016"),
        2,
        0,
    );
    submit_refused(&cluster, INSURANCE, &unapproved, "MISSING_APPROVAL").await;
    let ungranted = officer_fetch(kit, Role::Insurance, 0, unapproved.id(), claim.id(), 10);
    submit_refused(&cluster, INSURANCE, &ungranted, "NOT_A_GRANT").await;
    // The holder is asked directly below: it must hold the records too.
    let height = cluster.height(INSURANCE).await.unwrap();
    cluster
        .wait_for_height(HEALTH, height, Duration::from_secs(20))
        .await
        .unwrap();
    let r = fetch(&cluster, INSURANCE, unapproved.id(), &ungranted).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.text
            .contains("disclosure record was rejected by the rules (MISSING_APPROVAL)"),
        "{r:?}"
    );
    // The holder checks for itself, whoever asks.
    let answers = ask_holder_directly(&cluster, &[ungranted.id()]).await;
    let reason = refusal(&answers[0]);
    assert!(
        reason.contains("rejected by the rules (NOT_A_GRANT)"),
        "{reason}"
    );

    // --- A disclosure filed by insurance with its officer's approval,
    // naming health as holder: a grant of three fetches (the defaults). ---
    let filed = kit.sign(
        Role::Insurance,
        disclosure(claim.id(), "gd-insurance", "SJ-2026-017"),
        3,
        1,
    );
    submit_one(&cluster, INSURANCE, &filed).await;
    let no_fetch_named = cluster
        .http_post_with(
            &cluster.officer(INSURANCE),
            &format!("/v1/disclosures/{}/fetch", filed.id()),
            "",
        )
        .await
        .unwrap();
    assert_eq!(no_fetch_named.status, 400, "{no_fetch_named:?}");
    assert!(
        no_fetch_named.text.contains("disclosure_fetch"),
        "{no_fetch_named:?}"
    );

    // Only an officer of the requesting organisation signs a fetch.
    let fetch_body = RecordBody::DisclosureFetch(DisclosureFetchBody {
        disclosure: filed.id(),
        target: claim.id(),
    });
    let by_submitter = kit.sign(Role::Insurance, fetch_body, 11, 0);
    submit_refused(&cluster, INSURANCE, &by_submitter, "ROLE_NOT_ALLOWED").await;
    let by_holder = officer_fetch(kit, Role::Health, 0, filed.id(), claim.id(), 12);
    submit_refused(&cluster, INSURANCE, &by_holder, "ROLE_NOT_ALLOWED").await;
    // Its signer, an officer of the holder, is turned away by the
    // requester's node before anything is asked of the holder.
    let r = fetch(&cluster, INSURANCE, filed.id(), &by_holder).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.text.contains("its own organisation only"), "{r:?}");

    // The first fetch, by insurance's officer: delivered and verified.
    let first = officer_fetch(kit, Role::Insurance, 0, filed.id(), claim.id(), 13);
    submit_one(&cluster, INSURANCE, &first).await;
    let r = fetch(&cluster, INSURANCE, filed.id(), &first).await;
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    assert_eq!(v["verified"], true, "{v}");
    let delivered: VaultEntry = serde_json::from_value(v["entry"].clone()).unwrap();
    assert!(delivered == entry, "the bill as health keeps it");
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
    // Each fetch delivers once.
    let r = fetch(&cluster, INSURANCE, filed.id(), &first).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.text.contains("served already"), "{r:?}");
    assert!(!r.text.contains(&raw_hex(&raw_bill)), "{r:?}");
    // The same grant does not open the vault to another organisation.
    let answers = ask_holder_directly(&cluster, &[first.id()]).await;
    let reason = refusal(&answers[0]);
    assert!(reason.contains("another organisation"), "{reason}");

    // The second fetch through the CLI, the third through the API.
    let by_cli = disclose_within_the_grant(&cluster, filed.id(), unapproved.id(), &raw_bill).await;
    let third = officer_fetch(kit, Role::Insurance, 0, filed.id(), claim.id(), 14);
    submit_one(&cluster, INSURANCE, &third).await;
    assert_eq!(
        fetch(&cluster, INSURANCE, filed.id(), &third).await.status,
        200
    );

    // --- Past the grant's count: refused on the chain, so not served. ---
    let past = officer_fetch(kit, Role::Insurance, 1, filed.id(), claim.id(), 15);
    submit_refused(&cluster, INSURANCE, &past, "GRANT_USED_UP").await;
    let r = fetch(&cluster, INSURANCE, filed.id(), &past).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.text.contains("rejected by the rules (GRANT_USED_UP)"),
        "{r:?}"
    );
    let cli_past = disclose_past_the_grant(&cluster, filed.id()).await;

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
    let payout_fetch = officer_fetch(kit, Role::Insurance, 0, of_payout.id(), settlement.id(), 16);
    submit_one(&cluster, INSURANCE, &payout_fetch).await;
    let r = fetch(&cluster, INSURANCE, of_payout.id(), &payout_fetch).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["verified"], true);
    assert_eq!(r.json()["entry"], serde_json::to_value(&entry).unwrap());
    // A fetch draws on the disclosure it names, not on another.
    let r = fetch(&cluster, INSURANCE, of_payout.id(), &first).await;
    assert_eq!(r.status, 400, "{r:?}");

    // --- Past the window: the consortium sets a window of 0 days, so a
    // disclosure accepted from then on grants no fetch in time. ---
    let terms = RecordBody::Member(MemberBody::DisclosureGrant {
        max_fetches: 3,
        valid_days: 0,
    });
    let terms = kit.sign_by_orgs(Role::Insurance, terms, 17, &[Role::Health, Role::Finance]);
    submit_one(&cluster, INSURANCE, &terms).await;
    let frozen = kit.sign(
        Role::Insurance,
        disclosure(claim.id(), "gd-insurance", "SJ-2026-019"),
        18,
        1,
    );
    submit_one(&cluster, INSURANCE, &frozen).await;
    let late = officer_fetch(kit, Role::Insurance, 0, frozen.id(), claim.id(), 19);
    submit_refused(&cluster, INSURANCE, &late, "GRANT_EXPIRED").await;
    let r = fetch(&cluster, INSURANCE, frozen.id(), &late).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.text.contains("rejected by the rules (GRANT_EXPIRED)"),
        "{r:?}"
    );

    // --- Every request and fetch is in the records' history, on every
    // running node, refused ones too. ---
    let grant_fetches = [
        by_submitter.id(),
        by_holder.id(),
        first.id(),
        by_cli,
        third.id(),
        past.id(),
        cli_past,
    ];
    let mut claim_history = vec![unapproved.id(), ungranted.id(), filed.id()];
    claim_history.extend(grant_fetches);
    claim_history.extend([frozen.id(), late.id()]);
    for node in [INSURANCE, HEALTH] {
        assert_eq!(
            history(&cluster, node, claim.id()).await,
            ids(&claim_history),
            "node {node}"
        );
        assert_eq!(
            history(&cluster, node, filed.id()).await,
            ids(&grant_fetches),
            "node {node}"
        );
        assert_eq!(
            history(&cluster, node, settlement.id()).await,
            ids(&[of_payout.id(), payout_fetch.id()]),
            "node {node}"
        );
        assert_eq!(history(&cluster, node, other_claim.id()).await, json!([]));
    }
    // The civil-affairs node comes back and sees the same history.
    cluster.restart(CIVIL_AFFAIRS).unwrap();
    cluster.converge(Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        history(&cluster, CIVIL_AFFAIRS, claim.id()).await,
        ids(&claim_history)
    );

    // --- The audit report lists each disclosure's fetches: who, when. ---
    let (bytes, _) = cluster.verified_export(INSURANCE, 3).await.unwrap();
    assert!(!contains(&bytes, &raw_bill), "the vault is never exported");
    assert!(!contains(&bytes, b"440106195803120419"));
    audit_report_shows_the_fetches(&bytes, kit, &filed, &grant_fetches).await;

    // --- A holder that lies is caught. ---
    caught_lying_holder(
        &mut cluster,
        kit,
        &of_payout,
        &settlement,
        &entry,
        &other_entry,
    )
    .await;

    cluster.stop().await;
    eprintln!("disclosure test took {:?}", started.elapsed());
}

/// `fundtrail audit report` on the exported chain: the disclosure `filed`
/// lists its fetches in chain order, each with the officer key that signed
/// it, its organisation, its block's time and its verdict.
async fn audit_report_shows_the_fetches(
    chain: &[u8],
    kit: &Kit,
    filed: &SignedRecord,
    fetches: &[RecordId],
) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chain.ftc");
    std::fs::write(&file, chain).unwrap();
    let out = dir.path().join("report");
    let done = tokio::process::Command::new(EXE)
        .args(["audit", "report", "--quorum", "3", "--chain"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .await
        .unwrap();
    assert!(done.status.success(), "{}", printed(&done));
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["verification"]["ok"], true);
    let listed = report["disclosures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["record_id"] == json!(filed.id()))
        .expect("the disclosure is listed")
        .clone();
    let rows = listed["fetches"].as_array().unwrap();
    let listed_ids: Vec<RecordId> = rows
        .iter()
        .map(|f| serde_json::from_value(f["record_id"].clone()).unwrap())
        .collect();
    assert_eq!(listed_ids, fetches);
    let verdicts: Vec<String> = rows
        .iter()
        .map(|f| match &f["verdict"] {
            Value::String(s) => s.clone(),
            v => v["rejected"]["code"].as_str().unwrap().to_string(),
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            "ROLE_NOT_ALLOWED",
            "ROLE_NOT_ALLOWED",
            "accepted",
            "accepted",
            "accepted",
            "GRANT_USED_UP",
            "GRANT_USED_UP"
        ]
    );
    let officer = |role: Role, n: usize| json!(kit.org(role).officers[n].public());
    assert_eq!(rows[2]["officer"], officer(Role::Insurance, 0));
    assert_eq!(rows[2]["org"], "gd-insurance");
    assert_eq!(
        rows[3]["officer"],
        officer(Role::Insurance, 1),
        "the CLI's --key"
    );
    assert_eq!(rows[1]["org"], "gd-health", "the holder's officer tried");
    let filed_at = listed["timestamp_ms"].as_u64().unwrap();
    let mut last = filed_at;
    for row in rows {
        let at = row["timestamp_ms"].as_u64().unwrap();
        assert!(at > last, "each fetch in a later block: {row}");
        last = at;
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Fetches of raw bills"));
}

/// The health node stops and an impostor holding its node key answers as
/// the holder: with the bill of another claim (genuine, matching that
/// claim's commitment), then with the target's bill changed. Insurance's
/// node refuses both with a bad gateway and shows neither.
async fn caught_lying_holder(
    cluster: &mut TestCluster,
    kit: &Kit,
    of_payout: &SignedRecord,
    settlement: &SignedRecord,
    entry: &VaultEntry,
    other_entry: &VaultEntry,
) {
    let wrong_claim = officer_fetch(kit, Role::Insurance, 1, of_payout.id(), settlement.id(), 20);
    let changed_bill = officer_fetch(kit, Role::Insurance, 0, of_payout.id(), settlement.id(), 21);
    let mut changed = entry.clone();
    changed.raw_bill[3] ^= 1;
    let (lie_for, other, changed) = (wrong_claim.id(), other_entry.clone(), changed);
    let answer = Arc::new(move |request: WireRequest| match request {
        WireRequest::Disclose(r) if r.fetch == lie_for => {
            WireResponse::Disclose(DisclosureResponse::Granted(other.clone()))
        }
        WireRequest::Disclose(_) => {
            WireResponse::Disclose(DisclosureResponse::Granted(changed.clone()))
        }
        _ => WireResponse::Refused("impostor".into()),
    });
    cluster.kill9(HEALTH);
    let (net, task) = endpoint(cluster, "gd-health", &[INSURANCE], answer);
    let insurance = fundtrail_node::roster::Roster::from_genesis(&cluster.genesis().unwrap())
        .unwrap()
        .members()[INSURANCE]
        .peer;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !net.connected_peers().await.contains(&insurance) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the impostor reaches insurance"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for record in [&wrong_claim, &changed_bill] {
        submit_one(cluster, INSURANCE, record).await;
    }

    let r = fetch(cluster, INSURANCE, of_payout.id(), &wrong_claim).await;
    assert_eq!(r.status, 502, "{r:?}");
    let error = r.error().unwrap();
    assert!(
        error.contains("not the bill behind the disclosure's target")
            && error.contains(&other_entry.record_id.to_hex()),
        "{error}"
    );
    assert!(!r.text.contains(&raw_hex(&other_entry.raw_bill)), "{r:?}");

    let r = fetch(cluster, INSURANCE, of_payout.id(), &changed_bill).await;
    assert_eq!(r.status, 502, "{r:?}");
    assert!(r.error().unwrap().contains("does not match"), "{r:?}");
    assert!(!r.text.contains(&raw_hex(&entry.raw_bill[..16])), "{r:?}");
    task.abort();
}

fn raw_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
