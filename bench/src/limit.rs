//! The machine's own limit: how many ed25519 signatures per second it can
//! batch-verify using every core.

use std::time::Instant;

use fundtrail_ledger::crypto::{verify_batch, KeyRing, Keypair, SignedDigest};
use fundtrail_ledger::hash::{domain, hash_domain};

/// Signatures per second, batch-verified on all rayon threads. Keys are
/// enrolled once, as the ledger does; `sample` signatures are verified
/// `rounds` times and the best round is reported.
pub fn batch_verify_rate(sample: usize, rounds: usize) -> f64 {
    let signers: Vec<Keypair> = (0..8u8).map(|i| Keypair::from_seed([i + 1; 32])).collect();
    let mut ring = KeyRing::new();
    for s in &signers {
        ring.enrol(s.public()).expect("fresh keys are strong");
    }
    let items: Vec<SignedDigest> = (0..sample)
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
    let mut best = 0f64;
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        verify_batch(&ring, &items).expect("benchmark signatures are valid");
        best = best.max(sample as f64 / start.elapsed().as_secs_f64());
    }
    best
}
