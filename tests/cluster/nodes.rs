//! The three RabbitMQ nodes of `scripts/cluster.sh`, as the suite acts on them: which node a
//! queue's leader is on, SIGKILL, restart, partition.

use std::{path::PathBuf, time::Duration};

use hub_testkit::Sandbox;

/// How many nodes the cluster has.
pub const NODES: usize = 3;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster.sh")
}

fn base() -> PathBuf {
    std::env::var_os("HUB_CLUSTER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/hub-cluster"))
}

/// Fails unless the suite is pointed at the three nodes (`scripts/test` does that).
pub fn ensure_cluster() -> anyhow::Result<()> {
    let urls = std::env::var("HUB_TEST_AMQP_URL").unwrap_or_default();
    let apis = std::env::var("HUB_TEST_RABBITMQ_API").unwrap_or_default();
    anyhow::ensure!(
        urls.split(',').count() == NODES && apis.split(',').count() == NODES,
        "the cluster suite needs HUB_TEST_AMQP_URL and HUB_TEST_RABBITMQ_API listing the three \
         nodes of scripts/cluster.sh (scripts/test --cluster sets them)"
    );
    Ok(())
}

/// The node number (1, 2, 3) of a node name such as `hub2@localhost`.
pub fn number(node: &str) -> anyhow::Result<usize> {
    node.strip_prefix("hub")
        .and_then(|rest| rest.split('@').next())
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=NODES).contains(n))
        .ok_or_else(|| anyhow::anyhow!("{node} is not a node of the cluster"))
}

/// The node the leader of `queue` is on, waiting for one to be elected.
pub async fn leader_of(sandbox: &Sandbox, queue: &str) -> anyhow::Result<usize> {
    let found = hub_testkit::eventually(
        &format!("a leader of {queue}"),
        Duration::from_secs(30),
        || async { Ok(sandbox.queue_nodes(queue).await.ok().and_then(|q| q.leader)) },
    )
    .await?;
    number(&found)
}

/// Points the sandbox's management API requests at a node other than `node`.
pub fn avoid(sandbox: &Sandbox, node: usize) {
    // Nodes are numbered from 1; the API list from 0. The next node's index is `node % NODES`.
    sandbox.use_api_node(node % NODES);
}

/// Kills node `n` with SIGKILL.
pub async fn kill(n: usize) -> anyhow::Result<()> {
    let pid = std::fs::read_to_string(base().join(format!("node{n}/pid")))?;
    run("kill", &["-KILL", pid.trim()]).await
}

/// Starts whatever node is not running and waits until all three are up and joined.
pub async fn start_all() -> anyhow::Result<()> {
    run(&script().to_string_lossy(), &["start"]).await
}

/// Stops and starts the RabbitMQ application of node `n` (the Erlang node stays up).
pub async fn restart(n: usize) -> anyhow::Result<()> {
    let script = script().to_string_lossy().to_string();
    let node = n.to_string();
    run(&script, &["ctl", &node, "-q", "stop_app"]).await?;
    run(&script, &["ctl", &node, "-q", "start_app"]).await?;
    run(&script, &["ctl", &node, "-q", "await_startup"]).await
}

/// Cuts node `n` off from the other two (`scripts/cluster.sh partition`): every packet between
/// it and them dropped, its clients still reaching it. RabbitMQ sees a partition once the links
/// time out (net_ticktime); with pause_minority the node, alone a minority, stops serving and the
/// other two go on.
pub async fn partition(n: usize) -> anyhow::Result<()> {
    run(&script().to_string_lossy(), &["partition", &n.to_string()]).await
}

/// Undoes the partition: the node sees the majority again and resumes.
pub async fn heal() -> anyhow::Result<()> {
    run(&script().to_string_lossy(), &["heal"]).await
}

async fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("running {program}: {e}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{program} {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
