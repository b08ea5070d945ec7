//! Property tests for the decoders of bytes from outside: signed records and
//! chain files. Arbitrary and mutated inputs never panic, and whatever
//! decodes re-encodes to exactly the same bytes.

use fundtrail_ledger::chainfile::{ChainReader, ChainWriter};
use fundtrail_ledger::record::SignedRecord;
use fundtrail_ledger::types::Height;
use fundtrail_testkit::chain::ChainBuilder;
use fundtrail_testkit::Kit;
use proptest::prelude::*;

fn sample_records() -> Vec<Vec<u8>> {
    let c = Kit::new(2);
    ChainBuilder::for_kit(c.clone())
        .records(22)
        .iter()
        .map(SignedRecord::encode)
        .collect()
}

fn sample_chain_file() -> Vec<u8> {
    let c = Kit::new(2);
    let chain = ChainBuilder::for_kit(c.clone()).chain(3, 4);
    let mut w = ChainWriter::new(Vec::new(), &c.genesis_with_nodes(), Height(1), Height(3))
        .expect("writer");
    for (b, a) in &chain {
        w.write_block(b, a).expect("write");
    }
    w.finish().expect("finish")
}

fn read_whole(bytes: &[u8]) -> Result<usize, String> {
    let mut reader = ChainReader::new(bytes).map_err(|e| e.to_string())?;
    let mut n = 0;
    while reader.next_entry().map_err(|e| e.to_string())?.is_some() {
        n += 1;
    }
    Ok(n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(r) = SignedRecord::decode(&bytes) {
            prop_assert_eq!(r.encode(), bytes.clone());
        }
        let _ = read_whole(&bytes);
    }

    #[test]
    fn mutated_records_reencode_exactly_or_fail(
        which in 0usize..22,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = sample_records().swap_remove(which);
        for (i, v) in edits {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(r) = SignedRecord::decode(&bytes) {
            prop_assert_eq!(r.encode(), bytes);
        }
    }

    #[test]
    fn mutated_chain_files_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = sample_chain_file();
        for (i, v) in edits {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let _ = read_whole(&bytes);
    }
}

#[test]
fn honest_chain_file_reads_fully() {
    assert_eq!(read_whole(&sample_chain_file()), Ok(3));
}
