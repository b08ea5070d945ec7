//! Which records this node has already verified: their signatures were
//! checked when the node admitted them from a client, so applying the block
//! that holds them need not check them again. Every node still verifies
//! every record it did not admit itself.
//!
//! A record is remembered by its id and its submitter signature. The id
//! hashes the whole envelope, approvals and their signatures included, so
//! the pair names exactly one signed record: a record with any byte changed
//! misses and is verified in full. Bounded, oldest first out; an entry is
//! dropped once its block is applied.

use std::collections::VecDeque;
use std::sync::Mutex;

use fundtrail_ledger::record::{RecordId, SignedRecord};

/// How many admitted records are remembered: well over what waits for a
/// block at any time (a few seconds of the highest load).
const CAPACITY: usize = 262_144;

type Entry = (RecordId, [u8; 64]);

/// Lookup-only: nothing iterates it, so hash order reaches no result.
#[allow(clippy::disallowed_types)]
type EntrySet = std::collections::HashSet<Entry, foldhash::fast::RandomState>;

#[derive(Default)]
struct Inner {
    set: EntrySet,
    order: VecDeque<Entry>,
}

#[derive(Default)]
pub struct VerifiedRecords {
    inner: Mutex<Inner>,
}

fn entry(id: RecordId, record: &SignedRecord) -> Entry {
    (id, record.signature.0)
}

impl VerifiedRecords {
    /// Remembers records whose signatures have just verified.
    pub fn remember<'r>(&self, verified: impl Iterator<Item = (RecordId, &'r SignedRecord)>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (id, record) in verified {
            let e = entry(id, record);
            if inner.set.insert(e) {
                inner.order.push_back(e);
            }
        }
        while inner.order.len() > CAPACITY {
            if let Some(old) = inner.order.pop_front() {
                inner.set.remove(&old);
            }
        }
    }

    /// Whether this exact signed record was verified here, forgetting it.
    pub fn take(&self, id: RecordId, record: &SignedRecord) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.set.remove(&entry(id, record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundtrail_ledger::record::RecordBody;
    use fundtrail_ledger::types::{Amount, Role};
    use fundtrail_testkit::{bodies, Harness};

    fn record(h: &mut Harness) -> SignedRecord {
        let body = bodies::claim(
            h.kit.claim_id(1),
            h.kit.person(1),
            Amount::yuan(100),
            Amount::yuan(90),
        );
        h.record(Role::Health, RecordBody::Claim(body), 0)
    }

    #[test]
    fn only_the_exact_signed_record_is_taken_and_only_once() {
        let mut h = Harness::new(3);
        let (a, b) = (record(&mut h), record(&mut h));
        let verified = VerifiedRecords::default();
        verified.remember([(a.id(), &a)].into_iter());
        let mut forged = a.clone();
        forged.signature.0[0] ^= 1;
        assert!(!verified.take(forged.id(), &forged), "changed signature");
        assert!(!verified.take(b.id(), &b), "never verified here");
        assert!(verified.take(a.id(), &a));
        assert!(!verified.take(a.id(), &a), "taken once");
    }

    #[test]
    fn oldest_entries_leave_first_past_capacity() {
        let mut h = Harness::new(3);
        let first = record(&mut h);
        let verified = VerifiedRecords::default();
        verified.remember([(first.id(), &first)].into_iter());
        let mut last = first.clone();
        for n in 0..CAPACITY as u64 {
            last.envelope.nonce = u64::MAX - n;
            verified.remember([(last.id(), &last)].into_iter());
        }
        assert!(!verified.take(first.id(), &first));
        assert!(verified.take(last.id(), &last));
    }
}
