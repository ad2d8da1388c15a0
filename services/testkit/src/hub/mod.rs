//! A whole hub in the test process: the gateway ([`gateway`]), and agency systems with their
//! adapters ([`agencies`]), in the test's own sandbox.

use std::{marker::PhantomData, net::SocketAddr, time::Duration};

use anyhow::Context;
use enforcement_proto::{
    reference::{
        bank_admin_client::BankAdminClient, land_admin_client::LandAdminClient,
        police_admin_client::PoliceAdminClient,
    },
    v1::court_gateway_client::CourtGatewayClient,
};
use hub_agencies::{
    application::Application, bank::Banking, config::AgencyConfig, land::Land, office::Office,
    police::Police,
};
use hub_domain::{AgencyCode, AgencyKind, Clock};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::{
    Sandbox,
    pki::TestPki,
    process::{ChildProcess, binary, gateway_with_failpoints},
};

/// The court of `TestHub::court`, the one most tests act for.
pub const DEFAULT_COURT: &str = "京0105";

mod agencies;
mod gateway;

pub use agencies::{AgencyNode, System, new_key};
pub use gateway::ExtraGateway;
use gateway::{Gateway, GatewaySettings};

/// A running in-process service.
struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    fn spawn<F>(run: impl FnOnce(CancellationToken) -> F) -> Self
    where
        F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(shutdown.clone()));
        Self { shutdown, task }
    }

    /// Cancels and waits for the service to drain.
    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match tokio::time::timeout(Duration::from_secs(30), self.task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(anyhow::anyhow!("service task failed: {join}")),
            Err(_) => Err(anyhow::anyhow!("service did not stop within 30 s")),
        }
    }
}

/// Builds a [`TestHub`].
pub struct TestHubBuilder {
    systems: Vec<(AgencyKind, Vec<String>)>,
    /// Run the gateway as a process, with this failpoint armed (if any: then the failpoints build).
    gateway_process: Option<Option<String>>,
    /// Instruction deadline and grace, in seconds.
    deadline: (u64, u64),
    timer_poll_ms: u64,
    adapter_retry_ms: u64,
    adapter_attempts: u32,
    /// The broker's AMQP URLs and management APIs, if not the `HUB_TEST_*` settings.
    broker: Option<(String, String)>,
    /// `GATEWAY_ANSWER_DEADLINES`.
    answer_deadlines: String,
    dashboard_token: Option<String>,
    audit_chain_ms: u64,
}

impl TestHubBuilder {
    /// Runs on the broker with these AMQP URLs and management API URLs (one each, or one per
    /// node of a cluster, comma-separated) instead of the `HUB_TEST_*` settings.
    pub fn broker(mut self, amqp_urls: &str, management_apis: &str) -> Self {
        self.broker = Some((amqp_urls.to_string(), management_apis.to_string()));
        self
    }

    /// Banks to run, each its own system with its own adapter.
    pub fn banks(mut self, codes: &[&str]) -> Self {
        for code in codes {
            self.systems
                .push((AgencyKind::Bank, vec![code.to_string()]));
        }
        self
    }

    /// Banks served by one system and one adapter (a processing centre).
    pub fn bank_centre(mut self, codes: Vec<String>) -> Self {
        self.systems.push((AgencyKind::Bank, codes));
        self
    }

    /// Land registries served by one system and one adapter.
    pub fn land(mut self, codes: &[&str]) -> Self {
        self.systems.push((
            AgencyKind::LandRegistry,
            codes.iter().map(|c| c.to_string()).collect(),
        ));
        self
    }

    /// Public security units served by one system and one adapter.
    pub fn police(mut self, codes: &[&str]) -> Self {
        self.systems.push((
            AgencyKind::PublicSecurity,
            codes.iter().map(|c| c.to_string()).collect(),
        ));
        self
    }

    /// Runs the gateway as a process, so that a test can kill it or a benchmark measure it,
    /// optionally with a failpoint armed (`<name>:<n>`, see `hub_gateway::failpoint`; the
    /// failpoints build).
    pub fn gateway_process(mut self, failpoint: Option<&str>) -> Self {
        self.gateway_process = Some(failpoint.map(str::to_string));
        self
    }

    /// How long agencies have to carry out an instruction, and the gateway's grace after that.
    pub fn instruction_deadline(mut self, seconds: u64, grace_seconds: u64) -> Self {
        self.deadline = (seconds, grace_seconds);
        self
    }

    /// The longest the gateway's timers sleep (they wake at each deadline regardless) and how
    /// often the case keeper sweeps, in milliseconds (100 unless set).
    pub fn timer_poll(mut self, ms: u64) -> Self {
        self.timer_poll_ms = ms;
        self
    }

    /// The gateway's answer deadlines (`GATEWAY_ANSWER_DEADLINES`), e.g. `bank.freeze=5`.
    pub fn answer_deadlines(mut self, rules: &str) -> Self {
        self.answer_deadlines = rules.to_string();
        self
    }

    /// The operator token the dashboard asks for before a replay (`GATEWAY_DASHBOARD_TOKEN`).
    pub fn dashboard_token(mut self, token: &str) -> Self {
        self.dashboard_token = Some(token.to_string());
        self
    }

    /// Whether the gateway builds its audit chain (on by default; off only to measure what it
    /// costs).
    pub fn audit_chain(mut self, on: bool) -> Self {
        self.audit_chain_ms = if on { 250 } else { 0 };
        self
    }

    /// Adapter retry policy: first delay and attempts.
    pub fn adapter_retries(mut self, initial_ms: u64, attempts: u32) -> Self {
        self.adapter_retry_ms = initial_ms;
        self.adapter_attempts = attempts;
        self
    }

    /// Starts everything.
    pub async fn start(self) -> anyhow::Result<TestHub> {
        init_logs();
        let sandbox = Sandbox::create_on(
            self.broker
                .as_ref()
                .map(|(amqp, api)| (amqp.as_str(), api.as_str())),
        )
        .await?;
        let pki = TestPki::create()?;
        let clock = Clock::adjustable();
        let gateway_schema = sandbox.schema("gateway");
        // Every test hub signs its instructions with a key of its own, and its adapters verify.
        let signer = hub_bus::signing::Signer::generate()
            .map_err(|e| anyhow::anyhow!("no randomness for a signing key: {e}"))?;
        let settings = GatewaySettings {
            database_url: sandbox.database_url().to_string(),
            schema: gateway_schema.clone(),
            amqp_url: sandbox.amqp_url(),
            deadline: self.deadline,
            timer_poll_ms: self.timer_poll_ms,
            signing_key: signer.seed_hex(),
            tls: pki.gateway()?,
            answer_deadlines: self.answer_deadlines.clone(),
            dashboard_token: self.dashboard_token.clone(),
            audit_chain_ms: self.audit_chain_ms,
        };
        let mut gateway_http = None;
        let (gateway, gateway_addr) = match &self.gateway_process {
            None => {
                let app = hub_gateway::Application::build(settings.config(), clock.clone()).await?;
                let addr = app.local_addr()?;
                gateway_http = app.http_addr();
                (
                    Gateway::InProcess(Running::spawn(|t| app.run_until_stopped(t))),
                    addr,
                )
            }
            Some(failpoint) => {
                let process = settings.spawn(failpoint.as_deref()).await?;
                let addr = process.addr().context("gateway address")?;
                (Gateway::Process(Box::new(process)), addr)
            }
        };
        let mut hub = TestHub {
            sandbox,
            pki,
            clock,
            gateway: Some(gateway),
            gateway_addr,
            gateway_schema,
            gateway_settings: settings,
            gateway_http,
            nodes: Vec::new(),
            adapter_retry_ms: self.adapter_retry_ms,
            adapter_attempts: self.adapter_attempts,
        };
        for (kind, codes) in &self.systems {
            hub.add_system(*kind, codes).await?;
        }
        // The relay declares its exchanges on connect; wait until the gateway's queue exists so
        // tests start from a connected hub.
        crate::eventually(
            "the gateway to declare its queue",
            Duration::from_secs(20),
            || async {
                Ok(hub
                    .sandbox
                    .queue_depth(hub_bus::topology::GATEWAY_QUEUE)
                    .await
                    .ok())
            },
        )
        .await?;
        Ok(hub)
    }
}

/// A hub running in the test process against the test's sandbox.
pub struct TestHub {
    sandbox: Sandbox,
    /// The test's own CA and certificates.
    pki: TestPki,
    clock: Clock,
    gateway: Option<Gateway>,
    gateway_addr: SocketAddr,
    gateway_schema: String,
    gateway_settings: GatewaySettings,
    gateway_http: Option<SocketAddr>,
    nodes: Vec<AgencyNode>,
    adapter_retry_ms: u64,
    adapter_attempts: u32,
}

impl TestHub {
    /// A hub with no banks yet; see [`TestHubBuilder`].
    pub fn builder() -> TestHubBuilder {
        TestHubBuilder {
            systems: Vec::new(),
            gateway_process: None,
            deadline: (3600, 120),
            timer_poll_ms: 100,
            adapter_retry_ms: 50,
            adapter_attempts: 4,
            broker: None,
            answer_deadlines: hub_gateway::overdue::DEFAULT.to_string(),
            dashboard_token: None,
            audit_chain_ms: 250,
        }
    }

    /// Starts a hub with the given banks.
    pub async fn with_banks(codes: &[&str]) -> anyhow::Result<Self> {
        Self::builder().banks(codes).start().await
    }

    /// The sandbox (vhost, schemas, management API).
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The clock shared by the gateway and the banks.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The test's PKI: its CA, the certificates of every party, the deny list.
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    /// A client of the court gateway, as court [`DEFAULT_COURT`] (by its certificate).
    pub async fn court(&self) -> anyhow::Result<CourtGatewayClient<Channel>> {
        self.court_as(DEFAULT_COURT).await
    }

    /// A client of the court gateway with court `code`'s certificate; with
    /// [`DEFAULT_COURT`]'s if `code` is not a court code (a test of the gateway's validation).
    pub async fn court_as(&self, code: &str) -> anyhow::Result<CourtGatewayClient<Channel>> {
        let files = match hub_domain::CourtCode::parse(code) {
            Ok(_) => self.pki.court(code)?,
            Err(_) => self.pki.court(DEFAULT_COURT)?,
        };
        self.gateway_client(&files).await
    }

    /// A client of the court gateway with the certificate in `files`.
    pub async fn gateway_client(
        &self,
        files: &hub_trust::TlsFiles,
    ) -> anyhow::Result<CourtGatewayClient<Channel>> {
        court_client(self.gateway_addr, files).await
    }

    /// How many rows a table of the gateway's schema holds (`measures`, `outbox`, …).
    pub async fn gateway_rows(&self, table: &str) -> anyhow::Result<i64> {
        anyhow::ensure!(
            table.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "not a table name: {table}"
        );
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}.{table}",
            self.gateway_schema
        )))
        .fetch_one(self.sandbox.pool())
        .await?;
        Ok(count)
    }

    /// How many of the gateway's measures are in `state` (e.g. `effective`).
    pub async fn measures_in_state(&self, state: &str) -> anyhow::Result<i64> {
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}.measures WHERE state = $1",
            self.gateway_schema
        )))
        .bind(state)
        .fetch_one(self.sandbox.pool())
        .await?;
        Ok(count)
    }

    /// The gateway's signature of `body`, as its relay would send it.
    pub fn sign_as_gateway(&self, body: &[u8]) -> String {
        hub_bus::signing::Signer::from_hex(&self.gateway_settings.signing_key)
            .map(|s| s.sign(body))
            .unwrap_or_default()
    }

    /// The public key of the gateway's instruction signatures.
    pub fn gateway_public_key(&self) -> String {
        hub_bus::signing::Signer::from_hex(&self.gateway_settings.signing_key)
            .map(|s| s.public_hex())
            .unwrap_or_default()
    }

    /// A client of the operators' service.
    pub async fn ops(
        &self,
    ) -> anyhow::Result<enforcement_proto::v1::ops_client::OpsClient<Channel>> {
        Ok(enforcement_proto::v1::ops_client::OpsClient::new(
            channel(self.gateway_addr, &self.pki.operator()?).await?,
        ))
    }

    /// The address of the in-process gateway's HTTP health endpoint.
    pub fn gateway_http_addr(&self) -> Option<SocketAddr> {
        self.gateway_http
    }

    /// The gateway's database schema.
    pub fn gateway_schema(&self) -> &str {
        &self.gateway_schema
    }

    /// The gateway's address.
    pub fn gateway_addr(&self) -> SocketAddr {
        self.gateway_addr
    }

    /// The system serving agency `code` of `kind`.
    pub fn node(&self, kind: AgencyKind, code: &str) -> anyhow::Result<&AgencyNode> {
        self.nodes
            .iter()
            .find(|n| n.kind == kind && n.codes.iter().any(|c| c == code))
            .with_context(|| format!("no {} {code} in this test hub", kind.as_str()))
    }

    fn node_mut(&mut self, kind: AgencyKind, code: &str) -> anyhow::Result<&mut AgencyNode> {
        self.nodes
            .iter_mut()
            .find(|n| n.kind == kind && n.codes.iter().any(|c| c == code))
            .with_context(|| format!("no {} {code} in this test hub", kind.as_str()))
    }

    /// The system serving bank `code`.
    pub fn bank(&self, code: &str) -> anyhow::Result<&AgencyNode> {
        self.node(AgencyKind::Bank, code)
    }

    /// The administration client of the system serving bank `code`.
    pub async fn bank_admin(&self, code: &str) -> anyhow::Result<BankAdminClient<Channel>> {
        Ok(BankAdminClient::new(
            channel(self.bank(code)?.addr, &self.pki.operator()?).await?,
        ))
    }

    /// The administration client of the land registry system serving `code`.
    pub async fn land_admin(&self, code: &str) -> anyhow::Result<LandAdminClient<Channel>> {
        let node = self.node(AgencyKind::LandRegistry, code)?;
        Ok(LandAdminClient::new(
            channel(node.addr, &self.pki.operator()?).await?,
        ))
    }

    /// The administration client of the public security system serving `code`.
    pub async fn police_admin(&self, code: &str) -> anyhow::Result<PoliceAdminClient<Channel>> {
        let node = self.node(AgencyKind::PublicSecurity, code)?;
        Ok(PoliceAdminClient::new(
            channel(node.addr, &self.pki.operator()?).await?,
        ))
    }

    /// Stops everything and removes the sandbox.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let mut failures = Vec::new();
        match self.gateway.take() {
            Some(Gateway::InProcess(gateway)) => {
                if let Err(e) = gateway.stop().await {
                    failures.push(format!("gateway: {e:#}"));
                }
            }
            Some(Gateway::Process(mut gateway)) => {
                if gateway.is_running()
                    && let Err(e) = gateway.terminate().await
                {
                    failures.push(format!("gateway: {e:#}"));
                }
            }
            None => {}
        }
        for node in std::mem::take(&mut self.nodes) {
            let name = format!("{} {}", node.kind.as_str(), node.codes.join(","));
            if let Some(adapter) = node.adapter
                && let Err(e) = adapter.stop().await
            {
                failures.push(format!("adapter of {name}: {e:#}"));
            }
            if let Err(e) = node.service.stop().await {
                failures.push(format!("{name}: {e:#}"));
            }
        }
        self.sandbox.remove().await?;
        self.pki.remove();
        anyhow::ensure!(
            failures.is_empty(),
            "services failed: {}",
            failures.join("; ")
        );
        Ok(())
    }
}

/// Logs of the in-process services go to the test's output, filtered by `RUST_LOG`
/// (default: warnings and errors).
fn init_logs() {
    crate::logs::init();
}

/// Port 0 on loopback: the OS picks a free port when the service binds.
fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A client of the court gateway at `addr`, presenting the certificate in `files`.
pub async fn court_client(
    addr: SocketAddr,
    files: &hub_trust::TlsFiles,
) -> anyhow::Result<CourtGatewayClient<Channel>> {
    Ok(CourtGatewayClient::new(channel(addr, files).await?))
}

/// A mutual-TLS channel to `addr` with the certificate in `files`.
pub(crate) async fn channel(
    addr: SocketAddr,
    files: &hub_trust::TlsFiles,
) -> anyhow::Result<Channel> {
    hub_trust::Transport::Tls(files.clone())
        .endpoint(&addr.to_string(), None)?
        .connect()
        .await
        .with_context(|| format!("connecting to {addr}"))
}

impl TestHub {
    /// Watches a measure until `done` holds for it, and returns it then. Fails after `timeout`.
    pub async fn wait_for(
        &self,
        court: &str,
        measure_id: &str,
        timeout: Duration,
        done: impl Fn(&enforcement_proto::v1::Measure) -> bool,
    ) -> anyhow::Result<enforcement_proto::v1::Measure> {
        use enforcement_proto::v1 as pb;
        let mut client = self.court_as(court).await?;
        let mut stream = client
            .watch(pb::WatchRequest {
                court_code: court.into(),
                target: Some(pb::watch_request::Target::MeasureId(measure_id.into())),
            })
            .await?
            .into_inner();
        let mut last = None;
        let waited = tokio::time::timeout(timeout, async {
            while let Some(event) = stream.message().await? {
                if let Some(measure) = event.measure {
                    if done(&measure) {
                        return Ok(measure);
                    }
                    last = Some(measure);
                }
            }
            anyhow::bail!("watch stream ended")
        })
        .await;
        match waited {
            Ok(result) => result,
            Err(_) => anyhow::bail!(
                "measure {measure_id} did not reach the expected state within {timeout:?}; last seen: {last:?}"
            ),
        }
    }

    /// Waits until the measure is in `state`.
    pub async fn wait_for_state(
        &self,
        court: &str,
        measure_id: &str,
        state: enforcement_proto::v1::MeasureState,
    ) -> anyhow::Result<enforcement_proto::v1::Measure> {
        self.wait_for(court, measure_id, Duration::from_secs(20), |m| {
            m.state == state as i32
        })
        .await
    }
}
