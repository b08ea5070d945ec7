//! Consistency proofs between two sizes of one RFC 6962 tree: built from
//! the leaf hashes of the larger tree (RFC 9162 §2.1.4.1) and checked
//! against the two roots (§2.1.4.2). They never touch storage.
//!
//! The cases the RFC leaves aside follow tlog-witness: from size 0 the
//! proof is empty and the old root must be the empty tree's; between equal
//! sizes the proof is empty and the roots must be equal.

use serde::{Deserialize, Serialize};

use crate::hash::Hash32;
use crate::merkle::{empty_root, node_hash, root};

/// Proof that the tree of `old_size` leaves is a prefix of the tree of
/// `new_size` leaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    pub path: Vec<Hash32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsistencyError {
    #[error("old size {old} is larger than new size {new}")]
    OldSizeLarger { old: u64, new: u64 },
    #[error("a proof from size {old} to {new} has {expected} hashes, this one has {actual}")]
    WrongLength {
        old: u64,
        new: u64,
        expected: usize,
        actual: usize,
    },
    #[error("a tree of size 0 has the empty root, not {0}")]
    NotEmptyRoot(Hash32),
    #[error("two trees of size {size} with different roots")]
    RootsDiffer { size: u64 },
    #[error("the proof from size {old} to {new} does not lead to the old root")]
    OldRootMismatch { old: u64, new: u64 },
    #[error("the proof from size {old} to {new} does not lead to the new root")]
    NewRootMismatch { old: u64, new: u64 },
}

/// Largest power of two strictly below `n` (n >= 2).
fn split(n: u64) -> u64 {
    1 << (u64::BITS - 1 - (n - 1).leading_zeros())
}

/// Proves that the first `old_size` of `leaves` form a prefix of the tree
/// over all of them.
pub fn prove_consistency(
    leaves: &[Hash32],
    old_size: u64,
) -> Result<ConsistencyProof, ConsistencyError> {
    let new_size = leaves.len() as u64;
    if old_size > new_size {
        return Err(ConsistencyError::OldSizeLarger {
            old: old_size,
            new: new_size,
        });
    }
    let mut path = Vec::new();
    if old_size > 0 && old_size < new_size {
        subproof(leaves, old_size, true, &mut path);
    }
    Ok(ConsistencyProof {
        old_size,
        new_size,
        path,
    })
}

// RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b); `complete` is b.
fn subproof(leaves: &[Hash32], m: u64, complete: bool, path: &mut Vec<Hash32>) {
    let n = leaves.len() as u64;
    if m == n {
        if !complete {
            path.push(root(leaves));
        }
        return;
    }
    let k = split(n) as usize;
    if m <= k as u64 {
        subproof(&leaves[..k], m, complete, path);
        path.push(root(&leaves[k..]));
    } else {
        subproof(&leaves[k..], m - k as u64, false, path);
        path.push(root(&leaves[..k]));
    }
}

/// How many hashes a proof from `old` to `new` has (0 < old < new): one per
/// step of SUBPROOF, plus the old root's when the old tree is not a
/// complete subtree of the new one.
fn proof_len(old: u64, new: u64) -> usize {
    let (mut m, mut n, mut complete, mut len) = (old, new, true, 0);
    while m != n {
        let k = split(n);
        if m <= k {
            n = k;
        } else {
            m -= k;
            n -= k;
            complete = false;
        }
        len += 1;
    }
    len + usize::from(!complete)
}

/// Checks that the tree with root `old_root` at the proof's old size is a
/// prefix of the tree with root `new_root` at its new size.
pub fn verify_consistency(
    proof: &ConsistencyProof,
    old_root: &Hash32,
    new_root: &Hash32,
) -> Result<(), ConsistencyError> {
    let (old, new) = (proof.old_size, proof.new_size);
    if old > new {
        return Err(ConsistencyError::OldSizeLarger { old, new });
    }
    let expected = if old == 0 || old == new {
        0
    } else {
        proof_len(old, new)
    };
    if proof.path.len() != expected {
        return Err(ConsistencyError::WrongLength {
            old,
            new,
            expected,
            actual: proof.path.len(),
        });
    }
    if old == 0 {
        return match *old_root == empty_root() {
            true => Ok(()),
            false => Err(ConsistencyError::NotEmptyRoot(*old_root)),
        };
    }
    if old == new {
        return match old_root == new_root {
            true => Ok(()),
            false => Err(ConsistencyError::RootsDiffer { size: old }),
        };
    }
    let (old_computed, new_computed) = fold_path(old, new, &proof.path, old_root);
    if old_computed != *old_root {
        return Err(ConsistencyError::OldRootMismatch { old, new });
    }
    if new_computed != *new_root {
        return Err(ConsistencyError::NewRootMismatch { old, new });
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2 steps 2–6 for 0 < old < new and a path of the right
/// length: the old and new roots the path leads to.
fn fold_path(old: u64, new: u64, path: &[Hash32], old_root: &Hash32) -> (Hash32, Hash32) {
    let seed_is_old_root = old.is_power_of_two();
    let (seed, rest) = match (seed_is_old_root, path.split_first()) {
        (true, _) | (false, None) => (*old_root, path),
        (false, Some((first, rest))) => (*first, rest),
    };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        if snode == 0 {
            break;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    (fr, sr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::leaf_hash;
    use proptest::prelude::*;

    fn leaves(n: u64) -> Vec<Hash32> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn roots(all: &[Hash32], old: u64) -> (Hash32, Hash32) {
        (root(&all[..old as usize]), root(all))
    }

    #[test]
    fn every_pair_of_small_sizes_verifies() {
        let all = leaves(40);
        for new in 0..=all.len() as u64 {
            for old in 0..=new {
                let tree = &all[..new as usize];
                let proof = prove_consistency(tree, old).unwrap();
                assert_eq!(
                    proof.path.len(),
                    if old == 0 || old == new {
                        0
                    } else {
                        proof_len(old, new)
                    }
                );
                let (old_root, new_root) = roots(tree, old);
                verify_consistency(&proof, &old_root, &new_root).unwrap();
            }
        }
    }

    #[test]
    fn a_larger_old_size_is_refused() {
        let all = leaves(5);
        assert_eq!(
            prove_consistency(&all, 6),
            Err(ConsistencyError::OldSizeLarger { old: 6, new: 5 })
        );
        let proof = ConsistencyProof {
            old_size: 6,
            new_size: 5,
            path: vec![],
        };
        assert_eq!(
            verify_consistency(&proof, &root(&all), &root(&all)),
            Err(ConsistencyError::OldSizeLarger { old: 6, new: 5 })
        );
    }

    #[test]
    fn size_zero_needs_the_empty_root_and_no_proof() {
        let all = leaves(3);
        let proof = prove_consistency(&all, 0).unwrap();
        assert!(proof.path.is_empty());
        verify_consistency(&proof, &empty_root(), &root(&all)).unwrap();
        assert_eq!(
            verify_consistency(&proof, &root(&all), &root(&all)),
            Err(ConsistencyError::NotEmptyRoot(root(&all)))
        );
        let padded = ConsistencyProof {
            path: vec![empty_root()],
            ..proof
        };
        assert!(matches!(
            verify_consistency(&padded, &empty_root(), &root(&all)),
            Err(ConsistencyError::WrongLength {
                expected: 0,
                actual: 1,
                ..
            })
        ));
    }

    #[test]
    fn equal_sizes_need_equal_roots() {
        let all = leaves(4);
        let proof = prove_consistency(&all, 4).unwrap();
        verify_consistency(&proof, &root(&all), &root(&all)).unwrap();
        assert_eq!(
            verify_consistency(&proof, &root(&all), &root(&all[..3])),
            Err(ConsistencyError::RootsDiffer { size: 4 })
        );
    }

    #[test]
    fn a_proof_for_a_forked_tree_fails() {
        let all = leaves(20);
        let mut forked = all.clone();
        forked[3] = leaf_hash(b"fork");
        let proof = prove_consistency(&forked, 10).unwrap();
        let (old_root, _) = roots(&all, 10);
        assert!(verify_consistency(&proof, &old_root, &root(&forked)).is_err());
    }

    #[test]
    fn sizes_are_bound_by_their_roots_not_by_the_proof() {
        let all = leaves(8);
        let proof = prove_consistency(&all, 4).unwrap();
        let as_five = ConsistencyProof {
            new_size: 5,
            ..proof
        };
        assert_eq!(
            verify_consistency(&as_five, &root(&all[..4]), &root(&all)),
            Ok(())
        );
        assert!(verify_consistency(&as_five, &root(&all[..4]), &root(&all[..5])).is_err());
    }

    fn pair() -> impl Strategy<Value = (u64, u64)> {
        (1u64..=300).prop_flat_map(|new| (1..=new, Just(new)))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn consistency_holds_and_every_bit_flip_breaks_it((old, new) in pair(), bit in 0usize..256, pick in any::<prop::sample::Index>()) {
            let all = leaves(new);
            let proof = prove_consistency(&all, old).unwrap();
            let (old_root, new_root) = roots(&all, old);
            prop_assert_eq!(verify_consistency(&proof, &old_root, &new_root), Ok(()));
            if !proof.path.is_empty() {
                let mut tampered = proof.clone();
                tampered.path[pick.index(proof.path.len())].0[bit / 8] ^= 1 << (bit % 8);
                prop_assert!(verify_consistency(&tampered, &old_root, &new_root).is_err());
            }
            let mut old_flipped = old_root;
            old_flipped.0[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(verify_consistency(&proof, &old_flipped, &new_root).is_err());
            let mut new_flipped = new_root;
            new_flipped.0[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(verify_consistency(&proof, &old_root, &new_flipped).is_err());
        }

        /// A proof names its sizes: checked against the roots the tree
        /// really has at other sizes, it fails. (Against the same roots a
        /// wrong size can pass, e.g. 4 → 8 read as 4 → 5: it is the signed
        /// checkpoint that binds a size to its root.)
        #[test]
        fn a_wrong_size_fails((old, new) in pair(), other_old in 1u64..=400, other_new in 0u64..=400) {
            let all = leaves(new.max(other_new).max(other_old));
            let tree = &all[..new as usize];
            let proof = prove_consistency(tree, old).unwrap();
            let root_at = |size: u64| root(&all[..size as usize]);
            if other_old != old {
                let wrong = ConsistencyProof { old_size: other_old, ..proof.clone() };
                prop_assert!(verify_consistency(&wrong, &root_at(other_old), &root_at(new)).is_err());
            }
            if other_new != new {
                let wrong = ConsistencyProof { new_size: other_new, ..proof.clone() };
                prop_assert!(verify_consistency(&wrong, &root_at(old), &root_at(other_new)).is_err());
            }
        }

        #[test]
        fn a_truncated_or_padded_proof_fails((old, new) in pair(), extra in any::<[u8; 32]>()) {
            let all = leaves(new);
            let proof = prove_consistency(&all, old).unwrap();
            let (old_root, new_root) = roots(&all, old);
            let mut padded = proof.clone();
            padded.path.push(Hash32(extra));
            prop_assert!(verify_consistency(&padded, &old_root, &new_root).is_err());
            if !proof.path.is_empty() {
                let mut short = proof.clone();
                short.path.pop();
                prop_assert!(verify_consistency(&short, &old_root, &new_root).is_err());
            }
        }
    }
}
