//! Every template in `examples/` parses, resolves and pseudonymises, and
//! there is one template per record kind a department submits.

use std::path::PathBuf;

use fundtrail_intake::{
    parse_file, pseudonymise, resolve, Lookup, LookupError, PayoutTier, SubmissionLine,
};
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::pseudonym::{ClaimId, PseudonymKey};
use fundtrail_ledger::record::{Period, RecordId, RecordKind};
use fundtrail_ledger::types::RegionCode;

/// Answers every reference with a fixed id, as a node would from its state.
struct AnyChain;

impl Lookup for AnyChain {
    fn payout(&self, _: &ClaimId, _: PayoutTier) -> Result<Option<RecordId>, LookupError> {
        Ok(Some(RecordId::from_hash(Hash32([1; 32]))))
    }

    fn clearing_root(
        &self,
        _: Period,
        _: &RegionCode,
        _: &RegionCode,
    ) -> Result<Option<Hash32>, LookupError> {
        Ok(Some(Hash32([2; 32])))
    }
}

/// Kinds no submission line makes: `member` records need a quorum's
/// signatures, and an officer signs a `disclosure_fetch` with `fundtrail
/// disclose`.
fn from_lines(kind: &RecordKind) -> bool {
    !matches!(kind, RecordKind::Member | RecordKind::DisclosureFetch)
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn template(kind: RecordKind) -> Vec<SubmissionLine> {
    let path = examples().join(format!("{}.jsonl", kind.name()));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines = parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!lines.is_empty(), "{} is empty", path.display());
    lines.into_iter().map(|(_, l)| l).collect()
}

#[test]
fn every_template_parses_and_pseudonymises() {
    let key = PseudonymKey::new(1, [42; 32]);
    let kinds = RecordKind::ALL.into_iter().filter(from_lines);
    for kind in kinds {
        for (i, line) in template(kind).into_iter().enumerate() {
            assert_eq!(line.kind(), kind, "{} line {}", kind.name(), i + 1);
            let line = resolve(line, &key, &AnyChain).expect("resolves");
            let intake = pseudonymise(line, &key, [i as u8; 32])
                .unwrap_or_else(|e| panic!("{} line {}: {e}", kind.name(), i + 1));
            assert_eq!(intake.body.kind(), kind);
            assert_eq!(intake.raw.is_some(), kind == RecordKind::Claim);
        }
    }
}

#[test]
fn templates_have_no_strays() {
    let mut names: Vec<String> = std::fs::read_dir(examples())
        .expect("examples/ exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".jsonl"))
        .collect();
    names.sort();
    let mut expected: Vec<String> = RecordKind::ALL
        .into_iter()
        .filter(from_lines)
        .map(|k| format!("{}.jsonl", k.name()))
        .collect();
    expected.sort();
    assert_eq!(names, expected);
}
