//! `fundtrail submit` as a department runs it, against a real cluster: a
//! file with one malformed line is refused as a whole, naming the line,
//! and nothing reaches the chain; the same file without that line commits
//! one outcome per line; `--continue` commits the good lines and reports
//! the bad one; resubmitting a file gives the same record ids and changes
//! nothing; lines that name earlier records by bill are resolved.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use fundtrail_tests::cluster::{serial, TestCluster};
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

impl Cli<'_> {
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

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The record ids of committed outcome lines, in line order, checking that
/// each was accepted.
fn accepted_ids(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.get("committed").is_some())
        .map(|l| {
            let outcome = &l["committed"]["outcome"];
            assert_eq!(outcome["verdict"], "accepted", "{l}");
            outcome["record_id"].as_str().unwrap().to_string()
        })
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
    let cluster = TestCluster::start(EXE.as_ref(), 3)
        .await
        .expect("cluster starts");
    let tmp = tempfile::tempdir().unwrap();
    let cli = Cli {
        cluster: &cluster,
        dir: tmp.path().to_path_buf(),
    };
    let good: Vec<String> = (0..4).map(|n| claim(n, "A")).collect();
    let mut with_bad = good.clone();
    with_bad.insert(2, MALFORMED.to_string());
    let bad_file = cli.write("bad.jsonl", &with_bad);
    let good_file = cli.write("good.jsonl", &good);

    // 1. One malformed line (line 3): refused as a whole, naming the line.
    let height0 = settled_height(&cluster).await;
    let out = cli.submit(2, "gd-health", 0, &[], &bad_file).await;
    let all = text(&out);
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
    assert!(out.status.success(), "{}", text(&out));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), good.len(), "{}", text(&out));
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

    // 3. Resubmitting the good file: the same record ids, no second effect.
    let out = cli.submit(0, "gd-health", 0, &[], &good_file).await;
    assert!(out.status.success(), "{}", text(&out));
    let again = stdout_lines(&out);
    assert_eq!(accepted_ids(&again), ids, "same record ids");
    for (a, b) in again.iter().zip(&lines) {
        assert_eq!(a, b, "answered with the committed outcome");
    }
    assert_eq!(settled_height(&cluster).await, height1, "no new block");

    // 4. --continue: the good lines are committed, the bad one reported.
    let fresh: Vec<String> = (0..4).map(|n| claim(n, "B")).collect();
    let mut fresh_bad = fresh.clone();
    fresh_bad.insert(2, MALFORMED.to_string());
    let cont_file = cli.write("continue.jsonl", &fresh_bad);
    let out = cli
        .submit(1, "gd-health", 0, &["--continue"], &cont_file)
        .await;
    let all = text(&out);
    assert!(
        !out.status.success(),
        "a bad line still fails the run: {all}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 lines were not submitted"),
        "{all}"
    );
    assert!(!all.contains("440106195803120419"), "{all}");
    let lines = stdout_lines(&out);
    let errors: Vec<&Value> = lines.iter().filter(|l| l.get("error").is_some()).collect();
    assert_eq!(errors.len(), 1, "{all}");
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
    let settle = json!({
        "kind": "settlement", "institution": "H44010600001", "bill_no": "ZY2026-A-00000",
        "scheme": "basic", "fund_id": "basic-440100", "amount": amount, "approvals": 2
    })
    .to_string();
    let file = cli.write("settle.jsonl", &[settle]);
    let out = cli.submit(0, "gd-insurance", 2, &[], &file).await;
    assert!(out.status.success(), "{}", text(&out));
    let settled = accepted_ids(&stdout_lines(&out));
    assert_eq!(settled.len(), 1, "{}", text(&out));
    let reverse = json!({
        "kind": "reversal",
        "target": {"payout": {"institution": "H44010600001", "bill_no": "ZY2026-A-00000", "tier": "basic"}},
        "reason": "data_entry_error"
    })
    .to_string();
    let file = cli.write("reverse.jsonl", &[reverse]);
    let out = cli.submit(0, "gd-insurance", 0, &[], &file).await;
    assert!(out.status.success(), "{}", text(&out));
    let reversed = accepted_ids(&stdout_lines(&out));
    assert_eq!(reversed.len(), 1);
    let v = cluster
        .client(1)
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
        "kind": "reversal",
        "target": {"payout": {"institution": "H44010600001", "bill_no": "ZY2026-NONE-1", "tier": "basic"}},
        "reason": "data_entry_error"
    })
    .to_string();
    let file = cli.write("dangling.jsonl", &[dangling]);
    let before = settled_height(&cluster).await;
    let out = cli.submit(0, "gd-insurance", 0, &[], &file).await;
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 1"), "{}", text(&out));
    assert!(stderr.contains("target"), "{}", text(&out));
    assert_eq!(settled_height(&cluster).await, before);

    cluster.stop().await;
    eprintln!("submit_cli test took {:?}", started.elapsed());
}
