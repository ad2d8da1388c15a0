//! Test support for the hub: real RabbitMQ and PostgreSQL, isolated per test.
//!
//! [`Sandbox`] gives a test its own RabbitMQ vhost and its own PostgreSQL schemas, and removes
//! them afterwards (also when the test panics; leftovers of killed runs are swept by later runs).
//! [`TestHub`] runs a whole hub inside the test process — gateway, and for each bank a reference
//! bank and its adapter — on loopback ports chosen by the OS, with one adjustable clock, and a
//! PKI of its own ([`TestPki`]): every court, operator and agency client speaks mutual TLS with
//! a certificate of the test's CA.
//!
//! Settings come from the environment, with defaults for this machine's services:
//! `HUB_TEST_DATABASE_URL`, `HUB_TEST_AMQP_URL`, `HUB_TEST_RABBITMQ_API`.

pub mod browser;
mod court;
mod hub;
pub mod logs;
mod pki;
mod process;
mod sandbox;
mod scrape;

pub use hub::{
    AgencyNode, DEFAULT_COURT, ExtraGateway, System, TestHub, TestHubBuilder, court_client, new_key,
};
pub use pki::TestPki;
pub use process::{ChildProcess, binary, gateway_with_failpoints};
pub use sandbox::{QueueDepth, QueueNodes, Sandbox};
pub use scrape::{Sample, Scrape, queue_metrics_path, rabbitmq_prometheus};

/// Names of fake but valid identities and documents for tests.
pub mod fixtures;

/// Waits until `check` returns `Some`, polling every 20 ms, or fails after `timeout` with
/// `what` in the message. For conditions that have no event to wait on.
pub async fn eventually<T, F, Fut>(
    what: &str,
    timeout: std::time::Duration,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
