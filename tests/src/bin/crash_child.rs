//! Crash-safety child: appends blocks to a RocksDB store in a loop and prints
//! `committed <height> <hash>` once a block is durable. The parent kills it
//! with SIGKILL at random moments and checks every reported block survived.
//!
//! Usage: `crash-child DATA_DIR RECORDS_PER_BLOCK [redoable]`
//!
//! By default each block is committed `Durability::Synced` and reported as
//! soon as the commit returns. With `redoable`, blocks are committed outside
//! the WAL, as the node applies them, and reported only after the
//! `Store::flush` that follows every fifth block.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use fundtrail_ledger::block::next_state_root;
use fundtrail_ledger::store::{Durability, Store};
use fundtrail_ledger::verify::BlockDraft;
use fundtrail_ledger::SignedRecord;
use fundtrail_testkit::ledger::{accepted_outcomes, sample_bodies, submitter_role};
use fundtrail_testkit::Kit;

/// The consortium seed shared with the parent test.
pub const SEED: u8 = 7;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .context("usage: crash-child DATA_DIR RECORDS_PER_BLOCK")?,
    );
    let per_block: u64 = args.next().context("missing RECORDS_PER_BLOCK")?.parse()?;
    let redoable = args.next().as_deref() == Some("redoable");
    let durability = if redoable {
        Durability::Redoable
    } else {
        Durability::Synced
    };
    let c = Kit::new(SEED);
    let store = if dir.join("CURRENT").exists() {
        Store::open(&dir)?
    } else {
        Store::create(
            &dir,
            &c.genesis_with_nodes(),
            next_state_root(&c.genesis_with_nodes().hash().hash(), &[]),
        )?
    };
    let stdout = std::io::stdout();
    loop {
        let head = store.head()?;
        let height = head.height.next();
        let records: Vec<SignedRecord> = (0..per_block)
            .map(|i| {
                let nonce = height.0 * per_block + i;
                let body = sample_bodies(&c, nonce).swap_remove((nonce % 11) as usize);
                c.sign(submitter_role(body.kind()), body, nonce, 0)
            })
            .collect();
        let outcomes = accepted_outcomes(&records);
        let writes = vec![(
            format!("counter/{}", height.0 % 7).into_bytes(),
            Some(height.0.to_be_bytes().to_vec()),
        )];
        let block = BlockDraft {
            chain_id: c.chain_id.clone(),
            height,
            prev_hash: head.hash,
            timestamp_ms: head.timestamp_ms + 1,
            proposer: c.orgs[0].node.public(),
            rules_version: 1,
            state_root: next_state_root(&head.state_root, &writes),
            records,
            outcomes,
        }
        .seal();
        let new_head = store.commit_block(&block, &writes, &[], durability)?;
        if redoable {
            if new_head.height.0 % 5 != 0 {
                continue;
            }
            store.flush()?;
        }
        let mut out = stdout.lock();
        writeln!(out, "committed {} {}", new_head.height, new_head.hash)?;
        out.flush()?;
    }
}
