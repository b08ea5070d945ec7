//! Moves a store written in key layout 1 to the current layout in place, so
//! that a node keeps its data directory, private vault included, across the
//! upgrade.
//!
//! Layout 1 kept each record under its id, with its height and index; each
//! block listed its record ids; index entries held the record id. The
//! current layout keeps records under their position and indexes as keys
//! alone (docs/ENCODING.md §6). Both record keys fit in one family, told
//! apart by length, so the move needs no family renamed. It goes a block
//! per write batch, each noting how far it got, so a move cut short by a
//! crash resumes where it stopped.

use rocksdb::{IteratorMode, WriteBatch, DB};
use serde::Deserialize;

use super::{
    cf, height_key, ChainPosition, Head, Store, StoreError, StoredBlockRef, StoredRecordRef,
    INDEXES, META_FORMAT, META_HEAD, STORE_FORMAT,
};
use crate::block::{BlockHeader, Outcome};
use crate::codec;
use crate::record::{RecordId, SignedRecord};
use crate::types::Height;

/// The last height moved, while a move is under way.
const META_MOVED_THROUGH: &[u8] = b"layout_1_moved_through";

#[derive(Deserialize)]
struct BlockV1 {
    header: BlockHeader,
    record_ids: Vec<RecordId>,
}

#[derive(Deserialize)]
struct RecordV1 {
    height: Height,
    index: u32,
    record: SignedRecord,
    outcome: Outcome,
}

/// Index entries rewritten per write batch.
const INDEX_BATCH: usize = 10_000;

pub(super) fn from_layout_1(db: &DB) -> Result<(), StoreError> {
    let meta = Store::cf_of(db, cf::META);
    let head: Head = decode(db.get_cf(meta, META_HEAD)?, "head", Height(0))?;
    let moved: Height = match db.get_cf(meta, META_MOVED_THROUGH)? {
        Some(bytes) => decode(Some(bytes), "layout move progress", Height(0))?,
        None => Height(0),
    };
    for h in moved.0 + 1..=head.height.0 {
        move_block(db, Height(h))?;
    }
    for family in INDEXES {
        empty_index_values(db, family)?;
    }
    let mut done = WriteBatch::default();
    done.put_cf(meta, META_FORMAT, STORE_FORMAT.to_be_bytes());
    done.delete_cf(meta, META_MOVED_THROUGH);
    db.write(done)?;
    db.flush_wal(true)?;
    // Layout 1 kept records in blob files; compaction lets go of them.
    db.compact_range_cf(Store::cf_of(db, cf::RECORDS), None::<&[u8]>, None::<&[u8]>);
    Ok(())
}

fn move_block(db: &DB, h: Height) -> Result<(), StoreError> {
    let blocks = Store::cf_of(db, cf::BLOCKS);
    let records = Store::cf_of(db, cf::RECORDS);
    let ids = Store::cf_of(db, cf::RECORD_IDS);
    let block: BlockV1 = decode(db.get_cf(blocks, height_key(h))?, "block", h)?;
    let mut batch = WriteBatch::default();
    for id in &block.record_ids {
        let old: RecordV1 = decode(db.get_cf(records, id.as_bytes())?, "record", h)?;
        let at = ChainPosition {
            height: old.height,
            index: old.index,
        };
        let stored = StoredRecordRef {
            record: &old.record,
            outcome: &old.outcome,
        };
        batch.put_cf(records, at.key(), codec::encode(&stored));
        batch.put_cf(ids, id.as_bytes(), at.key());
        batch.delete_cf(records, id.as_bytes());
    }
    let stored = StoredBlockRef {
        header: &block.header,
        records: block.record_ids.len() as u32,
    };
    batch.put_cf(blocks, height_key(h), codec::encode(&stored));
    batch.put_cf(
        Store::cf_of(db, cf::META),
        META_MOVED_THROUGH,
        codec::encode(&h),
    );
    db.write(batch)?;
    Ok(())
}

/// Drops the record ids index entries held: the key's position says it.
fn empty_index_values(db: &DB, family: &str) -> Result<(), StoreError> {
    let handle = Store::cf_of(db, family);
    let mut batch = WriteBatch::default();
    for item in db.iterator_cf(handle, IteratorMode::Start) {
        let (key, value) = item?;
        if value.is_empty() {
            continue;
        }
        batch.put_cf(handle, key, []);
        if batch.len() >= INDEX_BATCH {
            db.write(std::mem::take(&mut batch))?;
        }
    }
    db.write(batch)?;
    Ok(())
}

fn decode<T: serde::de::DeserializeOwned>(
    bytes: Option<Vec<u8>>,
    what: &str,
    height: Height,
) -> Result<T, StoreError> {
    let bytes = bytes.ok_or_else(|| StoreError::Corrupt {
        what: format!("layout 1 {what} is missing"),
        height,
    })?;
    codec::decode("stored value", &bytes).map_err(|e| StoreError::Corrupt {
        what: format!("layout 1 {what}: {e}"),
        height,
    })
}
