//! Canonical binary encoding (BCS) and the one decode error type for bytes
//! from outside. See docs/ENCODING.md for the byte-level description.
//!
//! BCS is canonical by construction: one value has exactly one encoding, and
//! the decoder refuses non-minimal lengths, invalid booleans, unknown enum
//! tags and trailing bytes, so `encode(decode(b)) == b` for every accepted `b`.

use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {what}: {reason}")]
pub struct DecodeError {
    pub what: &'static str,
    pub reason: String,
}

/// Encodes a value. Ledger types contain no maps with non-string keys and no
/// unbounded recursion, so encoding cannot fail for them.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bcs::to_bytes(value).expect("ledger types always encode")
}

/// Decodes exactly one `T` from all of `bytes`.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, DecodeError> {
    bcs::from_bytes(bytes).map_err(|e| DecodeError {
        what,
        reason: e.to_string(),
    })
}
