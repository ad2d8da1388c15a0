//! `gateway`: the court-facing service of the enforcement hub.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    hub_gateway::main().await
}
