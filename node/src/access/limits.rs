//! Per-key request rates: a token bucket for each key that calls, so one
//! department's runaway client cannot starve the others (answered 429).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use fundtrail_ledger::crypto::PublicKey;

/// Buckets kept before idle ones are dropped (a full bucket carries no
/// state worth keeping).
const MAX_BUCKETS: usize = 10_000;

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<PublicKey, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Takes one request's token from `key`'s bucket; false when empty.
    pub fn take(&self, key: &PublicKey) -> bool {
        self.take_at(key, Instant::now())
    }

    fn take_at(&self, key: &PublicKey, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| refilled(*b, now, rate, burst) < burst);
        }
        let bucket = buckets.entry(*key).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = refilled(*bucket, now, self.per_second, self.burst);
        let allowed = tokens >= 1.0;
        *bucket = Bucket {
            tokens: if allowed { tokens - 1.0 } else { tokens },
            at: now,
        };
        allowed
    }
}

fn refilled(b: Bucket, now: Instant, per_second: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
    (b.tokens + elapsed * per_second).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_key_gets_its_burst_then_its_rate_and_other_keys_are_unaffected() {
        let limiter = RateLimiter::new(10, 3);
        let (a, b) = (PublicKey([1; 32]), PublicKey([2; 32]));
        let t = Instant::now();
        assert!((0..3).all(|_| limiter.take_at(&a, t)));
        assert!(!limiter.take_at(&a, t), "burst spent");
        assert!(limiter.take_at(&b, t), "another key has its own bucket");
        assert!(!limiter.take_at(&a, t + Duration::from_millis(50)));
        assert!(
            limiter.take_at(&a, t + Duration::from_millis(110)),
            "refilled"
        );
    }
}
