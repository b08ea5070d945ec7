//! The machine's own limit: how many ed25519 signatures per second it can
//! batch-verify using every core.

use std::time::Instant;

use fundtrail_ledger::crypto::{verify_batch, KeyRing, Keypair, SignedDigest};
use fundtrail_ledger::hash::{domain, hash_domain};

/// Signatures to measure the limit on, by 8 keys enrolled once, as the
/// ledger enrols them. Signing is slow next to verifying, so a benchmark
/// that measures the limit several times signs its sample once.
pub struct LimitSample {
    ring: KeyRing,
    items: Vec<SignedDigest>,
}

impl LimitSample {
    pub fn new(signatures: usize) -> LimitSample {
        let signers: Vec<Keypair> = (0..8u8).map(|i| Keypair::from_seed([i + 1; 32])).collect();
        let mut ring = KeyRing::new();
        for s in &signers {
            ring.enrol(s.public()).expect("fresh keys are strong");
        }
        let items = (0..signatures)
            .map(|i| {
                let signer = &signers[i % signers.len()];
                let digest = hash_domain(domain::RECORD, &(i as u64).to_le_bytes());
                SignedDigest {
                    key: signer.public(),
                    digest,
                    signature: signer.sign(&digest),
                }
            })
            .collect();
        LimitSample { ring, items }
    }

    /// Signatures per second, batch-verified on all rayon threads: the best
    /// of `rounds` passes over the sample.
    pub fn rate(&self, rounds: usize) -> f64 {
        let mut best = 0f64;
        for _ in 0..rounds.max(1) {
            let start = Instant::now();
            verify_batch(&self.ring, &self.items).expect("benchmark signatures are valid");
            best = best.max(self.items.len() as f64 / start.elapsed().as_secs_f64());
        }
        best
    }
}

/// Signatures per second over a fresh sample of `sample` signatures, best
/// of `rounds`.
pub fn batch_verify_rate(sample: usize, rounds: usize) -> f64 {
    LimitSample::new(sample).rate(rounds)
}
