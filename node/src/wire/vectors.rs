//! The wire format pinned: every sample of `samples` against its BCS bytes
//! in `node/testdata/wire_vectors.json`. A reordered variant or field
//! changes the bytes and fails here. After a deliberate format change,
//! `FUNDTRAIL_WRITE_VECTORS=1 cargo test --workspace --lib wire::` rewrites
//! the file from the samples; nothing else writes it.

use std::fmt::Debug;
use std::sync::Once;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::samples::{requests, responses};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/wire_vectors.json");

#[derive(Debug, Serialize, Deserialize)]
struct Vector {
    name: String,
    hex: String,
}

fn vector<T: Serialize>(name: &str, sample: &T) -> Vector {
    Vector {
        name: name.to_string(),
        hex: hex::encode(bcs::to_bytes(sample).expect("a sample encodes")),
    }
}

fn from_samples() -> Vec<Vector> {
    let requests = requests().into_iter().map(|(n, s)| vector(n, &s));
    let responses = responses().into_iter().map(|(n, s)| vector(n, &s));
    requests.chain(responses).collect()
}

/// Rewrites the file from the samples, once per run, when asked to.
fn write_if_asked() {
    static WRITE: Once = Once::new();
    WRITE.call_once(|| {
        if std::env::var("FUNDTRAIL_WRITE_VECTORS").as_deref() == Ok("1") {
            let json = serde_json::to_string_pretty(&from_samples()).expect("vectors serialise");
            std::fs::write(PATH, json + "\n").expect("writing the wire vectors");
        }
    });
}

fn from_file() -> Vec<Vector> {
    write_if_asked();
    let text = std::fs::read_to_string(PATH).expect("reading node/testdata/wire_vectors.json");
    serde_json::from_str(&text).expect("the wire vectors parse")
}

fn names(vectors: &[Vector]) -> Vec<&str> {
    vectors.iter().map(|v| v.name.as_str()).collect()
}

#[test]
fn every_wire_variant_encodes_to_its_vector() {
    let samples = from_samples();
    let file = from_file();
    assert_eq!(names(&file), names(&samples), "the file names every sample");
    let changed: Vec<String> = samples
        .iter()
        .zip(&file)
        .filter(|(s, f)| s.hex != f.hex)
        .map(|(s, f)| format!("{}\n  file:    {}\n  encoded: {}", s.name, f.hex, s.hex))
        .collect();
    assert!(
        changed.is_empty(),
        "the wire encoding differs from node/testdata/wire_vectors.json for:\n{}",
        changed.join("\n")
    );
}

/// Decodes `hex` as a `T` and checks it is `sample`: the same bytes when
/// encoded again (BCS has one encoding per value) and the same `Debug`
/// form (openraft's append request has no `PartialEq`).
fn decodes_to<T: Serialize + DeserializeOwned + Debug>(name: &str, hex: &str, sample: &T) {
    let bytes = hex::decode(hex).unwrap_or_else(|e| panic!("{name}: bad hex: {e}"));
    let back: T = bcs::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: decoding: {e}"));
    assert_eq!(bcs::to_bytes(&back).ok(), Some(bytes), "{name}");
    assert_eq!(format!("{back:?}"), format!("{sample:?}"), "{name}");
}

#[test]
fn every_vector_decodes_to_its_sample() {
    let file = from_file();
    let (requests, responses) = (requests(), responses());
    assert_eq!(file.len(), requests.len() + responses.len());
    let (request_vectors, response_vectors) = file.split_at(requests.len());
    for (v, (name, sample)) in request_vectors.iter().zip(&requests) {
        assert_eq!(&v.name, name);
        decodes_to(name, &v.hex, sample);
    }
    for (v, (name, sample)) in response_vectors.iter().zip(&responses) {
        assert_eq!(&v.name, name);
        decodes_to(name, &v.hex, sample);
    }
}
