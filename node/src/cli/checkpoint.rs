//! `fundtrail checkpoint`: signed checkpoints (docs/ENCODING.md §9).
//! `get` fetches one from a node and adds the signatures of other nodes
//! at the same size, refusing a node whose chain differs there; `vkeys`
//! prints the verifier keys of a genesis, for tools outside fundtrail;
//! `verify` checks a checkpoint's signatures against a genesis;
//! `consistency` checks with a node's proof that a later checkpoint
//! extends an earlier one. The check of a chain file against a checkpoint
//! (`verify CHAIN --checkpoint`) is [`CheckpointCheck`].

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use fundtrail_ledger::block::Genesis;
use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::tlog::{
    origin, verify_consistency, ConsistencyProof, Frontier, SignedCheckpoint,
};
use fundtrail_ledger::types::Height;

use fundtrail_audit::report::CheckpointSeen;

use super::client::{Credentials, NodeArgs, NodeClient};
use crate::checkpoint::{genesis_vkeys, genesis_witness_vkeys, trusted_signers};

#[derive(Subcommand)]
pub enum CheckpointAction {
    /// Fetch a node's signed checkpoint (of its head, or of --size
    /// blocks), add the signatures of each --also node at the same size,
    /// and write it to --out.
    Get {
        #[command(flatten)]
        node: NodeArgs,
        /// Checkpoint the first SIZE blocks instead of the head.
        #[arg(long)]
        size: Option<u64>,
        /// Another node's API URL whose signature to add (repeatable).
        #[arg(long)]
        also: Vec<String>,
        /// Where to write the signed checkpoint (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the verifier keys (C2SP vkeys) of the node keys a genesis
    /// lists, one a line.
    Vkeys {
        #[arg(long)]
        genesis: PathBuf,
        /// The keys of the nodes' witness cosignatures (type 0x04) instead.
        #[arg(long)]
        witness: bool,
    },
    /// Check a signed checkpoint against the node keys of a genesis.
    Verify {
        checkpoint: PathBuf,
        #[arg(long)]
        genesis: PathBuf,
        /// Organisations whose signatures are required (default: a
        /// majority of those with node keys in genesis).
        #[arg(long)]
        min: Option<usize>,
    },
    /// Check that NEW extends OLD: both signed by a majority of genesis's
    /// node organisations, and a node's consistency proof between their
    /// sizes holds for their roots.
    Consistency {
        old: PathBuf,
        new: PathBuf,
        #[arg(long)]
        genesis: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
}

pub async fn run(action: CheckpointAction) -> Result<()> {
    match action {
        CheckpointAction::Get {
            node,
            size,
            also,
            out,
        } => get(&node, size, &also, &out).await,
        CheckpointAction::Vkeys { genesis, witness } => {
            let genesis = crate::config::read_genesis(&genesis)?;
            let vkeys = if witness {
                genesis_witness_vkeys(&genesis)?
            } else {
                genesis_vkeys(&genesis)?
            };
            for vkey in vkeys {
                println!("{vkey}");
            }
            Ok(())
        }
        CheckpointAction::Consistency {
            old,
            new,
            genesis,
            node,
        } => consistency(&old, &new, &genesis, &node).await,
        CheckpointAction::Verify {
            checkpoint,
            genesis,
            min,
        } => {
            let genesis = crate::config::read_genesis(&genesis)?;
            let signed = read(&checkpoint)?;
            let signers = check_signatures(&signed, &genesis, min)?;
            let cp = signed.checkpoint();
            println!(
                "OK: {} blocks, root {}, signed by {}",
                cp.size(),
                cp.root(),
                signers.join(", ")
            );
            Ok(())
        }
    }
}

async fn fetch(client: &NodeClient, size: Option<u64>) -> Result<SignedCheckpoint> {
    let path = match size {
        Some(n) => format!("/v1/checkpoint?size={n}"),
        None => "/v1/checkpoint".to_string(),
    };
    let text = client.get_text(&path).await?;
    SignedCheckpoint::parse(text.as_bytes()).with_context(|| {
        format!(
            "{} answered something that is not a checkpoint",
            client.base()
        )
    })
}

/// `first`'s checkpoint (of its head, or of `size` blocks) with the
/// signatures of `others` at the same size added; an error names a node
/// whose chain differs there.
pub async fn gather(
    first: &NodeClient,
    others: &[NodeClient],
    size: Option<u64>,
) -> Result<SignedCheckpoint> {
    let mut signed = fetch(first, size).await?;
    let size = signed.checkpoint().size();
    for client in others {
        let other = fetch(client, Some(size)).await?;
        if other.checkpoint() != signed.checkpoint() {
            bail!(
                "{} holds a different chain at size {size}: its root is {}, not {}",
                client.base(),
                other.checkpoint().root(),
                signed.checkpoint().root()
            );
        }
        for line in other.note().signatures() {
            signed.add_signature(line.clone())?;
        }
    }
    Ok(signed)
}

async fn get(node: &NodeArgs, size: Option<u64>, also: &[String], out: &Path) -> Result<()> {
    let credentials = Credentials::load(node.ca.as_deref(), Some(&node.key))?;
    let others = also
        .iter()
        .map(|url| NodeClient::new(url, &credentials))
        .collect::<Result<Vec<_>>>()?;
    let signed = gather(&node.client()?, &others, size).await?;
    let size = signed.checkpoint().size();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .with_context(|| format!("creating {} (never overwritten)", out.display()))?;
    std::io::Write::write_all(&mut file, signed.to_string().as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    let names: Vec<String> = signed
        .note()
        .signatures()
        .iter()
        .map(|s| s.name.as_str().to_string())
        .collect();
    println!(
        "checkpoint of {size} blocks, root {}, signed by {}, written to {}",
        signed.checkpoint().root(),
        names.join(", "),
        out.display()
    );
    Ok(())
}

async fn consistency(old: &Path, new: &Path, genesis: &Path, node: &NodeArgs) -> Result<()> {
    let genesis = crate::config::read_genesis(genesis)?;
    let (old, new) = (read(old)?, read(new)?);
    check_signatures(&old, &genesis, None).context("the older checkpoint")?;
    check_signatures(&new, &genesis, None).context("the newer checkpoint")?;
    let (old, new) = (old.checkpoint(), new.checkpoint());
    if old.size() > new.size() {
        bail!(
            "the older checkpoint covers {} blocks, more than the newer's {}",
            old.size(),
            new.size()
        );
    }
    let path = format!(
        "/v1/checkpoint/consistency?from={}&to={}",
        old.size(),
        new.size()
    );
    let proof: ConsistencyProof = serde_json::from_value(node.client()?.get(&path).await?)
        .context("the node's consistency proof")?;
    // A proof binds sizes only with their roots: they must be these.
    if (proof.old_size, proof.new_size) != (old.size(), new.size()) {
        bail!(
            "the node proved sizes {} to {}, not those asked",
            proof.old_size,
            proof.new_size
        );
    }
    verify_consistency(&proof, old.root(), new.root()).map_err(|e| {
        anyhow::anyhow!(
            "NOT CONSISTENT: the checkpoint of {} blocks does not extend that of {}: {e}",
            new.size(),
            old.size()
        )
    })?;
    println!(
        "CONSISTENT: the checkpoint of {} blocks extends that of {}",
        new.size(),
        old.size()
    );
    Ok(())
}

pub fn read(path: &Path) -> Result<SignedCheckpoint> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    SignedCheckpoint::parse(&bytes)
        .with_context(|| format!("{} is not a signed checkpoint", path.display()))
}

/// The names of the organisations whose node keys signed `signed`, after
/// checking every signature by a genesis node key and that at least `min`
/// (default a majority of the organisations with node keys) signed.
pub fn check_signatures(
    signed: &SignedCheckpoint,
    genesis: &Genesis,
    min: Option<usize>,
) -> Result<Vec<String>> {
    if signed.checkpoint().origin() != origin(&genesis.chain_id) {
        bail!(
            "the checkpoint is of {:?}, not of this chain ({})",
            signed.checkpoint().origin(),
            origin(&genesis.chain_id)
        );
    }
    let required = min.unwrap_or_else(|| crate::proof::default_quorum(genesis));
    Ok(trusted_signers(signed, &genesis_vkeys(genesis)?, required)?)
}

/// A signed checkpoint a chain being read is held to.
pub struct HeldCheckpoint {
    signed: SignedCheckpoint,
    check: CheckpointCheck,
    tree_error: Option<anyhow::Error>,
}

impl HeldCheckpoint {
    pub fn new(signed: SignedCheckpoint) -> HeldCheckpoint {
        HeldCheckpoint {
            check: CheckpointCheck::new(&signed),
            signed,
            tree_error: None,
        }
    }

    pub fn read(path: &Path) -> Result<HeldCheckpoint> {
        Ok(HeldCheckpoint::new(read(path)?))
    }

    pub fn signed(&self) -> &SignedCheckpoint {
        &self.signed
    }

    /// Takes the next block of the chain being read.
    pub fn push(&mut self, block_hash: &fundtrail_ledger::block::BlockHash) {
        if let Err(e) = self.check.push(block_hash) {
            self.tree_error.get_or_insert(e);
        }
    }

    /// Once the chain has been read to `head`: the checkpoint's signatures
    /// checked against `genesis` (an error if they fall short), and the
    /// chain's standing against it.
    pub fn conclude(self, genesis: &Genesis, head: Height) -> Result<CheckpointSeen> {
        if let Some(e) = self.tree_error {
            return Err(e.context("building the checkpoint tree"));
        }
        let signers = check_signatures(&self.signed, genesis, None)?;
        let verdict = self.check.verdict(head);
        let cp = self.signed.checkpoint();
        Ok(CheckpointSeen {
            size: cp.size(),
            root: *cp.root(),
            signers,
            consistent: verdict.is_ok(),
            verdict: verdict.unwrap_or_else(|e| e),
        })
    }
}

/// A chain read block by block, checked against a checkpoint: the chain
/// must reach the checkpoint's size, and its first blocks up to there must
/// be the ones the checkpoint covers.
pub struct CheckpointCheck {
    size: u64,
    root: Hash32,
    tree: Frontier,
    root_at_size: Option<Hash32>,
}

impl CheckpointCheck {
    pub fn new(signed: &SignedCheckpoint) -> CheckpointCheck {
        let cp = signed.checkpoint();
        CheckpointCheck {
            size: cp.size(),
            root: *cp.root(),
            tree: Frontier::new(),
            root_at_size: (cp.size() == 0).then(|| Frontier::new().root()),
        }
    }

    /// Takes the next block's hash.
    pub fn push(&mut self, block_hash: &fundtrail_ledger::block::BlockHash) -> Result<()> {
        self.tree.append_block(block_hash)?;
        if self.tree.size() == self.size {
            self.root_at_size = Some(self.tree.root());
        }
        Ok(())
    }

    /// The verdict once the chain has been read to `head`.
    pub fn verdict(&self, head: Height) -> Result<String, String> {
        match self.root_at_size {
            None => Err(format!(
                "STALE OR TRUNCATED: this chain ends at height {head}, but the checkpoint covers {} blocks",
                self.size
            )),
            Some(root) if root != self.root => Err(format!(
                "INCONSISTENT: this chain's first {} blocks are not those the checkpoint covers (root {} here, {} signed)",
                self.size, root, self.root
            )),
            Some(_) => Ok(format!(
                "consistent with the checkpoint of {} blocks (this chain has {head})",
                self.size
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundtrail_ledger::block::BlockHash;
    use fundtrail_ledger::crypto::Keypair;
    use fundtrail_ledger::tlog::{Checkpoint, Ed25519Signer, KeyName};
    use fundtrail_ledger::types::ChainId;

    fn blocks(seed: u8, n: u8) -> Vec<BlockHash> {
        (0..n)
            .map(|i| BlockHash::from_hash(Hash32([seed ^ i; 32])))
            .collect()
    }

    /// A checkpoint over the first `size` of `chain`.
    fn signed(chain: &[BlockHash], size: usize) -> SignedCheckpoint {
        let mut tree = Frontier::new();
        for b in &chain[..size] {
            tree.append_block(b).expect("append");
        }
        let id = ChainId::new("cp-test").expect("chain id");
        let key = Keypair::from_seed([7; 32]);
        let signer = Ed25519Signer::new(KeyName::new("cp-test/org").expect("name"), &key);
        SignedCheckpoint::sign(Checkpoint::of_chain(&id, &tree), &signer).expect("sign")
    }

    fn verdict(chain: &[BlockHash], cp: &SignedCheckpoint) -> Result<String, String> {
        let mut check = CheckpointCheck::new(cp);
        for b in chain {
            check.push(b).expect("push");
        }
        check.verdict(Height(chain.len() as u64))
    }

    #[test]
    fn a_chain_is_judged_stale_forked_or_consistent_against_a_checkpoint() {
        let ours = blocks(1, 8);
        let at_six = signed(&ours, 6);
        assert!(verdict(&ours, &at_six).is_ok(), "longer and the same");
        assert!(verdict(&ours[..6], &at_six).is_ok(), "exactly as long");
        let stale = verdict(&ours[..5], &at_six).expect_err("too short");
        assert!(stale.starts_with("STALE OR TRUNCATED"), "{stale}");
        let mut forked = ours.clone();
        forked[3] = BlockHash::from_hash(Hash32([0xee; 32]));
        let fork = verdict(&forked, &at_six).expect_err("another fourth block");
        assert!(fork.starts_with("INCONSISTENT"), "{fork}");
        assert!(verdict(&[], &signed(&ours, 0)).is_ok(), "the empty tree");
    }
}
