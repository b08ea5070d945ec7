//! Where a node's CPU time goes, for `fundtrail_cpu_seconds{part}`.
//!
//! Three sources, read at scrape time:
//! - sections timed on the thread that runs them (admission, contract
//!   execution, the store's foreground reads and writes, the swarm's and
//!   its connections' polls), by the thread's own CPU clock, so time the
//!   thread spent descheduled does not count; contract state reads, too
//!   many to time one by one, take their share of execution's CPU time by
//!   their share of its wall time;
//! - threads that do one kind of work, by name: the signature pool
//!   (`verify-N`, named in `main`) and RocksDB's flushes and compactions
//!   (`rocksdb:*`);
//! - the process's total, whose remainder is Raft, the HTTP intake and
//!   everything else on the async runtime.
//!
//! The process has one node, so the section counters are process-wide.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// A kind of work timed where it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Record form, key and signature checks on the calling thread (the
    /// batches themselves mostly run on the signature pool).
    Admission,
    /// Contract execution, without its reads of committed state.
    Contracts,
    /// RocksDB reads and writes on the node's own threads: state reads,
    /// duplicate lookups, block commits and Raft log appends.
    Storage,
    /// The libp2p swarm and its connection tasks: transport encryption,
    /// multiplexing and framing of every peer message.
    Networking,
}

const SECTIONS: [Section; 4] = [
    Section::Admission,
    Section::Contracts,
    Section::Storage,
    Section::Networking,
];

/// CPU time counted to each section.
struct SpentBySection([AtomicU64; 4]);

static SPENT: SpentBySection = SpentBySection([const { AtomicU64::new(0) }; 4]);

impl SpentBySection {
    fn add(&self, section: Section, d: Duration) {
        self.0[section as usize].fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    fn spent(&self, section: Section) -> Duration {
        Duration::from_nanos(self.0[section as usize].load(Ordering::Relaxed))
    }

    fn time<T>(&self, section: Section, f: impl FnOnce() -> T) -> T {
        let (out, spent) = thread_time(f);
        self.add(section, spent);
        out
    }
}

impl Section {
    /// Runs `f`, counting the calling thread's CPU time to this section.
    pub fn time<T>(self, f: impl FnOnce() -> T) -> T {
        SPENT.time(self, f)
    }

    /// Counts `d` of CPU time, measured by the caller, to this section.
    pub fn add(self, d: Duration) {
        SPENT.add(self, d)
    }

    fn label(self) -> &'static str {
        match self {
            Section::Admission => "admission",
            Section::Contracts => "contracts",
            Section::Storage => "storage",
            Section::Networking => "networking",
        }
    }
}

/// Runs `f`, returning what it returned and the CPU time this thread spent
/// in it.
pub fn thread_time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = thread_cpu();
    let out = f();
    (out, thread_cpu().saturating_sub(started))
}

/// This thread's CPU time so far.
pub fn thread_cpu() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into; the clock ids used
    // here exist on every Linux.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A future whose polls count to a section.
pub struct Timed<F> {
    inner: Pin<Box<F>>,
    section: Section,
}

impl<F: Future> Timed<F> {
    pub fn new(section: Section, inner: F) -> Timed<F> {
        Timed {
            inner: Box::pin(inner),
            section,
        }
    }
}

impl<F: Future> Future for Timed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let section = self.section;
        section.time(|| self.inner.as_mut().poll(cx))
    }
}

/// CPU seconds by part, as `fundtrail_cpu_seconds` reports them.
pub fn parts() -> Vec<(&'static str, f64)> {
    let threads = named_threads();
    let process = clock(libc::CLOCK_PROCESS_CPUTIME_ID);
    let mut out: Vec<(&'static str, Duration)> = SECTIONS
        .iter()
        .map(|s| (s.label(), SPENT.spent(*s)))
        .collect();
    out.push(("signatures", threads.signatures));
    out.push(("storage_background", threads.storage));
    let counted: Duration = out.iter().map(|(_, d)| *d).sum();
    out.push(("raft_and_other", process.saturating_sub(counted)));
    out.push(("total", process));
    out.into_iter().map(|(p, d)| (p, d.as_secs_f64())).collect()
}

/// CPU time of the threads named for one kind of work.
#[derive(Default)]
struct NamedThreads {
    signatures: Duration,
    storage: Duration,
}

/// The signature pool's thread names: `verify-0`, `verify-1`, ….
pub const SIGNATURE_THREAD: &str = "verify-";

fn named_threads() -> NamedThreads {
    let mut out = NamedThreads::default();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue; // the thread has exited
        };
        let Some((name, cpu)) = thread_stat(&stat) else {
            continue;
        };
        if name.starts_with(SIGNATURE_THREAD) {
            out.signatures += cpu;
        } else if name.starts_with("rocksdb:") {
            out.storage += cpu;
        }
    }
    out
}

/// A thread's name and CPU time (user + system) from its `stat` line.
fn thread_stat(stat: &str) -> Option<(&str, Duration)> {
    let name = &stat[stat.find('(')? + 1..stat.rfind(')')?];
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some((
        name,
        Duration::from_nanos(ticks * 1_000_000_000 / per_second),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_stat_line_gives_its_name_and_cpu_time() {
        let line = "4242 (rocksdb:low) S 1 4242 4242 0 -1 4194368 12 0 0 0 250 150 0 0 20 0 8 0";
        let (name, cpu) = thread_stat(line).expect("parses");
        assert_eq!(name, "rocksdb:low");
        let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        assert_eq!(cpu, Duration::from_nanos(400 * 1_000_000_000 / tick));
        assert!(thread_stat("garbage").is_none());
    }

    #[test]
    fn a_section_counts_the_cpu_time_spent_in_it() {
        let spin = || {
            let started = thread_cpu();
            while thread_cpu() - started < Duration::from_millis(20) {}
        };
        let spent = SpentBySection([const { AtomicU64::new(0) }; 4]);
        spent.time(Section::Contracts, spin);
        spent.add(Section::Storage, Duration::from_millis(5));
        let contracts = spent.spent(Section::Contracts);
        assert!(
            (Duration::from_millis(20)..Duration::from_millis(30)).contains(&contracts),
            "contracts {contracts:?}"
        );
        assert_eq!(spent.spent(Section::Storage), Duration::from_millis(5));
        assert_eq!(spent.spent(Section::Networking), Duration::ZERO);
    }
}
