//! `fundtrail submit` as a department runs it, against a real cluster: a
//! file with one malformed line is refused as a whole, naming the line,
//! and nothing reaches the chain; the same file without that line commits
//! one outcome per line; `--continue` commits the good lines and reports
//! the bad one; resubmitting a file answers `already_committed` with the
//! same record ids and changes nothing; lines that name earlier records by
//! bill are resolved. A payout reversed and paid again under a new
//! reference moves the fund again, while its first reference, and its
//! reversal's, give back the original records. The exit code tells an
//! all-committed file (0) from one with refused lines (1) and one the
//! rules rejected lines of (3).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use fundtrail_tests::cluster::{serial, TestCluster};
use fundtrail_tests::output_text;
use serde_json::{json, Value};

const EXE: &str = env!("CARGO_BIN_EXE_fundtrail-e2e");

/// ID-card numbers with valid check digits (GB 11643).
const ID_CARDS: [&str; 5] = [
    "440106195803120419",
    "44030419720915252X",
    "440513198501271632",
    "440606201207040848",
    "441900194602210356",
];

/// A claim line of the health department for a hospital in 440100.
fn claim(n: usize, batch: &str) -> String {
    let level = ["tertiary", "secondary", "grassroots"][n % 3];
    let insured_type = ["resident", "employee"][n % 2];
    json!({
        "kind": "claim", "id_card": ID_CARDS[n % ID_CARDS.len()],
        "institution": "H44010600001", "bill_no": format!("ZY2026-{batch}-{n:05}"),
        "institution_level": level, "insured_type": insured_type,
        "insured_region": "440100", "care_region": "440100",
        "service_date": format!("2026-03-{:02}", n + 1), "admission": "inpatient",
        "total": format!("{}.00", 20_000 + 1_000 * n), "in_scope": format!("{}.00", 18_000 + 900 * n),
        "drg_or_dip_group": "ES23"
    })
    .to_string()
}

/// A line that is not JSON, carrying an ID-card number the error must not show.
const MALFORMED: &str = r#"{"kind":"claim","id_card":"440106195803120419","institution":"H44010600001","bill_no" "ZY2026-X"}"#;

struct Cli<'a> {
    cluster: &'a TestCluster,
    dir: PathBuf,
}

/// A three-node cluster, and a directory for the files submitted to it.
async fn start() -> (TestCluster, tempfile::TempDir) {
    let cluster = TestCluster::start(EXE.as_ref(), 3)
        .await
        .expect("cluster starts");
    (cluster, tempfile::tempdir().unwrap())
}

impl<'a> Cli<'a> {
    fn new(cluster: &'a TestCluster, dir: &tempfile::TempDir) -> Cli<'a> {
        Cli {
            cluster,
            dir: dir.path().to_path_buf(),
        }
    }

    fn key(&self, name: &str) -> PathBuf {
        self.cluster.devnet.dir.join("keys").join(name)
    }

    fn write(&self, name: &str, lines: &[String]) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }

    /// `fundtrail submit` as `org` through node `node`.
    async fn submit(
        &self,
        node: usize,
        org: &str,
        officers: usize,
        extra: &[&str],
        file: &Path,
    ) -> Output {
        let mut cmd = tokio::process::Command::new(EXE);
        cmd.arg("submit")
            .arg("--node")
            .arg(self.cluster.api(node))
            .arg("--key")
            .arg(self.key(&format!("{org}-submitter.key")))
            .arg("--pseudonym-key")
            .arg(self.key("consortium.pkey"));
        for n in 1..=officers {
            cmd.arg("--officer")
                .arg(self.key(&format!("{org}-officer-{n}.key")));
        }
        cmd.args(extra).arg(file);
        cmd.output().await.expect("run fundtrail submit")
    }
}

fn stdout_lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
        .collect()
}

/// Insurance's basic payout on a bill of hospital H44010600001, with two
/// officer approvals.
fn basic_payout(reference: &str, bill_no: &str, amount: &str) -> String {
    json!({
        "kind": "settlement", "ref": reference,
        "institution": "H44010600001", "bill_no": bill_no,
        "scheme": "basic", "fund_id": "basic-440100", "amount": amount, "approvals": 2
    })
    .to_string()
}

/// The reversal of the standing basic payout on a bill of H44010600001.
fn basic_reversal(reference: &str, bill_no: &str) -> String {
    json!({
        "kind": "reversal", "ref": reference,
        "target": {"payout": {"institution": "H44010600001", "bill_no": bill_no, "tier": "basic"}},
        "reason": "data_entry_error"
    })
    .to_string()
}

/// The receipt of a line that reached the chain, now or before.
fn receipt(l: &Value) -> Option<&Value> {
    l.get("committed").or_else(|| l.get("already_committed"))
}

/// The record ids of committed outcome lines (new or earlier), in line
/// order, checking that each was accepted.
fn accepted_ids(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter_map(receipt)
        .map(|r| {
            let outcome = &r["outcome"];
            assert_eq!(outcome["verdict"], "accepted", "{r}");
            outcome["record_id"].as_str().unwrap().to_string()
        })
        .collect()
}

fn statuses(lines: &[Value]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect()
}

async fn settled_height(cluster: &TestCluster) -> u64 {
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.converge(Duration::from_secs(30)).await.unwrap()["height"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_refuses_a_file_with_a_malformed_line_and_commits_good_ones() {
    let _serial = serial().await;
    let started = std::time::Instant::now();
    let (cluster, tmp) = start().await;
    let cli = Cli::new(&cluster, &tmp);
    let good: Vec<String> = (0..4).map(|n| claim(n, "A")).collect();
    let mut with_bad = good.clone();
    with_bad.insert(2, MALFORMED.to_string());
    let bad_file = cli.write("bad.jsonl", &with_bad);
    let good_file = cli.write("good.jsonl", &good);

    // 1. One malformed line (line 3): refused as a whole, naming the line.
    let height0 = settled_height(&cluster).await;
    let out = cli.submit(2, "gd-health", 0, &[], &bad_file).await;
    let all = output_text(&out);
    assert!(!out.status.success(), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3"), "names the line: {all}");
    assert!(stderr.contains("malformed JSON"), "{all}");
    assert!(stderr.contains("nothing was submitted"), "{all}");
    assert!(
        !all.contains("440106195803120419"),
        "never shows a value: {all}"
    );
    assert!(out.stdout.is_empty(), "no outcomes: {all}");
    assert_eq!(settled_height(&cluster).await, height0, "nothing committed");

    // 2. The same lines without it: one JSON outcome per line, committed.
    let out = cli.submit(2, "gd-health", 0, &[], &good_file).await;
    assert!(out.status.success(), "{}", output_text(&out));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), good.len(), "{}", output_text(&out));
    for (n, l) in lines.iter().enumerate() {
        assert_eq!(l["line"], json!(n + 1), "{l}");
    }
    let ids = accepted_ids(&lines);
    assert_eq!(ids.len(), good.len());
    let height1 = settled_height(&cluster).await;
    assert!(height1 > height0);
    for (id, l) in ids.iter().zip(&lines) {
        let v = cluster
            .client(0)
            .get(&format!("/v1/records/{id}"))
            .await
            .expect("the record is on the chain");
        assert_eq!(v["kind"], "claim");
        assert_eq!(v["height"], l["committed"]["height"]);
        let body = v["record"]["envelope"]["body"].to_string();
        for raw in ID_CARDS {
            assert!(!body.contains(raw), "the chain holds pseudonyms only");
        }
        assert!(!body.contains("ZY2026-A-"), "no bill numbers on the chain");
    }

    assert_eq!(statuses(&lines), ["committed"; 4]);

    // 3. Resubmitting the good file: the same record ids, no second effect.
    let out = cli.submit(0, "gd-health", 0, &[], &good_file).await;
    assert!(out.status.success(), "{}", output_text(&out));
    let again = stdout_lines(&out);
    assert_eq!(accepted_ids(&again), ids, "same record ids");
    assert_eq!(statuses(&again), ["already_committed"; 4]);
    for (a, b) in again.iter().zip(&lines) {
        assert_eq!(
            a["already_committed"], b["committed"],
            "answered with the original placement and verdict"
        );
    }
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("4 already committed before, nothing changed (accepted)"),
        "{}",
        output_text(&out)
    );
    assert_eq!(settled_height(&cluster).await, height1, "no new block");

    // 4. --continue: the good lines are committed, the bad one reported.
    let fresh: Vec<String> = (0..4).map(|n| claim(n, "B")).collect();
    let mut fresh_bad = fresh.clone();
    fresh_bad.insert(2, MALFORMED.to_string());
    let cont_file = cli.write("continue.jsonl", &fresh_bad);
    let out = cli
        .submit(1, "gd-health", 0, &["--continue"], &cont_file)
        .await;
    let all = output_text(&out);
    assert!(
        !out.status.success(),
        "a bad line still fails the run: {all}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 lines were not committed"),
        "{all}"
    );
    assert!(!all.contains("440106195803120419"), "{all}");
    let lines = stdout_lines(&out);
    let errors: Vec<&Value> = lines.iter().filter(|l| l.get("error").is_some()).collect();
    assert_eq!(errors.len(), 1, "{all}");
    assert_eq!(errors[0]["status"], "not_submitted", "{all}");
    assert_eq!(errors[0]["line"], 3);
    assert!(
        errors[0]["error"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{all}"
    );
    let committed: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("committed").is_some())
        .collect();
    let numbers: Vec<u64> = committed
        .iter()
        .map(|l| l["line"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 4, 5], "{all}");
    let cont_ids = accepted_ids(&lines);
    assert_eq!(cont_ids.len(), 4);
    let height2 = settled_height(&cluster).await;
    assert!(height2 > height1);
    for id in &cont_ids {
        assert!(!ids.contains(id));
        cluster
            .client(2)
            .get(&format!("/v1/records/{id}"))
            .await
            .expect("committed");
    }

    // 5. Lines naming earlier records by bill, signed with officer
    // approvals: insurance settles the first claim and reverses it.
    let claim_id = {
        let v = cluster
            .client(0)
            .get(&format!("/v1/records/{}", ids[0]))
            .await
            .unwrap();
        let c = &v["record"]["envelope"]["body"]["claim"]["claim_id"];
        format!("{}:{}", c["epoch"], c["tag"].as_str().unwrap())
    };
    let quote = cluster
        .client(1)
        .get(&format!("/v1/claims/{claim_id}"))
        .await
        .unwrap()["quote"]
        .clone();
    let amount = quote["basic"].as_str().unwrap().to_string();
    let settle = basic_payout("JS2026-A-1", "ZY2026-A-00000", &amount);
    let file = cli.write("settle.jsonl", &[settle]);
    let out = cli.submit(0, "gd-insurance", 2, &[], &file).await;
    assert!(out.status.success(), "{}", output_text(&out));
    let settled = accepted_ids(&stdout_lines(&out));
    assert_eq!(settled.len(), 1, "{}", output_text(&out));
    let reverse = basic_reversal("CX2026-A-1", "ZY2026-A-00000");
    let file = cli.write("reverse.jsonl", &[reverse]);
    let out = cli.submit(0, "gd-insurance", 0, &[], &file).await;
    assert!(out.status.success(), "{}", output_text(&out));
    let reversed = accepted_ids(&stdout_lines(&out));
    assert_eq!(reversed.len(), 1);
    // Node 0 answered the submission, so it has applied the reversal.
    let v = cluster
        .client(0)
        .get(&format!("/v1/records/{}", settled[0]))
        .await
        .unwrap();
    assert_eq!(
        v["acted_on_by"],
        json!([reversed[0]]),
        "the reversal was resolved to the payout"
    );
    // A reference to nothing on the chain is an error naming the field.
    let dangling = json!({
        "kind": "reversal", "ref": "CX2026-A-2",
        "target": {"payout": {"institution": "H44010600001", "bill_no": "ZY2026-NONE-1", "tier": "basic"}},
        "reason": "data_entry_error"
    })
    .to_string();
    let file = cli.write("dangling.jsonl", &[dangling]);
    let before = settled_height(&cluster).await;
    let out = cli.submit(0, "gd-insurance", 0, &[], &file).await;
    assert!(!out.status.success(), "{}", output_text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 1"), "{}", output_text(&out));
    assert!(stderr.contains("target"), "{}", output_text(&out));
    assert_eq!(settled_height(&cluster).await, before);

    cluster.stop().await;
    eprintln!("submit_cli test took {:?}", started.elapsed());
}

/// The `claim_id` pseudonym of a committed claim, as the API prints it.
async fn claim_pseudonym(cluster: &TestCluster, record_id: &str) -> String {
    let v = cluster
        .client(0)
        .get(&format!("/v1/records/{record_id}"))
        .await
        .unwrap();
    let c = &v["record"]["envelope"]["body"]["claim"]["claim_id"];
    format!("{}:{}", c["epoch"], c["tag"].as_str().unwrap())
}

async fn balance(cluster: &TestCluster, fund: &str) -> String {
    cluster
        .client(1)
        .get(&format!("/v1/funds/{fund}"))
        .await
        .unwrap()["entry"]["balance"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Yuan with two decimals as fen.
fn fen(amount: &str) -> i64 {
    let (yuan, cents) = amount.split_once('.').unwrap();
    yuan.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repayment_under_a_new_reference_pays_and_an_old_reference_changes_nothing() {
    let _serial = serial().await;
    let (cluster, tmp) = start().await;
    let cli = Cli::new(&cluster, &tmp);
    let claim_file = cli.write("claim.jsonl", &[claim(1, "R")]);
    let out = cli.submit(2, "gd-health", 0, &[], &claim_file).await;
    assert!(out.status.success(), "{}", output_text(&out));
    let claim_id = claim_pseudonym(&cluster, &accepted_ids(&stdout_lines(&out))[0]).await;
    let quote = cluster
        .client(1)
        .get(&format!("/v1/claims/{claim_id}"))
        .await
        .unwrap()["quote"]
        .clone();
    let amount = quote["basic"].as_str().unwrap().to_string();
    assert!(fen(&amount) > 0, "{quote}");
    let opening = fen(&balance(&cluster, "basic-440100").await);

    // Pay, then reverse: the fund moves out and back.
    let pay_file = cli.write(
        "pay.jsonl",
        &[basic_payout("JS2026-R-1", "ZY2026-R-00001", &amount)],
    );
    let out = cli.submit(0, "gd-insurance", 2, &[], &pay_file).await;
    assert!(out.status.success(), "{}", output_text(&out));
    let paid = accepted_ids(&stdout_lines(&out));
    settled_height(&cluster).await;
    let after_pay = fen(&balance(&cluster, "basic-440100").await);
    assert_eq!(after_pay, opening - fen(&amount));
    let reverse = basic_reversal("CX2026-R-1", "ZY2026-R-00001");
    let reverse_file = cli.write("reverse.jsonl", &[reverse]);
    let out = cli.submit(0, "gd-insurance", 0, &[], &reverse_file).await;
    assert!(out.status.success(), "{}", output_text(&out));
    let reversed = accepted_ids(&stdout_lines(&out));
    settled_height(&cluster).await;
    assert_eq!(fen(&balance(&cluster, "basic-440100").await), opening);

    // The same content under a new reference: a new record, the fund moves.
    let repay_file = cli.write(
        "repay.jsonl",
        &[basic_payout("JS2026-R-2", "ZY2026-R-00001", &amount)],
    );
    let out = cli.submit(1, "gd-insurance", 2, &[], &repay_file).await;
    assert!(out.status.success(), "{}", output_text(&out));
    let lines = stdout_lines(&out);
    assert_eq!(statuses(&lines), ["committed"], "{}", output_text(&out));
    let repaid = accepted_ids(&lines);
    assert_ne!(repaid, paid, "a new reference is a new record");
    let height = settled_height(&cluster).await;
    assert_eq!(
        fen(&balance(&cluster, "basic-440100").await),
        opening - fen(&amount),
        "the re-payment paid"
    );

    // The first payout's file again, and the reversal's: the original
    // records, nothing changes; the reversal does not now reach the
    // re-payment that its payout target would resolve to.
    for (file, original) in [(&pay_file, &paid), (&reverse_file, &reversed)] {
        let out = cli.submit(2, "gd-insurance", 2, &[], file).await;
        assert!(out.status.success(), "{}", output_text(&out));
        let lines = stdout_lines(&out);
        assert_eq!(
            statuses(&lines),
            ["already_committed"],
            "{}",
            output_text(&out)
        );
        assert_eq!(&accepted_ids(&lines), original);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("already committed before"),
            "{}",
            output_text(&out)
        );
    }
    assert_eq!(settled_height(&cluster).await, height, "no new block");
    assert_eq!(
        fen(&balance(&cluster, "basic-440100").await),
        opening - fen(&amount),
        "the fund did not move"
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_exits_0_when_all_committed_1_when_refused_3_when_rules_rejected() {
    let _serial = serial().await;
    let (cluster, tmp) = start().await;
    let cli = Cli::new(&cluster, &tmp);
    let claims: Vec<String> = (0..3).map(|n| claim(n, "E")).collect();
    let file = cli.write("claims.jsonl", &claims);
    let out = cli.submit(0, "gd-health", 0, &[], &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(statuses(&stdout_lines(&out)), ["committed"; 3]);

    // Signed by a key outside the consortium: refused, nothing changes.
    let outsider = tmp.path().join("outsider.key");
    let keygen = std::process::Command::new(EXE)
        .args(["keygen", "--out"])
        .arg(&outsider)
        .output()
        .unwrap();
    assert!(keygen.status.success());
    let before = settled_height(&cluster).await;
    let file = cli.write("outsider.jsonl", &[claim(7, "E")]);
    let out = tokio::process::Command::new(EXE)
        .arg("submit")
        .arg("--node")
        .arg(cluster.api(1))
        .arg("--key")
        .arg(&outsider)
        .arg("--ca")
        .arg(cluster.devnet.ca_file())
        .arg("--pseudonym-key")
        .arg(cli.key("consortium.pkey"))
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401 Unauthorized")
            && String::from_utf8_lossy(&out.stderr).contains("not enrolled"),
        "the node turns the unenrolled key away at its door: {}",
        output_text(&out)
    );
    assert_eq!(settled_height(&cluster).await, before);

    // A bill submitted again with a higher total: committed, rejected by
    // the rules (DUPLICATE_CLAIM), beside a good line.
    let mut duplicate: Value = serde_json::from_str(&claims[0]).unwrap();
    duplicate["total"] = json!("99999.00");
    let file = cli.write("rejected.jsonl", &[claim(8, "E"), duplicate.to_string()]);
    let out = cli.submit(2, "gd-health", 0, &[], &file).await;
    assert_eq!(out.status.code(), Some(3), "{}", output_text(&out));
    let lines = stdout_lines(&out);
    assert_eq!(statuses(&lines), ["committed"; 2]);
    assert_eq!(
        lines[1]["committed"]["outcome"]["verdict"]["rejected"]["code"],
        "DUPLICATE_CLAIM",
        "{}",
        output_text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("2 committed now (1 accepted, 1 rejected by the rules)"),
        "{}",
        output_text(&out)
    );
    cluster.stop().await;
}
