//! Edge-case ed25519 signatures over 32-byte digests, crafted from a
//! signing seed (as `Keypair::from_seed` takes it), for tests that check
//! every path reaches the one verdict of the signature rule
//! (docs/ENCODING.md, "Signature validity").

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use fundtrail_ledger::crypto::{Keypair, Signature};
use fundtrail_ledger::hash::Hash32;
use sha2::{Digest, Sha512};

/// The group order ℓ, little-endian.
const ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The kinds of signature [`EdgeKind::sign`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// What `Keypair::sign` makes.
    Honest,
    /// `R = rB + T` with `T` of order 8, `s = r + k·a`. The cofactored
    /// equation holds; the cofactorless one is off by `T`, so dalek's
    /// `verify_strict` refuses it and its randomised cofactorless batch
    /// accepts it only when the weight is a multiple of 8.
    TorsionR,
    /// `R = T` of order 8, `s = k·a`: R has small order.
    SmallOrderR,
    /// An honest signature with `s + ℓ` for `s`: not canonical.
    NonCanonicalS,
}

impl EdgeKind {
    pub const ALL: [EdgeKind; 4] = [
        EdgeKind::Honest,
        EdgeKind::TorsionR,
        EdgeKind::SmallOrderR,
        EdgeKind::NonCanonicalS,
    ];

    /// The verdict of the signature rule.
    pub fn valid(self) -> bool {
        self != EdgeKind::NonCanonicalS
    }

    /// This kind of signature by the key of `seed` over `digest`.
    pub fn sign(self, seed: [u8; 32], digest: &Hash32) -> Signature {
        match self {
            EdgeKind::Honest => Keypair::from_seed(seed).sign(digest),
            EdgeKind::TorsionR => torsion_r(seed, digest),
            EdgeKind::SmallOrderR => small_order_r(seed, digest),
            EdgeKind::NonCanonicalS => non_canonical_s(seed, digest),
        }
    }
}

/// A signature whose R has a component of order 8 ([`EdgeKind::TorsionR`]).
pub fn torsion_r(seed: [u8; 32], digest: &Hash32) -> Signature {
    let key = Expanded::new(seed);
    let r = key.nonce(digest);
    key.sign_with(r, EdwardsPoint::mul_base(&r) + EIGHT_TORSION[1], digest)
}

/// A signature whose R is a point of order 8 ([`EdgeKind::SmallOrderR`]).
pub fn small_order_r(seed: [u8; 32], digest: &Hash32) -> Signature {
    Expanded::new(seed).sign_with(Scalar::ZERO, EIGHT_TORSION[1], digest)
}

/// An honest signature with `s + ℓ` for `s` ([`EdgeKind::NonCanonicalS`]).
pub fn non_canonical_s(seed: [u8; 32], digest: &Hash32) -> Signature {
    let mut sig = Keypair::from_seed(seed).sign(digest);
    let mut carry = 0u16;
    for (byte, add) in sig.0[32..].iter_mut().zip(ORDER) {
        let sum = u16::from(*byte) + u16::from(add) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    sig
}

/// A signing key expanded as RFC 8032 does: the clamped secret scalar `a`,
/// the nonce prefix and the public key.
struct Expanded {
    a: Scalar,
    prefix: [u8; 32],
    public: [u8; 32],
}

impl Expanded {
    fn new(seed: [u8; 32]) -> Expanded {
        let h: [u8; 64] = Sha512::digest(seed).into();
        let mut a = [0u8; 32];
        a.copy_from_slice(&h[..32]);
        a[0] &= 248;
        a[31] &= 127;
        a[31] |= 64;
        let a = Scalar::from_bytes_mod_order(a);
        let mut prefix = [0u8; 32];
        prefix.copy_from_slice(&h[32..]);
        Expanded {
            a,
            prefix,
            public: EdwardsPoint::mul_base(&a).compress().0,
        }
    }

    /// A nonce that no honest signature of the key uses.
    fn nonce(&self, digest: &Hash32) -> Scalar {
        hash_scalar(&[b"fundtrail edge signature", &self.prefix, digest.as_bytes()])
    }

    /// `R` as given and `s = r + k·a`, `k = SHA-512(R ‖ A ‖ digest)`.
    fn sign_with(&self, r: Scalar, big_r: EdwardsPoint, digest: &Hash32) -> Signature {
        let r_bytes = big_r.compress().0;
        let k = hash_scalar(&[&r_bytes, &self.public, digest.as_bytes()]);
        let s = r + k * self.a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_bytes);
        sig[32..].copy_from_slice(s.as_bytes());
        Signature(sig)
    }
}

fn hash_scalar(parts: &[&[u8]]) -> Scalar {
    let mut h = Sha512::new();
    for part in parts {
        h.update(part);
    }
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundtrail_ledger::crypto::verify_one;

    const SEED: [u8; 32] = [0x33; 32];

    fn digest() -> Hash32 {
        Hash32([0x42; 32])
    }

    #[test]
    fn expansion_gives_the_keypairs_public_key() {
        assert_eq!(
            Expanded::new(SEED).public,
            Keypair::from_seed(SEED).public().0
        );
    }

    #[test]
    fn each_kind_gets_its_verdict() {
        let key = Keypair::from_seed(SEED).public();
        for kind in EdgeKind::ALL {
            let verdict = verify_one(&key, &digest(), &kind.sign(SEED, &digest()));
            assert_eq!(verdict.is_ok(), kind.valid(), "{kind:?}: {verdict:?}");
        }
    }

    /// The crafted kinds are the ones the cofactorless check refuses.
    #[test]
    fn dalek_refuses_the_torsion_kinds() {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&Keypair::from_seed(SEED).public().0)
            .expect("a valid key");
        for kind in EdgeKind::ALL {
            let sig = ed25519_dalek::Signature::from_bytes(&kind.sign(SEED, &digest()).0);
            let strict = key.verify_strict(digest().as_bytes(), &sig).is_ok();
            assert_eq!(strict, kind == EdgeKind::Honest, "{kind:?}");
        }
    }
}
