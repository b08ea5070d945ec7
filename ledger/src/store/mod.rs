//! The RocksDB store: blocks, records with their outcomes, contract state,
//! lookup indexes, attestations, equivocation evidence, and column families
//! the node uses for Raft and its private vault.
//!
//! A block, its records and outcomes, its state writes, its indexes, the new
//! head and any caller metadata (the Raft applied index) go into **one**
//! `WriteBatch`, so a crash never leaves half a block. The batch is either
//! fsynced through the write-ahead log, or, for a caller that keeps its own
//! durable log to redo it from (the node's Raft log), left out of the WAL
//! and made durable by the next flush; see [`Durability`]. Every column
//! family flushes atomically, so a crash loses a suffix of such commits and
//! never part of one. Key layouts are in docs/ENCODING.md §Store.

use std::path::Path;
use std::sync::Mutex;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, Direction, IteratorMode,
    Options, ReadOptions, WriteBatch, WriteOptions, DB,
};
use serde::{Deserialize, Serialize};

use crate::block::{Attestation, Block, BlockHeader, Genesis, Outcome, StateWrite};
use crate::chainfile::{verify_stream, ChainCheckError, ChainReader, ChainSummary, ChainWriter};
use crate::codec;
use crate::crypto::PublicKey;
use crate::evidence::Equivocation;
use crate::hash::Hash32;
use crate::pseudonym::{ClaimId, PersonId};
use crate::record::{RecordId, SignedRecord};
use crate::types::{FundId, Height};
use crate::verify::{ChainVerifier, VerifiedBlock};

mod migrate;

pub mod cf {
    /// Block headers by height.
    pub const BLOCKS: &str = "blocks";
    /// Records with their outcomes, by chain position: written once, in
    /// key order, so compaction moves their files instead of rewriting them.
    pub const RECORDS: &str = "records";
    /// Each record's chain position, by record id.
    pub const RECORD_IDS: &str = "record_ids";
    pub const STATE: &str = "state";
    pub const IDX_CLAIM: &str = "idx_claim";
    pub const IDX_PERSON: &str = "idx_person";
    pub const IDX_FUND: &str = "idx_fund";
    /// Reversals, disclosures and disclosure fetches by the records they
    /// act on (`RecordBody::targets`).
    pub const IDX_TARGET: &str = "idx_target";
    /// Records by submitter and nonce: what a department's reference became
    /// (docs/SUBMISSION.md, "Record identity").
    pub const IDX_SUBMISSION: &str = "idx_submission";
    pub const ATTESTATIONS: &str = "attestations";
    /// Attestations of a block other than the chain's at a held height: at
    /// most one per height and node key.
    pub const CONFLICTING: &str = "conflicting_attestations";
    pub const META: &str = "meta";
    pub const RAFT_LOG: &str = "raft_log";
    pub const RAFT_META: &str = "raft_meta";
    /// Private to this node: raw bills and salts. Never exported or replicated.
    pub const VAULT: &str = "vault";
    /// Private to this node: the `disclosure_fetch` records it has answered
    /// as a holder, each answered once. Never exported or replicated.
    pub const SERVED_FETCHES: &str = "served_fetches";

    pub const ALL: [&str; 16] = [
        BLOCKS,
        RECORDS,
        RECORD_IDS,
        STATE,
        IDX_CLAIM,
        IDX_PERSON,
        IDX_FUND,
        IDX_TARGET,
        IDX_SUBMISSION,
        ATTESTATIONS,
        CONFLICTING,
        META,
        RAFT_LOG,
        RAFT_META,
        VAULT,
        SERVED_FETCHES,
    ];
}

const META_GENESIS: &[u8] = b"genesis";
/// The key layout a store was written in ([`STORE_FORMAT`]).
const META_FORMAT: &[u8] = b"store_format";
/// The key layout of docs/ENCODING.md §6: records by chain position, and
/// indexes whose keys end in the position they point to.
pub const STORE_FORMAT: u32 = 2;
const META_HEAD: &[u8] = b"head";
/// Set when blocks were imported without executing contracts: the `state`
/// column family then does not match `head.state_root`.
const META_STATE_DETACHED: &[u8] = b"state_detached";
/// How many conflicting attestations the store holds.
const META_CONFLICTING_COUNT: &[u8] = b"conflicting_count";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("store at {0} already holds a chain")]
    AlreadyInitialised(String),
    #[error("store has no genesis: not a fundtrail data directory")]
    NoGenesis,
    #[error("store is corrupt: {what} at height {height}")]
    Corrupt { what: String, height: Height },
    #[error(
        "block {actual} does not extend the head (expected height {expected} on parent {parent})"
    )]
    NotNext {
        expected: Height,
        actual: Height,
        parent: Hash32,
    },
    #[error("block {0} is not in the store")]
    MissingBlock(Height),
    #[error(
        "store at {path} has column family {family}, which this version does not use: \
         it was written by an incompatible version; export its chain with that version \
         or create the data directory anew"
    )]
    UnknownColumnFamily { path: String, family: String },
    #[error(
        "store at {path} is in key layout {found}, which this version cannot read (it reads \
         layout {STORE_FORMAT} and moves layout 1 to it): it was written by a newer version; \
         run that version, or export the chain with it (`fundtrail export`)"
    )]
    Format { path: String, found: u32 },
}

/// A vault entry as stored: the record id it is kept under, and the
/// sealed entry.
pub type VaultRow = (Vec<u8>, Vec<u8>);

/// The latest committed block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub height: Height,
    pub hash: Hash32,
    pub state_root: Hash32,
    pub timestamp_ms: u64,
}

/// How a block is kept: its header and how many records it holds; the
/// records live in their own family at positions `(height, 0..records)`.
#[derive(Serialize, Deserialize)]
struct StoredBlock {
    header: BlockHeader,
    records: u32,
}

/// A record as kept at its position.
#[derive(Serialize, Deserialize)]
struct StoredRecord {
    record: SignedRecord,
    outcome: Outcome,
}

/// A record where it was committed, with the contracts' verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordEntry {
    pub height: Height,
    pub index: u32,
    pub record: SignedRecord,
    pub outcome: Outcome,
}

/// Where a record sits in the chain: its block's height and its index in
/// the block. Every index lists its records in this order, and a chain
/// only grows at its end, so a position stays where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainPosition {
    pub height: Height,
    pub index: u32,
}

impl ChainPosition {
    /// Height BE ‖ index BE: the key of a record, and the end of every
    /// index key. Keys sort in chain order.
    fn key(self) -> [u8; 12] {
        let mut k = [0u8; 12];
        k[..8].copy_from_slice(&self.height.0.to_be_bytes());
        k[8..].copy_from_slice(&self.index.to_be_bytes());
        k
    }

    fn from_key(key: &[u8]) -> Option<ChainPosition> {
        let key: &[u8; 12] = key.try_into().ok()?;
        let (height, index) = key.split_at(8);
        Some(ChainPosition {
            height: Height(u64::from_be_bytes(height.try_into().ok()?)),
            index: u32::from_be_bytes(index.try_into().ok()?),
        })
    }
}

/// One page of an index: the positions of records, in chain order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexPage {
    pub positions: Vec<ChainPosition>,
    /// Whether the index holds records after the last one listed.
    pub more: bool,
}

impl IndexPage {
    /// Where the next page starts after, if there is a next page.
    pub fn next_after(&self) -> Option<ChainPosition> {
        if !self.more {
            return None;
        }
        self.positions.last().copied()
    }
}

/// Capacity reserved up front for a page, whatever limit is asked.
const MAX_PREALLOCATED_PAGE: usize = 1024;

pub struct Store {
    db: DB,
    genesis: Genesis,
    /// Held while a conflicting attestation is checked for and written, so
    /// its count stays exact.
    conflicting: Mutex<()>,
}

/// How a commit reaches the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Through the write-ahead log, fsynced before the call returns.
    Synced,
    /// Not through the write-ahead log: a crash loses it until RocksDB next
    /// flushes ([`Store::flush`], or a memtable filling up). Only for a
    /// caller that can redo the commit from a durable log of its own and
    /// keeps that log until [`Store::flush`] has returned.
    Redoable,
}

impl Durability {
    fn write_options(self) -> WriteOptions {
        let mut w = WriteOptions::default();
        match self {
            Durability::Synced => w.set_sync(true),
            Durability::Redoable => w.disable_wal(true),
        }
        w
    }
}

fn db_options(cache: &Cache) -> Options {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.set_compression_type(DBCompressionType::None);
    o.increase_parallelism(2);
    // Most point reads ask for keys that do not exist yet (a new record id,
    // a person's first claim): a whole-key bloom filter in the memtable
    // answers those without searching its skip list.
    o.set_memtable_whole_key_filtering(true);
    o.set_memtable_prefix_bloom_ratio(0.1);
    // The same for flushed tables: 10 bits per key, about 1 % false hits.
    o.set_block_based_table_factory(&table_options(cache, true));
    o
}

/// Table options over the store's one block cache, with or without
/// bloom filters.
fn table_options(cache: &Cache, bloom: bool) -> BlockBasedOptions {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    if bloom {
        table.set_bloom_filter(10.0, false);
        table.set_whole_key_filtering(true);
    }
    table
}

/// What a store is tuned with when opened; nothing here changes what it
/// holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreTuning {
    /// Bytes of uncompressed table blocks cached, all families together.
    /// Contract execution reads committed state at random: once the state
    /// family outgrows this cache, every read is a file read, and the cost
    /// of a record grows with the chain.
    pub block_cache_bytes: usize,
}

impl Default for StoreTuning {
    fn default() -> StoreTuning {
        StoreTuning {
            block_cache_bytes: 64 << 20,
        }
    }
}

/// Options of one column family.
/// - Records arrive in key order and are never rewritten: large blocks,
///   compressed with zstd, no bloom filter (every read is of a key that
///   exists).
/// - Families with random keys are compressed with LZ4 where compaction
///   rewrites them often, and with zstd in the last level, which holds
///   most of their bytes.
/// - The index families, written every commit and read only by history
///   queries, keep their memtables as vectors, sorted once when flushed.
///
/// State and record ids once had hash-bucketed memtables, whose inserts
/// are cheaper than a skip list's; but every flush then sorted them into a
/// skip list. In the cluster benchmark the default skip list cost a node
/// 6 % more CPU per record in the first 500k records and 6–14 % less after.
fn cf_options(name: &str, cache: &Cache) -> Options {
    let mut o = db_options(cache);
    if name == cf::RECORDS {
        let mut table = table_options(cache, false);
        table.set_block_size(64 << 10);
        o.set_block_based_table_factory(&table);
        o.set_compression_type(DBCompressionType::Zstd);
    }
    if RANDOM_KEYS.contains(&name) || INDEXES.contains(&name) {
        o.set_compression_type(DBCompressionType::Lz4);
        o.set_bottommost_compression_type(DBCompressionType::Zstd);
    }
    if INDEXES.contains(&name) {
        o.set_memtable_factory(rocksdb::MemtableFactory::Vector);
        o.set_write_buffer_size(16 << 20);
    }
    o
}

/// The families other than the indexes whose keys are random (record ids,
/// hashed contract keys): written all over their key range, so compaction
/// rewrites them level after level.
const RANDOM_KEYS: [&str; 2] = [cf::RECORD_IDS, cf::STATE];

/// The record indexes: written on every commit, read only by history
/// queries.
const INDEXES: [&str; 5] = [
    cf::IDX_CLAIM,
    cf::IDX_PERSON,
    cf::IDX_FUND,
    cf::IDX_TARGET,
    cf::IDX_SUBMISSION,
];

fn open_db(path: &Path, tuning: &StoreTuning) -> Result<DB, StoreError> {
    refuse_unknown_families(path)?;
    let cache = Cache::new_lru_cache(tuning.block_cache_bytes);
    let cfs = cf::ALL
        .iter()
        .map(|name| ColumnFamilyDescriptor::new(*name, cf_options(name, &cache)));
    let mut o = db_options(&cache);
    // A commit left out of the WAL spans several families; flushing them
    // together keeps what survives a crash a whole prefix of the chain.
    o.set_atomic_flush(true);
    // Vector memtables (the indexes') take one writer at a time; the node
    // has one committing writer anyway.
    o.set_allow_concurrent_memtable_write(false);
    Ok(DB::open_cf_descriptors(&o, path, cfs)?)
}

/// RocksDB refuses to open a database without naming every family it has,
/// with a message that does not say why; this says what happened.
fn refuse_unknown_families(path: &Path) -> Result<(), StoreError> {
    let Ok(existing) = DB::list_cf(&Options::default(), path) else {
        return Ok(()); // no database yet
    };
    match existing
        .into_iter()
        .find(|f| f != rocksdb::DEFAULT_COLUMN_FAMILY_NAME && !cf::ALL.contains(&f.as_str()))
    {
        Some(family) => Err(StoreError::UnknownColumnFamily {
            path: path.display().to_string(),
            family,
        }),
        None => Ok(()),
    }
}

fn height_key(h: Height) -> [u8; 8] {
    h.0.to_be_bytes()
}

/// Height BE ‖ node key: where an attestation, or a conflicting one, is kept.
fn attestation_key(a: &Attestation) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&height_key(a.height));
    key[8..].copy_from_slice(&a.node_key.0);
    key
}

/// `prefix` ‖ the position of the record it lists. The entry has no
/// value: the key says all.
fn index_key(prefix: &[u8], at: ChainPosition) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 12);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&at.key());
    k
}

pub fn claim_prefix(c: &ClaimId) -> Vec<u8> {
    let mut k = c.epoch.to_be_bytes().to_vec();
    k.extend_from_slice(c.tag.as_bytes());
    k
}

pub fn person_prefix(p: &PersonId) -> Vec<u8> {
    let mut k = p.epoch.to_be_bytes().to_vec();
    k.extend_from_slice(p.tag.as_bytes());
    k
}

/// The submitter key's first 8 bytes ‖ nonce BE: short, and exact once
/// the record found is checked against both.
pub fn submission_prefix(submitter: &PublicKey, nonce: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&submitter.0[..8]);
    k[8..].copy_from_slice(&nonce.to_be_bytes());
    k
}

pub fn fund_prefix(f: &FundId) -> Vec<u8> {
    let mut k = f.as_str().as_bytes().to_vec();
    k.push(0);
    k
}

/// The smallest key above every key that starts with `prefix`, if there is
/// one (a prefix of only 0xff bytes has none).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The chain position an index key under `prefix` ends with.
fn indexed_position(cf_name: &str, prefix: &[u8], key: &[u8]) -> Result<ChainPosition, StoreError> {
    key.get(prefix.len()..)
        .and_then(ChainPosition::from_key)
        .ok_or_else(|| StoreError::Corrupt {
            what: format!("{cf_name} key is not its prefix, a height and an index"),
            height: Height(0),
        })
}

/// Moves a store in layout 1 to this layout, and refuses one in any other:
/// read as this one, its records and indexes would seem missing or corrupt.
fn check_format(db: &DB, path: &Path) -> Result<(), StoreError> {
    match stored_format(db)? {
        STORE_FORMAT => Ok(()),
        1 => migrate::from_layout_1(db),
        found => Err(StoreError::Format {
            path: path.display().to_string(),
            found,
        }),
    }
}

fn stored_format(db: &DB) -> Result<u32, StoreError> {
    Ok(match db.get_cf(Store::cf_of(db, cf::META), META_FORMAT)? {
        // Stores written before the layout was recorded are layout 1.
        None => 1,
        Some(bytes) => {
            u32::from_be_bytes(
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt {
                        what: "store format is not a u32".into(),
                        height: Height(0),
                    })?,
            )
        }
    })
}

impl Store {
    /// Creates a new store for `genesis`. `genesis_state_root` is the state
    /// root the contracts compute for genesis.
    pub fn create(
        path: &Path,
        genesis: &Genesis,
        genesis_state_root: Hash32,
    ) -> Result<Store, StoreError> {
        let tuning = StoreTuning::default();
        Self::create_with_state(path, genesis, genesis_state_root, &[], &tuning)
    }

    /// Creates a new store for `genesis` whose contract state starts from
    /// `genesis_writes` (what the contracts derive from genesis), written in
    /// the same batch as the genesis itself.
    pub fn create_with_state(
        path: &Path,
        genesis: &Genesis,
        genesis_state_root: Hash32,
        genesis_writes: &[StateWrite],
        tuning: &StoreTuning,
    ) -> Result<Store, StoreError> {
        let db = open_db(path, tuning)?;
        if db
            .get_cf(Self::cf_of(&db, cf::META), META_GENESIS)?
            .is_some()
        {
            return Err(StoreError::AlreadyInitialised(path.display().to_string()));
        }
        let head = Head {
            height: Height(0),
            hash: genesis.hash().hash(),
            state_root: genesis_state_root,
            timestamp_ms: genesis.timestamp_ms,
        };
        let mut batch = WriteBatch::default();
        let meta = Self::cf_of(&db, cf::META);
        batch.put_cf(meta, META_GENESIS, codec::encode(genesis));
        batch.put_cf(meta, META_FORMAT, STORE_FORMAT.to_be_bytes());
        batch.put_cf(meta, META_HEAD, codec::encode(&head));
        let state = Self::cf_of(&db, cf::STATE);
        for (k, v) in genesis_writes {
            if let Some(v) = v {
                batch.put_cf(state, k, v);
            }
        }
        db.write_opt(batch, &Durability::Synced.write_options())?;
        Ok(Store {
            db,
            genesis: genesis.clone(),
            conflicting: Mutex::new(()),
        })
    }

    /// Opens an existing store, tuned by default.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_tuned(path, &StoreTuning::default())
    }

    /// Opens an existing store.
    pub fn open_tuned(path: &Path, tuning: &StoreTuning) -> Result<Store, StoreError> {
        if !path.join("CURRENT").exists() {
            return Err(StoreError::NoGenesis);
        }
        let db = open_db(path, tuning)?;
        let bytes = db
            .get_cf(Self::cf_of(&db, cf::META), META_GENESIS)?
            .ok_or(StoreError::NoGenesis)?;
        let genesis = codec::decode("stored genesis", &bytes).map_err(|e| StoreError::Corrupt {
            what: e.to_string(),
            height: Height(0),
        })?;
        check_format(&db, path)?;
        Ok(Store {
            db,
            genesis,
            conflicting: Mutex::new(()),
        })
    }

    fn cf_of<'a>(db: &'a DB, name: &str) -> &'a rocksdb::ColumnFamily {
        db.cf_handle(name)
            .expect("every column family is opened with the store")
    }

    pub fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        Self::cf_of(&self.db, name)
    }

    /// The underlying database, for the node's Raft column families.
    pub fn db(&self) -> &DB {
        &self.db
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    pub fn head(&self) -> Result<Head, StoreError> {
        let bytes = self
            .db
            .get_cf(self.cf(cf::META), META_HEAD)?
            .ok_or(StoreError::NoGenesis)?;
        self.decode("head", Height(0), &bytes)
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        height: Height,
        bytes: &[u8],
    ) -> Result<T, StoreError> {
        codec::decode("stored value", bytes).map_err(|e| StoreError::Corrupt {
            what: format!("{what}: {e}"),
            height,
        })
    }

    /// Commits one block atomically with its state writes and any extra
    /// metadata (e.g. the Raft applied index), as durably as `durability`
    /// says.
    pub fn commit_block(
        &self,
        block: &VerifiedBlock,
        state_writes: &[StateWrite],
        extra_meta: &[(&[u8], Vec<u8>)],
        durability: Durability,
    ) -> Result<Head, StoreError> {
        let head = self.head()?;
        let header = block.header();
        if header.height != head.height.next() || header.prev_hash != head.hash {
            return Err(StoreError::NotNext {
                expected: head.height.next(),
                actual: header.height,
                parent: head.hash,
            });
        }
        let mut batch = WriteBatch::default();
        let new_head = self.stage_block(&mut batch, block.block());
        for (k, v) in state_writes {
            match v {
                Some(v) => batch.put_cf(self.cf(cf::STATE), k, v),
                None => batch.delete_cf(self.cf(cf::STATE), k),
            }
        }
        for (k, v) in extra_meta {
            batch.put_cf(self.cf(cf::META), k, v);
        }
        self.db.write_opt(batch, &durability.write_options())?;
        Ok(new_head)
    }

    fn stage_block(&self, batch: &mut WriteBatch, block: &Block) -> Head {
        let h = block.header.height;
        for (i, (record, outcome)) in block.records.iter().zip(&block.outcomes).enumerate() {
            let at = ChainPosition {
                height: h,
                index: i as u32,
            };
            let stored = StoredRecordRef { record, outcome };
            batch.put_cf(self.cf(cf::RECORDS), at.key(), codec::encode(&stored));
            batch.put_cf(
                self.cf(cf::RECORD_IDS),
                outcome.record_id.as_bytes(),
                at.key(),
            );
            self.stage_indexes(batch, record, at);
        }
        let stored = StoredBlockRef {
            header: &block.header,
            records: block.records.len() as u32,
        };
        batch.put_cf(self.cf(cf::BLOCKS), height_key(h), codec::encode(&stored));
        let head = Head {
            height: h,
            hash: block.hash().hash(),
            state_root: block.header.state_root,
            timestamp_ms: block.header.timestamp_ms,
        };
        batch.put_cf(self.cf(cf::META), META_HEAD, codec::encode(&head));
        head
    }

    fn stage_indexes(&self, batch: &mut WriteBatch, record: &SignedRecord, at: ChainPosition) {
        let envelope = &record.envelope;
        let mut put = |family: &str, prefix: &[u8]| {
            batch.put_cf(self.cf(family), index_key(prefix, at), []);
        };
        put(
            cf::IDX_SUBMISSION,
            &submission_prefix(&envelope.submitter_key, envelope.nonce),
        );
        let body = &envelope.body;
        if let Some(c) = body.claim() {
            put(cf::IDX_CLAIM, &claim_prefix(&c));
        }
        if let Some(p) = body.person() {
            put(cf::IDX_PERSON, &person_prefix(&p));
        }
        for t in body.targets() {
            put(cf::IDX_TARGET, t.as_bytes());
        }
        for f in body.funds() {
            put(cf::IDX_FUND, &fund_prefix(f));
        }
    }

    pub fn header(&self, h: Height) -> Result<Option<BlockHeader>, StoreError> {
        Ok(self.stored_block(h)?.map(|s| s.header))
    }

    fn stored_block(&self, h: Height) -> Result<Option<StoredBlock>, StoreError> {
        match self.db.get_cf(self.cf(cf::BLOCKS), height_key(h))? {
            Some(bytes) => Ok(Some(self.decode("block", h, &bytes)?)),
            None => Ok(None),
        }
    }

    /// The whole block at height `h`.
    pub fn block(&self, h: Height) -> Result<Option<Block>, StoreError> {
        let Some(stored) = self.stored_block(h)? else {
            return Ok(None);
        };
        let first = ChainPosition {
            height: h,
            index: 0,
        };
        let mut options = ReadOptions::default();
        options.set_iterate_upper_bound(height_key(h.next()).to_vec());
        // Whole blocks are read in bulk (exports, snapshots): they would
        // push contract state out of the cache.
        options.fill_cache(false);
        let mut values = self.db.raw_iterator_cf_opt(self.cf(cf::RECORDS), options);
        values.seek(first.key());
        let mut records = Vec::with_capacity(stored.records as usize);
        let mut outcomes = Vec::with_capacity(stored.records as usize);
        while let Some(bytes) = values.value() {
            let entry: StoredRecord = self.decode("record", h, bytes)?;
            records.push(entry.record);
            outcomes.push(entry.outcome);
            values.next();
        }
        values.status()?;
        if records.len() != stored.records as usize {
            return Err(StoreError::Corrupt {
                what: format!(
                    "block holds {} records, the store {}",
                    stored.records,
                    records.len()
                ),
                height: h,
            });
        }
        Ok(Some(Block {
            header: stored.header,
            records,
            outcomes,
        }))
    }

    /// Where the record `id` sits in the chain, if it is on it.
    pub fn position(&self, id: &RecordId) -> Result<Option<ChainPosition>, StoreError> {
        match self
            .db
            .get_pinned_cf(self.cf(cf::RECORD_IDS), id.as_bytes())?
        {
            Some(key) => Ok(Some(ChainPosition::from_key(&key).ok_or_else(|| {
                StoreError::Corrupt {
                    what: "record position is not a height and an index".into(),
                    height: Height(0),
                }
            })?)),
            None => Ok(None),
        }
    }

    pub fn record(&self, id: &RecordId) -> Result<Option<RecordEntry>, StoreError> {
        match self.position(id)? {
            Some(at) => self.record_at(at).map(Some),
            None => Ok(None),
        }
    }

    /// The record at `at`, which an index or [`Store::position`] gave.
    pub fn record_at(&self, at: ChainPosition) -> Result<RecordEntry, StoreError> {
        let bytes = self
            .db
            .get_pinned_cf(self.cf(cf::RECORDS), at.key())?
            .ok_or_else(|| StoreError::Corrupt {
                what: format!("no record at index {} of the block", at.index),
                height: at.height,
            })?;
        let stored: StoredRecord = self.decode("record", at.height, &bytes)?;
        Ok(RecordEntry {
            height: at.height,
            index: at.index,
            record: stored.record,
            outcome: stored.outcome,
        })
    }

    /// The records at `positions`, in their order.
    pub fn records_at(&self, positions: &[ChainPosition]) -> Result<Vec<RecordEntry>, StoreError> {
        positions.iter().map(|at| self.record_at(*at)).collect()
    }

    pub fn contains_record(&self, id: &RecordId) -> Result<bool, StoreError> {
        Ok(self
            .db
            .get_pinned_cf(self.cf(cf::RECORD_IDS), id.as_bytes())?
            .is_some())
    }

    /// Every record under `prefix`, in chain order: only for indexes a
    /// caller knows to be short (one submission, one claim's records).
    fn index_scan(&self, cf_name: &str, prefix: &[u8]) -> Result<Vec<RecordEntry>, StoreError> {
        let page = self.index_page(cf_name, prefix, None, usize::MAX)?;
        self.records_at(&page.positions)
    }

    /// At most `limit` records under `prefix` in chain order, starting after
    /// the position `after` (from the first when `None`). The iterator is
    /// bounded to the prefix and seeks straight past `after`, so it reads
    /// `limit + 1` keys at most (the last only to tell whether more follow),
    /// however long the index.
    fn index_page(
        &self,
        cf_name: &str,
        prefix: &[u8],
        after: Option<ChainPosition>,
        limit: usize,
    ) -> Result<IndexPage, StoreError> {
        let start = match after {
            // Every key under a prefix has the same length, so the
            // smallest key above `after`'s is it with one more byte.
            Some(p) => {
                let mut k = index_key(prefix, p);
                k.push(0);
                k
            }
            None => prefix.to_vec(),
        };
        let mut options = ReadOptions::default();
        if let Some(end) = prefix_end(prefix) {
            options.set_iterate_upper_bound(end);
        }
        let mut keys = self.db.raw_iterator_cf_opt(self.cf(cf_name), options);
        keys.seek(&start);
        let mut page = IndexPage {
            positions: Vec::with_capacity(limit.min(MAX_PREALLOCATED_PAGE)),
            more: false,
        };
        while let Some(k) = keys.key() {
            if !k.starts_with(prefix) {
                break;
            }
            if page.positions.len() == limit {
                page.more = true;
                break;
            }
            page.positions.push(indexed_position(cf_name, prefix, k)?);
            keys.next();
        }
        keys.status()?;
        Ok(page)
    }

    /// The records about a claim, in chain order, all of them: for a caller
    /// that needs the claim's own record. A listing pages with
    /// [`Store::claim_page`].
    pub fn records_by_claim(&self, c: &ClaimId) -> Result<Vec<RecordEntry>, StoreError> {
        self.index_scan(cf::IDX_CLAIM, &claim_prefix(c))
    }

    /// A page of the records about a claim (claims, settlements,
    /// assistance), in chain order.
    pub fn claim_page(
        &self,
        c: &ClaimId,
        after: Option<ChainPosition>,
        limit: usize,
    ) -> Result<IndexPage, StoreError> {
        self.index_page(cf::IDX_CLAIM, &claim_prefix(c), after, limit)
    }

    /// A page of the records naming a person (claims, eligibility
    /// decisions, filings), in chain order.
    pub fn person_page(
        &self,
        p: &PersonId,
        after: Option<ChainPosition>,
        limit: usize,
    ) -> Result<IndexPage, StoreError> {
        self.index_page(cf::IDX_PERSON, &person_prefix(p), after, limit)
    }

    /// A page of a fund's movements (credits, payouts, transfers in and
    /// out), in chain order.
    pub fn fund_page(
        &self,
        f: &FundId,
        after: Option<ChainPosition>,
        limit: usize,
    ) -> Result<IndexPage, StoreError> {
        self.index_page(cf::IDX_FUND, &fund_prefix(f), after, limit)
    }

    /// Reversals and disclosures of a record, in chain order, all of them.
    /// A response pages with [`Store::targeting_page`].
    pub fn records_targeting(&self, target: &RecordId) -> Result<Vec<RecordEntry>, StoreError> {
        self.index_scan(cf::IDX_TARGET, target.as_bytes())
    }

    /// A page of the reversals and disclosures of a record, in chain order.
    pub fn targeting_page(
        &self,
        target: &RecordId,
        after: Option<ChainPosition>,
        limit: usize,
    ) -> Result<IndexPage, StoreError> {
        self.index_page(cf::IDX_TARGET, target.as_bytes(), after, limit)
    }

    /// The first record `submitter` signed with `nonce`, if any is on the chain.
    pub fn record_by_submission(
        &self,
        submitter: &PublicKey,
        nonce: u64,
    ) -> Result<Option<RecordEntry>, StoreError> {
        let prefix = submission_prefix(submitter, nonce);
        let found = self.index_scan(cf::IDX_SUBMISSION, &prefix)?;
        Ok(found.into_iter().find(|entry| {
            let e = &entry.record.envelope;
            &e.submitter_key == submitter && e.nonce == nonce
        }))
    }

    pub fn state_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(cf::STATE), key)?)
    }

    /// Stores an attestation (no fsync: attestations are re-gossiped).
    pub fn put_attestation(&self, a: &Attestation) -> Result<(), StoreError> {
        self.db.put_cf(
            self.cf(cf::ATTESTATIONS),
            attestation_key(a),
            codec::encode(a),
        )?;
        Ok(())
    }

    pub fn attestations(&self, h: Height) -> Result<Vec<Attestation>, StoreError> {
        let prefix = height_key(h);
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(cf::ATTESTATIONS),
            IteratorMode::From(&prefix, Direction::Forward),
        );
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push(self.decode("attestation", h, &v)?);
        }
        Ok(out)
    }

    /// Keeps an attestation of a block other than the chain's at its height
    /// as equivocation evidence, fsynced: the node that signed it has no
    /// reason to send it again. Only the first per height and node key is
    /// kept, so a node signing many blocks at one height fills no disk.
    /// Returns whether it was kept. The caller has checked it is validly
    /// signed by a genesis node key.
    pub fn put_conflicting_attestation(&self, a: &Attestation) -> Result<bool, StoreError> {
        let _guard = self.conflicting.lock().unwrap_or_else(|p| p.into_inner());
        let key = attestation_key(a);
        let family = self.cf(cf::CONFLICTING);
        if self.db.get_pinned_cf(family, key)?.is_some() {
            return Ok(false);
        }
        let count = self.conflicting_count()? + 1;
        let mut batch = WriteBatch::default();
        batch.put_cf(family, key, codec::encode(a));
        batch.put_cf(
            self.cf(cf::META),
            META_CONFLICTING_COUNT,
            codec::encode(&count),
        );
        self.db
            .write_opt(batch, &Durability::Synced.write_options())?;
        Ok(true)
    }

    /// The bytes each column family holds on disk, in SST and blob files
    /// (not counting the write-ahead log or memtables).
    pub fn family_bytes(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        cf::ALL
            .iter()
            .map(|name| {
                let property = |p: &str| {
                    self.db
                        .property_int_value_cf(self.cf(name), p)
                        .map(|v| v.unwrap_or(0))
                };
                let sst = property("rocksdb.total-sst-files-size")?;
                let blob = property("rocksdb.total-blob-file-size")?;
                Ok((*name, sst + blob))
            })
            .collect()
    }

    /// How many conflicting attestations the store holds.
    pub fn conflicting_count(&self) -> Result<u64, StoreError> {
        match self.db.get_cf(self.cf(cf::META), META_CONFLICTING_COUNT)? {
            Some(bytes) => self.decode("conflicting attestation count", Height(0), &bytes),
            None => Ok(0),
        }
    }

    /// Up to `limit` pieces of equivocation evidence at heights
    /// `from..=through`, in height and node key order, each with the key's
    /// attestation of the chain's block when the store holds one.
    pub fn equivocations(
        &self,
        from: Height,
        through: Height,
        limit: usize,
    ) -> Result<Vec<Equivocation>, StoreError> {
        let iter = self.db.iterator_cf(
            self.cf(cf::CONFLICTING),
            IteratorMode::From(&height_key(from), Direction::Forward),
        );
        let end = height_key(through.next());
        let mut out = Vec::new();
        for item in iter.take(limit) {
            let (k, v) = item?;
            if k.as_ref() >= end.as_slice() {
                break;
            }
            let conflicting: Attestation = self.decode("conflicting attestation", from, &v)?;
            out.push(self.equivocation(conflicting)?);
        }
        Ok(out)
    }

    fn equivocation(&self, conflicting: Attestation) -> Result<Equivocation, StoreError> {
        let h = conflicting.height;
        let chain_block = self.header(h)?.ok_or(StoreError::MissingBlock(h))?.hash();
        let chain_attestation = match self
            .db
            .get_cf(self.cf(cf::ATTESTATIONS), attestation_key(&conflicting))?
        {
            Some(bytes) => Some(self.decode("attestation", h, &bytes)?),
            None => None,
        };
        Ok(Equivocation {
            chain_block,
            chain_attestation,
            conflicting,
        })
    }

    /// Blocks from `from` to the head, one at a time.
    pub fn blocks_from(
        &self,
        from: Height,
    ) -> impl Iterator<Item = Result<Block, StoreError>> + '_ {
        let mut next = from.0.max(1);
        std::iter::from_fn(move || {
            let h = Height(next);
            next += 1;
            self.block(h).transpose()
        })
    }

    /// Streams blocks `1..=head` with their attestations and equivocation
    /// evidence into a chain file.
    pub fn export<W: std::io::Write>(&self, out: W) -> Result<ChainSummary, ExportError> {
        self.export_to(out, self.head()?.height)
    }

    /// Streams blocks `1..=last` with their attestations, each followed by
    /// the equivocation evidence held at its height, into a chain file (a
    /// node's Raft snapshot is the chain up to its applied block).
    pub fn export_to<W: std::io::Write>(
        &self,
        out: W,
        last: Height,
    ) -> Result<ChainSummary, ExportError> {
        let head_hash = match last {
            Height(0) => self.genesis.hash().hash(),
            h => self
                .header(h)?
                .ok_or(StoreError::MissingBlock(h))?
                .hash()
                .hash(),
        };
        let mut writer = ChainWriter::new(out, &self.genesis, Height(1), last)?;
        let mut evidence = self
            .equivocations(Height(1), last, usize::MAX)?
            .into_iter()
            .peekable();
        let mut records = 0u64;
        for h in 1..=last.0 {
            let block = self
                .block(Height(h))?
                .ok_or(StoreError::MissingBlock(Height(h)))?;
            records += block.records.len() as u64;
            writer.write_block(&block, &self.attestations(Height(h))?)?;
            while let Some(e) = evidence.next_if(|e| e.height() == Height(h)) {
                writer.write_equivocation(&e)?;
            }
        }
        writer.finish()?;
        Ok(ChainSummary {
            blocks: last.0,
            records,
            head_height: last,
            head_hash,
            min_attesting_orgs: 0,
        })
    }

    /// Reads a metadata value the node keeps beside the chain.
    pub fn meta_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(cf::META), key)?)
    }

    /// Writes a metadata value durably (fsync) on its own.
    pub fn meta_put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.meta_write(&[(key, value.to_vec())], Durability::Synced)
    }

    /// Writes metadata values in one batch, as durably as `durability`
    /// says; metadata that must agree with [`Durability::Redoable`] commits
    /// (the Raft applied index) is written the same way.
    pub fn meta_write(
        &self,
        entries: &[(&[u8], Vec<u8>)],
        durability: Durability,
    ) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for (k, v) in entries {
            batch.put_cf(self.cf(cf::META), k, v);
        }
        self.db.write_opt(batch, &durability.write_options())?;
        Ok(())
    }

    /// The node's private vault entry under `key`, as stored (sealed).
    pub fn vault_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(cf::VAULT), key)?)
    }

    /// Writes vault entries in one batch through the write-ahead log,
    /// fsynced before the call returns: the vault holds the only copy of
    /// a raw bill, so nothing could redo a lost deposit.
    pub fn vault_put(&self, entries: &[(&[u8], &[u8])]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for (k, v) in entries {
            batch.put_cf(self.cf(cf::VAULT), k, v);
        }
        self.db
            .write_opt(batch, &Durability::Synced.write_options())?;
        Ok(())
    }

    /// Up to `limit` vault entries in key order, starting after `after`
    /// (from the first when `None`).
    pub fn vault_page(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<VaultRow>, StoreError> {
        let mode = match after {
            Some(key) => IteratorMode::From(key, Direction::Forward),
            None => IteratorMode::Start,
        };
        let mut out = Vec::with_capacity(limit.min(4096));
        for item in self.db.iterator_cf(self.cf(cf::VAULT), mode) {
            let (k, v) = item?;
            if after.is_some_and(|a| a == &*k) {
                continue;
            }
            if out.len() == limit {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// How many entries the vault holds.
    pub fn vault_len(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        for item in self.db.iterator_cf(self.cf(cf::VAULT), IteratorMode::Start) {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// Makes every commit so far durable: all column families are flushed
    /// together, and the call returns once the table files are written.
    pub fn flush(&self) -> Result<(), StoreError> {
        let families: Vec<&rocksdb::ColumnFamily> = cf::ALL.iter().map(|n| self.cf(n)).collect();
        let mut options = rocksdb::FlushOptions::default();
        options.set_wait(true);
        self.db.flush_cfs_opt(&families, &options)?;
        Ok(())
    }

    /// Whether blocks were imported without executing contracts.
    pub fn state_detached(&self) -> Result<bool, StoreError> {
        Ok(self
            .db
            .get_cf(self.cf(cf::META), META_STATE_DETACHED)?
            .is_some())
    }

    /// Verifies a chain file and imports it into a fresh store at `path`.
    /// Contract state is not materialised (that needs the contracts); the
    /// store is marked so, and keeps the headers' state roots.
    pub fn import<R: std::io::Read>(
        path: &Path,
        input: R,
    ) -> Result<(Store, ChainSummary), ImportError> {
        let mut reader = ChainReader::new(input).map_err(ChainCheckError::from)?;
        let genesis = reader.genesis().clone();
        let store = Store::create(path, &genesis, Hash32::ZERO)?;
        let mut verifier = ChainVerifier::new(genesis).map_err(ChainCheckError::from)?;
        let summary = verify_stream(&mut reader, &mut verifier, |vb, report, atts| {
            let sink_err = |e: StoreError| ChainCheckError::Sink {
                height: report.height,
                source: Box::new(e),
            };
            store
                .commit_block(
                    &vb,
                    &[],
                    &[(META_STATE_DETACHED, vec![1])],
                    Durability::Synced,
                )
                .map_err(sink_err)?;
            atts.iter()
                .try_for_each(|a| store.put_attestation(a))
                .map_err(sink_err)
        })?;
        for e in reader.equivocations() {
            store.put_conflicting_attestation(&e.conflicting)?;
        }
        Ok((store, summary))
    }
}

/// The disclosure fetches this node has served as a holder: a holder
/// answers each accepted `disclosure_fetch` record once, so the raw bill
/// leaves the vault as often as the chain shows, restarts included.
impl Store {
    /// Whether the fetch record `fetch` was served.
    pub fn fetch_served(&self, fetch: &RecordId) -> Result<bool, StoreError> {
        Ok(self
            .db
            .get_cf(self.cf(cf::SERVED_FETCHES), fetch.as_bytes())?
            .is_some())
    }

    /// Notes that `fetch` is served, fsynced before the call returns: it is
    /// written before the bill is sent, so a crash can lose a delivery but
    /// never allow a second one.
    pub fn note_fetch_served(&self, fetch: &RecordId, height: Height) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(cf::SERVED_FETCHES),
            fetch.as_bytes(),
            height_key(height),
        );
        self.db
            .write_opt(batch, &Durability::Synced.write_options())?;
        Ok(())
    }
}

#[derive(Serialize)]
struct StoredBlockRef<'a> {
    header: &'a BlockHeader,
    records: u32,
}

#[derive(Serialize)]
struct StoredRecordRef<'a> {
    record: &'a SignedRecord,
    outcome: &'a Outcome,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the chain file: {0}")]
    Io(#[from] std::io::Error),
}

impl From<ChainCheckError> for ImportError {
    fn from(e: ChainCheckError) -> ImportError {
        ImportError::Check(Box::new(e))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Check(Box<ChainCheckError>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_this_version_does_not_use_is_named_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Options::default();
        o.create_if_missing(true);
        o.create_missing_column_families(true);
        DB::open_cf(&o, dir.path(), ["meta", "block_hash"]).unwrap();
        let err = Store::open(dir.path()).err().expect("open must fail");
        assert!(
            matches!(&err, StoreError::UnknownColumnFamily { family, .. } if family == "block_hash"),
            "{err}"
        );
    }

    #[test]
    fn a_store_in_a_newer_key_layout_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = Genesis {
            version: 1,
            chain_id: crate::types::ChainId::new("store-test").expect("chain id"),
            timestamp_ms: 0,
            orgs: Vec::new(),
            funds: Vec::new(),
            policies: Vec::new(),
            rules_version: 1,
        };
        drop(Store::create(dir.path(), &genesis, Hash32::ZERO).unwrap());
        let reopened = Store::open(dir.path()).expect("this layout opens");
        let newer = (STORE_FORMAT + 1).to_be_bytes();
        reopened
            .db
            .put_cf(reopened.cf(cf::META), META_FORMAT, newer)
            .unwrap();
        drop(reopened);
        let err = Store::open(dir.path())
            .err()
            .expect("a newer layout must be refused");
        assert!(matches!(err, StoreError::Format { found: 3, .. }), "{err}");
        assert!(err.to_string().contains("newer version"), "{err}");
    }

    #[test]
    fn a_directory_without_a_database_is_not_refused_for_its_families() {
        let dir = tempfile::tempdir().unwrap();
        assert!(refuse_unknown_families(dir.path()).is_ok());
        let mut o = Options::default();
        o.create_if_missing(true);
        o.create_missing_column_families(true);
        DB::open_cf(&o, dir.path(), cf::ALL).unwrap();
        assert!(refuse_unknown_families(dir.path()).is_ok());
    }
}
