//! A checkpoint signed and cosigned by this crate is checked by the
//! independent Python verifier written from the C2SP texts
//! (`scripts/c2sp_checkpoint.py`): it passes as made, fails with one
//! signature byte flipped, and a line whose key id is unknown is reported
//! as unknown and not counted. Skipped, saying so, without `python3`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fundtrail_ledger::block::BlockHash;
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::tlog::{
    Checkpoint, Cosigner, Ed25519Signer, Frontier, KeyId, KeyName, NoteSignature, OpenError,
    SignedCheckpoint, Vkey,
};
use fundtrail_ledger::types::ChainId;
use sha2::{Digest, Sha256};

const COSIGNED_AT: u64 = 1_790_000_000;

struct Fixture {
    checkpoint: SignedCheckpoint,
    vkeys: Vec<Vkey>,
}

fn key(seed: u8) -> Keypair {
    Keypair::from_seed([seed; 32])
}

fn name(org: &str) -> KeyName {
    KeyName::new(format!("fundtrail/gd-medfund/{org}")).unwrap()
}

/// Five blocks, signed by two departments' keys and cosigned by two more.
fn fixture(keys: &[Keypair; 4]) -> Fixture {
    let mut tree = Frontier::new();
    for height in 1u64..=5 {
        let block = BlockHash::from_hash(Hash32(Sha256::digest(height.to_be_bytes()).into()));
        tree.append_block(&block).unwrap();
    }
    let chain = ChainId::new("gd-medfund").unwrap();
    let cp = Checkpoint::of_chain(&chain, &tree);
    let text = cp.text();
    let signers = [
        Ed25519Signer::new(name("gd-insurance"), &keys[0]),
        Ed25519Signer::new(name("gd-civil-affairs"), &keys[1]),
    ];
    let cosigners = [
        Cosigner::new(name("gd-health"), &keys[2]),
        Cosigner::new(name("gd-finance"), &keys[3]),
    ];
    let mut checkpoint = SignedCheckpoint::sign(cp, &signers[0]).unwrap();
    checkpoint.add_signature(signers[1].sign(&text)).unwrap();
    for c in &cosigners {
        checkpoint
            .add_signature(c.cosign(&text, COSIGNED_AT).unwrap())
            .unwrap();
    }
    let vkeys = signers
        .iter()
        .map(|s| s.vkey().clone())
        .chain(cosigners.iter().map(|c| c.vkey().clone()))
        .collect();
    Fixture { checkpoint, vkeys }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/c2sp_checkpoint.py")
}

fn python_present() -> bool {
    let found = Command::new("python3").arg("--version").output().is_ok();
    if !found {
        eprintln!("SKIPPED: python3 not found, the C2SP cross-check did not run");
    }
    found
}

fn run_verifier(dir: &Path, note: &str, vkeys: &[Vkey], min: usize) -> (bool, String) {
    let cp_path = dir.join("checkpoint");
    let keys_path = dir.join("keys");
    std::fs::write(&cp_path, note).unwrap();
    let keys: String = vkeys.iter().map(|v| format!("{v}\n")).collect();
    std::fs::write(&keys_path, format!("# trusted keys\n{keys}")).unwrap();
    let Output { status, stdout, .. } = Command::new("python3")
        .arg(script())
        .arg(&cp_path)
        .arg("--keys")
        .arg(&keys_path)
        .arg("--min")
        .arg(min.to_string())
        .output()
        .unwrap();
    (status.success(), String::from_utf8(stdout).unwrap())
}

/// The note with `edit` applied to its signature line `index`.
fn with_line(fx: &Fixture, index: usize, edit: impl Fn(&mut NoteSignature)) -> SignedCheckpoint {
    let note = fx.checkpoint.note();
    let mut sigs = note.signatures().to_vec();
    edit(&mut sigs[index]);
    let text = note.text().to_owned();
    let rebuilt = sigs.iter().map(NoteSignature::line).collect::<String>();
    SignedCheckpoint::parse(format!("{text}\n{rebuilt}").as_bytes()).unwrap()
}

#[test]
fn the_python_verifier_accepts_what_this_crate_signs() {
    let keys = [key(1), key(2), key(3), key(4)];
    let fx = fixture(&keys);
    println!("{}", fx.checkpoint);
    for v in &fx.vkeys {
        println!("{v}");
    }
    let opened = fx.checkpoint.open(&fx.vkeys).unwrap();
    assert_eq!(opened.verified.len(), 4);
    if !python_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run_verifier(dir.path(), &fx.checkpoint.to_string(), &fx.vkeys, 4);
    assert!(ok, "{out}");
    assert_eq!(out.matches(" OK\n").count(), 4, "{out}");
    assert_eq!(
        out.matches("cosignature/v1 time 1790000000 OK").count(),
        2,
        "{out}"
    );
    assert!(
        out.contains("checkpoint fundtrail/gd-medfund size 5 root "),
        "{out}"
    );
    let (enough, _) = run_verifier(dir.path(), &fx.checkpoint.to_string(), &fx.vkeys, 5);
    assert!(!enough, "five signers required, four present");
}

#[test]
fn one_flipped_signature_byte_fails_both_verifiers() {
    let keys = [key(1), key(2), key(3), key(4)];
    let fx = fixture(&keys);
    for line in 0..4 {
        let tampered = with_line(&fx, line, |s| s.signature[20] ^= 0x01);
        assert!(matches!(
            tampered.open(&fx.vkeys),
            Err(OpenError::BadSignature { .. })
        ));
        if !python_present() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (ok, out) = run_verifier(dir.path(), &tampered.to_string(), &fx.vkeys, 1);
        assert!(!ok, "line {line}: {out}");
        assert_eq!(out.matches(" FAILED\n").count(), 1, "{out}");
    }
}

#[test]
fn a_wrong_key_id_is_unknown_and_not_counted() {
    let keys = [key(1), key(2), key(3), key(4)];
    let fx = fixture(&keys);
    let renamed = with_line(&fx, 2, |s| s.key_id = KeyId(s.key_id.0 ^ 1));
    let opened = renamed.open(&fx.vkeys).unwrap();
    assert_eq!((opened.verified.len(), opened.unknown.len()), (3, 1));
    if !python_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run_verifier(dir.path(), &renamed.to_string(), &fx.vkeys, 4);
    assert!(!ok, "{out}");
    assert!(
        out.contains("fundtrail/gd-medfund/gd-health ") && out.contains(" - UNKNOWN\n"),
        "{out}"
    );
    assert_eq!(out.matches(" OK\n").count(), 3, "{out}");
    let (ok_with_three, _) = run_verifier(dir.path(), &renamed.to_string(), &fx.vkeys, 3);
    assert!(ok_with_three);
}

#[test]
fn the_python_verifier_refuses_a_malformed_note() {
    let keys = [key(1), key(2), key(3), key(4)];
    let fx = fixture(&keys);
    if !python_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let whole = fx.checkpoint.to_string();
    let no_blank_line = whole.replacen("\n\n", "\n", 1);
    let (ok, out) = run_verifier(dir.path(), &no_blank_line, &fx.vkeys, 1);
    assert!(!ok && out.starts_with("malformed:"), "{out}");
    let (ok, out) = run_verifier(dir.path(), &whole.replace("\n5\n", "\n05\n"), &fx.vkeys, 1);
    assert!(!ok && out.starts_with("malformed:"), "{out}");
}
