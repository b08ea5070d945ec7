//! Crash safety: a child process appends blocks in a loop and is killed with
//! SIGKILL at random moments, 25 times. After each kill the store must open,
//! verify end to end, and hold every block the child reported as committed
//! (with the hash it reported). The same holds for blocks committed outside
//! the WAL once a flush has returned, and what survives of those is always
//! a whole prefix: the contract state agrees with the head.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use fundtrail_ledger::chainfile::{verify_stream, ChainReader};
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::store::Store;
use fundtrail_ledger::types::Height;
use fundtrail_ledger::verify::ChainVerifier;
use rand::{Rng, SeedableRng};

const KILLS: usize = 25;

/// Runs the child until a random moment after its first commit, kills it,
/// and returns every `(height, hash)` it reported.
fn run_and_kill(dir: &std::path::Path, mode: &str, rng: &mut impl Rng) -> Vec<(u64, Hash32)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash-child"))
        .arg(dir)
        .arg("60")
        .arg(mode)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn crash child");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = vec![rx
        .recv_timeout(Duration::from_secs(60))
        .expect("child commits a first block")];
    std::thread::sleep(Duration::from_millis(rng.gen_range(0..250)));
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    reader.join().expect("reader thread");
    lines.extend(rx.try_iter());
    lines.iter().map(|l| parse(l)).collect()
}

fn parse(line: &str) -> (u64, Hash32) {
    let mut parts = line.split_whitespace();
    assert_eq!(
        parts.next(),
        Some("committed"),
        "unexpected child output {line:?}"
    );
    let height = parts.next().and_then(|h| h.parse().ok()).expect("height");
    let hash = Hash32::from_hex(parts.next().expect("hash")).expect("hex hash");
    (height, hash)
}

fn verify_store(dir: &std::path::Path) -> Height {
    let store = Store::open(dir).expect("store opens after SIGKILL");
    let mut bytes = Vec::new();
    store.export(&mut bytes).expect("export");
    let mut reader = ChainReader::new(bytes.as_slice()).expect("export header");
    let mut verifier = ChainVerifier::new(reader.genesis().clone()).expect("genesis keys");
    let summary = verify_stream(&mut reader, &mut verifier, |_, _, _| Ok(()))
        .expect("store verifies after SIGKILL");
    summary.head_height
}

/// Kills the child `KILLS` times in `mode` and checks every reported block
/// after each kill.
fn kill_repeatedly(mode: &str, seed: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut reported_total = 0;
    for round in 0..KILLS {
        let reported = run_and_kill(dir.path(), mode, &mut rng);
        reported_total += reported.len();
        let head = verify_store(dir.path());
        let store = Store::open(dir.path()).expect("reopen");
        for (height, hash) in &reported {
            assert!(
                *height <= head.0,
                "round {round}: reported block {height} above head {head}"
            );
            let header = store
                .header(Height(*height))
                .expect("read")
                .expect("reported block present");
            assert_eq!(
                header.hash().hash(),
                *hash,
                "round {round}: block {height} changed"
            );
        }
        assert_state_matches_head(&store, head, round);
    }
    assert!(
        reported_total >= KILLS,
        "every round committed at least one block"
    );
}

/// The child's block at height h writes h under `counter/{h % 7}`: after a
/// crash the state must hold exactly the head's writes, neither fewer (a
/// state family behind the blocks) nor more (one ahead of them).
fn assert_state_matches_head(store: &Store, head: Height, round: usize) {
    for slot in 0..7u64 {
        let key = format!("counter/{slot}").into_bytes();
        let value = store.state_get(&key).expect("read state");
        let last = (1..=head.0).rev().find(|h| h % 7 == slot);
        assert_eq!(
            value,
            last.map(|h| h.to_be_bytes().to_vec()),
            "round {round}: state slot {slot} disagrees with head {head}"
        );
    }
}

#[test]
fn sigkill_never_loses_a_reported_block() {
    kill_repeatedly("synced", 0xC0FFEE);
}

#[test]
fn sigkill_keeps_flushed_redoable_blocks_and_a_whole_prefix() {
    kill_repeatedly("redoable", 0xF1005);
}
