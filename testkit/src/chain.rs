//! Honest attested chains for tests and benchmarks: seeded workload
//! records, the contracts executed for every block, blocks sealed with
//! `BlockDraft::seal`, and every department's node attesting each one, as
//! honest nodes do.

use fundtrail_ledger::block::{Attestation, Block, Genesis, GenesisKey};
use fundtrail_ledger::crypto::Keypair;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::record::{RecordBody, SignedRecord};
use fundtrail_ledger::types::{Amount, Height, KeyRole, Role};
use fundtrail_ledger::verify::BlockDraft;

use super::bodies;
use super::workload::Workload;
use fundtrail_contracts::engine::{execute_block, genesis_state, genesis_state_root, BlockContext};
use fundtrail_contracts::state::MemoryState;

/// Departments that run a node in these chains.
pub const DEPARTMENTS: usize = 4;

pub struct ChainBuilder {
    pub workload: Workload,
    pub genesis: Genesis,
    pub nodes: Vec<Keypair>,
    pub state: MemoryState,
    pub state_root: Hash32,
    /// Hash of the last block sealed (the genesis hash before any).
    pub prev_hash: Hash32,
    height: Height,
}

/// One node key for each department, from fixed seeds.
pub fn node_keys() -> Vec<Keypair> {
    (0..DEPARTMENTS as u8)
        .map(|i| Keypair::from_seed([0xa0 + i; 32]))
        .collect()
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
        let workload = Workload::new(seed, people, true);
        let nodes = node_keys();
        let mut genesis = workload.kit.genesis();
        for (org, node) in genesis.orgs.iter_mut().zip(&nodes) {
            org.keys.push(GenesisKey {
                key: node.public(),
                role: KeyRole::Node,
            });
        }
        let mut state = MemoryState::new();
        state.apply(&genesis_state(&genesis));
        ChainBuilder {
            state_root: genesis_state_root(&genesis),
            prev_hash: genesis.hash().hash(),
            height: Height(0),
            workload,
            genesis,
            nodes,
            state,
        }
    }

    /// The next `n` workload records, generated against the current state.
    pub fn workload_records(&mut self, n: usize) -> Vec<SignedRecord> {
        self.workload.block(&self.state, n)
    }

    /// Executes `records` as the next block, seals it, and returns it with
    /// every department's attestation.
    pub fn seal(&mut self, records: Vec<SignedRecord>) -> (Block, Vec<Attestation>) {
        self.height = self.height.next();
        let ctx = BlockContext {
            height: self.height,
            timestamp_ms: self.genesis.timestamp_ms + self.height.0 * 1_000,
            prev_state_root: self.state_root,
        };
        let exec = execute_block(&ctx, &records, &self.state).expect("in-memory execution");
        self.state.apply(&exec.writes);
        self.state_root = exec.state_root;
        let block = BlockDraft {
            chain_id: self.genesis.chain_id.clone(),
            height: self.height,
            prev_hash: self.prev_hash,
            timestamp_ms: ctx.timestamp_ms,
            proposer: self.nodes[0].public(),
            rules_version: exec.rules_version,
            state_root: exec.state_root,
            records,
            outcomes: exec.outcomes,
        }
        .seal()
        .into_block();
        self.prev_hash = block.hash().hash();
        let attestations = attest(&self.nodes, &block);
        (block, attestations)
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

    /// A fresh claim and, after it, the same claim id again (rejected as a
    /// duplicate): a pair whose order matters.
    pub fn claim_and_duplicate(&self) -> Vec<SignedRecord> {
        let kit = &self.workload.kit;
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
