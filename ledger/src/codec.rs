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
    // Most ledger values fit: one allocation instead of a doubling series.
    let mut out = Vec::with_capacity(256);
    encode_into(&mut out, value);
    out.shrink_to_fit();
    out
}

/// Writes a value's encoding to `out` (a hasher, a buffer).
pub fn encode_into<W: std::io::Write, T: Serialize>(out: &mut W, value: &T) {
    bcs::serialize_into(out, value).expect("ledger types always encode")
}

/// Appends the encoding of a byte string (`Vec<u8>` in a ledger type):
/// its ULEB128 length, then the bytes. BCS writes the same bytes one
/// element at a time; hot paths that hash raw byte strings use this.
pub fn encode_bytes_into<W: std::io::Write>(out: &mut W, bytes: &[u8]) {
    encode_len_into(out, bytes.len());
    write_all(out, bytes);
}

/// Appends a sequence length as BCS does: ULEB128.
pub fn encode_len_into<W: std::io::Write>(out: &mut W, len: usize) {
    let mut buf = [0u8; 10];
    let mut n = 0;
    let mut v = len as u64;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            buf[n] = byte;
            n += 1;
            break;
        }
        buf[n] = byte | 0x80;
        n += 1;
    }
    write_all(out, &buf[..n]);
}

fn write_all<W: std::io::Write>(out: &mut W, bytes: &[u8]) {
    out.write_all(bytes)
        .expect("encoding writes only to memory and hashers")
}

/// Decodes exactly one `T` from all of `bytes`.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, DecodeError> {
    bcs::from_bytes(bytes).map_err(|e| DecodeError {
        what,
        reason: e.to_string(),
    })
}
