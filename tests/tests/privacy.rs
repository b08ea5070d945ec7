//! The demo as a real process, then a privacy scan: the chain export, the
//! audit report, every node's log, every node's data directory (the
//! health department's vault included, running and stopped), the demo's
//! own output and the HTTP API's answers (including its error messages)
//! contain none of the dataset's raw ID-card numbers or bill numbers — in
//! plain text or hex. The departments' input files do contain them, which
//! shows the scan finds what it looks for, and a disclosure still delivers
//! the right raw bill out of the sealed vault. The demo's summary shows
//! that the chain rejected exactly the abuses the generator injected, code
//! by code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use fundtrail_intake::{SubmissionLine, Target};
use fundtrail_ledger::pseudonym::raw_commitment;
use fundtrail_ledger::record::{DisclosureBody, DisclosurePurpose, RecordBody};
use fundtrail_ledger::types::Role;
use fundtrail_ledger::{Hash32, RecordId, SignedRecord, Verdict};
use fundtrail_node::cli::client::NodeClient;
use fundtrail_node::cli::devnet::{alive, Devnet};
use fundtrail_node::wire::VaultEntry;
use fundtrail_testkit::scenario::{generate, ScenarioConfig, KIT_SEED};
use fundtrail_testkit::Kit;
use fundtrail_tests::cluster::{committed, free_base_port, serial};
use fundtrail_tests::{fetch_request, officer_fetch};
use serde_json::{json, Value};

const EXE: &str = env!("CARGO_BIN_EXE_fundtrail-e2e");
const SEED: u64 = 2026;
const PEOPLE: usize = 200;

/// Stops the demo's devnet however the test ends.
struct Down(PathBuf);

impl Down {
    fn run(&self) -> Output {
        std::process::Command::new(EXE)
            .args(["devnet", "down", "--dir"])
            .arg(&self.0)
            .output()
            .expect("run fundtrail devnet down")
    }
}

impl Drop for Down {
    fn drop(&mut self) {
        if let Ok(net) = Devnet::load(&self.0) {
            if net.nodes.iter().any(|n| n.pid.is_some_and(alive)) {
                self.run();
            }
        }
    }
}

/// Every raw identifier of the dataset, as text.
fn raw_identifiers() -> (BTreeSet<String>, BTreeSet<String>) {
    let scenario = generate(&ScenarioConfig {
        seed: SEED,
        people: PEOPLE,
    })
    .expect("the scenario generates");
    let mut ids = BTreeSet::new();
    let mut bills = BTreeSet::new();
    let target = |t: &Target, bills: &mut BTreeSet<String>| {
        if let Target::Payout(p) = t {
            bills.insert(p.bill_no.expose().to_string());
        }
    };
    for line in scenario.waves.iter().flat_map(|w| &w.lines) {
        match &line.line {
            SubmissionLine::Eligibility(l) => {
                ids.insert(l.id_card.expose().to_string());
            }
            SubmissionLine::Filing(l) => {
                ids.insert(l.id_card.expose().to_string());
            }
            SubmissionLine::Claim(l) => {
                ids.insert(l.id_card.expose().to_string());
                bills.insert(l.bill_no.expose().to_string());
            }
            SubmissionLine::Settlement(l) => {
                bills.insert(l.bill_no.expose().to_string());
            }
            SubmissionLine::Assistance(l) => {
                bills.insert(l.bill_no.expose().to_string());
            }
            SubmissionLine::Reversal(l) => target(&l.target, &mut bills),
            SubmissionLine::Disclosure(l) => target(&l.target, &mut bills),
            SubmissionLine::Policy(_)
            | SubmissionLine::FundCredit(_)
            | SubmissionLine::Clearing(_)
            | SubmissionLine::PaymentPolicy(_)
            | SubmissionLine::PeriodSettlement(_) => {}
        }
    }
    (ids, bills)
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The needles: each identifier as text, lower-cased, and hex-encoded.
fn needles(ids: &BTreeSet<String>, bills: &BTreeSet<String>) -> Vec<String> {
    let mut out = BTreeSet::new();
    for s in ids.iter().chain(bills) {
        out.insert(s.clone());
        out.insert(s.to_lowercase());
        out.insert(hex(s));
    }
    out.into_iter().collect()
}

/// The needles found in `haystack`, which is named `what` in messages.
fn found(haystack: &[u8], needles: &[String]) -> Vec<String> {
    let text = String::from_utf8_lossy(haystack);
    needles
        .iter()
        .filter(|n| text.contains(n.as_str()))
        .cloned()
        .collect()
}

fn assert_clean(what: &str, haystack: &[u8], needles: &[String]) {
    assert!(!haystack.is_empty(), "{what} is not empty");
    let hits = found(haystack, needles);
    assert!(
        hits.is_empty(),
        "{what} contains {} raw identifiers, e.g. {:?}",
        hits.len(),
        &hits[..hits.len().min(3)]
    );
}

fn files_under(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, keep, out);
        } else if keep(&path) {
            out.push(path);
        }
    }
}

/// Scans every file of every node's data directory, vault included; a
/// file RocksDB removed while the nodes ran holds nothing any more.
/// Returns how many files were scanned.
fn assert_data_dirs_clean(net: &Devnet, needles: &[String]) -> usize {
    let mut scanned = 0;
    for node in &net.nodes {
        let data = node.config.parent().unwrap().join("data");
        let mut files = Vec::new();
        files_under(&data, &|_| true, &mut files);
        for p in &files {
            let Ok(bytes) = std::fs::read(p) else {
                continue;
            };
            if bytes.is_empty() {
                continue;
            }
            assert_clean(&p.display().to_string(), &bytes, needles);
            scanned += 1;
        }
    }
    scanned
}

/// Files a disclosure of one of the health department's claims as
/// insurance (with its officer's approval) and fetches the raw bill through
/// the insurance node, under a fetch its officer signs: it comes out of the health node's sealed vault, is
/// the bill behind the claim's on-chain commitment, and names one of the
/// dataset's bills.
async fn disclosure_delivers_the_right_bill(
    net: &Devnet,
    blocks: &[Value],
    bills: &BTreeSet<String>,
) {
    let kit = Kit::new(KIT_SEED);
    let health = kit.org(Role::Health).submitter.public();
    let claim: SignedRecord = blocks
        .iter()
        .flat_map(|b| b["records"].as_array().unwrap())
        .map(|r| serde_json::from_value::<SignedRecord>(r.clone()).unwrap())
        .find(|r| {
            r.envelope.submitter_key == health && matches!(r.envelope.body, RecordBody::Claim(_))
        })
        .expect("the demo's chain holds the health department's claims");
    let RecordBody::Claim(body) = &claim.envelope.body else {
        unreachable!()
    };
    let disclosure = kit.sign(
        Role::Insurance,
        RecordBody::Disclosure(DisclosureBody {
            target: claim.id(),
            holder: "gd-health".parse().unwrap(),
            requester: "gd-insurance".parse().unwrap(),
            purpose: DisclosurePurpose::Audit,
            case_ref: Some("SJ-2026-900".parse().unwrap()),
        }),
        9_000_001,
        1,
    );
    // An officer of the requesting organisation fetches.
    let officer = &kit.org(Role::Insurance).officers[0];
    let insurance = net
        .client(0)
        .unwrap()
        .signed_by(fundtrail_ledger::Keypair::from_seed(officer.secret_bytes()));
    let lines = insurance
        .submit_applied(std::slice::from_ref(&disclosure))
        .await
        .unwrap();
    let (_, _, outcome) = committed(&lines[0]).expect("committed");
    assert_eq!(outcome.verdict, Verdict::Accepted, "{outcome:?}");
    let id: RecordId = disclosure.id();
    let fetch = officer_fetch(&kit, Role::Insurance, 0, id, claim.id(), 9_000_002);
    let lines = insurance
        .submit_applied(std::slice::from_ref(&fetch))
        .await
        .unwrap();
    let (_, _, outcome) = committed(&lines[0]).expect("committed");
    assert_eq!(outcome.verdict, Verdict::Accepted, "{outcome:?}");
    let v = insurance
        .post(
            &format!("/v1/disclosures/{id}/fetch"),
            &fetch_request(&fetch),
        )
        .await
        .expect("the raw bill is delivered");
    assert_eq!(v["verified"], true, "{v}");
    let entry: VaultEntry = serde_json::from_value(v["entry"].clone()).unwrap();
    assert_eq!(entry.record_id, claim.id());
    let salt: [u8; 32] = entry.salt.as_slice().try_into().unwrap();
    let commitment: Hash32 = body.raw_commitment;
    assert_eq!(raw_commitment(&salt, &entry.raw_bill), commitment);
    let text = String::from_utf8_lossy(&entry.raw_bill);
    assert!(
        bills.iter().any(|b| text.contains(b.as_str())),
        "the delivered bill is one of the dataset's"
    );
}

async fn get(client: &NodeClient, path: &str) -> (u16, Vec<u8>) {
    let r = client
        .send(reqwest::Method::GET, path, Vec::new(), None)
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_leaks_no_raw_identifier_and_rejects_exactly_the_injected_abuses() {
    let _serial = serial().await;
    let started = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let summary_path = tmp.path().join("summary.json");
    let down = Down(dir.clone());
    let demo = tokio::process::Command::new(EXE)
        .arg("demo")
        .arg("--dir")
        .arg(&dir)
        .args(["--people", &PEOPLE.to_string(), "--seed", &SEED.to_string()])
        .args(["--base-port", &free_base_port().to_string()])
        .arg("--summary")
        .arg(&summary_path)
        .arg("--keep-running")
        .output()
        .await
        .expect("run fundtrail demo");
    let demo_output = [demo.stdout.clone(), demo.stderr.clone()].concat();
    assert!(
        demo.status.success(),
        "the demo succeeds:\n{}",
        String::from_utf8_lossy(&demo_output)
    );
    let demo_took = started.elapsed();

    // --- The summary: rejections by code are the injected abuses. ---
    let summary: Value = serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    let injected = &summary["injected_by_code"];
    assert!(
        injected.as_object().is_some_and(|m| m.len() >= 8),
        "every kind of abuse is injected: {summary}"
    );
    assert_eq!(summary["rejected_by_code"], *injected, "{summary}");
    assert_eq!(summary["unexpected"], 0, "{summary}");
    assert_eq!(summary["not_committed"], 0, "{summary}");
    assert_eq!(summary["verification_ok"], true, "{summary}");
    let signers = summary["checkpoint_signers"].as_array().map_or(0, Vec::len);
    assert_eq!(
        signers, 4,
        "every department signs the final checkpoint: {summary}"
    );
    // Payment by groups: both grouped prefectures settled, and the
    // injected upcoding hospital alone is flagged.
    let settled = summary["settled_regions"]
        .as_object()
        .map_or(0, |m| m.len());
    assert_eq!(settled, 2, "{summary}");
    assert_eq!(
        summary["upcoding_flagged"],
        json!([fundtrail_testkit::scenario::upcoding_hospital().to_string()]),
        "{summary}"
    );
    let scenario = generate(&ScenarioConfig {
        seed: SEED,
        people: PEOPLE,
    })
    .unwrap();
    let lines: usize = scenario.waves.iter().map(|w| w.lines.len()).sum();
    assert_eq!(summary["records"], json!(lines));
    assert_eq!(summary["injected_by_code"], json!(scenario.expected));

    // --- The needles, and proof that the scan finds them. ---
    let (ids, bills) = raw_identifiers();
    assert!(ids.len() >= PEOPLE, "{} ID cards", ids.len());
    // Bill numbers count per institution, so many repeat across hospitals.
    assert!(bills.len() >= 10, "{} bill numbers", bills.len());
    let needles = needles(&ids, &bills);
    let mut inputs = Vec::new();
    files_under(
        &dir.join("input"),
        &|p| p.extension().is_some_and(|e| e == "jsonl"),
        &mut inputs,
    );
    assert!(!inputs.is_empty());
    let input: Vec<u8> = inputs
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect();
    let in_input: BTreeSet<String> = found(&input, &needles).into_iter().collect();
    for raw in ids.iter().chain(&bills) {
        assert!(
            in_input.contains(raw),
            "the scan finds every identifier in the departments' input files"
        );
    }

    // --- Files: the chain export, the audit report, every node's log. ---
    let chain = std::fs::read(dir.join("chain.ftc")).unwrap();
    assert_clean("chain.ftc", &chain, &needles);
    let mut reports = Vec::new();
    files_under(&dir.join("report"), &|_| true, &mut reports);
    assert!(!reports.is_empty(), "the demo wrote a report");
    for p in &reports {
        assert_clean(
            &p.display().to_string(),
            &std::fs::read(p).unwrap(),
            &needles,
        );
    }
    let mut logs = Vec::new();
    files_under(
        &dir.join("nodes"),
        &|p| p.file_name().is_some_and(|n| n == "node.log"),
        &mut logs,
    );
    assert_eq!(logs.len(), 4, "{logs:?}");
    assert_clean("the demo's output", &demo_output, &needles);

    // --- HTTP answers of every node. ---
    let net = Devnet::load(&dir).unwrap();
    // The audit office reads everything; each department writes to its own node.
    let audit_key = net.key_file(&"gd-audit".parse().unwrap(), "officer-1");
    let auditor = |n: usize| {
        net.client(n)
            .unwrap()
            .signed_by(fundtrail_node::keys::read(&audit_key).unwrap())
    };
    let (status, blocks) = get(&auditor(0), "/v1/blocks?from=1").await;
    assert_eq!(status, 200);
    let blocks: Vec<Value> = String::from_utf8(blocks.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!blocks.is_empty());
    // A few of each kind of record, and the claims and people they name.
    let mut paths = vec![
        "/v1/head".to_string(),
        "/v1/blocks?from=1".to_string(),
        "/v1/chain".to_string(),
        "/healthz".to_string(),
        "/metrics".to_string(),
    ];
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for b in &blocks {
        for r in b["records"].as_array().unwrap() {
            let body = &r["envelope"]["body"];
            let (kind, inner) = body.as_object().unwrap().iter().next().unwrap();
            let n = kinds.entry(kind.clone()).or_default();
            *n += 1;
            if *n > 3 {
                continue;
            }
            let id =
                fundtrail_ledger::SignedRecord::id(&serde_json::from_value(r.clone()).unwrap());
            paths.push(format!("/v1/records/{id}"));
            paths.push(format!("/v1/records/{id}/proof"));
            let pseudonym = |v: &Value| format!("{}:{}", v["epoch"], v["tag"].as_str().unwrap());
            if let Some(c) = inner.get("claim_id") {
                paths.push(format!("/v1/claims/{}", pseudonym(c)));
                paths.push(format!("/v1/lookup/payout/{}/basic", pseudonym(c)));
            }
            if let Some(p) = inner.get("person") {
                paths.push(format!("/v1/persons/{}/years/2026", pseudonym(p)));
            }
            if let Some(f) = inner.get("fund_id") {
                paths.push(format!("/v1/funds/{}", f.as_str().unwrap()));
            }
        }
    }
    assert!(
        kinds.len() >= 8,
        "the demo's chain has many kinds: {kinds:?}"
    );
    // Someone pastes raw identifiers where pseudonyms belong: the errors
    // must not repeat them.
    let id = ids.iter().next().unwrap();
    let bill = bills.iter().next().unwrap();
    for p in [
        format!("/v1/persons/{id}/years/2026"),
        format!("/v1/persons/1:{id}/years/2026"),
        format!("/v1/claims/{bill}"),
        format!("/v1/claims/1:{bill}"),
        format!("/v1/records/{id}"),
        format!("/v1/funds/{bill}"),
        format!("/v1/blocks/{id}X"),
        format!("/v1/blocks/{id}"),
        format!("/v1/lookup/payout/1:{id}/{bill}"),
        format!("/v1/lookup/clearing/2026/3/{id}/{bill}"),
    ] {
        paths.push(p);
    }
    let mut answers = 0;
    for (n, node) in net.nodes.iter().enumerate() {
        for p in &paths {
            // The whole chain once per node is enough.
            if n > 0 && (p.starts_with("/v1/blocks?") || p == "/v1/chain") {
                continue;
            }
            let (_, body) = get(&auditor(n), p).await;
            assert_clean(&format!("GET {p} on {}", node.org), &body, &needles);
            answers += 1;
        }
        // Malformed bodies carrying raw identifiers.
        for (path, body) in [
            ("/v1/records", format!("[{{\"envelope\": \"{id}\"}}]")),
            (
                "/v1/records",
                format!("{{\"id_card\": \"{id}\", \"bill_no\": \"{bill}\"}}"),
            ),
            (
                "/v1/vault",
                format!("[{{\"record_id\": \"{id}\", \"salt\": \"{bill}\"}}]"),
            ),
            ("/v1/vault", format!("[{{\"record_id\": {id}}}]")),
        ] {
            let r = net
                .client(n)
                .unwrap()
                .send(
                    reqwest::Method::POST,
                    path,
                    body.into_bytes(),
                    Some("application/json"),
                )
                .await
                .unwrap();
            assert!(r.status().is_client_error());
            let text = r.bytes().await.unwrap();
            assert_clean(
                &format!("POST {path} error on {}", node.org),
                &text,
                &needles,
            );
            answers += 1;
        }
    }
    // --- A disclosure still delivers the right bill from the vault. ---
    disclosure_delivers_the_right_bill(&net, &blocks, &bills).await;

    // --- Every node's data directory, vault included, while running. ---
    let data_files = assert_data_dirs_clean(&net, &needles);
    assert!(
        data_files > 20,
        "the data directories hold files: {data_files}"
    );

    // The logs last, so they include the requests above.
    for p in &logs {
        assert_clean(
            &p.display().to_string(),
            &std::fs::read(p).unwrap(),
            &needles,
        );
    }

    // --- Stop the devnet. ---
    let out = down.run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let net = Devnet::load(&dir).unwrap();
    assert!(net.nodes.iter().all(|n| n.pid.is_none()), "{net:?}");
    // --- And once more stopped, with every memtable flushed. ---
    let data_files = assert_data_dirs_clean(&net, &needles);
    eprintln!(
        "privacy test: demo {demo_took:?}, {answers} HTTP answers and {data_files} data files \
         scanned for {} needles, total {:?}",
        needles.len(),
        started.elapsed()
    );
}
