//! What makes two submission lines the same record. A line's identity
//! decides its record's nonce (and a claim's salt) through a keyed digest,
//! so signing the same line again gives the same record id and a
//! resubmission changes nothing, while a different line gives a
//! different record (docs/SUBMISSION.md, "Record identity").
//!
//! - A line with a reference (`ref`) is its kind and its reference: the
//!   same reference is the same record, a new reference a new record even
//!   with identical content (a re-payment after a reversal).
//! - A line without one (claims, policies, and the kinds where `ref` is
//!   optional) is its whole content: identical lines are one record.

use std::collections::BTreeMap;

use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::pseudonym::PseudonymKey;

use super::{IntakeError, LineError, SubmissionLine};

const REFERENCE_DOMAIN: &str = "fundtrail/intake/reference/v1";
const CONTENT_DOMAIN: &str = "fundtrail/intake/content/v1";

/// What identifies a line's record.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LineIdentity {
    Reference {
        kind: &'static str,
        reference: String,
    },
    Content(String),
}

impl LineIdentity {
    pub fn of(line: &SubmissionLine) -> LineIdentity {
        match line.reference() {
            Some(r) => LineIdentity::Reference {
                kind: line.kind().name(),
                reference: r.expose().to_string(),
            },
            None => LineIdentity::Content(line.to_json()),
        }
    }

    /// 32 bytes only holders of the consortium key can derive: the first
    /// eight are the record's nonce ([`LineIdentity::nonce`]), all of them
    /// a claim's salt.
    pub fn seed(&self, key: &PseudonymKey) -> Hash32 {
        match self {
            LineIdentity::Reference { kind, reference } => {
                key.derive(REFERENCE_DOMAIN, &[kind.as_bytes(), reference.as_bytes()])
            }
            LineIdentity::Content(json) => key.derive(CONTENT_DOMAIN, &[json.as_bytes()]),
        }
    }

    /// The record's envelope nonce: the seed's first eight bytes, little-endian.
    pub fn nonce(seed: &Hash32) -> u64 {
        let mut first = [0u8; 8];
        first.copy_from_slice(&seed.0[..8]);
        u64::from_le_bytes(first)
    }
}

impl std::fmt::Debug for LineIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineIdentity::Reference { kind, .. } => write!(f, "Reference({kind}, hidden)"),
            LineIdentity::Content(_) => f.write_str("Content(hidden)"),
        }
    }
}

/// The lines of a file that reuse an earlier line's reference for other
/// content: the same reference must always be the same record, so these
/// would be taken for a second record under one reference.
pub fn check_references(lines: &[(usize, SubmissionLine)]) -> Vec<LineError> {
    let mut first: BTreeMap<(&'static str, &str), (usize, String)> = BTreeMap::new();
    let mut errors = Vec::new();
    for (number, line) in lines {
        let Some(reference) = line.reference() else {
            continue;
        };
        let content = line.to_json();
        match first.get(&(line.kind().name(), reference.expose())) {
            Some((earlier, seen)) if *seen != content => errors.push(LineError {
                line: *number,
                error: IntakeError::ReferenceReused {
                    first_line: *earlier,
                },
            }),
            Some(_) => {}
            None => {
                first.insert((line.kind().name(), reference.expose()), (*number, content));
            }
        }
    }
    errors
}
