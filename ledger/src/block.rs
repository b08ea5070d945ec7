//! Blocks, outcomes, attestations and the genesis document.
//!
//! A block's header commits to its records (`records_root`), to what the
//! contracts decided about each (`outcomes_root`) and to the contract state
//! after it (`state_root`), and links to its parent by `prev_hash`. Nodes
//! build the block themselves on apply from the ordered records, so honest
//! nodes produce byte-identical blocks; attestations sign the block hash.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::crypto::{Keypair, PublicKey, Signature, SignedDigest};
use crate::hash::{domain, hash_domain, hash_encoded, DomainHasher, Hash32, HashOf};
use crate::merkle::{self, InclusionProof, ProofError};
use crate::record::{PolicyBody, RecordId, SignedRecord};
use crate::types::{Amount, ChainId, FundId, FundKind, Height, KeyRole, OrgId, RegionCode, Role};

pub const BLOCK_VERSION: u16 = 1;
pub const GENESIS_VERSION: u16 = 1;

pub type BlockHash = HashOf<BlockHeader>;
pub type GenesisHash = HashOf<Genesis>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    pub version: u16,
    pub chain_id: ChainId,
    pub height: Height,
    /// Hash of the previous header; the genesis hash for height 1.
    pub prev_hash: Hash32,
    /// Leader-proposed, milliseconds since the Unix epoch, never decreasing.
    pub timestamp_ms: u64,
    pub records_root: Hash32,
    pub outcomes_root: Hash32,
    pub state_root: Hash32,
    /// Node key of the leader that ordered this block.
    pub proposer: PublicKey,
    /// Contract rules version this block was executed under.
    pub rules_version: u32,
}

impl BlockHeader {
    pub fn hash(&self) -> BlockHash {
        BlockHash::from_hash(hash_encoded(domain::BLOCK, self))
    }
}

/// A stable rule or signal code such as `DUPLICATE_PAYMENT`.
pub type Code = crate::types::GroupCode;

/// What the contracts decided about one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Verdict {
    Accepted,
    Rejected { code: Code },
}

/// The verdict on a record plus any signals it raised. Outcomes sit at the
/// same index as their record and repeat its id, so a proof of an outcome
/// names the record it is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    pub record_id: RecordId,
    pub verdict: Verdict,
    pub signals: Vec<Code>,
}

impl Outcome {
    pub fn is_accepted(&self) -> bool {
        self.verdict == Verdict::Accepted
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    pub header: BlockHeader,
    pub records: Vec<SignedRecord>,
    pub outcomes: Vec<Outcome>,
}

/// Leaf hashes of the records, in block order.
pub fn record_leaves(records: &[SignedRecord]) -> Vec<Hash32> {
    encoded_leaves(records)
}

/// The Merkle leaf hash of each value's encoding, through one reused buffer.
fn encoded_leaves<T: Serialize>(values: &[T]) -> Vec<Hash32> {
    let mut bytes = Vec::with_capacity(1024);
    values
        .iter()
        .map(|v| {
            bytes.clear();
            codec::encode_into(&mut bytes, v);
            merkle::leaf_hash(&bytes)
        })
        .collect()
}

pub fn records_root(records: &[SignedRecord]) -> Hash32 {
    merkle::root(&record_leaves(records))
}

pub fn outcomes_root(outcomes: &[Outcome]) -> Hash32 {
    merkle::root(&encoded_leaves(outcomes))
}

impl Block {
    pub fn hash(&self) -> BlockHash {
        self.header.hash()
    }
}

/// One state write of a block: `value = None` deletes the key.
pub type StateWrite = (Vec<u8>, Option<Vec<u8>>);

/// Folds one block's state writes into the running state root:
/// `H("fundtrail/state/v1", prev_root || canonical(writes sorted by key))`.
/// Two nodes agreeing on a root agree on every write since genesis, hence on
/// every balance and counter.
pub fn next_state_root(prev: &Hash32, sorted_writes: &[StateWrite]) -> Hash32 {
    debug_assert!(sorted_writes.windows(2).all(|w| w[0].0 < w[1].0));
    let mut h = DomainHasher::new(domain::STATE);
    h.update(&prev.0);
    codec::encode_len_into(&mut h, sorted_writes.len());
    for (key, value) in sorted_writes {
        codec::encode_bytes_into(&mut h, key);
        match value {
            None => h.update(&[0]),
            Some(v) => {
                h.update(&[1]);
                codec::encode_bytes_into(&mut h, v);
            }
        }
    }
    h.finish()
}

/// `(chain_id, height, block_hash)` signed by a node key after it applied
/// the block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    pub chain_id: ChainId,
    pub height: Height,
    pub block_hash: BlockHash,
    pub node_key: PublicKey,
    pub signature: Signature,
}

impl Attestation {
    pub fn digest(chain_id: &ChainId, height: Height, block_hash: &BlockHash) -> Hash32 {
        hash_domain(
            domain::ATTESTATION,
            &codec::encode(&(chain_id, height, block_hash)),
        )
    }

    pub fn sign(
        node: &Keypair,
        chain_id: &ChainId,
        height: Height,
        block_hash: BlockHash,
    ) -> Attestation {
        Attestation {
            chain_id: chain_id.clone(),
            height,
            block_hash,
            node_key: node.public(),
            signature: node.sign(&Attestation::digest(chain_id, height, &block_hash)),
        }
    }

    pub fn signed_digest(&self) -> SignedDigest {
        SignedDigest {
            key: self.node_key,
            digest: Attestation::digest(&self.chain_id, self.height, &self.block_hash),
            signature: self.signature,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisKey {
    pub key: PublicKey,
    pub role: KeyRole,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisOrg {
    pub id: OrgId,
    pub role: Role,
    pub keys: Vec<GenesisKey>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisFund {
    pub id: FundId,
    pub kind: FundKind,
    pub region: RegionCode,
    pub owner: OrgId,
    pub opening_balance: Amount,
}

/// The consortium's founding document: members, funds, starting policies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub version: u16,
    pub chain_id: ChainId,
    pub timestamp_ms: u64,
    pub orgs: Vec<GenesisOrg>,
    pub funds: Vec<GenesisFund>,
    pub policies: Vec<PolicyBody>,
    pub rules_version: u32,
}

impl Genesis {
    pub fn hash(&self) -> GenesisHash {
        GenesisHash::from_hash(hash_domain(domain::GENESIS, &codec::encode(self)))
    }

    /// Keys of the given role, with their org.
    pub fn keys_with_role(&self, role: KeyRole) -> impl Iterator<Item = (&OrgId, &PublicKey)> {
        self.orgs.iter().flat_map(move |o| {
            o.keys
                .iter()
                .filter(move |k| k.role == role)
                .map(move |k| (&o.id, &k.key))
        })
    }

    pub fn org_of_key(&self, key: &PublicKey) -> Option<&GenesisOrg> {
        self.orgs
            .iter()
            .find(|o| o.keys.iter().any(|k| &k.key == key))
    }
}

/// Proof that a signed record is in a block: check it with
/// [`RecordProof::verify`] against a header you trust (e.g. attested).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordProof {
    pub height: Height,
    pub record: SignedRecord,
    pub proof: InclusionProof,
}

impl RecordProof {
    pub fn build(block: &Block, index: usize) -> Result<RecordProof, ProofError> {
        let leaves = record_leaves(&block.records);
        let proof = merkle::prove(&leaves, index)?;
        Ok(RecordProof {
            height: block.header.height,
            record: block.records[index].clone(),
            proof,
        })
    }

    pub fn record_id(&self) -> RecordId {
        self.record.id()
    }

    /// Checks the record sits in the block `header` describes.
    pub fn verify(&self, header: &BlockHeader) -> Result<(), ProofError> {
        if header.height != self.height {
            return Err(ProofError::RootMismatch);
        }
        let leaf = merkle::leaf_hash(&self.record.encode());
        merkle::verify(&self.proof, &leaf, &header.records_root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_root_streaming_matches_encoded_writes() {
        let prev = hash_domain(domain::STATE, b"prev");
        let writes: Vec<StateWrite> = vec![
            (b"a".to_vec(), None),
            (b"b".to_vec(), Some(Vec::new())),
            (vec![b'c'; 130], Some(vec![7; 300])),
            (b"d".to_vec(), Some(vec![1; 20_000])),
        ];
        let mut data = prev.0.to_vec();
        data.extend(codec::encode(&writes));
        assert_eq!(
            next_state_root(&prev, &writes),
            hash_domain(domain::STATE, &data)
        );
        let mut data = prev.0.to_vec();
        data.extend(codec::encode(&Vec::<StateWrite>::new()));
        assert_eq!(
            next_state_root(&prev, &[]),
            hash_domain(domain::STATE, &data)
        );
    }
}
