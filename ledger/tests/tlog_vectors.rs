//! Consistency proofs against published vectors: the probes of
//! github.com/transparency-dev/merkle (`testdata/consistency/`, Apache-2.0),
//! copied unchanged into `testdata/consistency_probes.json`, each with the
//! verdict that implementation gives; and its reference tree of eight
//! leaves (`testonly/constants.go`), whose proofs must come out byte for
//! byte.

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::merkle::{leaf_hash, root};
use fundtrail_ledger::tlog::{prove_consistency, verify_consistency, ConsistencyProof};
use serde::Deserialize;

#[derive(Deserialize)]
struct ProbeFile {
    probes: Vec<Probe>,
}

#[derive(Deserialize)]
struct Probe {
    file: String,
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Vec<String>,
    #[serde(rename = "wantErr")]
    want_err: bool,
}

/// The probe whose roots are 12-byte placeholders yet passes there: a
/// 32-byte root cannot say it, so it is not run.
const NOT_A_HASH_YET_PASSING: &str = "additional/sizes-are-equal-one-and-proof-is-empty.json";

fn probes() -> Vec<Probe> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/consistency_probes.json");
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str::<ProbeFile>(&text).unwrap().probes
}

fn hash(b64: &str) -> Option<Hash32> {
    let bytes = BASE64.decode(b64).ok()?;
    Some(Hash32(bytes.try_into().ok()?))
}

#[test]
fn every_probe_gets_its_published_verdict() {
    let mut run = 0;
    for probe in probes() {
        let hashes: Option<Vec<Hash32>> = probe.proof.iter().map(|h| hash(h)).collect();
        let (Some(root1), Some(root2), Some(path)) =
            (hash(&probe.root1), hash(&probe.root2), hashes)
        else {
            // Garbage around a hash, or a placeholder root: not a 32-byte
            // hash, so refused before any proof is checked.
            assert!(
                probe.want_err || probe.file == NOT_A_HASH_YET_PASSING,
                "{}",
                probe.file
            );
            continue;
        };
        let proof = ConsistencyProof {
            old_size: probe.size1,
            new_size: probe.size2,
            path,
        };
        let verdict = verify_consistency(&proof, &root1, &root2);
        assert_eq!(
            verdict.is_err(),
            probe.want_err,
            "{}: {verdict:?}",
            probe.file
        );
        run += 1;
    }
    assert_eq!(run, 71, "probes with 32-byte hashes");
}

/// transparency-dev/merkle `testonly.LeafInputs()`: the RFC 6962 reference
/// tree's leaves.
fn reference_leaves() -> Vec<Hash32> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|h| leaf_hash(&hex::decode(h).unwrap()))
    .collect()
}

#[test]
fn proofs_of_the_reference_tree_match_the_published_ones() {
    let leaves = reference_leaves();
    assert_eq!(
        root(&leaves).to_hex(),
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    );
    let happy: Vec<Probe> = probes()
        .into_iter()
        .filter(|p| p.file.ends_with("happy-path.json"))
        .collect();
    assert_eq!(happy.len(), 5);
    for probe in happy {
        let tree = &leaves[..probe.size2 as usize];
        assert_eq!(BASE64.encode(root(tree).0), probe.root2, "{}", probe.file);
        let proof = prove_consistency(tree, probe.size1).unwrap();
        let published: Vec<Hash32> = probe.proof.iter().map(|h| hash(h).unwrap()).collect();
        assert_eq!(proof.path, published, "{}", probe.file);
    }
}
