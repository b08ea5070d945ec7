//! The keys that sign and check notes: verifier keys (vkeys,
//! `<name>+<hex key id>+<base64(type ‖ public key)>`), the two signers
//! fundtrail uses (Ed25519 note signatures, type 0x01, and tlog-cosignature
//! v1, type 0x04), and the rule for opening a note against trusted keys.
//!
//! Signatures are checked by [`crate::crypto::verify_message`], under the
//! ledger's one signature rule, and keys are enrolled strictly first.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use super::cosignature::{self, CosignatureError, TimestampedSignature, MAX_TIMESTAMP};
use super::note::{KeyId, KeyName, KeyType, Note, NoteSignature};
use crate::crypto::{enrol_key, verify_message, CryptoError, Keypair, PublicKey, Signature};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VkeyError {
    #[error("a vkey is <name>+<hex key id>+<base64 key>")]
    Malformed,
    #[error("the key name is empty or holds a space or a plus sign")]
    BadKeyName,
    #[error("the key id is not eight lower-case hex digits")]
    BadKeyId,
    #[error("the key is not canonical standard base64")]
    BadBase64,
    #[error("signature type 0x{0:02x} is not one fundtrail checks (0x01, 0x04)")]
    UnsupportedType(u8),
    #[error("an Ed25519 key has 32 bytes, not {0}")]
    WrongKeyLength(usize),
    #[error("key id {stated} is not the key's id {computed}")]
    KeyIdMismatch { stated: KeyId, computed: KeyId },
    #[error("key refused: {0}")]
    Refused(CryptoError),
}

/// A verifier key: who may sign (name and key id), how, and with what key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vkey {
    name: KeyName,
    key_id: KeyId,
    key_type: KeyType,
    key: PublicKey,
}

impl Vkey {
    /// A vkey for `key`, enrolled under the ledger's strict key rule.
    pub fn new(name: KeyName, key_type: KeyType, key: PublicKey) -> Result<Vkey, VkeyError> {
        enrol_key(&key).map_err(VkeyError::Refused)?;
        Ok(Vkey::of_checked(name, key_type, key))
    }

    fn of_checked(name: KeyName, key_type: KeyType, key: PublicKey) -> Vkey {
        Vkey {
            key_id: KeyId::compute(&name, key_type, &key.0),
            name,
            key_type,
            key,
        }
    }

    pub fn parse(s: &str) -> Result<Vkey, VkeyError> {
        // A name holds no '+', but base64 may: only the first two split.
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(id), Some(encoded), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VkeyError::Malformed);
        };
        let name = KeyName::new(name).map_err(|_| VkeyError::BadKeyName)?;
        let stated = KeyId::from_hex(id).ok_or(VkeyError::BadKeyId)?;
        let bytes = BASE64.decode(encoded).map_err(|_| VkeyError::BadBase64)?;
        let Some((&type_byte, key_bytes)) = bytes.split_first() else {
            return Err(VkeyError::WrongKeyLength(0));
        };
        let key_type =
            KeyType::from_byte(type_byte).ok_or(VkeyError::UnsupportedType(type_byte))?;
        let key: [u8; 32] = key_bytes
            .try_into()
            .map_err(|_| VkeyError::WrongKeyLength(key_bytes.len()))?;
        let vkey = Vkey::new(name, key_type, PublicKey(key))?;
        if vkey.key_id != stated {
            return Err(VkeyError::KeyIdMismatch {
                stated,
                computed: vkey.key_id,
            });
        }
        Ok(vkey)
    }

    pub fn name(&self) -> &KeyName {
        &self.name
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// Checks one signature line's bytes over `text`; a cosignature's
    /// timestamp is returned.
    fn check(&self, text: &str, signature: &[u8]) -> Result<Option<u64>, BadSignature> {
        match self.key_type {
            KeyType::Ed25519 => {
                let sig: [u8; 64] = signature.try_into().map_err(|_| BadSignature)?;
                verify_message(&self.key, text.as_bytes(), &Signature(sig))
                    .map_err(|_| BadSignature)?;
                Ok(None)
            }
            KeyType::CosignatureV1 => {
                let ts = TimestampedSignature::from_bytes(signature).map_err(|_| BadSignature)?;
                let message = cosignature::signed_message(ts.timestamp, text);
                verify_message(&self.key, &message, &ts.signature).map_err(|_| BadSignature)?;
                Ok(Some(ts.timestamp))
            }
        }
    }
}

struct BadSignature;

impl fmt::Display for Vkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Vec::with_capacity(33);
        bytes.push(self.key_type.byte());
        bytes.extend_from_slice(&self.key.0);
        write!(f, "{}+{}+{}", self.name, self.key_id, BASE64.encode(bytes))
    }
}

impl FromStr for Vkey {
    type Err = VkeyError;

    fn from_str(s: &str) -> Result<Vkey, VkeyError> {
        Vkey::parse(s)
    }
}

/// Signs note texts with Ed25519 (type 0x01) under a key name.
pub struct Ed25519Signer<'k> {
    vkey: Vkey,
    keypair: &'k Keypair,
}

impl<'k> Ed25519Signer<'k> {
    pub fn new(name: KeyName, keypair: &'k Keypair) -> Ed25519Signer<'k> {
        Ed25519Signer {
            vkey: Vkey::of_checked(name, KeyType::Ed25519, keypair.public()),
            keypair,
        }
    }

    pub fn vkey(&self) -> &Vkey {
        &self.vkey
    }

    pub fn sign(&self, text: &str) -> NoteSignature {
        NoteSignature {
            name: self.vkey.name.clone(),
            key_id: self.vkey.key_id,
            signature: self.keypair.sign_message(text.as_bytes()).0.to_vec(),
        }
    }
}

/// Cosigns checkpoint texts (tlog-cosignature/v1, type 0x04) under a key
/// name. The v1 message does not name the cosigner, so one key must serve
/// one cosigner name only.
pub struct Cosigner<'k> {
    vkey: Vkey,
    keypair: &'k Keypair,
}

impl<'k> Cosigner<'k> {
    pub fn new(name: KeyName, keypair: &'k Keypair) -> Cosigner<'k> {
        Cosigner {
            vkey: Vkey::of_checked(name, KeyType::CosignatureV1, keypair.public()),
            keypair,
        }
    }

    pub fn vkey(&self) -> &Vkey {
        &self.vkey
    }

    /// Cosigns `text` as of `timestamp` (POSIX seconds, given by the caller).
    pub fn cosign(&self, text: &str, timestamp: u64) -> Result<NoteSignature, CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampTooLarge(timestamp));
        }
        let message = cosignature::signed_message(timestamp, text);
        let signed = TimestampedSignature {
            timestamp,
            signature: self.keypair.sign_message(&message),
        };
        Ok(NoteSignature {
            name: self.vkey.name.clone(),
            key_id: self.vkey.key_id,
            signature: signed.to_bytes().to_vec(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("two trusted keys are named {name} with key id {key_id}")]
    AmbiguousKey { name: KeyName, key_id: KeyId },
    #[error("the signature by trusted key {name}+{key_id} (line {line}) does not verify")]
    BadSignature {
        name: KeyName,
        key_id: KeyId,
        line: usize,
    },
    #[error("no signature by a trusted key")]
    NoTrustedSignature,
}

/// A signature by a trusted key that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    pub name: KeyName,
    pub key_id: KeyId,
    pub key_type: KeyType,
    /// A cosignature's time (POSIX seconds); `None` for type 0x01.
    pub timestamp: Option<u64>,
}

/// What opening a note found: each trusted key that signed, once, in line
/// order, and the lines by keys not trusted, which are kept but mean nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub verified: Vec<VerifiedSignature>,
    pub unknown: Vec<NoteSignature>,
}

/// Opens a note under signed-note's rule: a line whose name and key id
/// match a trusted key must verify (every such line, repeated or not),
/// lines by other keys are set aside, and at least one must verify.
pub fn open(note: &Note, trusted: &[Vkey]) -> Result<Opened, OpenError> {
    let by_id = index_trusted(trusted)?;
    let mut opened = Opened {
        verified: Vec::new(),
        unknown: Vec::new(),
    };
    for (i, sig) in note.signatures().iter().enumerate() {
        let Some(vkey) = by_id.get(&(&sig.name, sig.key_id)) else {
            opened.unknown.push(sig.clone());
            continue;
        };
        let timestamp = vkey
            .check(note.text(), &sig.signature)
            .map_err(|BadSignature| OpenError::BadSignature {
                name: sig.name.clone(),
                key_id: sig.key_id,
                line: i + 1,
            })?;
        let seen = opened
            .verified
            .iter()
            .any(|v| v.name == sig.name && v.key_id == sig.key_id);
        if !seen {
            opened.verified.push(VerifiedSignature {
                name: sig.name.clone(),
                key_id: sig.key_id,
                key_type: vkey.key_type,
                timestamp,
            });
        }
    }
    match opened.verified.is_empty() {
        true => Err(OpenError::NoTrustedSignature),
        false => Ok(opened),
    }
}

fn index_trusted(trusted: &[Vkey]) -> Result<BTreeMap<(&KeyName, KeyId), &Vkey>, OpenError> {
    let mut by_id = BTreeMap::new();
    for vkey in trusted {
        let slot = (&vkey.name, vkey.key_id);
        if by_id.get(&slot).is_some_and(|known| *known != vkey) {
            return Err(OpenError::AmbiguousKey {
                name: vkey.name.clone(),
                key_id: vkey.key_id,
            });
        }
        by_id.insert(slot, vkey);
    }
    Ok(by_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Keys and notes from golang.org/x/mod/sumdb/note's note_test.go. The
    // private key "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEK…" holds the type
    // byte 0x01 then this seed.
    const PETER_SEED_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
    // The example in c2sp.org/signed-note, "Verifier keys".
    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    fn peter() -> Keypair {
        let bytes = BASE64.decode(PETER_SEED_B64).unwrap();
        assert_eq!(bytes[0], 0x01);
        Keypair::from_seed(bytes[1..].try_into().unwrap())
    }

    fn vkeys(all: &[&str]) -> Vec<Vkey> {
        all.iter().map(|v| Vkey::parse(v).unwrap()).collect()
    }

    fn note(sigs: &str) -> Note {
        Note::parse(format!("{TEXT}\n{sigs}").as_bytes()).unwrap()
    }

    fn names(opened: &Opened) -> Vec<&str> {
        opened.verified.iter().map(|v| v.name.as_str()).collect()
    }

    /// Base64 may hold '+', which also separates a vkey's fields: a key
    /// whose encoding has one must still read back as itself.
    #[test]
    fn a_vkey_whose_base64_holds_a_plus_reads_back() {
        let vkey = (0u8..=255)
            .map(|seed| Keypair::from_seed([seed; 32]))
            .map(|k| {
                Ed25519Signer::new(KeyName::new("org/node").unwrap(), &k)
                    .vkey()
                    .clone()
            })
            .find(|v| v.to_string().matches('+').count() > 2)
            .expect("some key's base64 holds a '+'");
        assert_eq!(Vkey::parse(&vkey.to_string()).unwrap(), vkey);
    }

    #[test]
    fn signing_reproduces_the_published_signature() {
        let keypair = peter();
        let signer = Ed25519Signer::new(KeyName::new("PeterNeumann").unwrap(), &keypair);
        assert_eq!(signer.vkey().to_string(), PETER_VKEY);
        assert_eq!(signer.sign(TEXT).line(), PETER_SIG);
    }

    #[test]
    fn published_notes_open_under_their_keys() {
        let spec = Note::parse(SPEC_NOTE.as_bytes()).unwrap();
        assert_eq!(
            names(&open(&spec, &vkeys(&[SPEC_VKEY])).unwrap()),
            ["example.com/foo"]
        );

        let both = note(&format!("{PETER_SIG}{ENOCH_SIG}"));
        let one = open(&both, &vkeys(&[PETER_VKEY])).unwrap();
        assert_eq!(names(&one), ["PeterNeumann"]);
        assert_eq!(one.unknown.len(), 1);
        assert_eq!(one.unknown[0].name.as_str(), "EnochRoot");
        let two = open(&both, &vkeys(&[PETER_VKEY, ENOCH_VKEY])).unwrap();
        assert_eq!(names(&two), ["PeterNeumann", "EnochRoot"]);
        assert!(two.unknown.is_empty());
        assert_eq!(open(&both, &[]), Err(OpenError::NoTrustedSignature));
    }

    #[test]
    fn a_bad_signature_by_a_trusted_key_refuses_the_note() {
        // x/mod's TestOpen inserts "ABCD" at offset 60 of the line.
        let damaged = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        let trusted = vkeys(&[PETER_VKEY]);
        let err = open(&note(&format!("{ENOCH_SIG}{damaged}")), &trusted).unwrap_err();
        assert!(
            matches!(err, OpenError::BadSignature { line: 2, .. }),
            "{err:?}"
        );
        // A repeated line by a trusted key is checked too, and counted once.
        let twice = open(&note(&format!("{PETER_SIG}{PETER_SIG}")), &trusted).unwrap();
        assert_eq!(names(&twice), ["PeterNeumann"]);
        let then_bad = note(&format!("{PETER_SIG}{damaged}"));
        assert!(matches!(
            open(&then_bad, &trusted),
            Err(OpenError::BadSignature { line: 2, .. })
        ));
        // The same name under another key id is someone else: ignored.
        let other_id = PETER_SIG.replace("x08go", "xxxgo");
        assert_eq!(
            open(&note(&other_id), &trusted),
            Err(OpenError::NoTrustedSignature)
        );
    }

    #[test]
    fn two_trusted_keys_with_one_name_and_id_are_ambiguous() {
        let real = Vkey::parse(PETER_VKEY).unwrap();
        let mut twin = real.clone();
        twin.key = Keypair::from_seed([3; 32]).public();
        assert_eq!(
            open(&note(PETER_SIG), &[real.clone(), twin]),
            Err(OpenError::AmbiguousKey {
                name: real.name.clone(),
                key_id: real.key_id
            })
        );
        assert!(open(&note(PETER_SIG), &[real.clone(), real]).is_ok());
    }

    #[test]
    fn mangled_vkeys_are_refused() {
        // As x/mod's TestNewVerifier: every proper substring, every byte + 1.
        let b = PETER_VKEY.as_bytes();
        for i in 0..b.len() {
            for j in i + 1..=b.len() {
                if (i, j) != (0, b.len()) {
                    assert!(
                        Vkey::parse(&PETER_VKEY[i..j]).is_err(),
                        "{}",
                        &PETER_VKEY[i..j]
                    );
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] = m[i].wrapping_add(1);
            if let Ok(s) = std::str::from_utf8(&m) {
                assert!(Vkey::parse(s).is_err(), "{s}");
            }
        }
        // x/mod's two: a key of the wrong length, an unknown type byte, each
        // with its key id adjusted. The first also ends in non-zero padding
        // bits, which Go's decoder ignores and this one refuses.
        assert_eq!(
            Vkey::parse(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            ),
            Err(VkeyError::BadBase64)
        );
        let long_key = BASE64.encode([&[0x01][..], &[7; 33]].concat());
        let long_id = KeyId::compute(
            &KeyName::new("PeterNeumann").unwrap(),
            KeyType::Ed25519,
            &[7; 33],
        );
        assert_eq!(
            Vkey::parse(&format!("PeterNeumann+{long_id}+{long_key}")),
            Err(VkeyError::WrongKeyLength(33))
        );
        assert_eq!(
            Vkey::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
            Err(VkeyError::UnsupportedType(0x65))
        );
        assert_eq!(
            Vkey::parse("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
            Err(VkeyError::BadKeyId)
        );
    }

    #[test]
    fn a_weak_key_is_refused_as_a_vkey() {
        let identity = PublicKey({
            let mut k = [0u8; 32];
            k[0] = 1;
            k
        });
        let name = KeyName::new("weak").unwrap();
        assert!(matches!(
            Vkey::new(name, KeyType::Ed25519, identity),
            Err(VkeyError::Refused(CryptoError::WeakKey(_)))
        ));
    }

    #[test]
    fn cosignatures_open_under_their_type_0x04_key_only() {
        let keypair = Keypair::from_seed([9; 32]);
        let name = KeyName::new("witness.example/w1").unwrap();
        let cosigner = Cosigner::new(name.clone(), &keypair);
        let line = cosigner.cosign(TEXT, 1_700_000_000).unwrap();
        assert_eq!(line.signature.len(), 72);
        assert_eq!(&line.signature[..8], &1_700_000_000u64.to_be_bytes());
        let cosigned = Note::new(TEXT.into(), vec![line.clone()]).unwrap();

        let trusted = [cosigner.vkey().clone()];
        let opened = open(&cosigned, &trusted).unwrap();
        assert_eq!(opened.verified[0].key_type, KeyType::CosignatureV1);
        assert_eq!(opened.verified[0].timestamp, Some(1_700_000_000));
        assert_eq!(
            Vkey::parse(&cosigner.vkey().to_string()).as_ref(),
            Ok(&trusted[0])
        );

        let as_plain = Ed25519Signer::new(name, &keypair);
        assert_ne!(as_plain.vkey().key_id(), cosigner.vkey().key_id());
        assert_eq!(
            open(&cosigned, &[as_plain.vkey().clone()]),
            Err(OpenError::NoTrustedSignature)
        );

        let mut later = line;
        later.signature[7] ^= 1;
        let moved = Note::new(TEXT.into(), vec![later]).unwrap();
        assert!(matches!(
            open(&moved, &trusted),
            Err(OpenError::BadSignature { .. })
        ));
        assert_eq!(
            cosigner.cosign(TEXT, MAX_TIMESTAMP + 1),
            Err(CosignatureError::TimestampTooLarge(MAX_TIMESTAMP + 1))
        );
    }
}
