//! `fundtrail query` and `fundtrail quote`: read from a node's API and
//! print JSON.

use anyhow::Result;
use clap::Subcommand;

use super::client::NodeClient;

#[derive(Subcommand)]
pub enum Target {
    /// A record with its outcome and history, by record id (hex).
    Record {
        id: String,
        #[command(flatten)]
        page: Page,
    },
    /// A claim with all its payouts, its quote and a page of its records,
    /// by pseudonym EPOCH:HEX.
    Claim {
        id: String,
        #[command(flatten)]
        page: Page,
    },
    /// A person's usage in a year and a page of their records, by
    /// pseudonym EPOCH:HEX.
    Person {
        id: String,
        year: u16,
        #[command(flatten)]
        page: Page,
    },
    /// A fund's balance and a page of its movements.
    Fund {
        id: String,
        #[command(flatten)]
        page: Page,
    },
    /// A block by height.
    Block { height: u64 },
    /// The head: height, hash, state root, attestations, Raft status.
    Head,
}

/// Which page of a listing to print (docs/API.md, "Listings").
#[derive(clap::Args)]
pub struct Page {
    /// Entries per page (default 100, at most 1000; a record's history
    /// defaults to 1000).
    #[arg(long)]
    limit: Option<usize>,
    /// The `next_cursor` (for a record, `acted_on_by_next_cursor`) of the
    /// page before.
    #[arg(long)]
    cursor: Option<String>,
}

impl Page {
    /// The query string asking for this page, empty for the first page
    /// at the node's default size.
    fn query(&self) -> String {
        let mut params = Vec::new();
        if let Some(limit) = self.limit {
            params.push(format!("limit={limit}"));
        }
        if let Some(cursor) = &self.cursor {
            params.push(format!("cursor={cursor}"));
        }
        if params.is_empty() {
            String::new()
        } else {
            format!("?{}", params.join("&"))
        }
    }
}

pub async fn run(client: &NodeClient, target: Target) -> Result<()> {
    let path = match target {
        Target::Record { id, page } => format!("/v1/records/{id}{}", page.query()),
        Target::Claim { id, page } => format!("/v1/claims/{id}{}", page.query()),
        Target::Person { id, year, page } => {
            format!("/v1/persons/{id}/years/{year}{}", page.query())
        }
        Target::Fund { id, page } => format!("/v1/funds/{id}{}", page.query()),
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
