//! The fault-injection suite: a workload of more than 2,000 measures across four banks and a
//! land registry, and one fault injected in the middle of it per test. Each test prints a report
//! (measures, final states, lost, doubled, ledger mismatches, order violations, recovery time and
//! throughput) and fails on any violation.
//!
//! Some faults restart the machine's RabbitMQ or PostgreSQL, so this suite runs on its own,
//! one test at a time, after the other tests (`scripts/test` does that).

mod workload;

use std::time::{Duration, Instant};

use hub_domain::AgencyKind;
use workload::{FaultTimes, When, under_fault};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_killed_mid_batch_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let mut hub = workload::hub().start().await?;
    hub.stop_adapter("FA").await?;
    let adapter = hub.spawn_adapter_process("FA").await?;
    under_fault(
        hub,
        "adapter killed with SIGKILL mid-batch",
        When::QuarterAnswered,
        |hub, _| async move {
            let mut adapter = adapter;
            let injected = Instant::now();
            adapter.kill().await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut restarted = hub.spawn_adapter_process("FA").await?;
            let restored = Instant::now();
            // Keep it running until the hub shuts down.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(600)).await;
                let _ = restarted.kill().await;
            });
            Ok((hub, FaultTimes { injected, restored }))
        },
    )
    .await
}

/// The gateway dies at a failpoint of its relay, and is started again.
async fn gateway_dies_at(failpoint: &str, fault: &str) -> anyhow::Result<()> {
    let hub = workload::hub()
        .gateway_process(Some(failpoint))
        .start()
        .await?;
    under_fault(hub, fault, When::Started, |mut hub, gateway| async move {
        let deadline = Instant::now() + Duration::from_secs(120);
        while hub.gateway_running() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the gateway never reached the failpoint"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let injected = Instant::now();
        hub.restart_gateway(None).await?;
        gateway.send_replace(vec![hub.gateway_addr()]);
        let restored = Instant::now();
        Ok((hub, FaultTimes { injected, restored }))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_killed_between_commit_and_publish_loses_nothing() -> anyhow::Result<()> {
    gateway_dies_at(
        "relay-before-publish:25",
        "gateway killed between the database commit and the publish",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_killed_between_publish_and_its_commit_doubles_nothing() -> anyhow::Result<()> {
    gateway_dies_at(
        "relay-before-commit:25",
        "gateway killed after the publish, before the outbox commit",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_restart_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let hub = workload::hub().start().await?;
    under_fault(
        hub,
        "RabbitMQ restarted",
        When::QuarterAnswered,
        |hub, _| async move {
            let injected = Instant::now();
            run("rabbitmqctl", &["stop_app"]).await?;
            run("rabbitmqctl", &["start_app"]).await?;
            run("rabbitmqctl", &["await_startup"]).await?;
            let restored = Instant::now();
            Ok((hub, FaultTimes { injected, restored }))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let hub = workload::hub().start().await?;
    under_fault(
        hub,
        "PostgreSQL restarted",
        When::QuarterAnswered,
        |hub, _| async move {
            let version = std::fs::read_dir("/etc/postgresql")?
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .max()
                .ok_or_else(|| anyhow::anyhow!("no PostgreSQL cluster in /etc/postgresql"))?;
            let injected = Instant::now();
            // Immediate: the server stops as if it crashed, without a last flush, so whatever
            // the hub committed without waiting for its flush is lost and must be re-derived.
            run(
                "pg_ctlcluster",
                &[
                    "--skip-systemctl-redirect",
                    "--mode",
                    "immediate",
                    &version,
                    "main",
                    "restart",
                ],
            )
            .await?;
            let restored = Instant::now();
            Ok((hub, FaultTimes { injected, restored }))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banks_answering_errors_or_hanging_for_a_while_lose_and_double_nothing()
-> anyhow::Result<()> {
    let hub = workload::hub().start().await?;
    under_fault(
        hub,
        "a bank answering errors, another hanging",
        When::QuarterAnswered,
        |hub, _| async move {
            let injected = Instant::now();
            // FB fails its next hundred calls; FC takes longer than the adapter waits, for a while.
            hub.bank("FB")?.system().faults().fail_next(100);
            hub.bank("FC")?
                .system()
                .faults()
                .set_latency(Duration::from_secs(8));
            tokio::time::sleep(Duration::from_secs(12)).await;
            hub.bank("FC")?
                .system()
                .faults()
                .set_latency(Duration::ZERO);
            let restored = Instant::now();
            Ok((hub, FaultTimes { injected, restored }))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_closed_amqp_connections_lose_and_double_nothing() -> anyhow::Result<()> {
    let hub = workload::hub().start().await?;
    under_fault(
        hub,
        "AMQP connections force-closed",
        When::QuarterAnswered,
        |hub, _| async move {
            // The management API lists a new connection after its next statistics round.
            let mut closed = 0;
            let deadline = Instant::now() + Duration::from_secs(30);
            let injected = loop {
                let at = Instant::now();
                closed += hub.sandbox().close_connections().await?;
                if closed >= 2 {
                    break at;
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "found only {closed} connections to close"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            };
            let restored = Instant::now();
            Ok((hub, FaultTimes { injected, restored }))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_the_adapters_under_load_loses_nothing() -> anyhow::Result<()> {
    let hub = workload::hub().start().await?;
    under_fault(
        hub,
        "adapters restarted one by one (SIGTERM)",
        When::QuarterAnswered,
        |mut hub, _| async move {
            let injected = Instant::now();
            for code in workload::BANKS {
                // Stop drains: what the adapter holds is finished or handed back, nothing dropped.
                hub.stop_adapter(code).await?;
                hub.start_adapter(code).await?;
            }
            hub.stop_adapter_of(AgencyKind::LandRegistry, workload::REGISTRY)
                .await?;
            hub.start_adapter_of(AgencyKind::LandRegistry, workload::REGISTRY)
                .await?;
            let restored = Instant::now();
            Ok((hub, FaultTimes { injected, restored }))
        },
    )
    .await
}

/// Runs a command of the machine's services, failing on a non-zero exit.
async fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("running {program}: {e}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
