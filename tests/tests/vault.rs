//! The vault at rest, with real node and CLI processes: a deposit the node
//! acknowledged survives a `kill -9` of the node and is disclosed after
//! the restart; no raw ID-card or bill number appears anywhere under the
//! node's data directory, in plain text or hex; a node started with a
//! wrong vault key refuses the disclosure, saying the entry could not be
//! opened, and keeps running; and `fundtrail vault rotate`, SIGKILLed
//! after its first progress line, leaves a vault that the old and new
//! keys together open, and a second run finishes it under the new key.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::pseudonym::raw_commitment;
use fundtrail_ledger::record::{DisclosureBody, DisclosurePurpose, RecordBody};
use fundtrail_ledger::store::Store;
use fundtrail_ledger::types::{Amount, Role};
use fundtrail_ledger::{RecordId, SignedRecord, Verdict};
use fundtrail_node::chain::Chain;
use fundtrail_node::entry::{Batch, LogId, StoredMembership};
use fundtrail_node::vault::keys::{generate_key_file, read_key_file};
use fundtrail_node::vault::seal::{self, Header};
use fundtrail_node::vault::{Cipher, FileKeys, KeyId, Vault};
use fundtrail_node::wire::VaultEntry;
use fundtrail_testkit::Kit;
use fundtrail_tests::cluster::{committed, serial, TestCluster};
use fundtrail_tests::{fetch_request, health_claim, officer_fetch};
use serde_json::json;

const EXE: &str = env!("CARGO_BIN_EXE_fundtrail-e2e");

/// Nodes in devnet order.
const INSURANCE: usize = 0;
const HEALTH: usize = 2;

const ID_CARD: &str = "440106195803120419";
const BILL_NO: &str = "ZY2026-0000123";

// --- Byte scan ---

/// Each identifier as text, lower-cased, and hex-encoded (both cases).
fn needles(raw: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for s in raw {
        let hex = hex::encode(s.as_bytes());
        for form in [s.clone(), s.to_lowercase(), hex.clone(), hex.to_uppercase()] {
            if !out.contains(&form) {
                out.push(form);
            }
        }
    }
    out
}

/// Every file under `dir` that holds a needle, with the needle found.
fn files_with_needles(dir: &Path, needles: &[String]) -> Vec<(PathBuf, String)> {
    let mut hits = Vec::new();
    let mut scanned = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            // A file RocksDB removed meanwhile holds nothing any more.
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            scanned += 1;
            // Bytes that are not UTF-8 become U+FFFD, which no ASCII needle
            // matches across.
            let text = String::from_utf8_lossy(&bytes);
            for n in needles {
                if text.contains(n.as_str()) {
                    hits.push((path.clone(), n.clone()));
                }
            }
        }
    }
    assert!(scanned > 0, "{} holds files", dir.display());
    hits
}

/// The scan finds an identifier in an entry stored the way the vault kept
/// entries before it sealed them (its BCS encoding in a file).
fn assert_the_scan_finds_clear_entries(entry: &VaultEntry, needles: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("clear.sst"),
        fundtrail_ledger::codec::encode(entry),
    )
    .unwrap();
    let hits = files_with_needles(dir.path(), needles);
    assert!(
        !hits.is_empty(),
        "the scan finds a clear entry's identifiers"
    );
}

fn assert_no_raw_identifier(dir: &Path, needles: &[String]) {
    let hits = files_with_needles(dir, needles);
    assert!(
        hits.is_empty(),
        "raw identifiers under {}: {} hits, e.g. {:?}",
        dir.display(),
        hits.len(),
        &hits[..hits.len().min(3)]
    );
}

// --- The node process: durability, byte scan, wrong key ---

fn disclosure(target: RecordId, case: &str) -> RecordBody {
    RecordBody::Disclosure(DisclosureBody {
        target,
        holder: "gd-health".parse().unwrap(),
        requester: "gd-insurance".parse().unwrap(),
        purpose: DisclosurePurpose::Audit,
        case_ref: Some(case.parse().unwrap()),
    })
}

async fn submit_accepted(cluster: &TestCluster, node: usize, record: &SignedRecord) {
    let lines = cluster
        .client(node)
        .submit_applied(std::slice::from_ref(record))
        .await
        .unwrap();
    let (_, _, outcome) =
        committed(&lines[0]).unwrap_or_else(|| panic!("not committed: {:?}", lines[0]));
    assert_eq!(outcome.verdict, Verdict::Accepted, "{outcome:?}");
}

/// Waits until node `i` answers and knows a leader.
async fn wait_serving(cluster: &TestCluster, i: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(head) = cluster.client(i).get("/v1/head").await {
            if !head["raft"]["leader"].is_null() {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node {i} did not come back:\n{}",
            cluster.log(i)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_deposit_survives_kill_9_sealed_and_a_wrong_key_only_refuses() {
    let _serial = serial().await;
    let mut cluster = TestCluster::start(EXE.as_ref(), 3)
        .await
        .expect("cluster starts");
    let kit = &Kit::new(7);
    let (claim, entry) = health_claim(&cluster, kit, HEALTH);
    let needles = needles(&[ID_CARD.to_string(), BILL_NO.to_string()]);
    assert_the_scan_finds_clear_entries(&entry, &needles);
    submit_accepted(&cluster, HEALTH, &claim).await;

    // --- Acknowledged, then kill -9 at once. ---
    let stored = cluster
        .department(HEALTH)
        .post("/v1/vault", &json!([&entry]))
        .await
        .expect("the health node keeps its raw bill");
    assert_eq!(stored, json!({"stored": 1}));
    cluster.kill9(HEALTH);
    assert_no_raw_identifier(&cluster.data_dir(HEALTH), &needles);
    cluster.restart(HEALTH).unwrap();
    wait_serving(&cluster, HEALTH).await;

    // --- The bill is disclosed after the restart. ---
    let filed = kit.sign(
        Role::Insurance,
        disclosure(claim.id(), "SJ-2026-101"),
        101,
        1,
    );
    submit_accepted(&cluster, INSURANCE, &filed).await;
    let fetch = officer_fetch(kit, Role::Insurance, 0, filed.id(), claim.id(), 101);
    submit_accepted(&cluster, INSURANCE, &fetch).await;
    let v = cluster
        .officer(INSURANCE)
        .post(
            &format!("/v1/disclosures/{}/fetch", filed.id()),
            &fetch_request(&fetch),
        )
        .await
        .expect("the raw bill is delivered after the restart");
    assert_eq!(v["verified"], true, "{v}");
    let delivered: VaultEntry = serde_json::from_value(v["entry"].clone()).unwrap();
    assert_eq!(delivered, entry);

    // --- Nothing raw at rest, once the node has flushed and stopped. ---
    cluster.terminate(HEALTH);
    assert_no_raw_identifier(&cluster.data_dir(HEALTH), &needles);

    // --- A wrong vault key: the disclosure is refused, the node runs on. ---
    let config = cluster.devnet.nodes[HEALTH].config.clone();
    let keys = cluster.devnet.dir.join("keys");
    let right = keys.join("gd-health-vault.key");
    let wrong = keys.join("gd-health-wrong-vault.key");
    let wrong_id = generate_key_file(&wrong).unwrap().id();
    let right_id = read_key_file(&right).unwrap().id();
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(right.to_str().unwrap()), "{text}");
    std::fs::write(
        &config,
        text.replace(right.to_str().unwrap(), wrong.to_str().unwrap()),
    )
    .unwrap();
    cluster.restart(HEALTH).unwrap();
    wait_serving(&cluster, HEALTH).await;
    // A new fetch: each accepted one is served once, and the first was.
    let again = officer_fetch(kit, Role::Insurance, 1, filed.id(), claim.id(), 102);
    submit_accepted(&cluster, INSURANCE, &again).await;
    let second_officer = cluster.client_as(INSURANCE, &kit.org(Role::Insurance).officers[1]);
    let r = cluster
        .http_post_with(
            &second_officer,
            &format!("/v1/disclosures/{}/fetch", filed.id()),
            fetch_request(&again).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{r:?}");
    let error = r.error().unwrap();
    assert!(error.contains("could not open"), "{error}");
    assert!(
        error.contains(&right_id.to_hex()),
        "names the entry's key: {error}"
    );
    assert!(!error.contains(&wrong_id.to_hex()), "{error}");
    assert!(!r.text.contains(ID_CARD) && !r.text.contains(BILL_NO));
    assert!(
        cluster.log(HEALTH).contains(&claim.id().to_hex()),
        "the holder's log names the record"
    );
    cluster
        .check_none_crashed()
        .expect("a wrong key crashes nothing");
    assert!(
        cluster.height(HEALTH).await.is_ok(),
        "the node still serves"
    );
    cluster.stop().await;
}

// --- Rotation as a process, SIGKILLed mid-way ---

/// Claims signed by the health department, with their vault entries.
const CLAIMS: usize = 3000;

fn claims(kit: &Kit) -> (Vec<SignedRecord>, Vec<VaultEntry>) {
    let mut records = Vec::with_capacity(CLAIMS);
    let mut entries = Vec::with_capacity(CLAIMS);
    for n in 0..CLAIMS {
        let raw_bill = raw_bill(n).into_bytes();
        let salt = [n as u8; 32];
        let mut body = fundtrail_testkit::bodies::claim(
            kit.claim_id(n as u64),
            kit.person(n as u64),
            Amount::yuan(1_000),
            Amount::yuan(900),
        );
        body.raw_commitment = raw_commitment(&salt, &raw_bill);
        let record = kit.sign(Role::Health, RecordBody::Claim(body), n as u64 + 1, 0);
        entries.push(VaultEntry {
            record_id: record.id(),
            salt: salt.to_vec(),
            raw_bill,
        });
        records.push(record);
    }
    (records, entries)
}

fn id_card(n: usize) -> String {
    format!("44010619900101{n:04}")
}

fn bill_no(n: usize) -> String {
    format!("ZY2026-R{n:06}")
}

fn raw_bill(n: usize) -> String {
    format!(
        "{{\"id_card\":\"{}\",\"bill_no\":\"{}\"}}",
        id_card(n),
        bill_no(n)
    )
}

/// A stopped health node's directory: its data directory with `CLAIMS`
/// claims committed and their raw bills deposited under `old_key`, and a
/// node.toml whose [vault] names `old_key` and `cipher`.
fn health_node_with_deposits(dir: &Path, old_key: &Path, cipher: Cipher) -> PathBuf {
    let kit = Kit::new(7);
    let genesis = kit.genesis_with_nodes();
    let data = dir.join("data");
    let chain = Chain::open(&data, &genesis).expect("open");
    let (records, entries) = claims(&kit);
    let proposer = Keypair::from_seed(kit.org(Role::Health).node.secret_bytes());
    for (i, chunk) in records.chunks(500).enumerate() {
        let index = i as u64 + 1;
        let batch = Batch::propose(&proposer, &kit.chain_id, index, chunk.to_vec());
        let log_id = LogId::new(openraft::CommittedLeaderId::new(1, 0), index);
        chain
            .apply_batch(&batch, &log_id, &StoredMembership::default())
            .expect("apply");
    }
    chain.store().flush().unwrap();
    let keys = FileKeys::load(old_key, Cipher::Aes256Gcm, &[]).unwrap();
    let vault = Vault::new(
        chain.store().clone(),
        "gd-health".parse().unwrap(),
        Arc::new(keys),
    );
    for chunk in entries.chunks(500) {
        let sealed: Vec<_> = chunk
            .iter()
            .map(|e| vault.check_and_seal(e).expect("our own claim"))
            .collect();
        vault.keep(&sealed).unwrap();
    }
    drop(vault);
    drop(chain);

    std::fs::write(
        dir.join("genesis.json"),
        serde_json::to_string(&genesis).unwrap(),
    )
    .unwrap();
    fundtrail_node::keys::write(&dir.join("node.key"), &proposer).unwrap();
    let config = dir.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\ngenesis = \"genesis.json\"\nnode_key = \"node.key\"\n\
             org = \"gd-health\"\nlisten = \"/ip4/127.0.0.1/tcp/0\"\napi = \"127.0.0.1:0\"\n\
             [tls]\nplain_http_on_loopback = true\n[vault]\nkey_file = \"{}\"\ncipher = \"{cipher}\"\n",
            old_key.display()
        ),
    )
    .unwrap();
    config
}

/// The key id and cipher of every vault entry, by record id.
fn sealed_under(data: &Path) -> Vec<(KeyId, Cipher)> {
    let store = Store::open(data).expect("the stopped node's store opens");
    store
        .vault_page(None, usize::MAX)
        .unwrap()
        .iter()
        .map(|(_, v)| {
            let h = Header::parse(v).unwrap();
            (h.key_id, h.cipher)
        })
        .collect()
}

/// How many vault entries open under `keys`, and that each opens to the
/// raw bill deposited.
fn opening(data: &Path, keys: &FileKeys) -> usize {
    let store = Store::open(data).expect("the stopped node's store opens");
    let mut opened = 0;
    for (k, v) in store.vault_page(None, usize::MAX).unwrap() {
        let id = RecordId::from_hash(fundtrail_ledger::Hash32(k.try_into().unwrap()));
        if let Ok(plain) = seal::open(keys, &id, &v) {
            let entry: VaultEntry = fundtrail_ledger::codec::decode("entry", &plain).unwrap();
            assert_eq!(entry.record_id, id);
            opened += 1;
        }
    }
    opened
}

fn rotate_command(config: &Path, new_key: &Path) -> Command {
    let mut command = Command::new(EXE);
    command
        .args(["vault", "rotate", "--config"])
        .arg(config)
        .arg("--new-key")
        .arg(new_key)
        .args(["--batch", "5"]);
    command
}

#[test]
fn a_rotation_killed_mid_way_is_readable_with_both_keys_and_a_rerun_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let old_key = keys.join("vault-1.key");
    let new_key = keys.join("vault-2.key");
    let old = generate_key_file(&old_key).unwrap().id();
    let new = generate_key_file(&new_key).unwrap().id();
    // The deposits are AES-256-GCM; the rotation also moves them to SM4.
    let config = health_node_with_deposits(dir.path(), &old_key, Cipher::Sm4Gcm);
    let data = dir.path().join("data");
    assert!(sealed_under(&data)
        .iter()
        .all(|k| *k == (old, Cipher::Aes256Gcm)));

    // --- The byte scan: the raw bills are nowhere in the data directory. ---
    let raw: Vec<String> = (0..CLAIMS)
        .step_by(97)
        .flat_map(|n| [id_card(n), bill_no(n)])
        .collect();
    let needles = needles(&raw);
    let clear = VaultEntry {
        record_id: RecordId::from_hash(fundtrail_ledger::Hash32([0; 32])),
        salt: vec![0; 32],
        raw_bill: raw_bill(0).into_bytes(),
    };
    assert_the_scan_finds_clear_entries(&clear, &needles);
    assert_no_raw_identifier(&data, &needles);

    // --- Refused while the node holds the store's lock. ---
    let held = Store::open(&data).unwrap();
    let out = rotate_command(&config, &new_key).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("is in use") && stderr.contains("stop the node"),
        "{stderr}"
    );
    drop(held);

    // --- A new key inside the data directory is refused. ---
    let inside = data.join("vault-3.key");
    generate_key_file(&inside).unwrap();
    let out = rotate_command(&config, &inside).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("inside the data directory"));
    std::fs::remove_file(&inside).unwrap();

    // --- SIGKILL after the first progress line. ---
    let mut child = rotate_command(&config, &new_key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first_progress = loop {
        let line = lines.next().expect("a progress line").unwrap();
        if line.starts_with("progress:") {
            break line;
        }
    };
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished: {first_progress}");
    assert!(
        first_progress.contains(&format!("/{CLAIMS} ")),
        "{first_progress}"
    );

    let keys_now = sealed_under(&data);
    let under_new = keys_now
        .iter()
        .filter(|k| **k == (new, Cipher::Sm4Gcm))
        .count();
    let under_old = keys_now
        .iter()
        .filter(|k| **k == (old, Cipher::Aes256Gcm))
        .count();
    assert_eq!(
        under_new + under_old,
        CLAIMS,
        "every entry under one of the two"
    );
    assert!(
        under_new > 0 && under_old > 0,
        "cut mid-way: {under_new} under the new key, {under_old} under the old"
    );
    let both = FileKeys::new(
        read_key_file(&new_key).unwrap(),
        Cipher::Sm4Gcm,
        vec![read_key_file(&old_key).unwrap()],
    );
    assert_eq!(opening(&data, &both), CLAIMS, "old and new keys open all");
    let new_only = FileKeys::new(read_key_file(&new_key).unwrap(), Cipher::Sm4Gcm, vec![]);
    assert_eq!(opening(&data, &new_only), under_new);

    // --- A rerun finishes it. ---
    let out = rotate_command(&config, &new_key).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("rotation complete"), "{stdout}");
    assert!(
        stdout.contains(&format!("({under_old} re-sealed by this run)")),
        "only what was left is re-sealed: {stdout}"
    );
    assert!(sealed_under(&data)
        .iter()
        .all(|k| *k == (new, Cipher::Sm4Gcm)));
    assert_eq!(
        opening(&data, &new_only),
        CLAIMS,
        "the new key alone opens all"
    );
    let old_only = FileKeys::new(read_key_file(&old_key).unwrap(), Cipher::Aes256Gcm, vec![]);
    assert_eq!(opening(&data, &old_only), 0, "the old key opens none");
    assert_no_raw_identifier(&data, &needles);
}
