//! Readiness, as orchestrators see it: HTTP `/healthz` and `/readyz`, and the gRPC health service.

use enforcement_proto::v1::court_gateway_server::CourtGatewayServer;
use hub_testkit::TestHub;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// The gRPC health status of the gateway's court service at `addr`, asked with the
/// certificate in `files`.
async fn grpc_status(
    addr: std::net::SocketAddr,
    files: &hub_trust::TlsFiles,
) -> anyhow::Result<ServingStatus> {
    let channel = hub_trust::Transport::Tls(files.clone())
        .endpoint(&addr.to_string(), None)?
        .connect()
        .await?;
    let mut health = HealthClient::new(channel);
    let status = health
        .check(HealthCheckRequest {
            service: <CourtGatewayServer<hub_gateway::court::CourtService> as tonic::server::NamedService>::NAME.into(),
        })
        .await?
        .into_inner()
        .status;
    Ok(ServingStatus::try_from(status)?)
}

#[tokio::test]
async fn a_connected_gateway_is_live_and_ready() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let http = hub.gateway_http_addr().expect("health endpoint");
    let live = reqwest::get(format!("http://{http}/healthz")).await?;
    assert_eq!(live.status(), 200);
    assert_eq!(live.text().await?, "ok");
    let ready = reqwest::get(format!("http://{http}/readyz")).await?;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await?;
    assert_eq!(
        body,
        serde_json::json!({"ready": true, "checks": {"broker": true, "database": true}})
    );
    assert_eq!(
        grpc_status(hub.gateway_addr(), &hub.pki().operator()?).await?,
        ServingStatus::Serving
    );
    hub.shutdown().await
}

#[tokio::test]
async fn a_gateway_without_its_broker_is_live_but_not_ready() -> anyhow::Result<()> {
    let mut sandbox = hub_testkit::Sandbox::create().await?;
    let pki = hub_testkit::TestPki::create()?;
    let tls = pki.gateway()?;
    let config = hub_gateway::Config {
        listen: "127.0.0.1:0".parse()?,
        tls_ca: Some(tls.ca),
        tls_cert: Some(tls.cert),
        tls_key: Some(tls.key),
        tls_deny_list: tls.deny,
        insecure_plaintext: false,
        http_listen: Some("127.0.0.1:0".parse()?),
        max_request_bytes: 1 << 20,
        database_url: sandbox.database_url().to_string(),
        database_schema: sandbox.schema("gateway"),
        database_connections: 4,
        // Nothing listens on port 1.
        amqp_url: "amqp://guest:guest@127.0.0.1:1/%2f".into(),
        signing_key: None,
        require_signed_reports: false,
        instruction_deadline_secs: 3600,
        deadline_grace_secs: 120,
        relay_batch: 256,
        relay_poll_ms: 100,
        report_prefetch: 16,
        report_workers: 1,
        report_batch: 16,
        delivery_limit: 10,
        expiry_warning_days: vec![30, 7],
        timer_poll_ms: 1000,
        table_upkeep_secs: 10,
        reconnect_ms: 100,
        dashboard_token: None,
        dashboard_interval_ms: 2000,
        audit_chain_ms: 250,
        answer_deadlines: hub_gateway::overdue::DEFAULT.into(),
    };
    let app = hub_gateway::Application::build(config, hub_domain::Clock::system()).await?;
    let (grpc, http) = (app.local_addr()?, app.http_addr().expect("health endpoint"));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));

    let live = reqwest::get(format!("http://{http}/healthz")).await?;
    assert_eq!(live.status(), 200);
    let ready = reqwest::get(format!("http://{http}/readyz")).await?;
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await?;
    assert_eq!(body["ready"], false);
    assert_eq!(body["checks"]["broker"], false);
    assert_eq!(body["checks"]["database"], true);
    assert_eq!(
        grpc_status(grpc, &pki.operator()?).await?,
        ServingStatus::NotServing
    );

    shutdown.cancel();
    running.await??;
    pki.remove();
    sandbox.remove().await
}
