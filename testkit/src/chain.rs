//! The chain builder: signed records (one of every kind in turn, or the
//! seeded workload), executed by the contracts, sealed with
//! `BlockDraft::seal`, and attested by every department's node, as honest
//! nodes do.

use fundtrail_ledger::block::{Attestation, Block, Genesis};
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::{RecordBody, RecordKind, SignedRecord};
use fundtrail_ledger::types::{Amount, Height, Role};
use fundtrail_ledger::verify::{BlockDraft, VerifiedBlock};

use crate::bodies;
use crate::ledger::{sample_bodies, submitter_role};
use crate::workload::{Workload, WORKLOAD_KIT};
use crate::Kit;
use fundtrail_contracts::engine::{execute_block, genesis_state, genesis_state_root, BlockContext};
use fundtrail_contracts::state::MemoryState;

pub use crate::DEPARTMENTS;

/// Nonces of [`ChainBuilder::records`] start here, clear of the workload's.
const SAMPLE_NONCES: u64 = 1 << 48;

pub struct ChainBuilder {
    /// The workload, and with it the consortium ([`ChainBuilder::kit`]).
    pub workload: Workload,
    /// The consortium's genesis with the departments' node keys.
    pub genesis: Genesis,
    /// The departments' node keys; the first proposes every block.
    pub nodes: Vec<Keypair>,
    pub state: MemoryState,
    pub state_root: Hash32,
    /// Hash of the last block sealed (the genesis hash before any).
    pub prev_hash: Hash32,
    height: Height,
    nonce: u64,
}

/// The department node keys of the workload's consortium, which
/// [`ChainBuilder::new`] enrols.
pub fn node_keys() -> Vec<Keypair> {
    Kit::new(WORKLOAD_KIT).department_nodes()
}

/// Every node's attestation of `block`.
pub fn attest(nodes: &[Keypair], block: &Block) -> Vec<Attestation> {
    nodes
        .iter()
        .map(|n| Attestation::sign(n, &block.header.chain_id, block.header.height, block.hash()))
        .collect()
}

impl ChainBuilder {
    /// A chain over `people` people whose workload is seeded by `seed`.
    pub fn new(seed: u64, people: u64) -> ChainBuilder {
        ChainBuilder::with_workload(Workload::new(seed, people, true))
    }

    /// A chain of `kit`'s consortium (its workload seeded by 0, over 100
    /// people).
    pub fn for_kit(kit: Kit) -> ChainBuilder {
        ChainBuilder::with_workload(Workload::with_kit(kit, 0, 100, true))
    }

    pub fn with_workload(workload: Workload) -> ChainBuilder {
        let nodes = workload.kit.department_nodes();
        let genesis = workload.kit.genesis_with_nodes();
        let mut state = MemoryState::new();
        state.apply(&genesis_state(&genesis));
        ChainBuilder {
            state_root: genesis_state_root(&genesis),
            prev_hash: genesis.hash().hash(),
            height: Height(0),
            nonce: SAMPLE_NONCES,
            workload,
            genesis,
            nodes,
            state,
        }
    }

    pub fn kit(&self) -> &Kit {
        &self.workload.kit
    }

    /// The height of the last block sealed.
    pub fn height(&self) -> Height {
        self.height
    }

    /// Signs `body` as `role`'s submitter with `approvals` of its officers
    /// and a fresh nonce.
    pub fn record(&mut self, role: Role, body: RecordBody, approvals: usize) -> SignedRecord {
        self.nonce += 1;
        self.kit().sign(role, body, self.nonce, approvals)
    }

    /// `n` records cycling through every kind ([`sample_bodies`]); every
    /// eleventh carries an officer approval.
    pub fn records(&mut self, n: usize) -> Vec<SignedRecord> {
        (0..n)
            .map(|_| {
                let i = self.nonce + 1;
                let kind_no = (i % RecordKind::ALL.len() as u64) as usize;
                let body = sample_bodies(self.kit(), i).swap_remove(kind_no);
                let role = submitter_role(body.kind());
                self.record(role, body, usize::from(i % 11 == 0))
            })
            .collect()
    }

    /// The next `n` workload records, generated against the current state.
    pub fn workload_records(&mut self, n: usize) -> Vec<SignedRecord> {
        self.workload.block(&self.state, n)
    }

    /// Executes `records` as the next block, one second after the last,
    /// and seals it.
    pub fn seal_verified(&mut self, records: Vec<SignedRecord>) -> VerifiedBlock {
        let timestamp_ms = self.genesis.timestamp_ms + (self.height.0 + 1) * 1_000;
        self.seal_verified_at(timestamp_ms, records)
    }

    /// Executes `records` as the next block, stamped `timestamp_ms`, and
    /// seals it.
    pub fn seal_verified_at(
        &mut self,
        timestamp_ms: u64,
        records: Vec<SignedRecord>,
    ) -> VerifiedBlock {
        let height = self.height.next();
        let ctx = BlockContext {
            height,
            timestamp_ms,
            prev_state_root: self.state_root,
        };
        let exec = execute_block(&ctx, &records, &self.state).expect("in-memory execution");
        self.state.apply(&exec.writes);
        self.state_root = exec.state_root;
        self.height = height;
        let block = BlockDraft {
            chain_id: self.genesis.chain_id.clone(),
            height,
            prev_hash: self.prev_hash,
            timestamp_ms,
            proposer: self.nodes[0].public(),
            rules_version: exec.rules_version,
            state_root: exec.state_root,
            records,
            outcomes: exec.outcomes,
        }
        .seal();
        self.prev_hash = block.block().hash().hash();
        block
    }

    /// Executes `records` as the next block, seals it, and returns it with
    /// every department's attestation.
    pub fn seal(&mut self, records: Vec<SignedRecord>) -> (Block, Vec<Attestation>) {
        let block = self.seal_verified(records).into_block();
        let attestations = self.attest(&block);
        (block, attestations)
    }

    /// Every department's attestation of `block`.
    pub fn attest(&self, block: &Block) -> Vec<Attestation> {
        attest(&self.nodes, block)
    }

    /// `blocks` blocks of `per_block` workload records each.
    pub fn blocks(&mut self, blocks: usize, per_block: usize) -> Vec<(Block, Vec<Attestation>)> {
        (0..blocks)
            .map(|_| {
                let records = self.workload_records(per_block);
                self.seal(records)
            })
            .collect()
    }

    /// `blocks` blocks of `per_block` records of every kind in turn
    /// ([`ChainBuilder::records`]).
    pub fn chain(&mut self, blocks: usize, per_block: usize) -> Vec<(Block, Vec<Attestation>)> {
        (0..blocks)
            .map(|_| {
                let records = self.records(per_block);
                self.seal(records)
            })
            .collect()
    }

    /// A fresh claim and, after it, the same claim id again (rejected as a
    /// duplicate): a pair whose order matters.
    pub fn claim_and_duplicate(&self) -> Vec<SignedRecord> {
        let kit = self.kit();
        let body = bodies::claim(
            kit.claim_id(9_000_000),
            kit.person(1),
            Amount::yuan(20_000),
            Amount::yuan(15_000),
        );
        [1 << 40, (1 << 40) + 1]
            .into_iter()
            .map(|nonce| kit.sign(Role::Health, RecordBody::Claim(body.clone()), nonce, 0))
            .collect()
    }
}
