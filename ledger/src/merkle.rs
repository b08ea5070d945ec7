//! RFC 6962 Merkle trees: leaf hash `SHA-256(0x00 || leaf)`, node hash
//! `SHA-256(0x01 || left || right)`, the empty tree hashes to `SHA-256("")`.
//!
//! Proof code works on leaf hashes and never touches storage. Verification
//! follows RFC 9162 §2.1.3.2.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hash::Hash32;

pub fn leaf_hash(leaf: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    Hash32(h.finalize().into())
}

pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Hash32(h.finalize().into())
}

pub fn empty_root() -> Hash32 {
    Hash32(Sha256::digest([]).into())
}

/// Largest power of two strictly below `n` (n >= 2).
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// Root over already-hashed leaves.
pub fn root(leaves: &[Hash32]) -> Hash32 {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// An audit path for leaf `index` in a tree of `size` leaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    pub path: Vec<Hash32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("proof has {actual} hashes, a tree of this size needs {expected}")]
    WrongLength { expected: usize, actual: usize },
    #[error("proof does not lead to the expected root")]
    RootMismatch,
}

/// Builds the audit path for `leaves[index]`.
pub fn prove(leaves: &[Hash32], index: usize) -> Result<InclusionProof, ProofError> {
    if index >= leaves.len() {
        return Err(ProofError::IndexOutOfRange {
            index: index as u64,
            size: leaves.len() as u64,
        });
    }
    let mut path = Vec::new();
    collect_path(leaves, index, &mut path);
    Ok(InclusionProof {
        index: index as u64,
        size: leaves.len() as u64,
        path,
    })
}

// RFC 6962 §2.1.1 PATH(m, D[n]); siblings are pushed leaf-first.
fn collect_path(leaves: &[Hash32], m: usize, path: &mut Vec<Hash32>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split_point(leaves.len());
    if m < k {
        collect_path(&leaves[..k], m, path);
        path.push(root(&leaves[k..]));
    } else {
        collect_path(&leaves[k..], m - k, path);
        path.push(root(&leaves[..k]));
    }
}

/// Number of hashes an audit path must have for `index` in a tree of `size`.
fn expected_path_len(index: u64, size: u64) -> usize {
    let (mut fnode, mut snode, mut len) = (index, size - 1, 0);
    while snode > 0 {
        if fnode & 1 == 1 || fnode != snode {
            len += 1;
        } else {
            // Right-most node with no sibling at this level.
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
            if snode == 0 {
                break;
            }
            continue;
        }
        fnode >>= 1;
        snode >>= 1;
    }
    len
}

/// Checks that `leaf` (already leaf-hashed) sits at the proof's index in the
/// tree whose root is `root`.
pub fn verify(
    proof: &InclusionProof,
    leaf: &Hash32,
    expected_root: &Hash32,
) -> Result<(), ProofError> {
    if proof.index >= proof.size {
        return Err(ProofError::IndexOutOfRange {
            index: proof.index,
            size: proof.size,
        });
    }
    let expected = expected_path_len(proof.index, proof.size);
    if proof.path.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.path.len(),
        });
    }
    let (mut fnode, mut snode) = (proof.index, proof.size - 1);
    let mut r = *leaf;
    for p in &proof.path {
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if r != *expected_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash32> {
        (0..n)
            .map(|i| leaf_hash(&(i as u32).to_be_bytes()))
            .collect()
    }

    /// Slow reference: pairwise levels, carrying an odd node up unchanged,
    /// which is equivalent to RFC 6962's split at the largest power of two.
    fn reference_root(leaves: &[Hash32]) -> Hash32 {
        if leaves.is_empty() {
            return empty_root();
        }
        let mut level = leaves.to_vec();
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|c| {
                    if c.len() == 2 {
                        node_hash(&c[0], &c[1])
                    } else {
                        c[0]
                    }
                })
                .collect();
        }
        level[0]
    }

    #[test]
    fn root_matches_reference_for_all_small_sizes() {
        for n in 0..70 {
            assert_eq!(root(&leaves(n)), reference_root(&leaves(n)), "size {n}");
        }
    }

    #[test]
    fn rfc6962_empty_and_single_leaf_vectors() {
        // Known values from the RFC 6962 reference test data.
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            leaf_hash(b"").to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn every_proof_verifies_and_every_corruption_fails() {
        for n in 1..40 {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let p = prove(&l, i).unwrap();
                verify(&p, &l[i], &r).unwrap();
                assert!(verify(&p, &leaf_hash(b"other"), &r).is_err());
                if !p.path.is_empty() {
                    let mut flipped = p.clone();
                    flipped.path[0].0[0] ^= 1;
                    assert!(verify(&flipped, &l[i], &r).is_err());
                    let mut short = p.clone();
                    short.path.pop();
                    assert!(verify(&short, &l[i], &r).is_err());
                }
                let mut long = p.clone();
                long.path.push(Hash32::ZERO);
                assert!(verify(&long, &l[i], &r).is_err());
                let wrong_index = InclusionProof {
                    index: ((i + 1) % n) as u64,
                    ..p.clone()
                };
                if n > 1 {
                    assert!(verify(&wrong_index, &l[i], &r).is_err());
                }
                // A proof does not authenticate the tree size by itself (the
                // root does); a size whose path has another length must fail.
                let wrong_size = InclusionProof {
                    size: 2 * n as u64 + 1,
                    ..p.clone()
                };
                if expected_path_len(i as u64, wrong_size.size) != p.path.len() {
                    assert!(verify(&wrong_size, &l[i], &r).is_err());
                }
            }
        }
    }
}
