//! Who may call what, on real node processes over TLS: every endpoint
//! refuses an unsigned request (401) but `/healthz`, refuses a key outside
//! its scope (403) and serves the right key; a key revoked by a `member`
//! record stops working once its block is applied; a replayed, altered or
//! stale signature is refused; plain HTTP does not reach a TLS port; slow
//! connections and a runaway key do not stop other clients.

use std::time::Duration;

use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::record::{FundCreditBody, FundSource, MemberBody, RecordBody};
use fundtrail_ledger::types::{Amount, OrgId, Role};
use fundtrail_ledger::Verdict;
use fundtrail_node::access::signature;
use fundtrail_node::cli::client::NodeClient;
use fundtrail_tests::cluster::{committed, http, serial, Http, TestCluster};
use fundtrail_tests::health_claim;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EXE: &str = env!("CARGO_BIN_EXE_fundtrail-e2e");

/// Nodes in devnet order.
const INSURANCE: usize = 0;
const CIVIL_AFFAIRS: usize = 1;
const HEALTH: usize = 2;

fn copy(key: &Keypair) -> Keypair {
    Keypair::from_seed(key.secret_bytes())
}

fn org(s: &str) -> OrgId {
    s.parse().expect("org id")
}

/// The keys a test calls with, by organisation and role.
struct Keys<'c> {
    cluster: &'c TestCluster,
}

impl Keys<'_> {
    fn submitter(&self, role: Role) -> Keypair {
        copy(&self.cluster.kit.org(role).submitter)
    }

    fn officer(&self, role: Role) -> Keypair {
        copy(&self.cluster.kit.org(role).officers[0])
    }

    /// A devnet key file of `org` (`reader`, `node`).
    fn file(&self, org_id: &str, role: &str) -> Keypair {
        let path = self.cluster.devnet.key_file(&org(org_id), role);
        fundtrail_node::keys::read(&path).expect("a devnet key file")
    }
}

/// One endpoint: a caller it serves and one outside its scope.
struct Case {
    node: usize,
    method: Method,
    path: String,
    body: Vec<u8>,
    allowed: Keypair,
    /// The status the allowed caller gets (200, or the handler's own
    /// answer once past the gate).
    served: u16,
    refused: Keypair,
}

async fn call(client: &NodeClient, case: &Case) -> Http {
    let json = (!case.body.is_empty()).then_some("application/json");
    http(
        client,
        case.method.clone(),
        &case.path,
        json,
        case.body.clone(),
    )
    .await
    .expect("the node answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_takes_a_signed_enrolled_key_inside_its_scope() {
    let _serial = serial().await;
    let cluster = TestCluster::start(EXE.as_ref(), 3).await.unwrap();
    let keys = Keys { cluster: &cluster };
    let (claim, vault_entry) = health_claim(&cluster, &cluster.kit, HEALTH);
    let lines = cluster
        .department(HEALTH)
        .submit_applied(std::slice::from_ref(&claim))
        .await
        .unwrap();
    let (height, _, outcome) = committed(&lines[0]).expect("committed");
    assert_eq!(outcome.verdict, Verdict::Accepted);
    for i in 0..3 {
        cluster
            .wait_for_height(i, height, Duration::from_secs(20))
            .await
            .unwrap();
    }
    let RecordBody::Claim(body) = &claim.envelope.body else {
        panic!("a claim")
    };
    let claim_pseudonym = format!("{}:{}", body.claim_id.epoch, body.claim_id.tag.to_hex());
    let person = format!("{}:{}", body.person.epoch, body.person.tag.to_hex());
    let id = claim.id().to_hex();
    let get = |node, path: &str, allowed, refused| Case {
        node,
        method: Method::GET,
        path: path.to_string(),
        body: Vec::new(),
        allowed,
        served: 200,
        refused,
    };
    let post = |node, path: &str, body: serde_json::Value, allowed, served, refused| Case {
        node,
        method: Method::POST,
        path: path.to_string(),
        body: serde_json::to_vec(&body).unwrap(),
        allowed,
        served,
        refused,
    };
    let fresh = cluster.kit.sign(
        Role::Finance,
        RecordBody::FundCredit(FundCreditBody {
            fund_id: "assist-440100".parse().unwrap(),
            amount: Amount::yuan(10),
            source: FundSource::Budget {
                appropriation: "CZ-2026-077".parse().unwrap(),
            },
        }),
        77,
        0,
    );
    let cases = vec![
        post(
            INSURANCE,
            "/v1/records",
            json!([fresh]),
            keys.submitter(Role::Finance),
            200,
            keys.file("gd-finance", "reader"),
        ),
        get(
            INSURANCE,
            &format!("/v1/records/{id}"),
            keys.submitter(Role::Insurance),
            keys.officer(Role::Finance),
        ),
        get(
            CIVIL_AFFAIRS,
            &format!("/v1/records/{id}/proof"),
            keys.officer(Role::Auditor),
            keys.file("gd-finance", "reader"),
        ),
        get(
            HEALTH,
            &format!("/v1/claims/{claim_pseudonym}"),
            keys.submitter(Role::Health),
            keys.submitter(Role::Finance),
        ),
        get(
            CIVIL_AFFAIRS,
            &format!("/v1/persons/{person}/years/2026"),
            keys.officer(Role::CivilAffairs),
            keys.submitter(Role::Health),
        ),
        get(
            INSURANCE,
            "/v1/funds/basic-440100",
            keys.file("gd-finance", "reader"),
            keys.submitter(Role::Health),
        ),
        get(
            INSURANCE,
            &format!("/v1/lookup/payout/{claim_pseudonym}/basic"),
            keys.submitter(Role::Insurance),
            keys.submitter(Role::Health),
        ),
        get(
            INSURANCE,
            "/v1/lookup/clearing/2026/3/440100/110000",
            keys.submitter(Role::Insurance),
            keys.submitter(Role::CivilAffairs),
        ),
        post(
            HEALTH,
            "/v1/lookup/submissions",
            json!({"submitter": claim.envelope.submitter_key, "nonces": [1]}),
            keys.submitter(Role::Health),
            200,
            keys.submitter(Role::Insurance),
        ),
        get(
            CIVIL_AFFAIRS,
            "/v1/head",
            keys.file("gd-civil-affairs", "reader"),
            keys.file("gd-civil-affairs", "node"),
        ),
        get(
            CIVIL_AFFAIRS,
            "/v1/blocks/1",
            keys.file("gd-health", "reader"),
            keys.file("gd-insurance", "node"),
        ),
        get(
            HEALTH,
            "/v1/blocks?from=1",
            keys.officer(Role::Finance),
            keys.file("gd-health", "node"),
        ),
        get(
            INSURANCE,
            "/v1/chain",
            keys.officer(Role::Auditor),
            keys.file("gd-insurance", "node"),
        ),
        get(
            INSURANCE,
            "/v1/evidence",
            keys.file("gd-audit", "reader"),
            keys.file("gd-civil-affairs", "node"),
        ),
        post(
            HEALTH,
            "/v1/vault",
            json!([vault_entry]),
            keys.submitter(Role::Health),
            200,
            keys.submitter(Role::Insurance),
        ),
        post(
            HEALTH,
            "/v1/vault",
            json!([vault_entry]),
            keys.submitter(Role::Health),
            200,
            keys.officer(Role::Health),
        ),
        // Past the gate the handler finds no such disclosure; the
        // disclosure tests fetch real ones.
        post(
            INSURANCE,
            &format!("/v1/disclosures/{}/fetch", "ab".repeat(32)),
            json!({"fetch": "cd".repeat(32)}),
            keys.officer(Role::Insurance),
            404,
            keys.submitter(Role::Insurance),
        ),
        get(
            INSURANCE,
            "/v1/access-log/head",
            keys.officer(Role::Insurance),
            keys.submitter(Role::Insurance),
        ),
        get(
            CIVIL_AFFAIRS,
            "/v1/access-log",
            keys.file("gd-audit", "reader"),
            keys.officer(Role::Health),
        ),
        get(
            CIVIL_AFFAIRS,
            "/metrics",
            keys.file("gd-civil-affairs", "reader"),
            keys.submitter(Role::Insurance),
        ),
    ];
    for case in &cases {
        let what = format!("{} {} on node {}", case.method, case.path, case.node);
        let unsigned = call(&cluster.department(case.node).unsigned(), case).await;
        assert_eq!(unsigned.status, 401, "unsigned {what}: {unsigned:?}");
        assert!(
            unsigned.error().is_some_and(|e| e.contains("not signed")),
            "{unsigned:?}"
        );
        let refused = call(&cluster.client_as(case.node, &case.refused), case).await;
        assert_eq!(refused.status, 403, "out of scope {what}: {refused:?}");
        let served = call(&cluster.client_as(case.node, &case.allowed), case).await;
        assert_eq!(served.status, case.served, "in scope {what}: {served:?}");
    }
    let open = cluster
        .http_get_with(&cluster.department(0).unsigned(), "/healthz")
        .await
        .unwrap();
    assert_eq!(open.status, 200, "/healthz is open: {open:?}");
    // A path parameter percent-encoded is the same object to the scope.
    let health = cluster.client_as(INSURANCE, &keys.submitter(Role::Health));
    let r = cluster
        .http_get_with(&health, "/v1/funds/basic%2D440100")
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{r:?}");
    let encoded: String = id.chars().map(|c| format!("%{:02X}", c as u32)).collect();
    let finance = cluster.client_as(INSURANCE, &keys.officer(Role::Finance));
    let r = cluster
        .http_get_with(&finance, &format!("/v1/records/{encoded}"))
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{r:?}");
    let outsider = Keypair::from_seed([0xee; 32]);
    let r = cluster
        .http_get_with(&cluster.client_as(0, &outsider), "/v1/head")
        .await
        .unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.error().unwrap().contains("not enrolled"), "{r:?}");

    access_log_shows_the_reads(&cluster, &keys, &claim_pseudonym).await;
    cluster.stop().await;
}

/// Health's node logged who read its claims (allowed and refused alike),
/// the log downloads, verifies against its published head, and a changed
/// byte is found.
async fn access_log_shows_the_reads(cluster: &TestCluster, keys: &Keys<'_>, claim: &str) {
    let audit = cluster.client_as(HEALTH, &keys.officer(Role::Auditor));
    let head = audit.get("/v1/access-log/head").await.unwrap();
    let r = cluster
        .http_get_with(&audit, "/v1/access-log")
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let read = |key: &Keypair, status: u16| {
        r.text.lines().any(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["route"] == "/v1/claims/{claim}"
                && v["key"] == json!(key.public())
                && v["status"] == status
                && v["ids"] == json!([format!("claim:{claim}")])
        })
    };
    assert!(read(&keys.submitter(Role::Health), 200), "{}", r.text);
    assert!(read(&keys.submitter(Role::Finance), 403), "{}", r.text);
    assert!(
        !r.text.contains("/v1/head\""),
        "the head is not person-level data and is not logged"
    );
    let refusal = cluster
        .http_get_with(
            &cluster.client_as(HEALTH, &keys.submitter(Role::Health)),
            "/v1/access-log",
        )
        .await
        .unwrap();
    assert_eq!(
        refusal.status, 403,
        "a submitter does not read the log: {refusal:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.log");
    std::fs::write(&file, &r.text).unwrap();
    let verify = |head: &str| {
        std::process::Command::new(EXE)
            .args(["access-log", "verify"])
            .arg(&file)
            .args(["--head", head, "--json"])
            .output()
            .unwrap()
    };
    let hash = head["hash"].as_str().unwrap().to_string();
    let out = verify(&hash);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["entries"].as_u64().unwrap() >= head["seq"].as_u64().unwrap());
    let mut bytes = r.text.clone().into_bytes();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&file, &bytes).unwrap();
    let out = verify(&hash);
    assert!(!out.status.success(), "a changed byte is found");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A reqwest client that trusts the devnet's CA, for requests the test
/// signs by hand.
fn raw_client(cluster: &TestCluster) -> reqwest::Client {
    let pem = std::fs::read(cluster.devnet.ca_file()).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

async fn send_signed(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&'static str, String); 3],
) -> (u16, String) {
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_replayed_altered_and_stale_signatures_are_refused() {
    let _serial = serial().await;
    let cluster = TestCluster::start(EXE.as_ref(), 3).await.unwrap();
    let keys = Keys { cluster: &cluster };
    let reader = keys.file("gd-civil-affairs", "reader");
    let raw = raw_client(&cluster);
    let now = fundtrail_node::access::now_s();
    let base = cluster.api(INSURANCE).to_string();

    // One signed request, sent twice: served, then refused as a replay.
    let headers = signature::sign(&reader, "GET", "/v1/head", None, b"", now, "once");
    let (status, _) = send_signed(&raw, &format!("{base}/v1/head"), &headers).await;
    assert_eq!(status, 200);
    let (status, text) = send_signed(&raw, &format!("{base}/v1/head"), &headers).await;
    assert_eq!(status, 401);
    assert!(text.contains("replayed"), "{text}");
    // The same headers on another path: the signature does not cover it.
    let headers = signature::sign(&reader, "GET", "/v1/head", None, b"", now, "moved");
    let (status, text) = send_signed(&raw, &format!("{base}/v1/blocks/1"), &headers).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("does not verify"), "{text}");
    // Signed long ago, or far ahead.
    for (created, words) in [(now - 3600, "outside the"), (now + 3600, "ahead")] {
        let headers = signature::sign(&reader, "GET", "/v1/head", None, b"", created, "t");
        let (status, text) = send_signed(&raw, &format!("{base}/v1/head"), &headers).await;
        assert_eq!(status, 401, "{text}");
        assert!(text.contains(words), "{text}");
    }

    // Revoked by a member record backed by three of five organisations.
    let revoke = cluster.kit.sign_by_orgs(
        Role::CivilAffairs,
        RecordBody::Member(MemberBody::RevokeKey {
            org: org("gd-civil-affairs"),
            key: reader.public(),
        }),
        5_000,
        &[Role::Insurance, Role::Health],
    );
    for i in 0..3 {
        let r = cluster
            .http_get_with(&cluster.client_as(i, &reader), "/v1/head")
            .await
            .unwrap();
        assert_eq!(r.status, 200, "before the revocation, node {i}: {r:?}");
    }
    let lines = cluster
        .client(CIVIL_AFFAIRS)
        .submit_applied(std::slice::from_ref(&revoke))
        .await
        .unwrap();
    let (height, _, outcome) = committed(&lines[0]).expect("committed");
    assert_eq!(outcome.verdict, Verdict::Accepted, "{outcome:?}");
    for i in 0..3 {
        cluster
            .wait_for_height(i, height, Duration::from_secs(20))
            .await
            .unwrap();
        let r = cluster
            .http_get_with(&cluster.client_as(i, &reader), "/v1/head")
            .await
            .unwrap();
        assert_eq!(r.status, 401, "from the revoking block on, node {i}: {r:?}");
        assert!(r.error().unwrap().contains("not enrolled"), "{r:?}");
    }
    let other = keys.file("gd-health", "reader");
    let r = cluster
        .http_get_with(&cluster.client_as(0, &other), "/v1/head")
        .await
        .unwrap();
    assert_eq!(r.status, 200, "another reader still reads: {r:?}");
    cluster.stop().await;
}

/// Opens a connection that sends `prefix` and then nothing more.
async fn stalled(port: u16, prefix: &[u8]) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(prefix).await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_a_runaway_key_and_plain_http_do_not_get_through() {
    let _serial = serial().await;
    let cluster = TestCluster::start_with(EXE.as_ref(), 3, |plan| {
        plan.access.header_read_timeout_ms = 2_000;
        plan.access.rate_per_key = 40;
        plan.access.burst_per_key = 40;
    })
    .await
    .unwrap();
    let keys = Keys { cluster: &cluster };
    let port: u16 = cluster
        .api(INSURANCE)
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // 200 connections that never finish: half send nothing, half the
    // first bytes of a TLS record. Another client is still served.
    let mut stuck = Vec::new();
    for n in 0..200 {
        let prefix: &[u8] = if n % 2 == 0 { b"" } else { &[0x16, 0x03, 0x01] };
        stuck.push(stalled(port, prefix).await);
    }
    let head = cluster.client(INSURANCE).get("/v1/head").await;
    assert!(
        head.is_ok(),
        "served beside 200 stalled connections: {head:?}"
    );
    // The node closes each once the handshake deadline passes.
    for mut s in stuck {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "a stalled connection is closed by the node: {read:?}"
        );
    }

    // A key over its rate gets 429; another key is unaffected.
    let runaway = cluster.client_as(INSURANCE, &keys.file("gd-health", "reader"));
    let answers =
        futures::future::join_all((0..120).map(|_| cluster.http_get_with(&runaway, "/v1/head")))
            .await;
    let statuses: Vec<u16> = answers.into_iter().map(|r| r.unwrap().status).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    let calm = cluster.client_as(INSURANCE, &keys.file("gd-finance", "reader"));
    assert_eq!(
        cluster
            .http_get_with(&calm, "/v1/head")
            .await
            .unwrap()
            .status,
        200
    );

    // A body over its route's limit is refused before it is read whole.
    let big = vec![b' '; 2 << 20];
    let r = cluster
        .http_post_with(&cluster.department(HEALTH), "/v1/lookup/submissions", big)
        .await
        .unwrap();
    assert_eq!(r.status, 413, "{r:?}");

    // Plain HTTP does not reach a TLS port.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(
        plain.is_err() || !plain.as_ref().unwrap().status().is_success(),
        "{plain:?}"
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_served_only_with_the_loopback_setting_and_says_so() {
    let _serial = serial().await;
    let mut cluster = TestCluster::start(EXE.as_ref(), 3).await.unwrap();
    cluster.terminate(HEALTH);
    let config = cluster.devnet.nodes[HEALTH].config.clone();
    let text = std::fs::read_to_string(&config).unwrap();
    let mut table: toml::Table = toml::from_str(&text).unwrap();
    table.insert(
        "tls".into(),
        toml::Value::Table(toml::Table::from_iter([(
            "plain_http_on_loopback".to_string(),
            toml::Value::Boolean(true),
        )])),
    );
    std::fs::write(&config, toml::to_string(&table).unwrap()).unwrap();
    cluster.restart(HEALTH).unwrap();
    let api = cluster.api(HEALTH).replace("https://", "http://");
    let plain = NodeClient::new(&api, &Default::default())
        .unwrap()
        .signed_by(copy(&cluster.kit.org(Role::Health).submitter));
    let mut served = None;
    for _ in 0..100 {
        if let Ok(head) = plain.get("/v1/head").await {
            served = Some(head);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(served.is_some(), "the node serves signed plain HTTP");
    let unsigned = plain.unsigned().get("/v1/head").await;
    assert!(
        unsigned.is_err_and(|e| e.to_string().contains("401")),
        "still signed"
    );
    assert!(
        cluster.log(HEALTH).contains("PLAIN HTTP"),
        "the node says loudly that it serves plain HTTP"
    );
    let tls = cluster.department(HEALTH).get("/v1/head").await;
    assert!(tls.is_err(), "no TLS on that port now");
    cluster.stop().await;
}
