//! Golden vectors for the canonical encoding: every record kind, a signed
//! envelope with an approval, a block header, an attestation and a genesis,
//! plus corrupted encodings that must be refused. The file is what another
//! implementation checks itself against (docs/ENCODING.md).
//!
//! Regenerate after a deliberate format change with
//! `FUNDTRAIL_REGEN_VECTORS=1 cargo test --workspace --test vectors`.

use std::path::PathBuf;

use fundtrail_ledger::block::Attestation;
use fundtrail_ledger::codec;
use fundtrail_ledger::record::SignedRecord;
use fundtrail_testkit::chain::ChainBuilder;
use fundtrail_testkit::ledger::{sample_bodies, submitter_role};
use fundtrail_testkit::Kit;
use serde_json::{json, Value};

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors.json")
}

fn record_vector(c: &Kit, record: &SignedRecord) -> Value {
    let env_bytes = codec::encode(&record.envelope);
    json!({
        "kind": record.kind().name(),
        "json": serde_json::to_value(record).expect("records serialise"),
        "envelope_hex": hex::encode(&env_bytes),
        "record_id": record.id().to_hex(),
        "approval_digest": record.envelope.approval_digest().to_hex(),
        "signed_hex": hex::encode(record.encode()),
        "submitter_seed_hex": hex::encode(c.orgs.iter().find(|o| o.submitter.public() == record.envelope.submitter_key).map(|o| o.submitter.secret_bytes()).unwrap_or_default()),
    })
}

fn generate() -> Value {
    let c = Kit::new(1);
    let records: Vec<SignedRecord> = sample_bodies(&c, 1)
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let role = submitter_role(body.kind());
            if i == 5 {
                c.sign(role, body, i as u64, 1)
            } else {
                c.sign(role, body, i as u64, 0)
            }
        })
        .collect();
    let mut builder = ChainBuilder::for_kit(c.clone());
    let block = builder.seal_verified(records.clone()).into_block();
    let att = Attestation::sign(
        &c.orgs[0].node,
        &c.chain_id,
        block.header.height,
        block.hash(),
    );
    let signed0 = records[0].encode();
    json!({
        "format": "fundtrail canonical encoding v1 (BCS); see docs/ENCODING.md",
        "genesis": {
            "hex": hex::encode(codec::encode(&builder.genesis)),
            "hash": builder.genesis.hash().to_hex(),
        },
        "records": records.iter().map(|r| record_vector(&c, r)).collect::<Vec<_>>(),
        "block_header": {
            "json": serde_json::to_value(&block.header).expect("headers serialise"),
            "hex": hex::encode(codec::encode(&block.header)),
            "hash": block.hash().to_hex(),
        },
        "attestation": {
            "hex": hex::encode(codec::encode(&att)),
            "digest": Attestation::digest(&c.chain_id, block.header.height, &block.hash()).to_hex(),
        },
        "negatives": [
            { "name": "truncated", "signed_hex": hex::encode(&signed0[..signed0.len() - 1]) },
            { "name": "trailing byte", "signed_hex": hex::encode([signed0.as_slice(), &[0]].concat()) },
            { "name": "unknown kind tag", "signed_hex": corrupt_kind_tag(&signed0) },
            { "name": "record version 2", "signed_hex": hex::encode([&[2u8, 0][..], &signed0[2..]].concat()) },
        ],
    })
}

/// The kind tag follows the version (2 bytes) and the chain id (length byte
/// plus its bytes).
fn corrupt_kind_tag(signed: &[u8]) -> String {
    let mut b = signed.to_vec();
    let tag_at = 2 + 1 + b[2] as usize;
    b[tag_at] = 0x7f;
    hex::encode(b)
}

#[test]
fn canonical_encoding_matches_golden_vectors() {
    let generated = generate();
    let path = vectors_path();
    if std::env::var_os("FUNDTRAIL_REGEN_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&generated).expect("vectors serialise");
        std::fs::write(&path, text + "\n").expect("write vectors");
    }
    let text = std::fs::read_to_string(&path).expect("ledger/testdata/vectors.json exists");
    let stored: Value = serde_json::from_str(&text).expect("vectors are JSON");
    assert_eq!(
        stored["records"].as_array().map(Vec::len),
        Some(fundtrail_ledger::record::RecordKind::ALL.len()),
        "one vector per record kind"
    );
    for (g, s) in generated["records"]
        .as_array()
        .into_iter()
        .flatten()
        .zip(stored["records"].as_array().into_iter().flatten())
    {
        assert_eq!(g, s, "record vector for kind {} changed", s["kind"]);
    }
    assert_eq!(generated["block_header"], stored["block_header"]);
    assert_eq!(generated["genesis"], stored["genesis"]);
    assert_eq!(generated, stored);
}

#[test]
fn stored_vectors_decode_and_reencode_exactly() {
    let text = std::fs::read_to_string(vectors_path()).expect("vectors exist");
    let stored: Value = serde_json::from_str(&text).expect("vectors are JSON");
    for v in stored["records"].as_array().expect("records") {
        let bytes = hex::decode(v["signed_hex"].as_str().expect("hex")).expect("valid hex");
        let record = SignedRecord::decode(&bytes).expect("golden record decodes");
        assert_eq!(record.encode(), bytes);
        assert_eq!(record.id().to_hex(), v["record_id"].as_str().expect("id"));
        let from_json: SignedRecord =
            serde_json::from_value(v["json"].clone()).expect("JSON form decodes");
        assert_eq!(from_json, record, "JSON and binary forms agree");
    }
}

#[test]
fn corrupted_vectors_are_refused() {
    let text = std::fs::read_to_string(vectors_path()).expect("vectors exist");
    let stored: Value = serde_json::from_str(&text).expect("vectors are JSON");
    let negatives = stored["negatives"].as_array().expect("negatives");
    assert_eq!(negatives.len(), 4);
    for n in negatives {
        let bytes = hex::decode(n["signed_hex"].as_str().expect("hex")).expect("valid hex");
        assert!(
            SignedRecord::decode(&bytes).is_err(),
            "{} must be refused",
            n["name"]
        );
    }
}
