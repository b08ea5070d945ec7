//! The access log (操作日志): one line per authenticated request that read
//! person-level or raw data, saying who asked (key, organisation, role),
//! what (method, route template, the ids the request named), when, and
//! how it was answered. The log is append-only and hash-chained from a
//! genesis bound to the chain and the node, so a changed, removed,
//! reordered or inserted line is found by [`verify`], and a log cut short
//! or rewritten whole is found against a head kept elsewhere. The format
//! is in docs/ENCODING.md, "Access log".
//!
//! Durability: [`AccessLog::append`] returns once its line is written to
//! the file, so it is in the operating system before the request is
//! answered and survives the node being killed. A background thread
//! fsyncs within [`SYNC_INTERVAL`] of a write; [`AccessLog::sync`] (on
//! shutdown) and dropping the log fsync at once. A power loss can lose
//! the lines of that last interval, a suffix of the log, never a line in
//! the middle. Should an fsync fail, every later append is refused.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use axum::http::{Method, StatusCode};
use fundtrail_ledger::crypto::PublicKey;
use fundtrail_ledger::hash::{hash_encoded, Hash32};
use fundtrail_ledger::pseudonym::{ClaimId, PersonId};
use fundtrail_ledger::record::RecordId;
use fundtrail_ledger::types::{ChainId, FundId, Height, KeyRole, OrgId};
use serde::{Deserialize, Serialize};

use crate::owner_only::{self, AccessError};

/// The access log's file name in a node's data directory.
pub const FILE_NAME: &str = "access.log";
/// Longest time an appended line waits for its fsync.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Longest line, newline included; an entry that would be longer is
/// refused, and a longer line in a file is damage.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// What the first line says the file is.
const FORMAT: &str = "fundtrail-access-log/v1";
const GENESIS_DOMAIN: &str = "fundtrail/access-log/genesis/v1";
const ENTRY_DOMAIN: &str = "fundtrail/access-log/entry/v1";

/// The access log's file in `data_dir`.
pub fn file_in(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// An id a request named. Only what the chain itself shows (record ids,
/// pseudonyms, fund ids, heights, years), so no raw identifier can reach
/// the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessedId {
    Record(RecordId),
    Claim(ClaimId),
    Person(PersonId),
    Fund(FundId),
    Height(Height),
    Year(u16),
}

impl fmt::Display for AccessedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessedId::Record(id) => write!(f, "record:{id}"),
            AccessedId::Claim(c) => write!(f, "claim:{c}"),
            AccessedId::Person(p) => write!(f, "person:{p}"),
            AccessedId::Fund(id) => write!(f, "fund:{id}"),
            AccessedId::Height(h) => write!(f, "height:{}", h.0),
            AccessedId::Year(y) => write!(f, "year:{y}"),
        }
    }
}

/// One answered request, as the API hands it to [`AccessLog::append`].
#[derive(Clone, Debug)]
pub struct AccessEntry {
    /// When the request was answered, in ms since the Unix epoch.
    pub time_ms: u64,
    /// The enrolled key that signed the request.
    pub caller: PublicKey,
    pub org: OrgId,
    pub role: KeyRole,
    pub method: Method,
    /// The route's template, e.g. `/v1/claims/{claim}`, not the path.
    pub route: String,
    pub ids: Vec<AccessedId>,
    pub status: StatusCode,
}

/// The last entry of a log: its sequence number (0 before the first
/// entry) and hash (the genesis hash before the first entry). A node can
/// publish or sign it, so that a log cut short or rewritten is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHead {
    pub seq: u64,
    pub hash: Hash32,
}

/// What [`verify`] found in a sound log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub chain_id: String,
    pub node_key: PublicKey,
    pub entries: u64,
    pub head: LogHead,
    /// The sequence number of the entry whose hash is the expected head,
    /// when one was given (0 for the genesis hash).
    pub expected_head_at: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessLogError {
    /// The I/O error is shown in the message, not chained under it.
    #[error("access log {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] AccessError),
    #[error("reading the access log: {0}")]
    Read(std::io::Error),
    #[error("line {line}: {damage}")]
    Damaged { line: u64, damage: Damage },
    #[error(
        "access log {path}, line {line}: {damage}. A node does not append to a broken log: \
         keep the file as evidence and move it aside, and the node starts a new one"
    )]
    Broken {
        path: PathBuf,
        line: u64,
        damage: Damage,
    },
    #[error(
        "the access log ends at entry {} (hash {}) and holds no entry with the expected head \
         hash {expected}: it was cut short or rewritten",
        last.seq, last.hash
    )]
    HeadNotFound { expected: Hash32, last: LogHead },
    #[error(
        "access log {path} is of {found}, not of this node ({expected}): each node keeps its own"
    )]
    OtherNode {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("an access log entry would be {bytes} bytes; at most {MAX_LINE_BYTES}")]
    EntryTooLong { bytes: usize },
    #[error("an access log entry's fields must be printable ASCII without quotes or backslashes")]
    Unprintable,
    #[error("encoding an access log line: {0}")]
    Encode(String),
    #[error(
        "access log {path} could not be fsynced ({cause}); no more entries are taken until \
         the node restarts and checks it"
    )]
    SyncFailed { path: PathBuf, cause: String },
    #[error("the access log's lock was poisoned by a panic while appending")]
    Poisoned,
}

/// What is wrong with one line of a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    #[error("the file ends inside this line (a write cut short)")]
    Torn,
    #[error("longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
    #[error("not UTF-8 text")]
    NotText,
    #[error("the file is empty: no header line")]
    NoHeader,
    #[error("not an access log line: {0}")]
    Unreadable(String),
    #[error("not in canonical form: bytes were changed that leave its fields readable")]
    NotCanonical,
    #[error("a field holds characters other than printable ASCII without quotes or backslashes")]
    Unprintable,
    #[error("format {0:?}, not {FORMAT:?}")]
    Format(String),
    #[error("the header's genesis hash is not the one its chain id and node key give")]
    Genesis,
    #[error("entry {found} where entry {expected} belongs: a line was removed, inserted or moved")]
    Sequence { expected: u64, found: u64 },
    #[error("entry {0} does not chain from the line before it")]
    Link(u64),
    #[error("entry {0}'s hash does not match its content: the line was changed")]
    Hash(u64),
}

/// The first line of a log.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    chain_id: String,
    node_key: PublicKey,
    genesis: Hash32,
}

impl Header {
    fn new(chain_id: &str, node_key: PublicKey) -> Header {
        Header {
            format: FORMAT.to_string(),
            chain_id: chain_id.to_string(),
            node_key,
            genesis: genesis_hash(chain_id, &node_key),
        }
    }
}

/// `H(GENESIS_DOMAIN, BCS(chain_id string, node_key 32 bytes))`: where a
/// node's log starts, so no two nodes' or chains' logs chain alike.
fn genesis_hash(chain_id: &str, node_key: &PublicKey) -> Hash32 {
    hash_encoded(GENESIS_DOMAIN, &(chain_id, node_key))
}

/// An entry line, its fields in the order they are written.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    seq: u64,
    time_ms: u64,
    key: PublicKey,
    org: String,
    role: String,
    method: String,
    route: String,
    ids: Vec<String>,
    status: u16,
    prev: Hash32,
    hash: Hash32,
}

/// What an entry's hash covers, in this order: the previous hash, then
/// every field of the line but the hashes.
#[derive(Serialize)]
struct Hashed<'a> {
    prev: &'a Hash32,
    seq: u64,
    time_ms: u64,
    key: &'a PublicKey,
    org: &'a str,
    role: &'a str,
    method: &'a str,
    route: &'a str,
    ids: &'a [String],
    status: u16,
}

impl Line {
    fn after(head: &LogHead, entry: AccessEntry) -> Line {
        let mut line = Line {
            seq: head.seq + 1,
            time_ms: entry.time_ms,
            key: entry.caller,
            org: entry.org.to_string(),
            role: role_name(entry.role),
            method: entry.method.as_str().to_string(),
            route: entry.route,
            ids: entry.ids.iter().map(AccessedId::to_string).collect(),
            status: entry.status.as_u16(),
            prev: head.hash,
            hash: Hash32::ZERO,
        };
        line.hash = line.computed_hash();
        line
    }

    fn computed_hash(&self) -> Hash32 {
        hash_encoded(
            ENTRY_DOMAIN,
            &Hashed {
                prev: &self.prev,
                seq: self.seq,
                time_ms: self.time_ms,
                key: &self.key,
                org: &self.org,
                role: &self.role,
                method: &self.method,
                route: &self.route,
                ids: &self.ids,
                status: self.status,
            },
        )
    }

    fn printable(&self) -> bool {
        [&self.org, &self.role, &self.method, &self.route]
            .into_iter()
            .chain(&self.ids)
            .all(|s| printable(s))
    }
}

/// A key role as the API names it (`submitter`, `officer`, …).
fn role_name(role: KeyRole) -> String {
    match serde_json::to_value(role) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{role:?}").to_lowercase(),
    }
}

/// Printable ASCII other than `"` and `\`: what every string of a line
/// holds, so that its JSON is its characters between quotes.
fn printable(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// `value` as one line of compact JSON, newline included.
fn json_line<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec(value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Checks a log line by line, as read: its header, then each entry's
/// number, link and hash.
struct Checker {
    header: Option<Header>,
    head: LogHead,
    /// Lines accepted so far, the header included.
    lines: u64,
}

impl Checker {
    fn new() -> Checker {
        Checker {
            header: None,
            head: LogHead {
                seq: 0,
                hash: Hash32::ZERO,
            },
            lines: 0,
        }
    }

    /// Checks the next line (without its newline).
    fn accept(&mut self, text: &[u8]) -> Result<(), AccessLogError> {
        let line = self.lines + 1;
        let damaged = |damage| AccessLogError::Damaged { line, damage };
        let text = std::str::from_utf8(text).map_err(|_| damaged(Damage::NotText))?;
        if self.header.is_some() {
            self.accept_entry(text).map_err(damaged)?;
        } else {
            self.accept_header(text).map_err(damaged)?;
        }
        self.lines = line;
        Ok(())
    }

    fn accept_header(&mut self, text: &str) -> Result<(), Damage> {
        let header: Header =
            serde_json::from_str(text).map_err(|e| Damage::Unreadable(e.to_string()))?;
        if header.format != FORMAT {
            return Err(Damage::Format(header.format));
        }
        canonical(&header, text)?;
        if !printable(&header.chain_id) {
            return Err(Damage::Unprintable);
        }
        if header.genesis != genesis_hash(&header.chain_id, &header.node_key) {
            return Err(Damage::Genesis);
        }
        self.head = LogHead {
            seq: 0,
            hash: header.genesis,
        };
        self.header = Some(header);
        Ok(())
    }

    fn accept_entry(&mut self, text: &str) -> Result<(), Damage> {
        let entry: Line =
            serde_json::from_str(text).map_err(|e| Damage::Unreadable(e.to_string()))?;
        canonical(&entry, text)?;
        if !entry.printable() {
            return Err(Damage::Unprintable);
        }
        let expected = self.head.seq + 1;
        if entry.seq != expected {
            return Err(Damage::Sequence {
                expected,
                found: entry.seq,
            });
        }
        if entry.prev != self.head.hash {
            return Err(Damage::Link(entry.seq));
        }
        if entry.hash != entry.computed_hash() {
            return Err(Damage::Hash(entry.seq));
        }
        self.head = LogHead {
            seq: entry.seq,
            hash: entry.hash,
        };
        Ok(())
    }
}

/// A line must be byte for byte what writing its fields gives, so a
/// change that leaves the fields alone (spacing, hex case, escapes) is
/// found too.
fn canonical<T: Serialize>(value: &T, text: &str) -> Result<(), Damage> {
    match serde_json::to_vec(value) {
        Ok(written) if written == text.as_bytes() => Ok(()),
        _ => Err(Damage::NotCanonical),
    }
}

/// How a read of a log ended.
struct Scanned {
    checker: Checker,
    /// Bytes up to the end of the last whole line.
    whole: u64,
    /// Bytes after it: a final line without its newline.
    torn: u64,
}

/// Reads a log and checks every whole line; `on_entry` sees each head as
/// it is reached. Stops at the first damage.
fn scan<R: BufRead>(
    mut reader: R,
    read_error: impl Fn(std::io::Error) -> AccessLogError,
    mut on_entry: impl FnMut(&LogHead),
) -> Result<Scanned, AccessLogError> {
    let mut checker = Checker::new();
    let mut whole = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(&read_error)?;
        if n == 0 {
            return Ok(Scanned {
                checker,
                whole,
                torn: 0,
            });
        }
        if n > MAX_LINE_BYTES {
            return Err(AccessLogError::Damaged {
                line: checker.lines + 1,
                damage: Damage::TooLong,
            });
        }
        if buf.last() != Some(&b'\n') {
            return Ok(Scanned {
                checker,
                whole,
                torn: n as u64,
            });
        }
        checker.accept(&buf[..n - 1])?;
        whole += n as u64;
        on_entry(&checker.head);
    }
}

/// Checks a whole log: its header, and every entry's number, link to the
/// line before and hash. With `expected_head`, also that one of its
/// entries (or its genesis) has that hash, so that a log cut short below
/// a head kept elsewhere, or rewritten whole, is refused; a log that grew
/// past that head passes, saying where the head is.
pub fn verify<R: Read>(
    reader: R,
    expected_head: Option<Hash32>,
) -> Result<Summary, AccessLogError> {
    let mut expected_head_at = None;
    let scanned = scan(BufReader::new(reader), AccessLogError::Read, |head| {
        if Some(head.hash) == expected_head && expected_head_at.is_none() {
            expected_head_at = Some(head.seq);
        }
    })?;
    let Scanned { checker, torn, .. } = scanned;
    if torn > 0 {
        return Err(AccessLogError::Damaged {
            line: checker.lines + 1,
            damage: Damage::Torn,
        });
    }
    let Some(header) = checker.header else {
        return Err(AccessLogError::Damaged {
            line: 1,
            damage: Damage::NoHeader,
        });
    };
    if let Some(expected) = expected_head {
        if expected_head_at.is_none() {
            return Err(AccessLogError::HeadNotFound {
                expected,
                last: checker.head,
            });
        }
    }
    Ok(Summary {
        chain_id: header.chain_id,
        node_key: header.node_key,
        entries: checker.head.seq,
        head: checker.head,
        expected_head_at,
    })
}

/// A node's access log, open for appending; clones share it.
#[derive(Clone)]
pub struct AccessLog {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    tail: Mutex<Tail>,
    /// Another handle to the file, for fsyncs outside the lock.
    sync_file: File,
    /// Set by an append, cleared by the fsync that covers it.
    dirty: Arc<AtomicBool>,
    /// The first fsync failure; appends are refused once it is set.
    failure: Arc<Mutex<Option<String>>>,
    /// Dropped with the log, which ends the syncing thread.
    _stop: mpsc::Sender<()>,
}

/// The end of the file, where the next line goes.
struct Tail {
    file: File,
    head: LogHead,
    /// The file's length: the end of its last whole line.
    len: u64,
}

impl AccessLog {
    /// Opens the log at `path`, creating it (mode 0600) with a header for
    /// this chain and node key if it does not exist or is empty. An
    /// existing log is checked whole first: a final line cut short by a
    /// crash is cut off and logged; any other damage, a log of another
    /// node or chain, or a file group or others can read is refused.
    pub fn open(
        path: &Path,
        chain_id: &ChainId,
        node_key: PublicKey,
    ) -> Result<AccessLog, AccessLogError> {
        let io = |cause| AccessLogError::Io {
            path: path.to_path_buf(),
            cause,
        };
        let mut file = owner_only::open_log(path)?;
        let scanned = scan(BufReader::new(&file), io, |_| {}).map_err(|e| match e {
            AccessLogError::Damaged { line, damage } => AccessLogError::Broken {
                path: path.to_path_buf(),
                line,
                damage,
            },
            other => other,
        })?;
        if scanned.torn > 0 {
            cut_torn_line(&file, path, &scanned).map_err(io)?;
        }
        let Scanned {
            checker,
            whole: len,
            ..
        } = scanned;
        let (head, len) = match checker.header {
            Some(header) => {
                refuse_other_node(path, &header, chain_id, node_key)?;
                (checker.head, len)
            }
            None => write_header(&mut file, path, chain_id, node_key).map_err(io)?,
        };
        file.seek(std::io::SeekFrom::End(0)).map_err(io)?;
        let sync_file = file.try_clone().map_err(io)?;
        let dirty = Arc::new(AtomicBool::new(false));
        let failure = Arc::new(Mutex::new(None));
        let (stop, stopped) = mpsc::channel();
        spawn_syncer(
            sync_file.try_clone().map_err(io)?,
            path.to_path_buf(),
            dirty.clone(),
            failure.clone(),
            stopped,
        )
        .map_err(io)?;
        Ok(AccessLog {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                tail: Mutex::new(Tail { file, head, len }),
                sync_file,
                dirty,
                failure,
                _stop: stop,
            }),
        })
    }

    /// Appends `entry` as the next line and returns the new head, once the
    /// line is written to the file (fsynced within [`SYNC_INTERVAL`]).
    pub fn append(&self, entry: AccessEntry) -> Result<LogHead, AccessLogError> {
        let shared = &self.shared;
        let mut tail = shared.tail.lock().map_err(|_| AccessLogError::Poisoned)?;
        if let Some(cause) = shared.failure() {
            return Err(AccessLogError::SyncFailed {
                path: shared.path.clone(),
                cause,
            });
        }
        let line = Line::after(&tail.head, entry);
        if !line.printable() {
            return Err(AccessLogError::Unprintable);
        }
        let bytes = json_line(&line).map_err(|e| AccessLogError::Encode(e.to_string()))?;
        if bytes.len() > MAX_LINE_BYTES {
            return Err(AccessLogError::EntryTooLong { bytes: bytes.len() });
        }
        if let Err(cause) = tail.file.write_all(&bytes) {
            // A part of a line would break the chain for every later
            // line: it is cut off before anything else is appended.
            if let Err(cut) = tail.file.set_len(tail.len) {
                shared.fail(format!("a part line could not be cut off: {cut}"));
            }
            return Err(AccessLogError::Io {
                path: shared.path.clone(),
                cause,
            });
        }
        tail.len += bytes.len() as u64;
        tail.head = LogHead {
            seq: line.seq,
            hash: line.hash,
        };
        shared.dirty.store(true, Ordering::Release);
        Ok(tail.head)
    }

    /// The last entry's sequence number and hash.
    pub fn head(&self) -> LogHead {
        match self.shared.tail.lock() {
            Ok(tail) => tail.head,
            Err(poisoned) => poisoned.into_inner().head,
        }
    }

    /// Fsyncs every line appended so far (on shutdown, or before
    /// publishing a head).
    pub fn sync(&self) -> Result<(), AccessLogError> {
        self.shared.sync()
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }
}

impl Shared {
    fn sync(&self) -> Result<(), AccessLogError> {
        sync_if_dirty(&self.sync_file, &self.dirty).map_err(|cause| {
            self.fail(cause.to_string());
            AccessLogError::SyncFailed {
                path: self.path.clone(),
                cause: cause.to_string(),
            }
        })
    }

    fn failure(&self) -> Option<String> {
        match self.failure.lock() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn fail(&self, cause: String) {
        record_failure(&self.failure, &self.path, cause);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Err(e) = self.sync() {
            tracing::error!(error = %e, "access log: the last lines were not fsynced");
        }
    }
}

/// Fsyncs `file` if anything was appended since the last fsync.
fn sync_if_dirty(file: &File, dirty: &AtomicBool) -> std::io::Result<()> {
    if !dirty.swap(false, Ordering::AcqRel) {
        return Ok(());
    }
    file.sync_data()
        .inspect_err(|_| dirty.store(true, Ordering::Release))
}

fn record_failure(failure: &Mutex<Option<String>>, path: &Path, cause: String) {
    tracing::error!(path = %path.display(), %cause, "access log: fsync failed; appends are refused from now on");
    let mut slot = match failure.lock() {
        Ok(slot) => slot,
        Err(poisoned) => poisoned.into_inner(),
    };
    slot.get_or_insert(cause);
}

/// Fsyncs the log within [`SYNC_INTERVAL`] of each append, until the log
/// is dropped.
fn spawn_syncer(
    file: File,
    path: PathBuf,
    dirty: Arc<AtomicBool>,
    failure: Arc<Mutex<Option<String>>>,
    stopped: mpsc::Receiver<()>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("access-log-sync".into())
        .spawn(move || loop {
            match stopped.recv_timeout(SYNC_INTERVAL) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
            if let Err(e) = sync_if_dirty(&file, &dirty) {
                record_failure(&failure, &path, e.to_string());
            }
        })
        .map(drop)
}

/// Cuts off the final line a crash left without its newline.
fn cut_torn_line(file: &File, path: &Path, scanned: &Scanned) -> std::io::Result<()> {
    file.set_len(scanned.whole)?;
    file.sync_all()?;
    tracing::warn!(
        path = %path.display(),
        line = scanned.checker.lines + 1,
        bytes = scanned.torn,
        "access log: cut off a final line left incomplete by a crash"
    );
    Ok(())
}

fn refuse_other_node(
    path: &Path,
    header: &Header,
    chain_id: &ChainId,
    node_key: PublicKey,
) -> Result<(), AccessLogError> {
    if header.chain_id == chain_id.as_str() && header.node_key == node_key {
        return Ok(());
    }
    let whose =
        |chain: &str, key: &PublicKey| format!("chain {chain} and node key {}", key.to_hex());
    Err(AccessLogError::OtherNode {
        path: path.to_path_buf(),
        found: whose(&header.chain_id, &header.node_key),
        expected: whose(chain_id.as_str(), &node_key),
    })
}

/// Starts an empty log: its header line, fsynced with the directory that
/// holds it. Returns the genesis head and the file's length.
fn write_header(
    file: &mut File,
    path: &Path,
    chain_id: &ChainId,
    node_key: PublicKey,
) -> std::io::Result<(LogHead, u64)> {
    let header = Header::new(chain_id.as_str(), node_key);
    let bytes = json_line(&header).map_err(std::io::Error::other)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    let head = LogHead {
        seq: 0,
        hash: header.genesis,
    };
    Ok((head, bytes.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundtrail_ledger::crypto::Keypair;

    fn chain() -> ChainId {
        "gd-medfund-test".parse().expect("chain id")
    }

    fn node_key(seed: u8) -> PublicKey {
        Keypair::from_seed([seed; 32]).public()
    }

    /// The `n`th request of a test: a claim read by an officer of the
    /// insurance department.
    fn entry(n: u64) -> AccessEntry {
        AccessEntry {
            time_ms: 1_790_000_000_000 + n,
            caller: node_key(9),
            org: "gd-insurance".parse().expect("org"),
            role: KeyRole::Officer,
            method: Method::GET,
            route: "/v1/claims/{claim}".into(),
            ids: vec![AccessedId::Claim(ClaimId {
                epoch: 1,
                tag: Hash32([n as u8; 32]),
            })],
            status: if n % 3 == 0 {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            },
        }
    }

    /// A log at `path` of `n` entries, closed again; its head.
    fn written(path: &Path, n: u64) -> LogHead {
        let log = AccessLog::open(path, &chain(), node_key(1)).expect("opens");
        let mut head = log.head();
        for i in 1..=n {
            head = log.append(entry(i)).expect("appended");
        }
        head
    }

    fn verified(bytes: &[u8], expected: Option<Hash32>) -> Result<Summary, AccessLogError> {
        verify(bytes, expected)
    }

    /// The line a verification failed at.
    fn failed_line(bytes: &[u8]) -> u64 {
        match verified(bytes, None) {
            Err(AccessLogError::Damaged { line, .. }) => line,
            other => panic!("expected damage, got {other:?}"),
        }
    }

    fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
        bytes
            .split_inclusive(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }

    #[test]
    fn a_log_reopens_where_it_ended_and_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file_in(dir.path());
        let head = written(&path, 3);
        assert_eq!(head.seq, 3);

        let log = AccessLog::open(&path, &chain(), node_key(1)).expect("reopens");
        assert_eq!(log.head(), head, "the head read back");
        let four = log.append(entry(4)).expect("appended");
        let five = log.append(entry(5)).expect("appended");
        assert_eq!((four.seq, five.seq), (4, 5));
        log.sync().expect("fsynced");
        drop(log);

        let bytes = std::fs::read(&path).expect("read");
        let summary = verified(&bytes, Some(five.hash)).expect("the log verifies");
        assert_eq!(summary.entries, 5);
        assert_eq!(summary.head, five);
        assert_eq!(summary.chain_id, chain().as_str());
        assert_eq!(summary.node_key, node_key(1));
        assert_eq!(summary.expected_head_at, Some(5));

        let lines = lines(&bytes);
        assert_eq!(lines.len(), 6, "a header and five entries");
        let third: serde_json::Value = serde_json::from_slice(&lines[3]).expect("json");
        assert_eq!(third["seq"], 3);
        assert_eq!(third["org"], "gd-insurance");
        assert_eq!(third["role"], "officer");
        assert_eq!(third["method"], "GET");
        assert_eq!(third["route"], "/v1/claims/{claim}");
        assert_eq!(
            third["ids"],
            serde_json::json!([format!("claim:1:{}", "03".repeat(32))])
        );
        assert_eq!(third["status"], 404);
        assert_eq!(third["key"], node_key(9).to_hex());
    }

    #[test]
    fn the_first_entry_chains_from_a_genesis_of_this_chain_and_node() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (one, two) = (dir.path().join("one.log"), dir.path().join("two.log"));
        drop(AccessLog::open(&one, &chain(), node_key(1)).expect("opens"));
        drop(AccessLog::open(&two, &chain(), node_key(2)).expect("opens"));
        let a = AccessLog::open(&one, &chain(), node_key(1)).expect("reopens");
        let b = AccessLog::open(&two, &chain(), node_key(2)).expect("reopens");
        assert_ne!(a.head().hash, b.head().hash, "two nodes' logs start apart");
        assert_eq!(a.head().hash, genesis_hash(chain().as_str(), &node_key(1)));
        let (ha, hb) = (a.append(entry(1)).unwrap(), b.append(entry(1)).unwrap());
        assert_ne!(ha.hash, hb.hash, "the same request chains apart in each");
        drop((a, b));

        let e = AccessLog::open(&one, &chain(), node_key(2))
            .err()
            .expect("another node's log");
        assert!(matches!(e, AccessLogError::OtherNode { .. }), "{e}");
        let other_chain: ChainId = "another-chain".parse().unwrap();
        let e = AccessLog::open(&one, &other_chain, node_key(1))
            .err()
            .expect("another chain's log");
        assert!(e.to_string().contains("another-chain"), "{e}");
        // Checked against the head the other node published, one node's
        // log is not the other's.
        let theirs = std::fs::read(&two).unwrap();
        assert!(matches!(
            verified(&theirs, Some(ha.hash)),
            Err(AccessLogError::HeadNotFound { .. })
        ));
    }

    #[test]
    fn every_changed_byte_is_found_at_its_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file_in(dir.path());
        written(&path, 6);
        let good = std::fs::read(&path).unwrap();
        let mut line_of = Vec::with_capacity(good.len());
        let mut line = 1;
        for b in &good {
            line_of.push(line);
            if *b == b'\n' {
                line += 1;
            }
        }
        for (i, line) in line_of.iter().enumerate() {
            for flip in [0x01, 0x20, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= flip;
                assert_eq!(
                    failed_line(&bad),
                    *line,
                    "byte {i} ({:?}) ^ {flip:#x}",
                    good[i] as char
                );
            }
        }
    }

    #[test]
    fn a_removed_reordered_inserted_or_cut_line_is_found_at_its_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file_in(dir.path());
        written(&path, 6);
        let good = lines(&std::fs::read(&path).unwrap());
        let joined = |lines: &[Vec<u8>]| lines.concat();
        let damage = |bytes: &[u8]| match verified(bytes, None) {
            Err(AccessLogError::Damaged { line, damage }) => (line, damage),
            other => panic!("expected damage, got {other:?}"),
        };

        let mut removed = good.clone();
        removed.remove(3);
        assert_eq!(
            damage(&joined(&removed)),
            (
                4,
                Damage::Sequence {
                    expected: 3,
                    found: 4
                }
            )
        );
        let mut swapped = good.clone();
        swapped.swap(2, 3);
        assert_eq!(
            damage(&joined(&swapped)),
            (
                3,
                Damage::Sequence {
                    expected: 2,
                    found: 3
                }
            )
        );
        let mut repeated = good.clone();
        repeated.insert(3, good[2].clone());
        assert_eq!(
            damage(&joined(&repeated)),
            (
                4,
                Damage::Sequence {
                    expected: 3,
                    found: 2
                }
            )
        );
        let mut headerless = good.clone();
        headerless.remove(0);
        assert!(matches!(
            damage(&joined(&headerless)),
            (1, Damage::Unreadable(_))
        ));

        // Bytes cut from the middle of line 3 to the middle of line 5.
        let all = joined(&good);
        let start = good[..2].concat().len() + 20;
        let end = good[..4].concat().len() + 30;
        let cut = [&all[..start], &all[end..]].concat();
        assert_eq!(damage(&cut).0, 3);

        // An entry rewritten in place, its hash recomputed: the next line
        // no longer chains from it.
        let mut rewritten: Line = serde_json::from_slice(&good[2]).unwrap();
        rewritten.status = 403;
        rewritten.hash = rewritten.computed_hash();
        let mut forged = good.clone();
        forged[2] = json_line(&rewritten).unwrap();
        assert_eq!(damage(&joined(&forged)), (4, Damage::Link(3)));
        // The same without recomputing the hash.
        let mut changed: Line = serde_json::from_slice(&good[2]).unwrap();
        changed.time_ms += 1;
        let mut forged = good.clone();
        forged[2] = json_line(&changed).unwrap();
        assert_eq!(damage(&joined(&forged)), (3, Damage::Hash(2)));
        // Spacing that leaves every field as it was.
        let mut spaced = good.clone();
        spaced[4] = String::from_utf8(good[4].clone())
            .unwrap()
            .replacen(",", ", ", 1)
            .into_bytes();
        assert_eq!(damage(&joined(&spaced)), (5, Damage::NotCanonical));

        assert_eq!(damage(b""), (1, Damage::NoHeader));
        // Too long with or without its newline.
        let long = vec![b'x'; MAX_LINE_BYTES];
        for tail in [&b"x"[..], &b"\n"[..]] {
            assert_eq!(
                damage(&[&all[..], &long[..], tail].concat()),
                (8, Damage::TooLong)
            );
        }
    }

    #[test]
    fn a_log_cut_short_or_rewritten_whole_is_found_against_a_head_kept_elsewhere() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file_in(dir.path());
        let published = written(&path, 4);
        let good = lines(&std::fs::read(&path).unwrap());

        // Grown since the head was published: it passes, saying where.
        let log = AccessLog::open(&path, &chain(), node_key(1)).unwrap();
        log.append(entry(5)).unwrap();
        drop(log);
        let grown = std::fs::read(&path).unwrap();
        let summary = verified(&grown, Some(published.hash)).expect("verifies");
        assert_eq!((summary.entries, summary.expected_head_at), (5, Some(4)));

        // Cut after its second entry: whole lines, so it verifies alone.
        let cut = good[..3].concat();
        assert_eq!(verified(&cut, None).expect("verifies alone").entries, 2);
        let e = verified(&cut, Some(published.hash)).expect_err("cut short");
        assert!(
            matches!(e, AccessLogError::HeadNotFound { last, .. } if last.seq == 2),
            "{e}"
        );

        // Rewritten whole, with the right chain and node, other content.
        let other = dir.path().join("rewritten.log");
        let log = AccessLog::open(&other, &chain(), node_key(1)).unwrap();
        for i in 1..=4 {
            let mut e = entry(i);
            e.status = StatusCode::OK;
            log.append(e).unwrap();
        }
        drop(log);
        let rewritten = std::fs::read(&other).unwrap();
        assert_eq!(
            verified(&rewritten, None).expect("verifies alone").entries,
            4
        );
        assert!(matches!(
            verified(&rewritten, Some(published.hash)),
            Err(AccessLogError::HeadNotFound { .. })
        ));
        let genesis = genesis_hash(chain().as_str(), &node_key(1));
        assert_eq!(
            verified(&rewritten, Some(genesis))
                .unwrap()
                .expected_head_at,
            Some(0)
        );
    }

    #[test]
    fn a_final_line_cut_short_by_a_crash_is_cut_off_on_open_and_the_log_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file_in(dir.path());
        let head = written(&path, 3);
        let whole = std::fs::read(&path).unwrap();
        let fourth = {
            let line = Line::after(&head, entry(4));
            json_line(&line).unwrap()
        };
        for keep in [1, fourth.len() / 2, fourth.len() - 1] {
            std::fs::write(&path, [&whole[..], &fourth[..keep]].concat()).unwrap();
            let torn = std::fs::read(&path).unwrap();
            assert!(matches!(
                verified(&torn, None),
                Err(AccessLogError::Damaged {
                    line: 5,
                    damage: Damage::Torn
                })
            ));
            let log = AccessLog::open(&path, &chain(), node_key(1)).expect("opens");
            assert_eq!(log.head(), head, "{keep} bytes of a line: cut off");
            drop(log);
            assert_eq!(std::fs::read(&path).unwrap(), whole);
        }
        let log = AccessLog::open(&path, &chain(), node_key(1)).unwrap();
        assert_eq!(log.append(entry(4)).unwrap().seq, 4);
        drop(log);
        assert_eq!(
            verified(&std::fs::read(&path).unwrap(), None)
                .unwrap()
                .entries,
            4
        );

        // A header cut short: the log starts again.
        let fresh = dir.path().join("fresh.log");
        owner_only::open_log(&fresh)
            .unwrap()
            .write_all(b"{\"format\":\"fundtr")
            .unwrap();
        let log = AccessLog::open(&fresh, &chain(), node_key(1)).expect("opens");
        assert_eq!(log.head().seq, 0);
        drop(log);
        assert_eq!(
            verified(&std::fs::read(&fresh).unwrap(), None)
                .unwrap()
                .entries,
            0
        );
    }

    #[test]
    fn damage_before_the_last_line_refuses_the_open_and_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file_in(dir.path());
        written(&path, 4);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = lines(&bytes)[..2].concat().len() + 40;
        bytes[at] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let e = AccessLog::open(&path, &chain(), node_key(1))
            .err()
            .expect("refused");
        assert!(matches!(&e, AccessLogError::Broken { line: 3, .. }), "{e}");
        let message = e.to_string();
        assert!(
            message.contains(&path.display().to_string()) && message.contains("line 3"),
            "{message}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing was changed");
    }

    #[test]
    fn a_log_is_created_owner_only_and_one_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file_in(dir.path());
        written(&path, 1);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = AccessLog::open(&path, &chain(), node_key(1))
            .err()
            .expect("refused");
        assert!(e.to_string().contains("chmod 600"), "{e}");
    }

    #[test]
    fn appends_from_many_threads_make_one_unbroken_chain() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file_in(dir.path());
        let log = AccessLog::open(&path, &chain(), node_key(1)).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| log.append(entry(t * 100 + i)).expect("appended").seq)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seqs: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("no panic"))
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=400).collect::<Vec<_>>(), "each number once");
        let head = log.head();
        drop(log);
        let summary = verified(&std::fs::read(&path).unwrap(), Some(head.hash)).unwrap();
        assert_eq!(summary.entries, 400);
    }

    #[test]
    fn an_entry_is_written_before_append_returns_and_fsynced_within_the_interval() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file_in(dir.path());
        let log = AccessLog::open(&path, &chain(), node_key(1)).unwrap();
        let head = log.append(entry(1)).unwrap();
        // Another reader sees the line at once: it is in the OS.
        let seen = verified(&std::fs::read(&path).unwrap(), Some(head.hash)).unwrap();
        assert_eq!(seen.entries, 1);
        assert!(log.shared.dirty.load(Ordering::Acquire), "not fsynced yet");
        let waited = std::time::Instant::now();
        while log.shared.dirty.load(Ordering::Acquire) {
            assert!(waited.elapsed() < SYNC_INTERVAL * 5, "never fsynced");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn an_entry_holds_only_printable_ids_and_a_bounded_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AccessLog::open(&file_in(dir.path()), &chain(), node_key(1)).unwrap();
        let mut quoted = entry(1);
        quoted.route = "/v1/\"claims\"".into();
        assert!(matches!(
            log.append(quoted),
            Err(AccessLogError::Unprintable)
        ));
        let mut long = entry(2);
        long.ids = vec![AccessedId::Record(RecordId::from_hash(Hash32([1; 32]))); 1_000];
        assert!(matches!(
            log.append(long),
            Err(AccessLogError::EntryTooLong { .. })
        ));
        assert_eq!(log.head().seq, 0, "nothing refused was written");
        assert_eq!(
            AccessedId::Person(PersonId {
                epoch: 2,
                tag: Hash32([0xab; 32])
            })
            .to_string(),
            format!("person:2:{}", "ab".repeat(32))
        );
        assert_eq!(
            AccessedId::Fund("basic-440100".parse().unwrap()).to_string(),
            "fund:basic-440100"
        );
        assert_eq!(AccessedId::Height(Height(7)).to_string(), "height:7");
        assert_eq!(AccessedId::Year(2026).to_string(), "year:2026");
        assert_eq!(
            AccessedId::Record(RecordId::from_hash(Hash32([0xcd; 32]))).to_string(),
            format!("record:{}", "cd".repeat(32))
        );
    }
}
