//! Checkpoints the consortium signs together, with no one asking: every
//! few seconds each node signs the checkpoint of its head and gossips it;
//! a node that receives a checkpoint its own chain agrees with adds its
//! signature and gossips that; every node keeps the signatures it receives
//! for recent sizes, and serves the latest checkpoint a quorum of
//! departments signed, with every signature it holds for it
//! (`GET /v1/checkpoint/cosigned`).
//!
//! Roots come from a tree kept up to date as the head moves, so a
//! checkpoint costs the blocks added since the last one, not the chain.
//! Signatures count from the node keys the chain holds in force; what is
//! held lives in memory and is signed again after a restart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::tlog::{
    origin, Checkpoint, Ed25519Signer, Frontier, KeyType, SignedCheckpoint, Vkey,
};
use fundtrail_ledger::types::{Height, OrgId};

use crate::chain::Chain;
use crate::checkpoint::{key_name, CheckpointFailure};

/// How often a node signs the checkpoint of its head.
pub const SIGN_EVERY: Duration = Duration::from_secs(2);
/// Recent sizes whose roots are kept, to check peers' checkpoints.
const ROOTS_KEPT: usize = 4096;
/// Recent sizes whose signatures are kept.
const CHECKPOINTS_KEPT: usize = 64;

pub struct Cosigned {
    chain: Arc<Chain>,
    node_key: Arc<Keypair>,
    org: OrgId,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    tree: Frontier,
    roots: BTreeMap<u64, Hash32>,
    held: BTreeMap<u64, SignedCheckpoint>,
}

impl Cosigned {
    pub fn new(chain: Arc<Chain>, node_key: Arc<Keypair>, org: OrgId) -> Cosigned {
        Cosigned {
            chain,
            node_key,
            org,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Signs the checkpoint of the head unless this node has already;
    /// returns the note to gossip.
    pub fn sign_head(&self) -> Result<Option<String>, CheckpointFailure> {
        let size = self.chain.head().height.0;
        let mut state = self.state();
        if size == 0 || state.held.contains_key(&size) {
            return Ok(None);
        }
        let root = self.root_at(&mut state, size)?;
        let signed = self.sign(size, root)?;
        let note = signed.to_string();
        state.hold(signed);
        Ok(Some(note))
    }

    /// Takes a peer's checkpoint: keeps the signatures that check against
    /// node keys in force, if this chain has the same root at its size,
    /// and signs it too if this node has not. Returns the note to gossip.
    pub fn receive(&self, note: &[u8]) -> Result<Option<String>, CheckpointFailure> {
        let Ok(theirs) = SignedCheckpoint::parse(note) else {
            return Ok(None);
        };
        let cp = theirs.checkpoint();
        let chain_id = &self.chain.genesis().chain_id;
        if cp.origin() != origin(chain_id) || cp.size() > self.chain.head().height.0 {
            return Ok(None);
        }
        let mut state = self.state();
        let size = cp.size();
        let Some(root) = self.known_root(&mut state, size)? else {
            return Ok(None);
        };
        if cp.root() != &root {
            tracing::warn!(
                size,
                "a peer signed a checkpoint whose root differs from ours"
            );
            return Ok(None);
        }
        let opened = theirs.open(&self.vkeys()?)?;
        let reply = match state.held.get(&size) {
            Some(_) => None,
            None => {
                let mine = self.sign(size, root)?;
                let note = mine.to_string();
                state.hold(mine);
                Some(note)
            }
        };
        if let Some(held) = state.held.get_mut(&size) {
            for line in theirs.note().signatures() {
                let verified = opened
                    .verified
                    .iter()
                    .any(|v| v.key_id == line.key_id && v.name == line.name);
                let present = held
                    .note()
                    .signatures()
                    .iter()
                    .any(|s| s.key_id == line.key_id && s.name == line.name);
                if verified && !present {
                    held.add_signature(line.clone())?;
                }
            }
        }
        Ok(reply)
    }

    /// The latest checkpoint signed by at least `required` organisations'
    /// node keys in force, with every signature held for it.
    pub fn latest(&self, required: usize) -> Result<Option<SignedCheckpoint>, CheckpointFailure> {
        let vkeys = self.vkeys()?;
        let state = self.state();
        for signed in state.held.values().rev() {
            let orgs: std::collections::BTreeSet<_> = signed
                .open(&vkeys)?
                .verified
                .into_iter()
                .map(|v| v.name)
                .collect();
            if orgs.len() >= required {
                return Ok(Some(signed.clone()));
            }
        }
        Ok(None)
    }

    fn sign(&self, size: u64, root: Hash32) -> Result<SignedCheckpoint, CheckpointFailure> {
        let chain_id = &self.chain.genesis().chain_id;
        let checkpoint = Checkpoint::new(origin(chain_id), size, root)?;
        let signer = Ed25519Signer::new(key_name(chain_id, &self.org)?, &self.node_key);
        Ok(SignedCheckpoint::sign(checkpoint, &signer)?)
    }

    /// The vkeys of the node keys the chain holds in force.
    fn vkeys(&self) -> Result<Vec<Vkey>, CheckpointFailure> {
        let chain_id = &self.chain.genesis().chain_id;
        self.chain
            .membership()
            .terms()
            .iter()
            .filter(|t| t.until.is_none())
            .map(|t| {
                Ok(Vkey::new(
                    key_name(chain_id, &t.org)?,
                    KeyType::Ed25519,
                    t.key,
                )?)
            })
            .collect()
    }

    /// The root at `size`, if `size` is among the recent sizes kept.
    fn known_root(
        &self,
        state: &mut State,
        size: u64,
    ) -> Result<Option<Hash32>, CheckpointFailure> {
        self.advance(state, size)?;
        Ok(state.roots.get(&size).copied())
    }

    fn root_at(&self, state: &mut State, size: u64) -> Result<Hash32, CheckpointFailure> {
        self.known_root(state, size)?
            .ok_or(CheckpointFailure::MissingBlock(Height(size)))
    }

    /// Extends the tree to `size` blocks, keeping each new size's root.
    fn advance(&self, state: &mut State, size: u64) -> Result<(), CheckpointFailure> {
        while state.tree.size() < size {
            let height = Height(state.tree.size() + 1);
            let header = self
                .chain
                .store()
                .header(height)?
                .ok_or(CheckpointFailure::MissingBlock(height))?;
            state.tree.append_block(&header.hash())?;
            state.roots.insert(height.0, state.tree.root());
            if state.roots.len() > ROOTS_KEPT {
                state.roots.pop_first();
            }
        }
        Ok(())
    }
}

impl State {
    fn hold(&mut self, signed: SignedCheckpoint) {
        self.held.insert(signed.checkpoint().size(), signed);
        if self.held.len() > CHECKPOINTS_KEPT {
            self.held.pop_first();
        }
    }
}
