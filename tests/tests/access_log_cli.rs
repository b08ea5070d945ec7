//! `fundtrail access-log verify` as an auditor runs it on a node's access
//! log: a sound log passes with its entry count and head; a changed byte
//! anywhere in an entry fails with a non-zero exit naming its line; a log
//! cut below a head kept elsewhere fails against that head.

use std::path::Path;
use std::process::Output;

use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::types::KeyRole;
use fundtrail_node::access_log::{AccessEntry, AccessLog, AccessedId, LogHead, Method, StatusCode};
use fundtrail_testkit::Kit;

const EXE: &str = env!("CARGO_BIN_EXE_fundtrail-e2e");
const ENTRIES: u64 = 5;

/// A log of `ENTRIES` reads of claims, as a node writes it; its head.
fn write_log(path: &Path) -> LogHead {
    let kit = Kit::new(41);
    let genesis = kit.genesis_with_nodes();
    let node = Keypair::from_seed([41; 32]).public();
    let log = AccessLog::open(path, &genesis.chain_id, node).expect("opens");
    let mut head = log.head();
    for n in 1..=ENTRIES {
        head = log
            .append(AccessEntry {
                time_ms: 1_790_000_000_000 + n,
                caller: Keypair::from_seed([7; 32]).public(),
                org: "gd-audit".parse().unwrap(),
                role: KeyRole::Officer,
                method: Method::GET,
                route: "/v1/claims/{claim}".into(),
                ids: vec![AccessedId::Claim(kit.claim_id(n))],
                status: StatusCode::OK,
            })
            .expect("appended");
    }
    log.sync().expect("fsynced");
    head
}

fn verify(path: &Path, extra: &[&str]) -> Output {
    std::process::Command::new(EXE)
        .args(["access-log", "verify"])
        .arg(path)
        .args(extra)
        .output()
        .expect("run fundtrail access-log verify")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn access_log_verify_passes_a_sound_log_and_names_the_line_of_a_changed_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("access.log");
    let head = write_log(&path);

    let out = verify(&path, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&format!("{ENTRIES} entries")), "{stdout}");
    assert!(stdout.contains(&head.hash.to_hex()), "{stdout}");

    let out = verify(&path, &["--head", &head.hash.to_hex(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["entries"], ENTRIES);
    assert_eq!(v["expected_head_at"], ENTRIES);
    assert_eq!(v["head"]["hash"], head.hash.to_hex());

    let good = std::fs::read(&path).unwrap();
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            good.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    // A digit of the time in each entry line (line 1 is the header).
    for line in 2..=ENTRIES as usize + 1 {
        let at = starts[line - 1]
            + text(&good[starts[line - 1]..])
                .find("\"time_ms\":")
                .expect("a time")
            + "\"time_ms\":".len()
            + 5;
        let mut bad = good.clone();
        bad[at] = if bad[at] == b'9' { b'8' } else { bad[at] + 1 };
        std::fs::write(&path, &bad).unwrap();
        let out = verify(&path, &[]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "line {line}: a changed byte passed");
        assert!(
            stderr.contains(&format!("line {line}:")) && stderr.contains("hash does not match"),
            "line {line}: {stderr}"
        );
    }

    // The last two entries cut off: sound alone, not against the head.
    std::fs::write(&path, &good[..starts[ENTRIES as usize - 1]]).unwrap();
    assert!(
        verify(&path, &[]).status.success(),
        "whole lines verify alone"
    );
    let out = verify(&path, &["--head", &head.hash.to_hex()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cut short or rewritten"),
        "{}",
        text(&out.stderr)
    );

    let out = verify(&path, &["--head", "not-a-hash"]);
    assert!(!out.status.success());
    let absent = Hash32([0; 32]).to_hex();
    let out = verify(&dir.path().join("absent.log"), &["--head", &absent]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("absent.log"),
        "{}",
        text(&out.stderr)
    );
}
