//! `fundtrail query` and `fundtrail quote`: read from a node's API and
//! print JSON.

use anyhow::Result;
use clap::Subcommand;

use super::client::NodeClient;

#[derive(Subcommand)]
pub enum Target {
    /// A record with its outcome and history, by record id (hex).
    Record { id: String },
    /// A claim with all its payouts and its quote, by pseudonym EPOCH:HEX.
    Claim { id: String },
    /// A person's usage and records in a year, by pseudonym EPOCH:HEX.
    Person { id: String, year: u16 },
    /// A fund's balance and movements.
    Fund { id: String },
    /// A block by height.
    Block { height: u64 },
    /// The head: height, hash, state root, attestations, Raft status.
    Head,
}

pub async fn run(client: &NodeClient, target: Target) -> Result<()> {
    let path = match target {
        Target::Record { id } => format!("/v1/records/{id}"),
        Target::Claim { id } => format!("/v1/claims/{id}"),
        Target::Person { id, year } => format!("/v1/persons/{id}/years/{year}"),
        Target::Fund { id } => format!("/v1/funds/{id}"),
        Target::Block { height } => format!("/v1/blocks/{height}"),
        Target::Head => "/v1/head".to_string(),
    };
    let value = client.get(&path).await?;
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

pub async fn quote(client: &NodeClient, claim: &str) -> Result<()> {
    let value = client.get(&format!("/v1/claims/{claim}")).await?;
    println!("{}", serde_json::to_string_pretty(&value["quote"])?);
    Ok(())
}
