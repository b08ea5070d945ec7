//! tlog-cosignature/v1 with Ed25519 (c2sp.org/tlog-cosignature, key type
//! 0x04): the cosigner signs `cosignature/v1\ntime <t>\n` followed by the
//! checkpoint's note text, and the signature line carries the 8-byte
//! big-endian time `t` (POSIX seconds) then the 64-byte Ed25519 signature.

use crate::crypto::Signature;

pub const HEADER: &str = "cosignature/v1";
/// The spec's bound on a timestamp, 2^63 - 1.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;
/// Timestamp and signature.
pub const SIGNATURE_LEN: usize = 8 + 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    #[error("a cosignature has {SIGNATURE_LEN} bytes, not {0}")]
    WrongLength(usize),
    #[error("timestamp {0} is above 2^63 - 1")]
    TimestampTooLarge(u64),
}

/// The message a cosigner signs for `text` at `timestamp`.
pub fn signed_message(timestamp: u64, text: &str) -> Vec<u8> {
    format!("{HEADER}\ntime {timestamp}\n{text}").into_bytes()
}

/// The bytes after the key id in a cosignature line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampedSignature {
    pub timestamp: u64,
    pub signature: Signature,
}

impl TimestampedSignature {
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..].copy_from_slice(&self.signature.0);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<TimestampedSignature, CosignatureError> {
        let array: &[u8; SIGNATURE_LEN] = bytes
            .try_into()
            .map_err(|_| CosignatureError::WrongLength(bytes.len()))?;
        let (time, signature) = array.split_at(8);
        let mut time_bytes = [0u8; 8];
        time_bytes.copy_from_slice(time);
        let timestamp = u64::from_be_bytes(time_bytes);
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampTooLarge(timestamp));
        }
        let mut sig = [0u8; 64];
        sig.copy_from_slice(signature);
        Ok(TimestampedSignature {
            timestamp,
            signature: Signature(sig),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_message_is_header_time_then_the_text() {
        // The example in c2sp.org/tlog-cosignature, "Ed25519 signed message".
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        assert_eq!(
            signed_message(1679315147, text),
            b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn bytes_round_trip_and_bad_lengths_or_times_are_refused() {
        let ts = TimestampedSignature {
            timestamp: 0x0102_0304_0506_0708,
            signature: Signature([9; 64]),
        };
        let bytes = ts.to_bytes();
        assert_eq!(&bytes[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(TimestampedSignature::from_bytes(&bytes), Ok(ts));
        assert_eq!(
            TimestampedSignature::from_bytes(&bytes[..71]),
            Err(CosignatureError::WrongLength(71))
        );
        assert_eq!(
            TimestampedSignature::from_bytes(&[bytes.as_slice(), &[0]].concat()),
            Err(CosignatureError::WrongLength(73))
        );
        let mut late = bytes;
        late[0] = 0x80;
        assert!(matches!(
            TimestampedSignature::from_bytes(&late),
            Err(CosignatureError::TimestampTooLarge(_))
        ));
    }
}
