//! Keeps a follower from campaigning while it installs a snapshot.
//!
//! The leader sends a follower nothing else until the follower answers the
//! snapshot's last message, and the follower answers it only once it has
//! verified and replayed the whole chain (about 30 s per million records on
//! the 2-core machine). Left alone, its election timer has run out by then:
//! it campaigns, and its ever higher terms make the leader step down and
//! the cluster elect again, for nothing (measured: 6 to 21 terms for one
//! rejoin on a 789,500-record chain, docs/ARCHITECTURE.md). openraft 0.9
//! has no pre-vote, so its runtime switch for elections is used instead:
//! off while any snapshot message is being handled, and on again one
//! election timeout after the last one ends, by when the leader's
//! heartbeats have renewed the follower's view of it. The hold ends with the message's handling, so an
//! abandoned transfer cannot leave elections off. Votes for other nodes are
//! not affected: a quiet follower still helps elect a new leader.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::Raft;

/// Turns this node's own campaigning on and off.
pub trait ElectionSwitch: Send + Sync + 'static {
    fn set_elections(&self, enabled: bool);
}

impl ElectionSwitch for Raft {
    fn set_elections(&self, enabled: bool) {
        self.runtime_config().elect(enabled);
    }
}

/// Counts the snapshot messages in hand; elections are off while any is.
pub struct InstallQuiet<S: ElectionSwitch> {
    switch: S,
    holds: Mutex<usize>,
    grace: Duration,
}

impl<S: ElectionSwitch> InstallQuiet<S> {
    /// `grace` is how long elections stay off after the last hold ends: the
    /// election timeout's upper bound.
    pub fn new(switch: S, grace: Duration) -> Arc<InstallQuiet<S>> {
        Arc::new(InstallQuiet {
            switch,
            holds: Mutex::new(0),
            grace,
        })
    }

    /// Elections stay off until the guard is dropped and the grace has passed.
    pub fn hold(self: &Arc<Self>) -> QuietGuard<S> {
        let mut holds = self.holds();
        if *holds == 0 {
            self.switch.set_elections(false);
            tracing::debug!("elections paused while a snapshot is installed");
        }
        *holds += 1;
        QuietGuard {
            quiet: self.clone(),
        }
    }

    fn release(&self) {
        let mut holds = self.holds();
        *holds = holds.saturating_sub(1);
        if *holds == 0 {
            self.switch.set_elections(true);
            tracing::debug!("elections resumed after a snapshot install");
        }
    }

    fn holds(&self) -> MutexGuard<'_, usize> {
        self.holds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One snapshot message in hand; see [`InstallQuiet::hold`].
pub struct QuietGuard<S: ElectionSwitch> {
    quiet: Arc<InstallQuiet<S>>,
}

impl<S: ElectionSwitch> Drop for QuietGuard<S> {
    fn drop(&mut self) {
        let quiet = self.quiet.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    tokio::time::sleep(quiet.grace).await;
                    quiet.release();
                });
            }
            Err(_) => quiet.release(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    const GRACE: Duration = Duration::from_millis(50);

    struct Switch(AtomicBool);

    impl ElectionSwitch for Arc<Switch> {
        fn set_elections(&self, enabled: bool) {
            self.0.store(enabled, Ordering::SeqCst);
        }
    }

    fn quiet() -> (Arc<Switch>, Arc<InstallQuiet<Arc<Switch>>>) {
        let switch = Arc::new(Switch(AtomicBool::new(true)));
        (switch.clone(), InstallQuiet::new(switch, GRACE))
    }

    fn elections_on(switch: &Switch) -> bool {
        switch.0.load(Ordering::SeqCst)
    }

    /// Whether elections come back on within a generous bound.
    async fn resumes(switch: &Switch) -> bool {
        for _ in 0..200 {
            if elections_on(switch) {
                return true;
            }
            tokio::time::sleep(GRACE / 2).await;
        }
        false
    }

    // Each "still off" below holds however slowly the machine runs: the
    // release sleeps the whole grace first, or another hold is in hand.

    #[tokio::test]
    async fn elections_resume_one_grace_after_the_install() {
        let (switch, quiet) = quiet();
        let guard = quiet.hold();
        assert!(!elections_on(&switch));
        drop(guard);
        assert!(!elections_on(&switch), "still off within the grace");
        assert!(resumes(&switch).await);
    }

    #[tokio::test]
    async fn the_next_chunk_within_the_grace_keeps_them_off() {
        let (switch, quiet) = quiet();
        drop(quiet.hold());
        let last_chunk = quiet.hold();
        tokio::time::sleep(GRACE * 4).await;
        assert!(
            !elections_on(&switch),
            "the first chunk's release does not reopen them"
        );
        drop(last_chunk);
        assert!(resumes(&switch).await);
    }

    #[tokio::test]
    async fn overlapping_transfers_release_only_at_the_last() {
        let (switch, quiet) = quiet();
        let first = quiet.hold();
        let second = quiet.hold();
        drop(first);
        tokio::time::sleep(GRACE * 4).await;
        assert!(!elections_on(&switch));
        drop(second);
        assert!(resumes(&switch).await);
    }

    #[test]
    fn without_a_runtime_the_release_is_immediate() {
        let (switch, quiet) = quiet();
        let guard = quiet.hold();
        assert!(!elections_on(&switch));
        drop(guard);
        assert!(elections_on(&switch));
    }
}
