//! This node's signed checkpoints (docs/ENCODING.md §9): the checkpoint
//! tree over its first `size` blocks, signed with its node key as an
//! Ed25519 signed-note signature under the name `fundtrail/<chain>/<org>`,
//! and the vkeys that check such signatures, read from a genesis.

use fundtrail_ledger::block::Genesis;
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::store::{Store, StoreError};
use fundtrail_ledger::tlog::{
    origin, Checkpoint, Ed25519Signer, Frontier, FrontierError, KeyName, KeyType, NoteError,
    SignedCheckpoint, Vkey, VkeyError,
};
use fundtrail_ledger::types::{ChainId, Height, KeyRole, OrgId};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointFailure {
    #[error("the chain here ends at height {head}; no checkpoint of size {size}")]
    BeyondHead { size: u64, head: Height },
    #[error("block {0} is missing from the store")]
    MissingBlock(Height),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tree(#[from] FrontierError),
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error(transparent)]
    Vkey(#[from] VkeyError),
}

/// The name a node key of `org` signs checkpoints under.
pub fn key_name(chain_id: &ChainId, org: &OrgId) -> Result<KeyName, NoteError> {
    KeyName::new(format!("{}/{org}", origin(chain_id)))
}

/// The checkpoint tree over the first `size` blocks of `store`.
pub fn tree(store: &Store, size: u64) -> Result<Frontier, CheckpointFailure> {
    let head = store.head()?.height;
    if size > head.0 {
        return Err(CheckpointFailure::BeyondHead { size, head });
    }
    let mut tree = Frontier::new();
    for h in 1..=size {
        let header = store
            .header(Height(h))?
            .ok_or(CheckpointFailure::MissingBlock(Height(h)))?;
        tree.append_block(&header.hash())?;
    }
    Ok(tree)
}

/// The checkpoint of `store` at `size`, signed by `node_key` for `org`.
pub fn sign(
    store: &Store,
    size: u64,
    node_key: &Keypair,
    org: &OrgId,
) -> Result<SignedCheckpoint, CheckpointFailure> {
    let chain_id = &store.genesis().chain_id;
    let checkpoint = Checkpoint::of_chain(chain_id, &tree(store, size)?);
    let signer = Ed25519Signer::new(key_name(chain_id, org)?, node_key);
    Ok(SignedCheckpoint::sign(checkpoint, &signer)?)
}

/// A vkey for every node key `genesis` lists, named for its organisation.
pub fn genesis_vkeys(genesis: &Genesis) -> Result<Vec<Vkey>, CheckpointFailure> {
    genesis
        .keys_with_role(KeyRole::Node)
        .map(|(org, key)| {
            let name = key_name(&genesis.chain_id, org)?;
            Ok(Vkey::new(name, KeyType::Ed25519, *key)?)
        })
        .collect()
}
