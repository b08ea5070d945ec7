//! Signed checkpoints from a running four-department cluster:
//! - `fundtrail checkpoint get` collects every department's node
//!   signature at one size, and the independent Python verifier written
//!   from the C2SP texts (`scripts/c2sp_checkpoint.py`) accepts it against
//!   the vkeys `fundtrail checkpoint vkeys` prints from genesis, and
//!   refuses it with one byte of the root changed;
//! - `checkpoint consistency` accepts a later checkpoint as extending an
//!   earlier one with a node's proof, and refuses them the other way
//!   round; a node's inclusion proof of a block leads to a signed root;
//! - `prove --checkpoint` and `verify-proof --checkpoint` prove a record
//!   against a checkpoint alone, and fail against one that ends before
//!   its block;
//! - a chain file exported at height N, checked against a checkpoint
//!   cosigned at N + k, fails as stale or truncated; the export at N + k
//!   passes, against that checkpoint and an older one;
//! - the nodes sign and gossip checkpoints of their head on their own, and
//!   each serves the latest with every department's signature it holds;
//! - a node's tlog-witness, called without credentials as an outside log
//!   would, cosigns the first checkpoint (the Python verifier accepts the
//!   cosignature), then the later one with a consistency proof, and after
//!   a `kill -9` and restart still answers 409 with the later size.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use fundtrail_ledger::record::SignedRecord;
use fundtrail_ledger::types::Role;
use fundtrail_tests::cluster::{committed, http, serial, Http, TestCluster};
use fundtrail_tests::output_text;

const EXE: &str = env!("CARGO_BIN_EXE_fundtrail-e2e");

struct Run<'a> {
    cluster: &'a TestCluster,
    dir: PathBuf,
}

impl Run<'_> {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The audit office's officer key, which may read the whole chain.
    fn key(&self) -> PathBuf {
        let org = &self.cluster.kit.org(Role::Auditor).id;
        self.cluster.devnet.key_file(org, "officer-1")
    }

    async fn fundtrail(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(EXE)
            .args(args)
            .output()
            .await
            .expect("run fundtrail")
    }

    /// `checkpoint get` from node 0 with every other node's signature.
    async fn checkpoint(&self, name: &str) -> PathBuf {
        let out = self.path(name);
        let key = self.key();
        let mut args = vec![
            "checkpoint".to_string(),
            "get".into(),
            "--node".into(),
            self.cluster.api(0).to_string(),
            "--key".into(),
            key.to_string_lossy().into_owned(),
            "--out".into(),
            out.to_string_lossy().into_owned(),
        ];
        for i in 1..self.cluster.node_count() {
            args.extend(["--also".to_string(), self.cluster.api(i).to_string()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = self.fundtrail(&refs).await;
        assert!(output.status.success(), "{}", output_text(&output));
        out
    }

    /// Node 0's chain file once every block in it carries all four
    /// departments' attestations (they arrive by gossip and repair).
    async fn export(&self, name: &str) -> PathBuf {
        let out = self.path(name);
        let (bytes, _) = self
            .cluster
            .verified_export(0, self.cluster.node_count())
            .await
            .expect("a fully attested export");
        std::fs::write(&out, bytes).expect("write the chain file");
        out
    }

    /// `checkpoint consistency OLD NEW`, with node 1's proof.
    async fn consistency(&self, old: &Path, new: &Path, genesis: &Path) -> Output {
        let key = self.key();
        self.fundtrail(&[
            "checkpoint",
            "consistency",
            &old.to_string_lossy(),
            &new.to_string_lossy(),
            "--genesis",
            &genesis.to_string_lossy(),
            "--node",
            self.cluster.api(1),
            "--key",
            &key.to_string_lossy(),
        ])
        .await
    }

    async fn verify(&self, chain: &Path, checkpoint: &Path) -> Output {
        self.fundtrail(&[
            "verify",
            &chain.to_string_lossy(),
            "--checkpoint",
            &checkpoint.to_string_lossy(),
        ])
        .await
    }
}

fn civil_record(cluster: &TestCluster, n: u64) -> SignedRecord {
    fundtrail_tests::eligibility_grant(&cluster.kit, n, 70_000 + n)
}

/// Commits `n` records, then waits until every node holds the head and
/// every department attested it.
async fn commit_records(cluster: &TestCluster, from: u64, n: u64) {
    for k in from..from + n {
        let lines = cluster
            .submit(0, &[civil_record(cluster, k)])
            .await
            .expect("submit");
        assert!(committed(&lines[0]).is_some(), "{lines:?}");
    }
    cluster
        .converge(Duration::from_secs(30))
        .await
        .expect("converge");
    let start = std::time::Instant::now();
    loop {
        let head = cluster.http_get(0, "/v1/head").await.expect("head").json();
        let attested = head["attested_by"].as_array().map_or(0, Vec::len);
        if attested == cluster.node_count() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the head is attested by every department"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn python(script_args: &[&Path]) -> Option<Output> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/c2sp_checkpoint.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(script).args(script_args);
    match cmd.output() {
        Ok(out) => Some(out),
        Err(e) => {
            eprintln!("skipping the Python cross-check: python3 cannot run ({e})");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cosigned_checkpoints_check_in_python_and_catch_a_stale_export() {
    let _serial = serial().await;
    let cluster = TestCluster::start(EXE.as_ref(), 4)
        .await
        .expect("cluster starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let run = Run {
        cluster: &cluster,
        dir: dir.path().to_path_buf(),
    };
    commit_records(&cluster, 1, 4).await;
    let first = run.checkpoint("first.cp").await;

    let vkeys = run.path("vkeys");
    let genesis = cluster.devnet.dir.join("genesis.json");
    let printed = run
        .fundtrail(&[
            "checkpoint",
            "vkeys",
            "--genesis",
            &genesis.to_string_lossy(),
        ])
        .await;
    assert!(printed.status.success(), "{}", output_text(&printed));
    std::fs::write(&vkeys, &printed.stdout).expect("write vkeys");
    if let Some(out) = python(&[
        &first,
        Path::new("--keys"),
        &vkeys,
        Path::new("--min"),
        Path::new("4"),
    ]) {
        assert!(out.status.success(), "{}", output_text(&out));
        let lines = String::from_utf8_lossy(&out.stdout).matches(" OK").count();
        assert_eq!(lines, 4, "{}", output_text(&out));
        let tampered = run.path("tampered.cp");
        std::fs::write(
            &tampered,
            tamper_root(&std::fs::read_to_string(&first).expect("read")),
        )
        .expect("write");
        let refused = python(&[&tampered, Path::new("--keys"), &vkeys]).expect("python ran before");
        assert!(!refused.status.success(), "{}", output_text(&refused));
        let ours = run
            .fundtrail(&[
                "checkpoint",
                "verify",
                &tampered.to_string_lossy(),
                "--genesis",
                &genesis.to_string_lossy(),
            ])
            .await;
        assert!(!ours.status.success(), "{}", output_text(&ours));
    }

    let stale = run.export("stale.ftc").await;
    commit_records(&cluster, 100, 3).await;
    let later = run.checkpoint("later.cp").await;
    let refused = run.verify(&stale, &later).await;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("STALE OR TRUNCATED"),
        "{}",
        output_text(&refused)
    );
    let extends = run.consistency(&first, &later, &genesis).await;
    assert!(extends.status.success(), "{}", output_text(&extends));
    assert!(String::from_utf8_lossy(&extends.stdout).contains("CONSISTENT"));
    let backwards = run.consistency(&later, &first, &genesis).await;
    assert!(!backwards.status.success(), "{}", output_text(&backwards));
    a_block_is_proven_in_the_checkpoint_tree(&cluster, &later).await;

    let resubmitted = a_node_witnesses_the_checkpoints(&run, &first, &later, &vkeys).await;

    let current = run.export("current.ftc").await;
    let gossiped = the_nodes_cosign_their_head_on_their_own(&run, &vkeys, &genesis).await;
    for checkpoint in [&later, &first, &gossiped] {
        let passed = run.verify(&current, checkpoint).await;
        assert!(passed.status.success(), "{}", output_text(&passed));
        assert!(String::from_utf8_lossy(&passed.stdout).contains("consistent with the checkpoint"));
    }
    the_report_shows_the_checkpoint(&run, &current, &stale, &later).await;
    a_record_is_proven_against_a_checkpoint(&run, &first, &later).await;
    let mut cluster = cluster;
    the_witness_state_survives_a_kill(&mut cluster, &resubmitted.0, &resubmitted.1).await;
    cluster.stop().await;
}

/// With no one asking, the nodes sign and gossip checkpoints of their
/// head: node 2 soon serves one at the head with all four departments'
/// signatures, which the Python verifier and `checkpoint verify` accept.
async fn the_nodes_cosign_their_head_on_their_own(
    run: &Run<'_>,
    vkeys: &Path,
    genesis: &Path,
) -> PathBuf {
    let head = run.cluster.height(2).await.expect("height");
    let start = std::time::Instant::now();
    let note = loop {
        let got = run
            .cluster
            .http_get(2, "/v1/checkpoint/cosigned")
            .await
            .expect("cosigned checkpoint");
        let signatures = got
            .text
            .lines()
            .filter(|l| l.starts_with("\u{2014} "))
            .count();
        if got.status == 200
            && got.text.lines().nth(1) == Some(&head.to_string())
            && signatures == 4
        {
            break got.text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no checkpoint of the head {head} with four signatures: {} {}",
            got.status,
            got.text
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let at_the_usual_path = run
        .cluster
        .http_get(2, "/checkpoint")
        .await
        .expect("GET /checkpoint");
    assert_eq!(at_the_usual_path.status, 200);
    assert_eq!(
        at_the_usual_path.text.lines().nth(1),
        note.lines().nth(1),
        "GET /checkpoint serves the same latest checkpoint"
    );
    let path = run.path("gossiped.cp");
    std::fs::write(&path, &note).expect("write checkpoint");
    if let Some(out) = python(&[
        &path,
        Path::new("--keys"),
        vkeys,
        Path::new("--min"),
        Path::new("4"),
    ]) {
        assert!(out.status.success(), "{}", output_text(&out));
    }
    let ours = run
        .fundtrail(&[
            "checkpoint",
            "verify",
            &path.to_string_lossy(),
            "--genesis",
            &genesis.to_string_lossy(),
            "--min",
            "4",
        ])
        .await;
    assert!(ours.status.success(), "{}", output_text(&ours));
    path
}

/// The checkpoint with the first character of its root line changed.
fn tamper_root(text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let root = &mut lines[2];
    let first = if root.starts_with('A') { "B" } else { "A" };
    root.replace_range(0..1, first);
    lines.join("\n") + "\n"
}

/// The inclusion proof a node serves for block 2 leads to the signed root.
async fn a_block_is_proven_in_the_checkpoint_tree(cluster: &TestCluster, checkpoint: &Path) {
    use fundtrail_ledger::block::BlockHash;
    use fundtrail_ledger::merkle::{self, InclusionProof};
    use fundtrail_ledger::tlog::{block_leaf, SignedCheckpoint};
    let signed = SignedCheckpoint::parse(&std::fs::read(checkpoint).expect("read")).expect("parse");
    let size = signed.checkpoint().size();
    let proof: InclusionProof = serde_json::from_value(
        cluster
            .http_get(2, &format!("/v1/checkpoint/inclusion/2?size={size}"))
            .await
            .expect("proof")
            .json(),
    )
    .expect("an inclusion proof");
    let block = cluster
        .http_get(2, "/v1/blocks/2")
        .await
        .expect("block")
        .json();
    let hash: BlockHash = serde_json::from_value(block["hash"].clone()).expect("a block hash");
    let root = signed.checkpoint().root();
    assert!(merkle::verify(&proof, &block_leaf(&hash), root).is_ok());
    let other = block_leaf(&BlockHash::from_hash(fundtrail_ledger::Hash32([9; 32])));
    assert!(merkle::verify(&proof, &other, root).is_err());
}

const WITNESS: usize = 3;

/// POSTs an `add-checkpoint` body to node `i`'s witness, unsigned.
async fn add_checkpoint(cluster: &TestCluster, i: usize, body: String) -> Http {
    http(
        &cluster.client(i).unsigned(),
        reqwest::Method::POST,
        "/witness/add-checkpoint",
        Some("text/plain"),
        body.into_bytes(),
    )
    .await
    .expect("the witness answers")
}

/// Submits both checkpoints to the witness; returns the second
/// submission, to be sent again after a restart, and the size it holds.
async fn a_node_witnesses_the_checkpoints(
    run: &Run<'_>,
    first: &Path,
    later: &Path,
    vkeys: &Path,
) -> (String, String) {
    let read = |p: &Path| std::fs::read_to_string(p).expect("read checkpoint");
    let size_of = |text: &str| text.lines().nth(1).expect("size line").to_string();
    let (first_text, later_text) = (read(first), read(later));
    let (first_size, later_size) = (size_of(&first_text), size_of(&later_text));

    let cosigned = add_checkpoint(run.cluster, WITNESS, format!("old 0\n\n{first_text}")).await;
    assert_eq!(cosigned.status, 200, "{cosigned:?}");
    assert!(cosigned.text.starts_with('\u{2014}'), "{cosigned:?}");
    let witnessed = run.path("witnessed.cp");
    std::fs::write(&witnessed, format!("{first_text}{}", cosigned.text)).expect("write");
    let genesis = run.cluster.devnet.dir.join("genesis.json");
    let printed = run
        .fundtrail(&[
            "checkpoint",
            "vkeys",
            "--witness",
            "--genesis",
            &genesis.to_string_lossy(),
        ])
        .await;
    let all_keys = run.path("all-vkeys");
    let mut keys = std::fs::read(vkeys).expect("vkeys");
    keys.extend(&printed.stdout);
    std::fs::write(&all_keys, keys).expect("write");
    if let Some(out) = python(&[
        &witnessed,
        Path::new("--keys"),
        &all_keys,
        Path::new("--min"),
        Path::new("5"),
    ]) {
        assert!(out.status.success(), "{}", output_text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("cosignature"),
            "{}",
            output_text(&out)
        );
    }

    let again = add_checkpoint(run.cluster, WITNESS, format!("old 0\n\n{later_text}")).await;
    assert_eq!(
        (again.status, again.text.as_str()),
        (409, format!("{first_size}\n").as_str())
    );
    assert_eq!(again.content_type, "text/x.tlog.size");
    let proof = run
        .cluster
        .http_get(
            0,
            &format!("/v1/checkpoint/consistency?from={first_size}&to={later_size}"),
        )
        .await
        .expect("proof")
        .json();
    let lines: String = proof["path"]
        .as_array()
        .expect("a path")
        .iter()
        .map(|h| {
            let hex = h.as_str().expect("hex");
            let bytes = hex::decode(hex).expect("hex hash");
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes) + "\n"
        })
        .collect();
    let next = add_checkpoint(
        run.cluster,
        WITNESS,
        format!("old {first_size}\n{lines}\n{later_text}"),
    )
    .await;
    assert_eq!(next.status, 200, "{next:?}");

    (
        format!("old {first_size}\n{lines}\n{later_text}"),
        later_size,
    )
}

/// After a `kill -9` and restart, the witness still holds the later size.
async fn the_witness_state_survives_a_kill(cluster: &mut TestCluster, body: &str, size: &str) {
    cluster.kill9(WITNESS);
    cluster.restart(WITNESS).expect("restart");
    let start = std::time::Instant::now();
    let after = loop {
        let client = cluster.client(WITNESS).unsigned();
        let sent = http(
            &client,
            reqwest::Method::POST,
            "/witness/add-checkpoint",
            Some("text/plain"),
            body.as_bytes().to_vec(),
        )
        .await;
        match sent {
            Ok(answer) => break answer,
            Err(_) if start.elapsed() < Duration::from_secs(60) => {
                tokio::time::sleep(Duration::from_millis(300)).await
            }
            Err(e) => panic!("the witness did not come back: {e:#}"),
        }
    };
    assert_eq!(
        (after.status, after.text.as_str()),
        (409, format!("{size}\n").as_str())
    );
}

/// `audit report --checkpoint` shows the checkpoint and its signers, and
/// reports a stale export against it as not verified.
async fn the_report_shows_the_checkpoint(run: &Run<'_>, current: &Path, stale: &Path, cp: &Path) {
    let cp_arg = cp.to_string_lossy();
    let report = async |chain: &Path, name: &str| {
        let out = run.path(name);
        let (chain, out_arg) = (chain.to_string_lossy(), out.to_string_lossy());
        let output = run
            .fundtrail(&[
                "audit",
                "report",
                "--chain",
                &chain,
                "--out",
                &out_arg,
                "--checkpoint",
                &cp_arg,
            ])
            .await;
        let json: serde_json::Value = std::fs::read(out.join("report.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        (output, json["verification"].clone())
    };
    let (ok, verification) = report(current, "report-current").await;
    assert!(ok.status.success(), "{}", output_text(&ok));
    let seen = &verification["checkpoint"];
    assert_eq!(seen["consistent"], true, "{verification}");
    assert_eq!(
        seen["signers"].as_array().map_or(0, Vec::len),
        4,
        "{verification}"
    );
    let (refused, verification) = report(stale, "report-stale").await;
    assert!(!refused.status.success(), "{}", output_text(&refused));
    assert_eq!(verification["ok"], false, "{verification}");
    assert!(verification["checkpoint"]["verdict"]
        .as_str()
        .is_some_and(|v| v.starts_with("STALE OR TRUNCATED")));
}

/// A record committed between the two checkpoints is proven against the
/// later one, and the earlier one, which ends before its block, refuses it.
async fn a_record_is_proven_against_a_checkpoint(run: &Run<'_>, first: &Path, later: &Path) {
    let record = civil_record(run.cluster, 100).id().to_hex();
    let proof = run.path("record.proof");
    let key = run.key();
    let made = run
        .fundtrail(&[
            "prove",
            &record,
            "--node",
            run.cluster.api(1),
            "--key",
            &key.to_string_lossy(),
            "--checkpoint",
            &later.to_string_lossy(),
            "--out",
            &proof.to_string_lossy(),
        ])
        .await;
    assert!(made.status.success(), "{}", output_text(&made));
    let genesis = run.cluster.devnet.dir.join("genesis.json");
    let (proof_arg, genesis_arg) = (proof.to_string_lossy(), genesis.to_string_lossy());
    let check = async |cp: &Path| {
        let cp = cp.to_string_lossy();
        run.fundtrail(&[
            "verify-proof",
            &proof_arg,
            "--checkpoint",
            &cp,
            "--genesis",
            &genesis_arg,
        ])
        .await
    };
    let held = check(later).await;
    assert!(held.status.success(), "{}", output_text(&held));
    assert!(String::from_utf8_lossy(&held.stdout).contains("is in the checkpoint"));
    let before = check(first).await;
    assert!(!before.status.success(), "{}", output_text(&before));
}
