//! `gateway-failpoints`: the gateway with failpoints compiled in (`GATEWAY_FAILPOINT`), for the
//! fault-injection suite. Never deployed.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    hub_gateway::main().await
}
