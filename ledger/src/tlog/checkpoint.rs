//! C2SP checkpoints (c2sp.org/tlog-checkpoint): the note text
//! `<origin>\n<size>\n<base64 root>\n`, then optional extension lines, and
//! the signed checkpoint that carries it. fundtrail's origin is
//! `fundtrail/<chain id>`, its size the head height, its root the
//! checkpoint tree's ([`super::tree`]); it writes no extension lines.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use super::keys::{open, Ed25519Signer, OpenError, Opened, Vkey};
use super::note::{Note, NoteError, NoteSignature};
use super::tree::Frontier;
use crate::hash::Hash32;
use crate::types::ChainId;

/// The origin line of a chain's checkpoints.
pub fn origin(chain_id: &ChainId) -> String {
    format!("fundtrail/{}", chain_id.as_str())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("a checkpoint text is at least three lines, each ending in a newline")]
    TooFewLines,
    #[error("line {0} is empty")]
    EmptyLine(usize),
    #[error("line {0} holds a control character")]
    ControlCharacter(usize),
    #[error("the size line is not a decimal u64 without leading zeros")]
    BadSize,
    #[error("the root line is not the base64 of 32 bytes")]
    BadRoot,
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// A checkpoint's content: which log, how many leaves, what root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash32,
    extensions: Vec<String>,
}

impl Checkpoint {
    pub fn new(origin: String, size: u64, root: Hash32) -> Result<Checkpoint, CheckpointError> {
        check_line(&origin, 1)?;
        Ok(Checkpoint {
            origin,
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// The checkpoint of a chain whose blocks the frontier holds.
    pub fn of_chain(chain_id: &ChainId, tree: &Frontier) -> Checkpoint {
        Checkpoint {
            origin: origin(chain_id),
            size: tree.size(),
            root: tree.root(),
            extensions: Vec::new(),
        }
    }

    /// Reads a note text as a checkpoint: at least three non-empty lines,
    /// the size in decimal with no leading zero, the root as base64 of 32
    /// bytes; further lines are kept as extensions.
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::TooFewLines)?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::TooFewLines);
        };
        for (i, line) in lines.iter().enumerate() {
            check_line(line, i + 1)?;
        }
        Ok(Checkpoint {
            origin: (*origin).to_owned(),
            size: parse_size(size)?,
            root: parse_root(root)?,
            extensions: extensions.iter().map(|l| (*l).to_owned()).collect(),
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> &Hash32 {
        &self.root
    }

    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text that is signed.
    pub fn text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root.0)
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

fn check_line(line: &str, number: usize) -> Result<(), CheckpointError> {
    if line.is_empty() {
        return Err(CheckpointError::EmptyLine(number));
    }
    match line.bytes().any(|b| b < 0x20) {
        true => Err(CheckpointError::ControlCharacter(number)),
        false => Ok(()),
    }
}

fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let digits_only = line.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = line.len() > 1 && line.starts_with('0');
    if !digits_only || leading_zero {
        return Err(CheckpointError::BadSize);
    }
    line.parse().map_err(|_| CheckpointError::BadSize)
}

fn parse_root(line: &str) -> Result<Hash32, CheckpointError> {
    let bytes = BASE64.decode(line).map_err(|_| CheckpointError::BadRoot)?;
    let root: [u8; 32] = bytes.try_into().map_err(|_| CheckpointError::BadRoot)?;
    Ok(Hash32(root))
}

/// A checkpoint and the note that carries it with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: Note,
}

impl SignedCheckpoint {
    pub fn sign(
        checkpoint: Checkpoint,
        signer: &Ed25519Signer<'_>,
    ) -> Result<SignedCheckpoint, NoteError> {
        let text = checkpoint.text();
        let first = signer.sign(&text);
        let note = Note::new(text, vec![first])?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    pub fn parse(bytes: &[u8]) -> Result<SignedCheckpoint, CheckpointError> {
        let note = Note::parse(bytes)?;
        let checkpoint = Checkpoint::parse(note.text())?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    pub fn note(&self) -> &Note {
        &self.note
    }

    /// Adds a signature line, such as a cosignature over
    /// [`Checkpoint::text`].
    pub fn add_signature(&mut self, signature: NoteSignature) -> Result<(), NoteError> {
        self.note.add_signature(signature)
    }

    pub fn open(&self, trusted: &[Vkey]) -> Result<Opened, OpenError> {
        open(&self.note, trusted)
    }
}

impl fmt::Display for SignedCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.note, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use crate::merkle::{empty_root, leaf_hash};
    use crate::tlog::note::KeyName;
    use proptest::prelude::*;

    /// The example in c2sp.org/tlog-checkpoint.
    const SPEC_TEXT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn the_spec_example_parses_and_renders_unchanged() {
        let cp = Checkpoint::parse(SPEC_TEXT).unwrap();
        assert_eq!(cp.origin(), "example.com/behind-the-sofa");
        assert_eq!(cp.size(), 20852163);
        assert_eq!(
            cp.root().to_hex(),
            "0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62"
        );
        assert!(cp.extensions().is_empty());
        assert_eq!(cp.text(), SPEC_TEXT);
    }

    #[test]
    fn extension_lines_are_kept() {
        let text = format!("{SPEC_TEXT}ext one\next two\n");
        let cp = Checkpoint::parse(&text).unwrap();
        assert_eq!(cp.extensions(), ["ext one", "ext two"]);
        assert_eq!(cp.text(), text);
    }

    #[test]
    fn malformed_texts_are_refused() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let cases = [
            ("o\n1\n".to_owned(), CheckpointError::TooFewLines),
            (format!("o\n1\n{root}"), CheckpointError::TooFewLines),
            (format!("\n1\n{root}\n"), CheckpointError::EmptyLine(1)),
            (format!("o\n1\n{root}\n\n"), CheckpointError::EmptyLine(4)),
            (
                format!("o\x01\n1\n{root}\n"),
                CheckpointError::ControlCharacter(1),
            ),
            (format!("o\n01\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n+1\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n-1\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n 1\n{root}\n"), CheckpointError::BadSize),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                CheckpointError::BadSize,
            ),
            ("o\n1\nYmFuYW5hcw==\n".to_owned(), CheckpointError::BadRoot),
            (
                format!("o\n1\n{}\n", root.replace("2I=", "2J=")),
                CheckpointError::BadRoot,
            ),
            (
                format!("o\n1\n{}\n", root.trim_end_matches('=')),
                CheckpointError::BadRoot,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(Checkpoint::parse(&text), Err(expected), "{text:?}");
        }
        assert_eq!(
            Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n")).map(|c| c.size()),
            Ok(u64::MAX)
        );
        assert_eq!(
            Checkpoint::parse(&format!("o\n0\n{root}\n")).map(|c| c.size()),
            Ok(0)
        );
    }

    #[test]
    fn a_chain_checkpoint_names_the_chain_and_its_tree() {
        let chain = ChainId::new("gd-medfund").unwrap();
        let mut tree = Frontier::new();
        let empty = Checkpoint::of_chain(&chain, &tree);
        assert_eq!(
            empty.text(),
            "fundtrail/gd-medfund\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
        );
        assert_eq!(*empty.root(), empty_root());
        tree.append(leaf_hash(b"block 1")).unwrap();
        let one = Checkpoint::of_chain(&chain, &tree);
        assert_eq!((one.origin(), one.size()), ("fundtrail/gd-medfund", 1));
        assert_eq!(*one.root(), leaf_hash(b"block 1"));
    }

    #[test]
    fn a_signed_checkpoint_round_trips_and_needs_its_checkpoint_text() {
        let keypair = Keypair::from_seed([4; 32]);
        let signer = Ed25519Signer::new(KeyName::new("fundtrail/gd-medfund").unwrap(), &keypair);
        let cp = Checkpoint::parse(SPEC_TEXT).unwrap();
        let signed = SignedCheckpoint::sign(cp.clone(), &signer).unwrap();
        let bytes = signed.to_string();
        let back = SignedCheckpoint::parse(bytes.as_bytes()).unwrap();
        assert_eq!(back, signed);
        assert_eq!(back.checkpoint(), &cp);
        assert_eq!(
            back.open(&[signer.vkey().clone()]).unwrap().verified.len(),
            1
        );

        let not_a_checkpoint = format!("hello\n\n{}", signer.sign("hello\n").line());
        assert_eq!(
            SignedCheckpoint::parse(not_a_checkpoint.as_bytes()),
            Err(CheckpointError::TooFewLines)
        );
        assert!(matches!(
            SignedCheckpoint::parse(SPEC_TEXT.as_bytes()),
            Err(CheckpointError::Note(_))
        ));
    }

    proptest! {
        #[test]
        fn checkpoints_round_trip(
            origin in "[a-z0-9./:+\u{4e2d} -]{1,30}",
            size in any::<u64>(),
            root in any::<[u8; 32]>(),
        ) {
            let cp = Checkpoint::new(origin, size, Hash32(root)).unwrap();
            prop_assert_eq!(Checkpoint::parse(&cp.text()), Ok(cp));
        }
    }
}
