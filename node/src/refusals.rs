//! Refused peer messages, counted and logged. Every refusal is counted in
//! `/metrics` by reason; the log gets one line per reason per second at
//! most, saying how many more were refused since, so a peer that floods
//! the node cannot flood its log too.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::{Metrics, ReasonLabel};

const LOG_EVERY: Duration = Duration::from_secs(1);

/// When a reason was last logged, and how many refusals went unlogged since.
struct LastLogged {
    at: Instant,
    unlogged: u64,
}

#[derive(Clone)]
pub struct Refusals {
    metrics: Arc<Metrics>,
    logged: Arc<Mutex<BTreeMap<&'static str, LastLogged>>>,
}

impl Refusals {
    pub fn new(metrics: Arc<Metrics>) -> Refusals {
        Refusals {
            metrics,
            logged: Arc::default(),
        }
    }

    /// Counts a refused message from `peer` and logs it unless this reason
    /// was logged within the last second.
    pub fn refuse(&self, peer: &str, reason: &'static str, detail: &dyn std::fmt::Display) {
        let label = ReasonLabel {
            reason: reason.to_string(),
        };
        self.metrics.peer_refusals.get_or_create(&label).inc();
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match logged.get_mut(reason) {
            Some(last) if now.duration_since(last.at) < LOG_EVERY => last.unlogged += 1,
            last => {
                let unlogged = last.map_or(0, |l| l.unlogged);
                tracing::warn!(%peer, reason, %detail, also_refused = unlogged, "refused a peer message");
                logged.insert(
                    reason,
                    LastLogged {
                        at: now,
                        unlogged: 0,
                    },
                );
            }
        }
    }
}
