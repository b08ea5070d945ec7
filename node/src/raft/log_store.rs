//! The Raft log, vote and committed index in the node's RocksDB (column
//! families `raft_log` and `raft_meta`). Appends are fsynced before openraft
//! is told they are durable.
// The error types are openraft's, fixed by the traits implemented here.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use fundtrail_ledger::store::{cf, Store};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, OptionalSend, RaftLogReader, Vote};
use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions};

use super::{read_err, write_err, StorageError};
use crate::chain::Chain;
use crate::cpu::Section;
use crate::entry::{LogId, NodeId, TypeConfig};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

#[derive(Clone)]
pub struct LogStore {
    store: Arc<Store>,
    /// The state machine, whose applied index bounds what may be purged.
    chain: Arc<Chain>,
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

impl LogStore {
    pub fn new(chain: Arc<Chain>) -> LogStore {
        LogStore {
            store: chain.store().clone(),
            chain,
        }
    }

    /// How far a purge up to `wanted` may go: no further than the state
    /// machine has applied on disk. A follower purges for a snapshot as soon
    /// as it accepts it, while the state machine may still be installing
    /// it; had the log been purged past the applied index and the node then
    /// been killed, it would restart with log the state does not cover
    /// (openraft then stops on `purge_upto <= snapshot_last_log_id`). What
    /// is left goes at the next purge. Call after a flush.
    fn purge_bound(&self, wanted: LogId) -> Result<Option<LogId>, StorageError> {
        let (applied, _) = self.chain.applied_state().map_err(read_err)?;
        let upto = applied.map(|a| if a.index < wanted.index { a } else { wanted });
        let purged: Option<LogId> = self.meta_get(LAST_PURGED)?;
        Ok(upto.filter(|u| purged.is_none_or(|p| u.index > p.index)))
    }

    fn meta_get<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        let db = self.store.db();
        match db
            .get_cf(self.store.cf(cf::RAFT_META), key)
            .map_err(read_err)?
        {
            Some(bytes) => Ok(Some(bcs::from_bytes(&bytes).map_err(read_err)?)),
            None => Ok(None),
        }
    }

    fn meta_put<T: serde::Serialize>(&self, key: &[u8], value: &T) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        let bytes = bcs::to_bytes(value).map_err(write_err)?;
        batch.put_cf(self.store.cf(cf::RAFT_META), key, bytes);
        self.store
            .db()
            .write_opt(batch, &synced())
            .map_err(write_err)
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        let db = self.store.db();
        let mut iter = db.iterator_cf(self.store.cf(cf::RAFT_LOG), IteratorMode::End);
        match iter.next() {
            Some(item) => {
                let (_, bytes) = item.map_err(read_err)?;
                let entry: Entry<TypeConfig> = bcs::from_bytes(&bytes).map_err(read_err)?;
                Ok(Some(entry.log_id))
            }
            None => Ok(None),
        }
    }
}

fn start_of<RB: RangeBounds<u64>>(range: &RB) -> u64 {
    match range.start_bound() {
        Bound::Included(i) => *i,
        Bound::Excluded(i) => i + 1,
        Bound::Unbounded => 0,
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let db = self.store.db();
        let start = index_key(start_of(&range));
        let iter = db.iterator_cf(
            self.store.cf(cf::RAFT_LOG),
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter {
            let (key, bytes) = item.map_err(read_err)?;
            let index = u64::from_be_bytes(key.as_ref().try_into().unwrap_or([0xff; 8]));
            if !range.contains(&index) {
                break;
            }
            out.push(bcs::from_bytes(&bytes).map_err(read_err)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.meta_get(LAST_PURGED)?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.meta_put(VOTE, vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.meta_get(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.meta_put(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.meta_get::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::default();
        let log = self.store.cf(cf::RAFT_LOG);
        for entry in entries {
            let bytes = bcs::to_bytes(&entry).map_err(write_err)?;
            batch.put_cf(log, index_key(entry.log_id.index), bytes);
        }
        let result = Section::Storage.time(|| self.store.db().write_opt(batch, &synced()));
        let io_result = result
            .as_ref()
            .map(|_| ())
            .map_err(|e| std::io::Error::other(e.to_string()));
        callback.log_io_completed(io_result);
        result.map_err(write_err)
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        let log = self.store.cf(cf::RAFT_LOG);
        batch.delete_range_cf(log, index_key(log_id.index), index_key(u64::MAX));
        batch.delete_cf(log, index_key(u64::MAX));
        self.store
            .db()
            .write_opt(batch, &synced())
            .map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Applied blocks skip the WAL: make them durable before dropping
        // the entries a restart would otherwise apply again.
        self.store.flush().map_err(write_err)?;
        let Some(log_id) = self.purge_bound(log_id)? else {
            return Ok(());
        };
        self.meta_put(LAST_PURGED, &log_id)?;
        let mut batch = WriteBatch::default();
        let log = self.store.cf(cf::RAFT_LOG);
        batch.delete_range_cf(log, index_key(0), index_key(log_id.index + 1));
        self.store
            .db()
            .write_opt(batch, &synced())
            .map_err(write_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Batch, StoredMembership};
    use fundtrail_ledger::types::Role;
    use fundtrail_testkit::Kit;
    use openraft::CommittedLeaderId;

    fn log_id(index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(1, 0), index)
    }

    async fn last_purged(log: &mut LogStore) -> Option<u64> {
        let state = log.get_log_state().await.expect("log state");
        state.last_purged_log_id.map(|id| id.index)
    }

    #[tokio::test]
    async fn the_log_is_never_purged_past_what_the_state_machine_applied() {
        let kit = Kit::new(7);
        // Owner-only, as a node requires of its data directory.
        let dir = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .expect("temp dir");
        let chain = Arc::new(Chain::open(dir.path(), &kit.genesis()).expect("open"));
        let mut log = LogStore::new(chain.clone());

        log.purge(log_id(5)).await.expect("purge");
        assert_eq!(last_purged(&mut log).await, None, "nothing applied yet");

        let proposer = &kit.org(Role::Insurance).submitter;
        let batch = Batch::propose(proposer, &kit.chain_id, 1, Vec::new());
        chain
            .apply_batch(&batch, &log_id(2), &StoredMembership::default())
            .expect("apply");
        log.purge(log_id(5)).await.expect("purge");
        assert_eq!(
            last_purged(&mut log).await,
            Some(2),
            "up to the applied entry"
        );

        chain
            .apply_batch(&batch, &log_id(9), &StoredMembership::default())
            .expect("apply");
        log.purge(log_id(5)).await.expect("purge");
        assert_eq!(last_purged(&mut log).await, Some(5), "all it was asked");
        log.purge(log_id(3)).await.expect("purge");
        assert_eq!(last_purged(&mut log).await, Some(5), "never backwards");
    }
}
