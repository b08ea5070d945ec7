//! C2SP signed notes (c2sp.org/signed-note): a text ending in a newline, a
//! blank line, then one or more signature lines
//! `— <key name> <base64(key id ‖ signature)>`. Parsing is strict and keeps
//! every signature line, by a known key or not; which keys are trusted and
//! what their signatures mean is [`super::keys`]' job.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha2::{Digest, Sha256};

/// At most this many signature lines. The spec asks every verifier to
/// accept at least 16; golang.org/x/mod/sumdb/note refuses more than 100,
/// and so does this, so a note one accepts the other does too.
pub const MAX_SIGNATURES: usize = 100;
/// At most this many bytes in a whole note (text and signature lines).
pub const MAX_NOTE_BYTES: usize = 1 << 20;

const SIGNATURE_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    #[error("it does not start with an em dash and a space")]
    MissingPrefix,
    #[error("the key name is empty or holds a space or a plus sign")]
    BadKeyName,
    #[error("the signature is not canonical standard base64")]
    BadBase64,
    #[error("the signature has fewer than 5 bytes (a key id and at least one byte)")]
    TooShort,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("a note of {size} bytes is over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("not UTF-8 at byte {at}")]
    NotUtf8 { at: usize },
    #[error("control character 0x{byte:02x} at byte {at}: only newlines are allowed")]
    ControlCharacter { at: usize, byte: u8 },
    #[error("the note text must be non-empty and end with a newline")]
    BadText,
    #[error("no blank line separates the text from the signatures")]
    NoSignatureBlock,
    #[error("a note needs at least one signature line")]
    NoSignatures,
    #[error("the last signature line does not end with a newline")]
    UnterminatedLine,
    #[error("more than {limit} signature lines")]
    TooManySignatures { limit: usize },
    #[error("signature line {line}: {problem}")]
    BadSignatureLine { line: usize, problem: LineProblem },
    #[error("a key name must be non-empty, without spaces, plus signs or control characters")]
    BadKeyName,
}

/// A key name: non-empty, with no Unicode space, no `+` and no ASCII
/// control character.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyName(String);

impl KeyName {
    pub fn new(name: impl Into<String>) -> Result<KeyName, NoteError> {
        let name = name.into();
        let valid = !name.is_empty()
            && !name
                .chars()
                .any(|c| c.is_whitespace() || c == '+' || c < ' ');
        match valid {
            true => Ok(KeyName(name)),
            false => Err(NoteError::BadKeyName),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The signature types fundtrail signs and checks (signed-note, "Signature
/// types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyType {
    /// `0x01`: Ed25519 over the note text.
    Ed25519,
    /// `0x04`: timestamped Ed25519 checkpoint cosignature
    /// (c2sp.org/tlog-cosignature).
    CosignatureV1,
}

impl KeyType {
    pub fn byte(self) -> u8 {
        match self {
            KeyType::Ed25519 => 0x01,
            KeyType::CosignatureV1 => 0x04,
        }
    }

    pub fn from_byte(byte: u8) -> Option<KeyType> {
        match byte {
            0x01 => Some(KeyType::Ed25519),
            0x04 => Some(KeyType::CosignatureV1),
            _ => None,
        }
    }
}

/// The 32-bit key id in front of each signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub u32);

impl KeyId {
    /// `SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]`, read big-endian.
    pub fn compute(name: &KeyName, key_type: KeyType, public_key: &[u8]) -> KeyId {
        let digest = Sha256::new()
            .chain_update(name.as_str().as_bytes())
            .chain_update([b'\n', key_type.byte()])
            .chain_update(public_key)
            .finalize();
        KeyId(u32::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3],
        ]))
    }

    /// Exactly eight lower-case hex digits.
    pub fn from_hex(s: &str) -> Option<KeyId> {
        let lower_hex = s.len() == 8 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        match lower_hex {
            true => u32::from_str_radix(s, 16).ok().map(KeyId),
            false => None,
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// One signature line: who signed (name and key id) and the signature bytes
/// that follow the key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: KeyName,
    pub key_id: KeyId,
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line, with its final newline.
    pub fn line(&self) -> String {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.key_id.0.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, BASE64.encode(bytes))
    }

    /// Reads one line without its newline; `number` (from 1) names it in
    /// errors.
    fn parse_line(line: &str, number: usize) -> Result<NoteSignature, NoteError> {
        let problem = |problem| NoteError::BadSignatureLine {
            line: number,
            problem,
        };
        let rest = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(problem(LineProblem::MissingPrefix))?;
        let (name, encoded) = rest
            .split_once(' ')
            .ok_or(problem(LineProblem::BadKeyName))?;
        let name = KeyName::new(name).map_err(|_| problem(LineProblem::BadKeyName))?;
        let bytes = BASE64
            .decode(encoded)
            .map_err(|_| problem(LineProblem::BadBase64))?;
        let Some((id, signature)) = bytes.split_first_chunk::<4>() else {
            return Err(problem(LineProblem::TooShort));
        };
        if signature.is_empty() {
            return Err(problem(LineProblem::TooShort));
        }
        Ok(NoteSignature {
            name,
            key_id: KeyId(u32::from_be_bytes(*id)),
            signature: signature.to_vec(),
        })
    }
}

/// A well-formed signed note: its text and its signature lines in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    pub fn new(text: String, signatures: Vec<NoteSignature>) -> Result<Note, NoteError> {
        check_text(&text)?;
        let note = Note { text, signatures };
        note.check_signatures()?;
        Ok(note)
    }

    /// Reads a note strictly: UTF-8 without control characters other than
    /// newline, the text up to the last blank line, then only signature
    /// lines, each ending in a newline.
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                size: bytes.len(),
                limit: MAX_NOTE_BYTES,
            });
        }
        let all = std::str::from_utf8(bytes).map_err(|e| NoteError::NotUtf8 {
            at: e.valid_up_to(),
        })?;
        check_no_control(all)?;
        let split = all.rfind("\n\n").ok_or(NoteError::NoSignatureBlock)?;
        let (text, block) = (&all[..split + 1], &all[split + 2..]);
        let block = match block.strip_suffix('\n') {
            Some(lines) => lines,
            None if block.is_empty() => return Err(NoteError::NoSignatures),
            None => return Err(NoteError::UnterminatedLine),
        };
        let mut signatures = Vec::new();
        for (i, line) in block.split('\n').enumerate() {
            if i == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    limit: MAX_SIGNATURES,
                });
            }
            signatures.push(NoteSignature::parse_line(line, i + 1)?);
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    pub fn add_signature(&mut self, signature: NoteSignature) -> Result<(), NoteError> {
        self.signatures.push(signature);
        let checked = self.check_signatures();
        if checked.is_err() {
            self.signatures.pop();
        }
        checked
    }

    fn check_signatures(&self) -> Result<(), NoteError> {
        match self.signatures.len() {
            0 => return Err(NoteError::NoSignatures),
            n if n > MAX_SIGNATURES => {
                return Err(NoteError::TooManySignatures {
                    limit: MAX_SIGNATURES,
                })
            }
            _ => {}
        }
        let size = self.to_string().len();
        if size > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                size,
                limit: MAX_NOTE_BYTES,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        self.signatures
            .iter()
            .try_for_each(|s| f.write_str(&s.line()))
    }
}

/// A note text: non-empty, ending in a newline, no control character other
/// than newline.
pub fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::BadText);
    }
    check_no_control(text)
}

fn check_no_control(s: &str) -> Result<(), NoteError> {
    match s.bytes().position(|b| b < 0x20 && b != b'\n') {
        Some(at) => Err(NoteError::ControlCharacter {
            at,
            byte: s.as_bytes()[at],
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The example in c2sp.org/signed-note, "Verifier keys".
    const SPEC_EXAMPLE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    /// The opening example of c2sp.org/signed-note: its text holds an empty
    /// line.
    const SPEC_POEM: &str = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u{e8} subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    /// From golang.org/x/mod/sumdb/note's note_test.go (TestOpen).
    const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn peter_note() -> String {
        format!("{PETER_TEXT}\n{PETER_SIG}")
    }

    #[test]
    fn the_spec_examples_parse_and_render_unchanged() {
        let note = Note::parse(SPEC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(note.text(), "This is an example message.\n");
        assert_eq!(note.signatures().len(), 1);
        assert_eq!(note.signatures()[0].name.as_str(), "example.com/foo");
        assert_eq!(note.signatures()[0].key_id, KeyId(0x530d903a));
        assert_eq!(note.signatures()[0].signature.len(), 64);
        assert_eq!(note.to_string(), SPEC_EXAMPLE);

        let poem = Note::parse(SPEC_POEM.as_bytes()).unwrap();
        assert!(poem.text().ends_with("sole:\n\ned \u{e8} subito sera.\n"));
        assert_eq!(
            poem.signatures()[0].name.as_str(),
            "quasimodo.example/salvatore"
        );
        assert_eq!(poem.to_string(), SPEC_POEM);
    }

    fn refused(note: &str) -> NoteError {
        refused_bytes(note.as_bytes())
    }

    fn refused_bytes(bytes: &[u8]) -> NoteError {
        match Note::parse(bytes) {
            Ok(note) => panic!("accepted {note:?}"),
            Err(e) => e,
        }
    }

    fn line_problem(note: &str) -> LineProblem {
        match refused(note) {
            NoteError::BadSignatureLine { problem, .. } => problem,
            other => panic!("wrong error {other:?}"),
        }
    }

    #[test]
    fn malformed_notes_are_refused_with_their_reason() {
        // The first six are the bad messages of x/mod's TestOpen.
        assert_eq!(refused(PETER_TEXT), NoteError::NoSignatureBlock);
        assert_eq!(refused(&format!("{PETER_TEXT}\n")), NoteError::NoSignatures);
        let cut = peter_note();
        assert_eq!(refused(&cut[..cut.len() - 1]), NoteError::UnterminatedLine);
        assert_eq!(
            refused(&format!("\x01{}", peter_note())),
            NoteError::ControlCharacter { at: 0, byte: 1 }
        );
        let mut not_utf8 = vec![0xff];
        not_utf8.extend_from_slice(peter_note().as_bytes());
        assert_eq!(refused_bytes(&not_utf8), NoteError::NotUtf8 { at: 0 });
        assert_eq!(
            line_problem(&peter_note().replace("PeterNeumann", "Bad Name")),
            LineProblem::BadBase64,
            "the name ends at the first space, so \"Name x08go…\" is read as base64"
        );
        assert_eq!(
            refused(&format!("{}Unexpected line.\n", peter_note())),
            NoteError::BadSignatureLine {
                line: 2,
                problem: LineProblem::MissingPrefix
            }
        );

        assert_eq!(
            line_problem(&peter_note().replace("PeterNeumann", "Peter+Neumann")),
            LineProblem::BadKeyName
        );
        assert_eq!(
            line_problem(&peter_note().replace("PeterNeumann", "Peter\u{3000}Neumann")),
            LineProblem::BadKeyName
        );
        assert_eq!(
            line_problem(&peter_note().replace("\u{2014} PeterNeumann", "\u{2014}  x")),
            LineProblem::BadKeyName
        );
        assert_eq!(
            line_problem(&peter_note().replace("\u{2014} ", "- ")),
            LineProblem::MissingPrefix
        );
        assert_eq!(
            line_problem(&peter_note().replace("JnAM=", "JnAN=")),
            LineProblem::BadBase64,
            "non-zero padding bits"
        );
        assert_eq!(
            line_problem(&peter_note().replace("JnAM=", "JnAM")),
            LineProblem::BadBase64,
            "missing padding"
        );
        assert_eq!(
            line_problem(&format!("{PETER_TEXT}\n\u{2014} a AAAAAA==\n")),
            LineProblem::TooShort
        );
        assert_eq!(
            refused(&format!("{PETER_TEXT}\n{PETER_SIG}\n")),
            NoteError::NoSignatures,
            "a trailing blank line leaves no signature block"
        );
        assert_eq!(
            refused(&format!("{PETER_TEXT}\r\n{PETER_SIG}")),
            NoteError::ControlCharacter {
                at: PETER_TEXT.len(),
                byte: b'\r'
            }
        );
    }

    #[test]
    fn signature_count_and_size_are_bounded() {
        let at_limit = format!("{PETER_TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES));
        assert_eq!(
            Note::parse(at_limit.as_bytes()).unwrap().signatures().len(),
            MAX_SIGNATURES
        );
        let over = format!("{at_limit}{PETER_SIG}");
        assert_eq!(
            refused(&over),
            NoteError::TooManySignatures {
                limit: MAX_SIGNATURES
            }
        );
        let huge = format!("{}\n\n{PETER_SIG}", "x".repeat(MAX_NOTE_BYTES));
        assert!(matches!(refused(&huge), NoteError::TooLarge { .. }));
    }

    #[test]
    fn a_note_is_built_only_from_a_good_text_and_signatures() {
        let sig = Note::parse(peter_note().as_bytes()).unwrap().signatures()[0].clone();
        assert_eq!(
            Note::new("no newline".into(), vec![sig.clone()]),
            Err(NoteError::BadText)
        );
        assert_eq!(
            Note::new(String::new(), vec![sig.clone()]),
            Err(NoteError::BadText)
        );
        assert_eq!(
            Note::new("tab\t\n".into(), vec![sig.clone()]),
            Err(NoteError::ControlCharacter { at: 3, byte: b'\t' })
        );
        assert_eq!(
            Note::new(PETER_TEXT.into(), vec![]),
            Err(NoteError::NoSignatures)
        );
        let mut note = Note::new(PETER_TEXT.into(), vec![sig.clone()]).unwrap();
        assert_eq!(note.to_string(), peter_note());
        for _ in 1..MAX_SIGNATURES {
            note.add_signature(sig.clone()).unwrap();
        }
        assert_eq!(
            note.add_signature(sig),
            Err(NoteError::TooManySignatures {
                limit: MAX_SIGNATURES
            })
        );
        assert_eq!(note.signatures().len(), MAX_SIGNATURES);
    }

    #[test]
    fn key_names_and_ids() {
        assert!(KeyName::new("example.com/foo").is_ok());
        for bad in ["", "a b", "a+b", "a\nb", "a\u{1}b", "a\u{a0}b"] {
            assert_eq!(KeyName::new(bad), Err(NoteError::BadKeyName), "{bad:?}");
        }
        assert_eq!(KeyId::from_hex("530d903a"), Some(KeyId(0x530d903a)));
        assert_eq!(KeyId(0x0000_00ff).to_string(), "000000ff");
        for bad in ["530D903A", "530d903", "530d903a0", "+30d903a", "530d90 a"] {
            assert_eq!(KeyId::from_hex(bad), None, "{bad:?}");
        }
    }

    fn text_line() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 ./:+=\u{e8}\u{4e2d}\u{2014}]{0,20}"
    }

    fn signature() -> impl Strategy<Value = NoteSignature> {
        (
            "[a-zA-Z0-9./:\u{2014}\u{4e2d}-]{1,12}",
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 1..80),
        )
            .prop_map(|(name, id, signature)| NoteSignature {
                name: KeyName::new(name).unwrap(),
                key_id: KeyId(id),
                signature,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn built_notes_round_trip(
            lines in prop::collection::vec(text_line(), 1..6),
            sigs in prop::collection::vec(signature(), 1..5),
        ) {
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let note = Note::new(text, sigs).unwrap();
            let rendered = note.to_string();
            prop_assert_eq!(Note::parse(rendered.as_bytes()), Ok(note));
        }

        #[test]
        fn what_parses_renders_to_the_same_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(note) = Note::parse(&bytes) {
                prop_assert_eq!(note.to_string().into_bytes(), bytes);
            }
        }

        #[test]
        fn a_damaged_note_is_refused_or_reads_back_as_given(
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let mut bytes = peter_note().into_bytes();
            let i = at.index(bytes.len());
            if cut { bytes.truncate(i) } else { bytes[i] = byte }
            if let Ok(note) = Note::parse(&bytes) {
                prop_assert_eq!(note.to_string().into_bytes(), bytes);
            }
        }
    }
}
