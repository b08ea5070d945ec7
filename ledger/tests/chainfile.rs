//! The chain file's framing: what is written reads back the same, and a
//! file that is cut, padded, reordered, oversized or not a chain file at
//! all is refused with an error that names the height where reading stopped
//! (0 for the header and genesis).

use fundtrail_ledger::block::{Attestation, Block};
use fundtrail_ledger::chainfile::{
    ChainFileError, ChainFileErrorKind, ChainReader, ChainWriter, FrameType, MAX_FRAME_BYTES,
};
use fundtrail_ledger::types::Height;
use fundtrail_testkit::chain::ChainBuilder;
use fundtrail_testkit::ledger::chain_file;
use fundtrail_testkit::Kit;

const BLOCKS: usize = 4;

fn chain(seed: u8) -> (Kit, Vec<(Block, Vec<Attestation>)>) {
    let c = Kit::new(seed);
    let entries = ChainBuilder::for_kit(c.clone()).chain(BLOCKS, 6);
    (c, entries)
}

/// Where each frame starts, its length with its 5-byte head, and its type.
fn frames(bytes: &[u8]) -> Vec<(usize, usize, u8)> {
    let mut out = Vec::new();
    let mut at = 8;
    while at < bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        out.push((at, 5 + len, bytes[at + 4]));
        at += 5 + len;
    }
    assert_eq!(at, bytes.len(), "frames cover the file");
    out
}

/// Reads the whole file; returns the heights read and the error, if any.
fn read_all(bytes: &[u8]) -> (Vec<Height>, Result<(), ChainFileError>) {
    let mut heights = Vec::new();
    let result = (|| {
        let mut reader = ChainReader::new(bytes)?;
        while let Some(entry) = reader.next_entry()? {
            heights.push(entry.block.header.height);
        }
        Ok(())
    })();
    (heights, result)
}

fn failure(bytes: &[u8]) -> ChainFileError {
    read_all(bytes).1.expect_err("the file is refused")
}

#[test]
fn entries_read_back_as_written() {
    let (c, entries) = chain(21);
    let bytes = chain_file(&c.genesis_with_nodes(), &entries);
    let mut reader = ChainReader::new(bytes.as_slice()).expect("header and genesis");
    assert_eq!(reader.genesis(), &c.genesis_with_nodes());
    assert_eq!(reader.header().chain_id, c.chain_id);
    assert_eq!(
        (reader.header().from_height, reader.header().to_height),
        (Height(1), Height(BLOCKS as u64))
    );
    for (block, attestations) in &entries {
        let entry = reader
            .next_entry()
            .expect("a valid frame")
            .expect("a block");
        assert_eq!(&entry.block, block);
        let mut sorted = attestations.clone();
        sorted.sort_by_key(|a| a.node_key);
        assert_eq!(entry.attestations, sorted, "attestations in node key order");
    }
    assert!(reader.next_entry().expect("the end frame").is_none());
    assert!(reader.next_entry().expect("still the end").is_none());
}

#[test]
fn a_file_cut_anywhere_names_the_height_it_reached() {
    let (c, entries) = chain(22);
    let bytes = chain_file(&c.genesis_with_nodes(), &entries);
    let frames = frames(&bytes);
    assert_eq!(frames.len(), 2 + BLOCKS + 1, "header, genesis, blocks, end");
    let mut cuts = vec![(3, Height(0))];
    for (i, (start, len, _)) in frames.iter().enumerate() {
        // Frames 0 and 1 are the header and genesis; frame 2 + k holds
        // block k + 1; the last is the end frame, read after the last block.
        let height = Height(i.saturating_sub(1).min(BLOCKS + 1) as u64);
        cuts.push((*start, height));
        cuts.push((start + 2, height));
        cuts.push((start + len - 1, height));
    }
    for (cut, height) in cuts {
        let e = failure(&bytes[..cut]);
        assert!(
            matches!(e.kind, ChainFileErrorKind::Truncated),
            "cut at {cut}: {e}"
        );
        assert_eq!(e.height, height, "cut at {cut}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("chain file at height {height}: ")),
            "{e}"
        );
    }
}

#[test]
fn not_a_chain_file_or_another_version_is_refused_at_the_start() {
    let (c, entries) = chain(23);
    let bytes = chain_file(&c.genesis_with_nodes(), &entries);

    let mut magic = bytes.clone();
    magic[0] ^= 0x20;
    let e = failure(&magic);
    assert_eq!(e.height, Height(0));
    assert!(matches!(e.kind, ChainFileErrorKind::BadMagic), "{e}");

    // The header payload opens with the format version (u16, little endian).
    let mut version = bytes.clone();
    version[8 + 5] = 2;
    let e = failure(&version);
    assert_eq!(e.height, Height(0));
    assert!(matches!(e.kind, ChainFileErrorKind::Version(2)), "{e}");
}

#[test]
fn a_genesis_other_than_the_headers_is_refused() {
    let (c, entries) = chain(24);
    let (other, _) = chain(25);
    let bytes = chain_file(&c.genesis_with_nodes(), &entries);
    let other_bytes = chain_file(&other.genesis_with_nodes(), &[]);
    let (ours, theirs) = (frames(&bytes), frames(&other_bytes));
    let (genesis_at, genesis_len, _) = ours[1];
    let (their_at, their_len, _) = theirs[1];
    let spliced = [
        &bytes[..genesis_at],
        &other_bytes[their_at..their_at + their_len],
        &bytes[genesis_at + genesis_len..],
    ]
    .concat();
    let e = failure(&spliced);
    assert_eq!(e.height, Height(0));
    assert!(
        matches!(e.kind, ChainFileErrorKind::GenesisHash { .. }),
        "{e}"
    );
}

#[test]
fn a_frame_longer_than_the_limit_is_refused_before_it_is_read() {
    let (c, entries) = chain(26);
    let mut bytes = chain_file(&c.genesis_with_nodes(), &entries);
    let (third_block, _, kind) = frames(&bytes)[2 + 2];
    assert_eq!(kind, FrameType::Block as u8);
    bytes[third_block..third_block + 4].copy_from_slice(&(MAX_FRAME_BYTES + 1).to_be_bytes());
    let (read, result) = read_all(&bytes);
    let e = result.expect_err("oversized frame");
    assert_eq!(read, [Height(1), Height(2)]);
    assert_eq!(e.height, Height(3));
    assert!(
        matches!(e.kind, ChainFileErrorKind::FrameTooLarge(n) if n == MAX_FRAME_BYTES + 1),
        "{e}"
    );
}

#[test]
fn blocks_out_of_order_are_refused_at_the_height_expected() {
    let (c, entries) = chain(27);
    let bytes = chain_file(&c.genesis_with_nodes(), &entries);
    let f = frames(&bytes);
    let ((second, second_len, _), (third, third_len, _)) = (f[3], f[4]);
    let swapped = [
        &bytes[..second],
        &bytes[third..third + third_len],
        &bytes[second..second + second_len],
        &bytes[third + third_len..],
    ]
    .concat();
    let (read, result) = read_all(&swapped);
    let e = result.expect_err("block 3 where 2 was expected");
    assert_eq!(read, [Height(1)]);
    assert_eq!(e.height, Height(2));
    assert!(
        matches!(
            e.kind,
            ChainFileErrorKind::Height {
                expected: Height(2),
                actual: Height(3)
            }
        ),
        "{e}"
    );
}

#[test]
fn a_file_short_of_its_promised_range_or_padded_after_the_end_is_refused() {
    let (c, entries) = chain(28);
    let genesis = c.genesis_with_nodes();
    let promised = Height(BLOCKS as u64 + 1);
    let mut w = ChainWriter::new(Vec::new(), &genesis, Height(1), promised).expect("writer");
    for (block, attestations) in &entries {
        w.write_block(block, attestations).expect("in order");
    }
    let short = w.finish().expect("in-memory finish");
    let (read, result) = read_all(&short);
    assert_eq!(read.len(), BLOCKS);
    let e = result.expect_err("the header promised one block more");
    assert!(
        matches!(
            e.kind,
            ChainFileErrorKind::RangeMismatch { promised: p, actual: a }
                if p == promised && a == Height(BLOCKS as u64)
        ),
        "{e}"
    );

    let mut padded = chain_file(&genesis, &entries);
    padded.push(0);
    let (read, result) = read_all(&padded);
    assert_eq!(read.len(), BLOCKS);
    let e = result.expect_err("a byte after the end frame");
    assert!(matches!(e.kind, ChainFileErrorKind::TrailingBytes), "{e}");
}

#[test]
fn the_writer_refuses_a_block_out_of_order() {
    let (c, entries) = chain(29);
    let mut w = ChainWriter::new(
        Vec::new(),
        &c.genesis_with_nodes(),
        Height(1),
        Height(BLOCKS as u64),
    )
    .expect("writer");
    let (second, attestations) = &entries[1];
    let e = w
        .write_block(second, attestations)
        .expect_err("block 2 before block 1");
    assert!(
        e.to_string().contains("block 2 where 1 was expected"),
        "{e}"
    );
}
