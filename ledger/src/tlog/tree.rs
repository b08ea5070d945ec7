//! The checkpoint tree: an RFC 6962 tree whose leaf `i` is the block at
//! height `i + 1` (genesis is not a leaf), so its size is the head height;
//! and the frontier, which appends a block in O(log n) memory and gives the
//! root at every size.

use crate::block::BlockHash;
use crate::hash::Hash32;
use crate::merkle::{empty_root, leaf_hash, node_hash};

/// The leaf hash of a block: the RFC 6962 leaf hash of its 32 header-hash
/// bytes.
pub fn block_leaf(block: &BlockHash) -> Hash32 {
    leaf_hash(block.as_bytes())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrontierError {
    #[error("a tree of size {size} has {expected} frontier hashes, not {actual}")]
    WrongPeakCount {
        size: u64,
        expected: usize,
        actual: usize,
    },
    #[error("the tree is full: it cannot grow past {0} leaves")]
    Full(u64),
}

/// The roots of the perfect subtrees a tree of `size` leaves splits into,
/// largest (leftmost) first: one per set bit of `size`. This is all a log
/// needs to append leaves and compute its root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    peaks: Vec<Hash32>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// A frontier kept elsewhere, checked to have one hash per set bit of
    /// `size`.
    pub fn from_peaks(size: u64, peaks: Vec<Hash32>) -> Result<Frontier, FrontierError> {
        let expected = size.count_ones() as usize;
        if peaks.len() != expected {
            return Err(FrontierError::WrongPeakCount {
                size,
                expected,
                actual: peaks.len(),
            });
        }
        Ok(Frontier { size, peaks })
    }

    pub fn from_leaves(leaves: &[Hash32]) -> Result<Frontier, FrontierError> {
        let mut frontier = Frontier::new();
        for leaf in leaves {
            frontier.append(*leaf)?;
        }
        Ok(frontier)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn peaks(&self) -> &[Hash32] {
        &self.peaks
    }

    /// Appends one leaf hash: it merges with each peak of equal size, as
    /// many as `size` has trailing one bits.
    pub fn append(&mut self, leaf: Hash32) -> Result<(), FrontierError> {
        let size = self
            .size
            .checked_add(1)
            .ok_or(FrontierError::Full(self.size))?;
        let merged = self.size.trailing_ones() as usize;
        let keep = self.peaks.len() - merged;
        let node = self.peaks[keep..]
            .iter()
            .rev()
            .fold(leaf, |right, left| node_hash(left, &right));
        self.peaks.truncate(keep);
        self.peaks.push(node);
        self.size = size;
        Ok(())
    }

    pub fn append_block(&mut self, block: &BlockHash) -> Result<(), FrontierError> {
        self.append(block_leaf(block))
    }

    /// The RFC 6962 root: the peaks hashed together from the right.
    pub fn root(&self) -> Hash32 {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return empty_root();
        };
        peaks.fold(*last, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{prove, root, verify, InclusionProof};
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash32> {
        (0..n as u32).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn root_after_every_append_matches_the_slice_root() {
        let all = leaves(300);
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), empty_root());
        for n in 1..=all.len() {
            frontier.append(all[n - 1]).unwrap();
            assert_eq!(frontier.size(), n as u64);
            assert_eq!(frontier.peaks().len(), n.count_ones() as usize);
            assert_eq!(frontier.root(), root(&all[..n]), "size {n}");
        }
    }

    #[test]
    fn peaks_must_match_the_size() {
        let f = Frontier::from_leaves(&leaves(6)).unwrap();
        let again = Frontier::from_peaks(6, f.peaks().to_vec()).unwrap();
        assert_eq!(again, f);
        assert_eq!(
            Frontier::from_peaks(7, f.peaks().to_vec()),
            Err(FrontierError::WrongPeakCount {
                size: 7,
                expected: 3,
                actual: 2
            })
        );
    }

    #[test]
    fn a_full_tree_refuses_another_leaf() {
        let mut full = Frontier::from_peaks(u64::MAX, vec![Hash32::ZERO; 64]).unwrap();
        assert_eq!(
            full.append(Hash32::ZERO),
            Err(FrontierError::Full(u64::MAX))
        );
        assert_eq!(full.size(), u64::MAX);
    }

    #[test]
    fn a_block_leaf_is_the_rfc6962_leaf_of_the_hash_bytes() {
        let block = BlockHash::from_hash(Hash32([7; 32]));
        assert_eq!(block_leaf(&block), leaf_hash(&[7; 32]));
        assert_ne!(block_leaf(&block), Hash32([7; 32]));
    }

    fn blocks(n: usize) -> Vec<Hash32> {
        (0..n as u64)
            .map(|h| block_leaf(&BlockHash::from_hash(leaf_hash(&h.to_le_bytes()))))
            .collect()
    }

    fn size_and_index() -> impl Strategy<Value = (usize, usize)> {
        (1usize..=300).prop_flat_map(|size| (Just(size), 0..size))
    }

    proptest! {
        #[test]
        fn a_block_is_included_at_its_index_and_any_bit_flip_breaks_it(
            (size, index) in size_and_index(),
            bit in 0usize..256,
            pick in any::<prop::sample::Index>(),
            other in any::<prop::sample::Index>(),
        ) {
            let all = blocks(size);
            let tree_root = Frontier::from_leaves(&all).unwrap().root();
            let proof = prove(&all, index).unwrap();
            prop_assert_eq!(verify(&proof, &all[index], &tree_root), Ok(()));
            let flip = |h: &mut Hash32| h.0[bit / 8] ^= 1 << (bit % 8);
            if !proof.path.is_empty() {
                let mut tampered = proof.clone();
                flip(&mut tampered.path[pick.index(proof.path.len())]);
                prop_assert!(verify(&tampered, &all[index], &tree_root).is_err());
            }
            let mut leaf = all[index];
            flip(&mut leaf);
            prop_assert!(verify(&proof, &leaf, &tree_root).is_err());
            let elsewhere = other.index(size);
            if elsewhere != index {
                prop_assert!(verify(&proof, &all[elsewhere], &tree_root).is_err());
                let moved = InclusionProof { index: elsewhere as u64, ..proof.clone() };
                prop_assert!(verify(&moved, &all[index], &tree_root).is_err());
            }
        }

        #[test]
        fn a_restored_frontier_continues_like_the_original(split in 0usize..200, more in 0usize..100) {
            let all = leaves(split + more);
            let first = Frontier::from_leaves(&all[..split]).unwrap();
            let mut restored = Frontier::from_peaks(first.size(), first.peaks().to_vec()).unwrap();
            for leaf in &all[split..] {
                restored.append(*leaf).unwrap();
            }
            prop_assert_eq!(restored.root(), root(&all));
        }
    }
}
