//! The state interface the engine reads, an in-memory implementation, and
//! the two write layers of one block: [`BlockOverlay`] collects the block's
//! writes beside read-only committed state and hands them on sorted by key
//! (ready for `next_state_root` and a store batch), and [`Tx`] holds one
//! record's writes until the record is accepted.
//!
//! Reads lend bytes rather than copy them: [`State::get`] may return a
//! borrowed value, and the layers hand values to a decoding closure.

use std::any::Any;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use fundtrail_ledger::block::StateWrite;
use fundtrail_ledger::codec;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ExecError, StateError};

/// Read access to committed contract state. Writes leave the engine as a
/// sorted [`StateWrite`] list that the caller commits (see
/// [`MemoryState::apply`] or the store's `commit_block`).
pub trait State {
    /// The value under `key`: borrowed where the backend holds it in
    /// memory, owned where it had to be read.
    fn get(&self, key: &[u8]) -> Result<Option<Cow<'_, [u8]>>, StateError>;
}

/// A hash map used only for lookups. Nothing may iterate it where order
/// matters: whoever hands its contents on sorts them first.
#[allow(clippy::disallowed_types)]
type LookupMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Contract state in memory: tests, benchmarks and auditors' replays. A
/// hash map, because the engine only looks keys up here;
/// [`MemoryState::iter`] sorts, so no result depends on hash order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MemoryState {
    entries: LookupMap<Vec<u8>, Vec<u8>>,
}

impl fmt::Debug for MemoryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryState")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl MemoryState {
    pub fn new() -> MemoryState {
        MemoryState::default()
    }

    /// Commits a block's (or genesis's) writes.
    pub fn apply(&mut self, writes: &[StateWrite]) {
        for (k, v) in writes {
            match v {
                Some(v) => self.put(k, v),
                None => {
                    self.entries.remove(k);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut entries: Vec<(&[u8], &[u8])> = self
            .entries
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        entries.sort_unstable_by_key(|(k, _)| *k);
        entries.into_iter()
    }

    /// Replaces the value under `key`, reusing its buffer if it has one.
    fn put(&mut self, key: &[u8], value: &[u8]) {
        match self.entries.get_mut(key) {
            Some(old) => {
                old.clear();
                old.extend_from_slice(value);
            }
            None => {
                self.entries.insert(key.to_vec(), value.to_vec());
            }
        }
    }
}

impl State for MemoryState {
    fn get(&self, key: &[u8]) -> Result<Option<Cow<'_, [u8]>>, StateError> {
        Ok(self.entries.get(key).map(|v| Cow::Borrowed(v.as_slice())))
    }
}

/// One record's writes: a handful, so a list beats a hash map's
/// allocation and hashing.
type TxWrites = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Values of the few keys nearly every record reads (keys, organisations,
/// policies), kept for one block as bytes and, once a rule has decoded one,
/// decoded. A committed write under one of these prefixes empties the
/// cache; a record that wrote a key itself reads it past the cache.
#[derive(Default)]
struct Cache {
    values: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    decoded: BTreeMap<Vec<u8>, Option<Rc<dyn Any>>>,
}

const CACHED_PREFIXES: [&[u8]; 4] = [b"key/", b"org/", b"orgs", b"policy/"];

fn is_cached(key: &[u8]) -> bool {
    CACHED_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// One block's writes beside read-only committed state, which sees nothing
/// of the block.
pub struct BlockOverlay<'s> {
    base: &'s dyn State,
    writes: LookupMap<Vec<u8>, Option<Vec<u8>>>,
    cache: RefCell<Cache>,
    /// Where values are encoded before being copied out at their length.
    scratch: Vec<u8>,
}

impl<'s> BlockOverlay<'s> {
    pub fn new(base: &'s dyn State) -> BlockOverlay<'s> {
        BlockOverlay {
            base,
            writes: LookupMap::default(),
            cache: RefCell::default(),
            scratch: Vec::new(),
        }
    }

    fn read<R>(&self, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> Result<R, StateError> {
        match self.writes.get(key) {
            Some(v) => Ok(f(v.as_deref())),
            None => Ok(f(self.base.get(key)?.as_deref())),
        }
    }

    fn read_cached<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R, StateError> {
        if let Some(v) = self.cache.borrow().values.get(key) {
            return Ok(f(v.as_deref()));
        }
        let v = self.read(key, |v| v.map(<[u8]>::to_vec))?;
        let result = f(v.as_deref());
        self.cache.borrow_mut().values.insert(key.to_vec(), v);
        Ok(result)
    }

    /// Starts one record's scratch layer.
    pub fn tx(&mut self) -> Tx<'_, 's> {
        Tx {
            block: self,
            writes: TxWrites::new(),
        }
    }

    /// The block's writes, sorted by key. The map holds one write per key,
    /// so the order it hands them over in does not matter.
    pub fn into_writes(self) -> Vec<StateWrite> {
        let mut writes: Vec<StateWrite> = self.writes.into_iter().collect();
        writes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        writes
    }
}

/// One record's pending writes: merged into the block on
/// [`Tx::commit`], dropped otherwise.
pub struct Tx<'b, 's> {
    block: &'b mut BlockOverlay<'s>,
    writes: TxWrites,
}

impl Tx<'_, '_> {
    /// Hands the value under `key` (this record's own write first, then
    /// the block's, then committed state) to `f`.
    pub fn read<R>(&self, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> Result<R, StateError> {
        match self.own_write(key) {
            Some(v) => Ok(f(v.as_deref())),
            None if is_cached(key) => self.block.read_cached(key, f),
            None => self.block.read(key, f),
        }
    }

    pub fn contains(&self, key: &[u8]) -> Result<bool, StateError> {
        self.read(key, |v| v.is_some())
    }

    /// Reads and decodes a value; a value that does not decode is corrupt
    /// state, which is fatal.
    pub fn load<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, ExecError> {
        self.read(key, |v| {
            v.map(|bytes| codec::decode("contract state", bytes))
        })?
        .transpose()
        .map_err(|e| ExecError::Corrupt {
            key: key.to_vec(),
            reason: e.reason,
        })
    }

    /// The decoded value under a cached `key` (a key, organisation or
    /// policy entry), decoded once per block unless this record wrote it.
    pub fn shared<T: DeserializeOwned + 'static>(
        &self,
        key: &[u8],
    ) -> Result<Option<Rc<T>>, ExecError> {
        if self.own_write(key).is_some() || !is_cached(key) {
            return Ok(self.load(key)?.map(Rc::new));
        }
        if let Some(cached) = self.block.cache.borrow().decoded.get(key) {
            match cached.clone().map(Rc::downcast::<T>) {
                None => return Ok(None),
                Some(Ok(value)) => return Ok(Some(value)),
                Some(Err(_)) => {}
            }
        }
        let value: Option<Rc<T>> = self.load(key)?.map(Rc::new);
        let erased = value.clone().map(|v| v as Rc<dyn Any>);
        self.block
            .cache
            .borrow_mut()
            .decoded
            .insert(key.to_vec(), erased);
        Ok(value)
    }

    pub fn store<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        let scratch = &mut self.block.scratch;
        scratch.clear();
        codec::encode_into(scratch, value);
        let value = scratch.to_vec();
        self.put(key, Some(value));
    }

    pub fn remove(&mut self, key: Vec<u8>) {
        self.put(key, None);
    }

    fn own_write(&self, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.writes.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        match self.writes.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.writes.push((key, value)),
        }
    }

    /// Makes this record's writes part of the block.
    pub fn commit(self) {
        if self.writes.iter().any(|(k, _)| is_cached(k)) {
            let mut cache = self.block.cache.borrow_mut();
            cache.values.clear();
            cache.decoded.clear();
        }
        self.block.writes.extend(self.writes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(pairs: &[(&str, &str)]) -> MemoryState {
        let mut state = MemoryState::new();
        let writes: Vec<StateWrite> = pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), Some(codec::encode(&v.to_string()))))
            .collect();
        state.apply(&writes);
        state
    }

    fn text(tx: &Tx, key: &str) -> Option<String> {
        tx.load::<String>(key.as_bytes()).expect("decodes")
    }

    fn write(k: &str, v: Option<&str>) -> StateWrite {
        (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec()))
    }

    #[test]
    fn memory_state_overwrites_removes_and_lists_in_key_order() {
        let mut state = MemoryState::new();
        state.apply(&[
            write("b", Some("1")),
            write("a", Some("22")),
            write("", Some("e")),
        ]);
        state.apply(&[write("b", Some("333")), write("a", None), write("c", None)]);
        assert_eq!(state.len(), 2);
        assert_eq!(state.get(b"a").unwrap(), None);
        assert_eq!(state.get(b"b").unwrap().as_deref(), Some(&b"333"[..]));
        let listed: Vec<(&[u8], &[u8])> = state.iter().collect();
        assert_eq!(listed, [(&b""[..], &b"e"[..]), (&b"b"[..], &b"333"[..])]);

        let mut same = MemoryState::new();
        same.apply(&[write("b", Some("333")), write("", Some("e"))]);
        assert_eq!(state, same);
        same.apply(&[write("b", Some("33"))]);
        assert_ne!(state, same, "a shorter value under the same key differs");
        same.apply(&[write("b", Some("44"))]);
        assert_eq!(same.get(b"b").unwrap().as_deref(), Some(&b"44"[..]));
    }

    #[test]
    fn a_block_hands_its_writes_on_in_byte_order() {
        let keys: [&[u8]; 12] = [
            b"year/\x00\x00\x00\x01tag-of-17-bytes-b",
            b"year/\x00\x00\x00\x01tag-of-17-bytes-a",
            b"year/\x00\x00\x00\x01tag-of",
            b"rec/\x00\x00\x00\x01zz",
            b"rec/\x00\x00\x00\x01a",
            b"rec/\x00\x00\x00\x01",
            b"ab",
            b"ab\x00",
            b"ab\x00\x01",
            b"",
            b"year/",
            b"\xff",
        ];
        let state = MemoryState::new();
        let mut overlay = BlockOverlay::new(&state);
        let mut tx = overlay.tx();
        for k in keys {
            tx.remove(k.to_vec());
        }
        tx.commit();
        let written: Vec<Vec<u8>> = overlay.into_writes().into_iter().map(|w| w.0).collect();
        let mut expected: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
        expected.sort();
        assert_eq!(written, expected);
    }

    #[test]
    fn memory_state_finds_every_entry_after_growing_and_removing() {
        let key = |i: u32| format!("rec/{i:08}").into_bytes();
        let mut state = MemoryState::new();
        let writes: Vec<StateWrite> = (0..20_000u32)
            .map(|i| (key(i), Some(i.to_be_bytes().to_vec())))
            .collect();
        state.apply(&writes);
        let removed: Vec<StateWrite> = (0..20_000u32).step_by(3).map(|i| (key(i), None)).collect();
        state.apply(&removed);
        for i in 0..20_000u32 {
            let expected = (i % 3 != 0).then(|| i.to_be_bytes().to_vec());
            assert_eq!(state.get(&key(i)).unwrap().map(Cow::into_owned), expected);
        }
        assert_eq!(state.len(), 20_000 - removed.len());
    }

    /// Records that overwrite, remove, read back, get rejected and change
    /// a cached key; what each read saw.
    fn overwriting_records(overlay: &mut BlockOverlay) -> Vec<Option<String>> {
        let mut seen = Vec::new();
        let mut tx = overlay.tx();
        tx.store(b"a".to_vec(), &"a1".to_string());
        tx.remove(b"b".to_vec());
        tx.commit();
        let mut tx = overlay.tx();
        seen.extend([text(&tx, "a"), text(&tx, "b"), text(&tx, "key/x")]);
        tx.store(b"a".to_vec(), &"a2".to_string());
        tx.store(b"c".to_vec(), &"c1".to_string());
        tx.commit();
        let mut tx = overlay.tx();
        tx.store(b"d".to_vec(), &"rejected".to_string());
        drop(tx);
        let mut tx = overlay.tx();
        seen.extend([text(&tx, "d"), text(&tx, "a")]);
        tx.store(b"key/x".to_vec(), &"k2".to_string());
        tx.remove(b"c".to_vec());
        tx.commit();
        let tx = overlay.tx();
        seen.extend([text(&tx, "key/x"), text(&tx, "c")]);
        seen
    }

    #[test]
    fn a_block_reads_back_its_overwrites_removals_and_cached_keys() {
        let pairs = [("a", "a0"), ("b", "b0"), ("key/x", "k1")];
        let base = committed(&pairs);
        let mut overlay = BlockOverlay::new(&base);
        let seen = overwriting_records(&mut overlay);
        let writes = overlay.into_writes();

        let expected_seen =
            ["a1", "", "k1", "", "a2", "k2", ""].map(|v| (!v.is_empty()).then(|| v.to_string()));
        assert_eq!(seen, expected_seen);
        let keys: Vec<&[u8]> = writes.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(
            keys,
            [&b"a"[..], b"b", b"c", b"key/x"],
            "one write per key, in order"
        );
        let mut after = base.clone();
        after.apply(&writes);
        assert_eq!(after, committed(&[("a", "a2"), ("key/x", "k2")]));
    }

    #[test]
    fn a_record_reads_its_own_latest_write_and_a_dropped_one_leaves_nothing() {
        let state = committed(&[("person/a", "old")]);
        let mut overlay = BlockOverlay::new(&state);
        let mut tx = overlay.tx();
        tx.store(b"person/a".to_vec(), &"first".to_string());
        tx.store(b"person/a".to_vec(), &"second".to_string());
        assert_eq!(text(&tx, "person/a").as_deref(), Some("second"));
        tx.remove(b"person/a".to_vec());
        assert_eq!(text(&tx, "person/a"), None);
        drop(tx);
        assert_eq!(text(&overlay.tx(), "person/a").as_deref(), Some("old"));

        let mut tx = overlay.tx();
        tx.store(b"person/b".to_vec(), &"new".to_string());
        tx.remove(b"person/a".to_vec());
        tx.commit();
        let writes = overlay.into_writes();
        let keys: Vec<&[u8]> = writes.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(keys, [b"person/a".as_slice(), b"person/b".as_slice()]);
        assert_eq!(writes[0].1, None);
    }
}
