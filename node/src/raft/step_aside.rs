//! A leader that no quorum has acknowledged for a while steps aside. Over a
//! slow or lossy link every replication request of the leader times out
//! (openraft gives each the heartbeat interval), so nothing commits; yet
//! its messages still reach the followers, late, and keep them from
//! electing anyone else. Such a leader closes all its connections for a
//! while: the followers, no longer hearing it, elect a node they can reach,
//! and when it reconnects it learns of the newer term and follows.
//!
//! Nothing acknowledged depends on it: an entry the old leader could not
//! commit was never acknowledged, and Raft discards it when the new
//! leader's log replaces it.

use std::time::Duration;

use tokio::time::Instant;

use super::Raft;
use crate::p2p::Net;

const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Watches this node's leadership: once it has led for `patience` without
/// a quorum's acknowledgement, it steps aside for as long again. Back, or
/// resumed after being stopped, it is judged afresh: the acknowledgements
/// it missed meanwhile do not count against it, so a leader that merely
/// could not hear of the newer term gets to hear of it.
pub async fn watch(raft: Raft, net: Net, patience: Duration) {
    // The term this node leads in, and since when it has been judged.
    let mut judged: Option<(u64, Instant)> = None;
    let mut last_check = Instant::now();
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        if last_check.elapsed() > 4 * CHECK_EVERY {
            // The process was stopped or starved: what it missed meanwhile
            // says nothing of its link, so it is judged afresh.
            judged = None;
        }
        last_check = Instant::now();
        let metrics = raft.metrics().borrow().clone();
        let voters = metrics.membership_config.membership().voter_ids().count();
        if metrics.current_leader != Some(metrics.id) || voters < 2 {
            judged = None;
            continue;
        }
        let term = metrics.current_term;
        let since = match judged {
            Some((t, at)) if t == term => at,
            _ => judged.insert((term, Instant::now())).1,
        };
        let unacknowledged = metrics
            .millis_since_quorum_ack
            .map_or(Duration::MAX, Duration::from_millis)
            .min(since.elapsed());
        if unacknowledged > patience {
            tracing::warn!(
                term,
                unacknowledged_ms = unacknowledged.as_millis() as u64,
                "leading without a quorum's acknowledgement: stepping aside so a node the others reach can lead"
            );
            net.step_aside(patience);
            tokio::time::sleep(patience).await;
            judged = Some((term, Instant::now()));
        }
    }
}
