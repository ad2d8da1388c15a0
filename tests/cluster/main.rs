//! The fault suite on a three-node RabbitMQ cluster (`scripts/cluster.sh`), two gateways and
//! two adapters per agency where the fault needs them: the single-node suite's workload of more
//! than 2,000 measures across four banks and a land registry, and one fault per test — the
//! node of a queue's leader killed with SIGKILL, a node restarted, a node partitioned off, the
//! relaying gateway killed, the active adapter killed. Each prints the same report (lost,
//! doubled, ledger mismatches, order violations, recovery time, throughput) and fails on any
//! violation.
//!
//! It acts only on the cluster's three nodes and on the processes it starts; run it alone, one
//! test at a time (`scripts/test --cluster`).

#[allow(dead_code)] // the single-node suite's workload; not every part is used here
#[path = "../faults/workload.rs"]
mod workload;

mod nodes;

use std::time::{Duration, Instant};

use hub_testkit::TestHub;
use workload::{FaultTimes, When, under_fault, under_fault_at};

/// The queue whose leader's node the node faults strike.
const STRUCK_QUEUE: &str = "agency.bank.FA";

/// A hub of the workload on the cluster, every node up, its queues on all three.
async fn cluster_hub(builder: hub_testkit::TestHubBuilder) -> anyhow::Result<TestHub> {
    nodes::ensure_cluster()?;
    nodes::start_all().await?;
    let hub = builder.start().await?;
    let placed = hub.sandbox().queue_nodes(STRUCK_QUEUE).await?;
    anyhow::ensure!(
        placed.members.len() == nodes::NODES,
        "{STRUCK_QUEUE} has members {:?}, not all three nodes",
        placed.members
    );
    Ok(hub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_of_a_queue_leader_killed_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let hub = cluster_hub(workload::hub()).await?;
    under_fault(
        hub,
        "RabbitMQ node of a queue leader killed with SIGKILL",
        When::QuarterAnswered,
        |hub, _| async move {
            let leader = nodes::leader_of(hub.sandbox(), STRUCK_QUEUE).await?;
            nodes::avoid(hub.sandbox(), leader);
            let injected = Instant::now();
            nodes::kill(leader).await?;
            // The hub goes on with the two nodes left; the node is brought back afterwards.
            let elected = nodes::leader_of(hub.sandbox(), STRUCK_QUEUE).await?;
            anyhow::ensure!(elected != leader, "no new leader for {STRUCK_QUEUE}");
            eprintln!(
                "node {leader} killed; new leader on node {elected} after {:.1} s",
                injected.elapsed().as_secs_f64()
            );
            tokio::time::sleep(Duration::from_secs(10)).await;
            nodes::start_all().await?;
            Ok((
                hub,
                FaultTimes {
                    injected,
                    restored: injected,
                },
            ))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let hub = cluster_hub(workload::hub()).await?;
    under_fault(
        hub,
        "RabbitMQ node of a queue leader restarted",
        When::QuarterAnswered,
        |hub, _| async move {
            let leader = nodes::leader_of(hub.sandbox(), STRUCK_QUEUE).await?;
            nodes::avoid(hub.sandbox(), leader);
            let injected = Instant::now();
            nodes::restart(leader).await?;
            let restored = Instant::now();
            Ok((hub, FaultTimes { injected, restored }))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_partitioned_off_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let hub = cluster_hub(workload::hub()).await?;
    under_fault(
        hub,
        "RabbitMQ node of a queue leader partitioned off for 20 s (pause_minority)",
        When::QuarterAnswered,
        |hub, _| async move {
            let leader = nodes::leader_of(hub.sandbox(), STRUCK_QUEUE).await?;
            nodes::avoid(hub.sandbox(), leader);
            let injected = Instant::now();
            nodes::partition(leader).await?;
            // Long enough for the links to time out (net_ticktime 10 s) and the node to pause.
            tokio::time::sleep(Duration::from_secs(20)).await;
            nodes::heal().await?;
            nodes::start_all().await?;
            let restored = Instant::now();
            Ok((hub, FaultTimes { injected, restored }))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relaying_gateway_killed_during_a_burst_the_other_takes_over() -> anyhow::Result<()> {
    let hub = cluster_hub(workload::hub().gateway_process(None)).await?;
    let second = hub.spawn_gateway_process().await?;
    let second_addr = second
        .addr()
        .ok_or_else(|| anyhow::anyhow!("second gateway address"))?;
    let gateways = vec![hub.gateway_addr(), second_addr];
    under_fault_at(
        hub,
        gateways,
        "the relaying gateway of two killed with SIGKILL",
        When::QuarterAnswered,
        |mut hub, _| async move {
            const LEADER: &str = "outbox relay is the leader";
            let mut second = second;
            let injected = Instant::now();
            if hub.gateway_has_logged(LEADER) {
                hub.kill_gateway().await?;
                eprintln!("killed the first gateway, the relay's leader");
                // The second takes the advisory lock and relays.
                hub_testkit::eventually(
                    "the second gateway to lead the relay",
                    Duration::from_secs(30),
                    || {
                        let led = second.has_logged(LEADER);
                        async move { Ok(led.then_some(())) }
                    },
                )
                .await?;
            } else {
                anyhow::ensure!(second.has_logged(LEADER), "neither gateway leads the relay");
                second.kill().await?;
                eprintln!("killed the second gateway, the relay's leader");
            }
            eprintln!(
                "relay taken over after {:.1} s",
                injected.elapsed().as_secs_f64()
            );
            // Keep the survivor running until the hub shuts down.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(600)).await;
                let _ = second.kill().await;
            });
            Ok((
                hub,
                FaultTimes {
                    injected,
                    restored: injected,
                },
            ))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_adapter_killed_its_standby_takes_over_in_order() -> anyhow::Result<()> {
    let mut hub = cluster_hub(workload::hub()).await?;
    hub.stop_adapter("FA").await?;
    let active = hub.spawn_adapter_process("FA").await?;
    consumers(&hub, 1).await?;
    let standby = hub.spawn_standby_adapter_process("FA").await?;
    consumers(&hub, 2).await?;
    under_fault(
        hub,
        "the active adapter of two killed with SIGKILL",
        When::QuarterAnswered,
        |hub, _| async move {
            let mut active = active;
            let injected = Instant::now();
            active.kill().await?;
            consumers(&hub, 1).await?;
            eprintln!(
                "standby alone on {STRUCK_QUEUE} after {:.1} s",
                injected.elapsed().as_secs_f64()
            );
            let mut standby = standby;
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(600)).await;
                let _ = standby.kill().await;
            });
            Ok((
                hub,
                FaultTimes {
                    injected,
                    restored: injected,
                },
            ))
        },
    )
    .await
}

/// Waits until the struck queue has `n` consumers registered.
async fn consumers(hub: &TestHub, n: u64) -> anyhow::Result<()> {
    hub_testkit::eventually(
        &format!("{n} consumers on {STRUCK_QUEUE}"),
        Duration::from_secs(60),
        || async {
            Ok(hub
                .sandbox()
                .queue_nodes(STRUCK_QUEUE)
                .await
                .ok()
                .filter(|q| q.consumers == n)
                .map(|_| ()))
        },
    )
    .await
}
