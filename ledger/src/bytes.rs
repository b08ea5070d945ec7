//! Fixed-size byte arrays that encode as raw bytes in the canonical binary
//! form and as lower-case hex in human-readable forms (JSON, TOML).

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

pub(crate) struct FixedBytes<const N: usize>(pub [u8; N]);

/// The binary form moves the bytes sixteen at a time. BCS, the only binary
/// form the ledger uses, writes a tuple as its elements back to back and a
/// `u128` as its 16 little-endian bytes, so a tuple of `N / 16` words is
/// the same `N` bytes as a tuple of `N` bytes, in a sixteenth of the
/// serializer calls: decoding and hashing records went byte by byte
/// through serde.
const WORD: usize = 16;

fn words<const N: usize>() -> usize {
    const { assert!(N % WORD == 0, "fixed byte arrays are whole words") };
    N / WORD
}

impl<const N: usize> Serialize for FixedBytes<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return s.serialize_str(&hex::encode(self.0));
        }
        let mut t = s.serialize_tuple(words::<N>())?;
        for chunk in self.0.chunks_exact(WORD) {
            let mut word = [0u8; WORD];
            word.copy_from_slice(chunk);
            t.serialize_element(&u128::from_le_bytes(word))?;
        }
        t.end()
    }
}

impl<'de, const N: usize> Deserialize<'de> for FixedBytes<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            let mut out = [0u8; N];
            hex::decode_to_slice(&s, &mut out).map_err(|e| {
                D::Error::custom(format!(
                    "expected {N} bytes as hex ({} hex digits): {e}",
                    2 * N
                ))
            })?;
            return Ok(FixedBytes(out));
        }
        d.deserialize_tuple(words::<N>(), TupleVisitor::<N>)
    }
}

struct TupleVisitor<const N: usize>;

impl<'de, const N: usize> Visitor<'de> for TupleVisitor<N> {
    type Value = FixedBytes<N>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{N} bytes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = [0u8; N];
        for (i, chunk) in out.chunks_exact_mut(WORD).enumerate() {
            let word: u128 = seq
                .next_element()?
                .ok_or_else(|| A::Error::invalid_length(i * WORD, &self))?;
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        Ok(FixedBytes(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_form_is_the_bytes_themselves_and_refuses_short_input() {
        let bytes: [u8; 64] = std::array::from_fn(|i| (i * 37 + 1) as u8);
        let encoded = bcs::to_bytes(&FixedBytes(bytes)).expect("encodes");
        assert_eq!(encoded, bytes);
        let decoded: FixedBytes<64> = bcs::from_bytes(&encoded).expect("decodes");
        assert_eq!(decoded.0, bytes);
        assert!(bcs::from_bytes::<FixedBytes<32>>(&encoded[..31]).is_err());
        assert!(bcs::from_bytes::<FixedBytes<32>>(&encoded[..33]).is_err());
    }
}
