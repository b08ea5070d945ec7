//! This node's signed checkpoints (docs/ENCODING.md §9): the checkpoint
//! tree over its first `size` blocks, signed with its node key as an
//! Ed25519 signed-note signature under the name `fundtrail/<chain>/<org>`;
//! consistency proofs between two sizes and a block's inclusion proof; and
//! the vkeys that check the signatures, read from a genesis.

use fundtrail_ledger::block::Genesis;
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::merkle::{self, InclusionProof, ProofError};
use fundtrail_ledger::store::{Store, StoreError};
use fundtrail_ledger::tlog::{
    block_leaf, origin, prove_consistency, Checkpoint, CheckpointError, ConsistencyError,
    ConsistencyProof, Ed25519Signer, Frontier, FrontierError, KeyName, KeyType, NoteError,
    OpenError, SignedCheckpoint, Vkey, VkeyError,
};
use fundtrail_ledger::types::{ChainId, Height, KeyRole, OrgId};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointFailure {
    #[error("the chain here ends at height {head}; no checkpoint of size {size}")]
    BeyondHead { size: u64, head: Height },
    #[error("genesis is not a leaf of the checkpoint tree")]
    Genesis,
    #[error("block {0} is missing from the store")]
    MissingBlock(Height),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tree(#[from] FrontierError),
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Vkey(#[from] VkeyError),
    #[error(transparent)]
    Consistency(#[from] ConsistencyError),
    #[error(transparent)]
    Inclusion(#[from] ProofError),
    #[error("the checkpoint's signatures do not check: {0}")]
    Signatures(#[from] OpenError),
    #[error("signed by {signed} consortium organisations ({names}), {required} required")]
    TooFewSigners {
        signed: usize,
        names: String,
        required: usize,
    },
}

/// The name a node key of `org` signs checkpoints under.
pub fn key_name(chain_id: &ChainId, org: &OrgId) -> Result<KeyName, NoteError> {
    KeyName::new(format!("{}/{org}", origin(chain_id)))
}

/// The leaf hashes of the first `size` blocks of `store`.
fn leaves(store: &Store, size: u64) -> Result<Vec<Hash32>, CheckpointFailure> {
    let head = store.head()?.height;
    if size > head.0 {
        return Err(CheckpointFailure::BeyondHead { size, head });
    }
    (1..=size)
        .map(|h| {
            let header = store
                .header(Height(h))?
                .ok_or(CheckpointFailure::MissingBlock(Height(h)))?;
            Ok(block_leaf(&header.hash()))
        })
        .collect()
}

/// The name a node of `org` cosigns checkpoints under as a witness.
pub fn witness_name(chain_id: &ChainId, org: &OrgId) -> Result<KeyName, NoteError> {
    KeyName::new(format!("{}/{org}/witness", origin(chain_id)))
}

/// The checkpoint tree over the first `size` blocks of `store`.
pub fn tree(store: &Store, size: u64) -> Result<Frontier, CheckpointFailure> {
    Ok(Frontier::from_leaves(&leaves(store, size)?)?)
}

/// The consistency proof from the tree of `old` blocks to that of `new`.
pub fn consistency(
    store: &Store,
    old: u64,
    new: u64,
) -> Result<ConsistencyProof, CheckpointFailure> {
    Ok(prove_consistency(&leaves(store, new)?, old)?)
}

/// The inclusion proof of the block at `height` in the tree of `size`
/// blocks (leaf index `height - 1`).
pub fn inclusion(
    store: &Store,
    height: Height,
    size: u64,
) -> Result<InclusionProof, CheckpointFailure> {
    let index = height.0.checked_sub(1).ok_or(CheckpointFailure::Genesis)?;
    Ok(merkle::prove(&leaves(store, size)?, index as usize)?)
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

/// The names of the trusted keys that signed `signed`, once every
/// signature by a trusted key verified and at least `required` did.
pub fn trusted_signers(
    signed: &SignedCheckpoint,
    trusted: &[Vkey],
    required: usize,
) -> Result<Vec<String>, CheckpointFailure> {
    let signers: Vec<String> = signed
        .open(trusted)?
        .verified
        .iter()
        .map(|v| v.name.as_str().to_string())
        .collect();
    if signers.len() < required {
        return Err(CheckpointFailure::TooFewSigners {
            signed: signers.len(),
            names: signers.join(", "),
            required,
        });
    }
    Ok(signers)
}

/// A vkey for every node key `genesis` lists, named for its organisation.
pub fn genesis_vkeys(genesis: &Genesis) -> Result<Vec<Vkey>, CheckpointFailure> {
    node_vkeys(genesis, KeyType::Ed25519, key_name)
}

/// The vkey of every genesis node key's witness cosignatures.
pub fn genesis_witness_vkeys(genesis: &Genesis) -> Result<Vec<Vkey>, CheckpointFailure> {
    node_vkeys(genesis, KeyType::CosignatureV1, witness_name)
}

fn node_vkeys(
    genesis: &Genesis,
    key_type: KeyType,
    name: fn(&ChainId, &OrgId) -> Result<KeyName, NoteError>,
) -> Result<Vec<Vkey>, CheckpointFailure> {
    genesis
        .keys_with_role(KeyRole::Node)
        .map(|(org, key)| Ok(Vkey::new(name(&genesis.chain_id, org)?, key_type, *key)?))
        .collect()
}
