//! The chain file: a framed, versioned export of a whole chain that an
//! auditor can verify offline. Writing and reading both stream, one block at
//! a time, so memory does not grow with the chain.
//!
//! ```text
//! file   = magic "FTCHAIN\n" , header-frame , genesis-frame , ( block-frame , evidence-frame* )* , end-frame
//! frame  = u32 big-endian payload length , u8 frame type , payload (canonical encoding)
//! ```
//! An evidence frame holds one [`Equivocation`] about the block just before
//! it, checked as it is read.
//! Every error names the height that was being read (0 for the file header
//! and genesis), so a corrupt byte is always located.

use std::fmt;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use crate::block::{Attestation, Block, BlockHash, Genesis, GenesisHash};
use crate::codec::{self, DecodeError};
use crate::crypto::PublicKey;
use crate::evidence::{Equivocation, EvidenceError};
use crate::hash::Hash32;
use crate::types::{ChainId, Height};
use crate::verify::{BlockReport, ChainVerifier, VerifiedBlock, VerifyError};

pub const MAGIC: &[u8; 8] = b"FTCHAIN\n";
pub const FORMAT_VERSION: u16 = 1;
/// Frames above this are refused before any allocation.
pub const MAX_FRAME_BYTES: u32 = 256 * 1024 * 1024;

/// Most of a frame's stated length reserved before reading it.
const RESERVE_AHEAD_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameType {
    Header = 1,
    Genesis = 2,
    Block = 3,
    End = 4,
    Evidence = 5,
}

impl FrameType {
    fn from_byte(b: u8) -> Option<FrameType> {
        match b {
            1 => Some(FrameType::Header),
            2 => Some(FrameType::Genesis),
            3 => Some(FrameType::Block),
            4 => Some(FrameType::End),
            5 => Some(FrameType::Evidence),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainFileHeader {
    pub format_version: u16,
    pub chain_id: ChainId,
    pub genesis_hash: GenesisHash,
    pub from_height: Height,
    pub to_height: Height,
}

/// One block with the attestations collected for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockEntry {
    pub block: Block,
    pub attestations: Vec<Attestation>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndFrame {
    blocks: u64,
    last_hash: Hash32,
}

#[derive(Debug, thiserror::Error)]
pub struct ChainFileError {
    pub height: Height,
    pub kind: ChainFileErrorKind,
}

impl fmt::Display for ChainFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chain file at height {}: {}", self.height, self.kind)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChainFileErrorKind {
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error("not a fundtrail chain file (bad magic)")]
    BadMagic,
    #[error("chain file format version {0} is not supported (this build reads 1)")]
    Version(u16),
    #[error("expected a {expected:?} frame, found frame type {actual}")]
    UnexpectedFrame { expected: FrameType, actual: u8 },
    #[error("frame of {0} bytes exceeds the limit")]
    FrameTooLarge(u32),
    #[error("file ends in the middle of the chain (no end frame)")]
    Truncated,
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("genesis hashes to {actual}, the file header says {expected}")]
    GenesisHash {
        expected: GenesisHash,
        actual: GenesisHash,
    },
    #[error("header names chain {header}, genesis names {genesis}")]
    ChainId { header: String, genesis: String },
    #[error("block frame holds height {actual}, expected {expected}")]
    Height { expected: Height, actual: Height },
    #[error("end frame says {blocks} blocks ending at {last_hash}, file holds {actual_blocks} ending at {actual_hash}")]
    EndMismatch {
        blocks: u64,
        last_hash: Hash32,
        actual_blocks: u64,
        actual_hash: Hash32,
    },
    #[error("header promises heights up to {promised}, file ends at {actual}")]
    RangeMismatch { promised: Height, actual: Height },
    #[error("header height range {from}..={to} is empty or starts at genesis")]
    BadRange { from: Height, to: Height },
    #[error("bytes after the end frame")]
    TrailingBytes,
    #[error("an evidence frame comes before any block")]
    EvidenceBeforeBlock,
    #[error("evidence frame is about height {0}, but follows the block at this height")]
    EvidenceHeight(Height),
    #[error("evidence names block {named} as the chain's, the file's block is {actual}")]
    EvidenceBlock { named: BlockHash, actual: BlockHash },
    #[error("evidence frames of one height are not in increasing node key order")]
    EvidenceOrder,
    #[error("invalid equivocation evidence: {0}")]
    Evidence(#[from] EvidenceError),
}

fn at(height: Height) -> impl Fn(ChainFileErrorKind) -> ChainFileError {
    move |kind| ChainFileError { height, kind }
}

fn write_frame<W: Write>(w: &mut W, t: FrameType, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(|_| io::Error::other("frame too large"))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&[t as u8])?;
    w.write_all(payload)
}

/// Streams a chain into a writer.
pub struct ChainWriter<W: Write> {
    out: W,
    next: Height,
    blocks: u64,
    last_hash: Hash32,
    /// Key of the last evidence written after the current block.
    evidence_key: Option<PublicKey>,
}

impl<W: Write> ChainWriter<W> {
    pub fn new(
        mut out: W,
        genesis: &Genesis,
        from_height: Height,
        to_height: Height,
    ) -> io::Result<Self> {
        let header = ChainFileHeader {
            format_version: FORMAT_VERSION,
            chain_id: genesis.chain_id.clone(),
            genesis_hash: genesis.hash(),
            from_height,
            to_height,
        };
        out.write_all(MAGIC)?;
        write_frame(&mut out, FrameType::Header, &codec::encode(&header))?;
        write_frame(&mut out, FrameType::Genesis, &codec::encode(genesis))?;
        Ok(ChainWriter {
            out,
            next: from_height,
            blocks: 0,
            last_hash: genesis.hash().hash(),
            evidence_key: None,
        })
    }

    pub fn write_block(&mut self, block: &Block, attestations: &[Attestation]) -> io::Result<()> {
        if block.header.height != self.next {
            return Err(io::Error::other(format!(
                "export out of order: block {} where {} was expected",
                block.header.height, self.next
            )));
        }
        // Attestations are written sorted by node key, so one chain has one file.
        let mut attestations = attestations.to_vec();
        attestations.sort_by_key(|a| a.node_key);
        let entry = BlockEntryRef {
            block,
            attestations: &attestations,
        };
        write_frame(&mut self.out, FrameType::Block, &codec::encode(&entry))?;
        self.next = self.next.next();
        self.blocks += 1;
        self.last_hash = block.hash().hash();
        self.evidence_key = None;
        Ok(())
    }

    /// Writes evidence about the block just written; several for one block
    /// go in increasing node key order, so one chain has one file.
    pub fn write_equivocation(&mut self, evidence: &Equivocation) -> io::Result<()> {
        let about_last_block = self.blocks > 0
            && evidence.height().next() == self.next
            && evidence.chain_block.hash() == self.last_hash;
        if !about_last_block {
            return Err(io::Error::other(format!(
                "export out of order: evidence at height {} does not follow its block",
                evidence.height()
            )));
        }
        let key = evidence.node_key();
        if self.evidence_key.is_some_and(|last| last >= key) {
            return Err(io::Error::other(format!(
                "export out of order: evidence at height {} not in node key order",
                evidence.height()
            )));
        }
        write_frame(&mut self.out, FrameType::Evidence, &codec::encode(evidence))?;
        self.evidence_key = Some(key);
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<W> {
        let end = EndFrame {
            blocks: self.blocks,
            last_hash: self.last_hash,
        };
        write_frame(&mut self.out, FrameType::End, &codec::encode(&end))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Borrowing twin of [`BlockEntry`]; encodes to the same bytes.
#[derive(Serialize)]
struct BlockEntryRef<'a> {
    block: &'a Block,
    attestations: &'a [Attestation],
}

/// Streams a chain out of a reader, checking the framing as it goes.
pub struct ChainReader<R: Read> {
    input: R,
    header: ChainFileHeader,
    genesis: Genesis,
    next: Height,
    blocks: u64,
    last_hash: Hash32,
    done: bool,
    equivocations: Vec<Equivocation>,
    /// Key of the last evidence read after the current block.
    evidence_key: Option<PublicKey>,
}

impl<R: Read> ChainReader<R> {
    pub fn new(mut input: R) -> Result<Self, ChainFileError> {
        let e0 = at(Height(0));
        let mut magic = [0u8; 8];
        read_exact_or_truncated(&mut input, &mut magic).map_err(&e0)?;
        if &magic != MAGIC {
            return Err(e0(ChainFileErrorKind::BadMagic));
        }
        let payload = read_frame(&mut input, FrameType::Header).map_err(&e0)?;
        let header: ChainFileHeader =
            codec::decode("chain file header", &payload).map_err(|e| e0(e.into()))?;
        if header.format_version != FORMAT_VERSION {
            return Err(e0(ChainFileErrorKind::Version(header.format_version)));
        }
        if header.from_height.0 == 0 || header.from_height.0 > header.to_height.0.saturating_add(1)
        {
            return Err(e0(ChainFileErrorKind::BadRange {
                from: header.from_height,
                to: header.to_height,
            }));
        }
        let payload = read_frame(&mut input, FrameType::Genesis).map_err(&e0)?;
        let genesis: Genesis = codec::decode("genesis", &payload).map_err(|e| e0(e.into()))?;
        check_genesis(&header, &genesis).map_err(&e0)?;
        Ok(ChainReader {
            input,
            next: header.from_height,
            last_hash: genesis.hash().hash(),
            header,
            genesis,
            blocks: 0,
            done: false,
            equivocations: Vec::new(),
            evidence_key: None,
        })
    }

    pub fn header(&self) -> &ChainFileHeader {
        &self.header
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// Equivocation evidence read so far, each checked against its block.
    pub fn equivocations(&self) -> &[Equivocation] {
        &self.equivocations
    }

    /// The next block, or `None` after a valid end frame. Evidence frames
    /// on the way are checked and kept (see [`ChainReader::equivocations`]).
    pub fn next_entry(&mut self) -> Result<Option<BlockEntry>, ChainFileError> {
        if self.done {
            return Ok(None);
        }
        loop {
            let err = at(self.next);
            let (t, payload) = read_any_frame(&mut self.input).map_err(&err)?;
            match t {
                FrameType::Block => return self.block_frame(&payload).map(Some),
                FrameType::Evidence => self.evidence_frame(&payload)?,
                FrameType::End => {
                    let end: EndFrame =
                        codec::decode("end frame", &payload).map_err(|e| err(e.into()))?;
                    self.check_end(&end).map_err(&err)?;
                    self.done = true;
                    return Ok(None);
                }
                other => {
                    return Err(err(ChainFileErrorKind::UnexpectedFrame {
                        expected: FrameType::Block,
                        actual: other as u8,
                    }))
                }
            }
        }
    }

    fn block_frame(&mut self, payload: &[u8]) -> Result<BlockEntry, ChainFileError> {
        let err = at(self.next);
        let entry: BlockEntry = codec::decode("block frame", payload).map_err(|e| err(e.into()))?;
        if entry.block.header.height != self.next {
            return Err(err(ChainFileErrorKind::Height {
                expected: self.next,
                actual: entry.block.header.height,
            }));
        }
        self.next = self.next.next();
        self.blocks += 1;
        self.last_hash = entry.block.hash().hash();
        self.evidence_key = None;
        Ok(entry)
    }

    /// Checks an evidence frame against the block read just before it.
    fn evidence_frame(&mut self, payload: &[u8]) -> Result<(), ChainFileError> {
        let height = Height(self.next.0.saturating_sub(1));
        let err = at(height);
        if self.blocks == 0 {
            return Err(err(ChainFileErrorKind::EvidenceBeforeBlock));
        }
        let evidence: Equivocation =
            codec::decode("evidence frame", payload).map_err(|e| err(e.into()))?;
        if evidence.height() != height {
            return Err(err(ChainFileErrorKind::EvidenceHeight(evidence.height())));
        }
        if evidence.chain_block.hash() != self.last_hash {
            return Err(err(ChainFileErrorKind::EvidenceBlock {
                named: evidence.chain_block,
                actual: self.last_hash(),
            }));
        }
        let key = evidence.node_key();
        if self.evidence_key.is_some_and(|last| last >= key) {
            return Err(err(ChainFileErrorKind::EvidenceOrder));
        }
        evidence.check(&self.genesis).map_err(|e| err(e.into()))?;
        self.evidence_key = Some(key);
        self.equivocations.push(evidence);
        Ok(())
    }

    fn check_end(&mut self, end: &EndFrame) -> Result<(), ChainFileErrorKind> {
        if end.blocks != self.blocks || end.last_hash != self.last_hash {
            return Err(ChainFileErrorKind::EndMismatch {
                blocks: end.blocks,
                last_hash: end.last_hash,
                actual_blocks: self.blocks,
                actual_hash: self.last_hash,
            });
        }
        let last = Height(self.next.0.saturating_sub(1));
        if last != self.header.to_height {
            return Err(ChainFileErrorKind::RangeMismatch {
                promised: self.header.to_height,
                actual: last,
            });
        }
        let mut probe = [0u8; 1];
        match self.input.read(&mut probe) {
            Ok(0) => Ok(()),
            Ok(_) => Err(ChainFileErrorKind::TrailingBytes),
            Err(e) => Err(e.into()),
        }
    }
}

fn check_genesis(header: &ChainFileHeader, genesis: &Genesis) -> Result<(), ChainFileErrorKind> {
    if genesis.hash() != header.genesis_hash {
        return Err(ChainFileErrorKind::GenesisHash {
            expected: header.genesis_hash,
            actual: genesis.hash(),
        });
    }
    if genesis.chain_id != header.chain_id {
        return Err(ChainFileErrorKind::ChainId {
            header: header.chain_id.to_string(),
            genesis: genesis.chain_id.to_string(),
        });
    }
    Ok(())
}

fn read_exact_or_truncated<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<(), ChainFileErrorKind> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ChainFileErrorKind::Truncated,
        _ => ChainFileErrorKind::Io(e),
    })
}

fn read_any_frame<R: Read>(r: &mut R) -> Result<(FrameType, Vec<u8>), ChainFileErrorKind> {
    let mut head = [0u8; 5];
    read_exact_or_truncated(r, &mut head)?;
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let t = FrameType::from_byte(head[4]).ok_or(ChainFileErrorKind::UnexpectedFrame {
        expected: FrameType::Block,
        actual: head[4],
    })?;
    if len > MAX_FRAME_BYTES {
        return Err(ChainFileErrorKind::FrameTooLarge(len));
    }
    // Sized up front so a block is read without regrowing; a length the
    // rest of the file does not back reserves no more than this.
    let mut payload = Vec::with_capacity((len as usize).min(RESERVE_AHEAD_BYTES));
    let read = r.take(u64::from(len)).read_to_end(&mut payload)?;
    if read != len as usize {
        return Err(ChainFileErrorKind::Truncated);
    }
    Ok((t, payload))
}

fn read_frame<R: Read>(r: &mut R, expected: FrameType) -> Result<Vec<u8>, ChainFileErrorKind> {
    let (t, payload) = read_any_frame(r)?;
    if t != expected {
        return Err(ChainFileErrorKind::UnexpectedFrame {
            expected,
            actual: t as u8,
        });
    }
    Ok(payload)
}

/// Any failure while reading and verifying a chain file; both name a height.
#[derive(Debug, thiserror::Error)]
pub enum ChainCheckError {
    #[error(transparent)]
    File(#[from] ChainFileError),
    #[error("{0}")]
    Verify(Box<VerifyError>),
    #[error("height {height}: {source}")]
    Sink {
        height: Height,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl From<VerifyError> for ChainCheckError {
    fn from(e: VerifyError) -> ChainCheckError {
        ChainCheckError::Verify(Box::new(e))
    }
}

impl ChainCheckError {
    pub fn height(&self) -> Height {
        match self {
            ChainCheckError::File(e) => e.height,
            ChainCheckError::Verify(e) => e.height,
            ChainCheckError::Sink { height, .. } => *height,
        }
    }
}

/// What a successful verification saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainSummary {
    pub blocks: u64,
    pub records: u64,
    pub head_height: Height,
    pub head_hash: Hash32,
    /// Fewest organisations that attested any one block.
    pub min_attesting_orgs: usize,
}

/// A block with the attestations read for it.
type AttestedBlock = (Block, Vec<Attestation>);

/// Records per verification group: enough for the signature batch to keep
/// every core busy, small enough to bound memory.
const GROUP_RECORDS: usize = 16_384;

/// Reads and verifies a whole chain file, handing each verified block to
/// `sink` (e.g. an importer) in order.
pub fn verify_stream<R: Read>(
    reader: &mut ChainReader<R>,
    verifier: &mut ChainVerifier,
    mut sink: impl FnMut(VerifiedBlock, &BlockReport, Vec<Attestation>) -> Result<(), ChainCheckError>,
) -> Result<ChainSummary, ChainCheckError> {
    let mut summary = ChainSummary {
        min_attesting_orgs: usize::MAX,
        ..ChainSummary::default()
    };
    loop {
        let (group, done) = read_group(reader)?;
        let atts: Vec<Vec<Attestation>> = group.iter().map(|(_, a)| a.clone()).collect();
        for ((vb, report), att) in verifier.verify_blocks(group)?.into_iter().zip(atts) {
            summary.blocks += 1;
            summary.records += report.records as u64;
            summary.head_height = report.height;
            summary.head_hash = report.hash.hash();
            summary.min_attesting_orgs = summary.min_attesting_orgs.min(report.attesting_orgs);
            sink(vb, &report, att)?;
        }
        if done {
            break;
        }
    }
    if summary.blocks == 0 {
        summary.min_attesting_orgs = 0;
        summary.head_hash = verifier.head_hash();
    }
    verifier.finish(reader.header().to_height)?;
    Ok(summary)
}

fn read_group<R: Read>(
    reader: &mut ChainReader<R>,
) -> Result<(Vec<AttestedBlock>, bool), ChainFileError> {
    let mut group = Vec::new();
    let mut records = 0;
    while records < GROUP_RECORDS {
        match reader.next_entry()? {
            Some(entry) => {
                records += entry.block.records.len().max(1);
                group.push((entry.block, entry.attestations));
            }
            None => return Ok((group, true)),
        }
    }
    Ok((group, false))
}

/// Hash of the last block the reader has returned (genesis hash before any).
impl<R: Read> ChainReader<R> {
    pub fn last_hash(&self) -> BlockHash {
        BlockHash::from_hash(self.last_hash)
    }
}
