//! A whole hub in the test process.

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
    process::{ChildProcess, binary, gateway_with_failpoints},
};

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

/// A reference agency system of the test hub.
#[derive(Clone)]
pub enum System {
    /// A reference bank (one or several bank codes).
    Bank(hub_agencies::bank::Bank),
    /// A reference land registry.
    Land(hub_agencies::land::Registry),
    /// A reference public security system.
    Police(hub_agencies::police::PublicSecurity),
}

impl System {
    /// The system's fault knobs.
    pub fn faults(&self) -> &hub_agencies::faults::Faults {
        match self {
            System::Bank(b) => b.faults(),
            System::Land(l) => l.faults(),
            System::Police(p) => p.faults(),
        }
    }
}

/// An agency system of the test hub and (usually) its adapter, serving one or more codes.
pub struct AgencyNode {
    kind: AgencyKind,
    codes: Vec<String>,
    schema: String,
    addr: SocketAddr,
    inbox_addr: SocketAddr,
    service: Running,
    adapter: Option<Running>,
    system: System,
}

impl AgencyNode {
    /// The codes served.
    pub fn codes(&self) -> &[String] {
        &self.codes
    }

    /// The database schema of the system's records.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The system's gRPC address (AgencyBackend and its admin service).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The system itself, for faults and lapses.
    pub fn system(&self) -> &System {
        &self.system
    }

    /// The reference bank, if this is one.
    pub fn bank(&self) -> anyhow::Result<&hub_agencies::bank::Bank> {
        match &self.system {
            System::Bank(bank) => Ok(bank),
            _ => anyhow::bail!("{} is not a bank", self.codes.join(",")),
        }
    }
}

/// Builds a [`TestHub`].
pub struct TestHubBuilder {
    systems: Vec<(AgencyKind, Vec<String>)>,
    /// Run the gateway as a process of the failpoints build, with this failpoint armed (if any).
    gateway_process: Option<Option<String>>,
    /// Instruction deadline and grace, in seconds.
    deadline: (u64, u64),
    adapter_retry_ms: u64,
    adapter_attempts: u32,
}

impl TestHubBuilder {
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

    /// Runs the gateway as a process (the failpoints build), optionally with a failpoint armed
    /// (`<name>:<n>`, see `hub_gateway::failpoint`), so that a test can kill it.
    pub fn gateway_process(mut self, failpoint: Option<&str>) -> Self {
        self.gateway_process = Some(failpoint.map(str::to_string));
        self
    }

    /// How long agencies have to carry out an instruction, and the gateway's grace after that.
    pub fn instruction_deadline(mut self, seconds: u64, grace_seconds: u64) -> Self {
        self.deadline = (seconds, grace_seconds);
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
        let sandbox = Sandbox::create().await?;
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
            signing_key: signer.seed_hex(),
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
            adapter_retry_ms: 50,
            adapter_attempts: 4,
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

    /// A client of the court gateway.
    pub async fn court(&self) -> anyhow::Result<CourtGatewayClient<Channel>> {
        Ok(CourtGatewayClient::new(channel(self.gateway_addr).await?))
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
            channel(self.gateway_addr).await?,
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
        Ok(BankAdminClient::new(channel(self.bank(code)?.addr).await?))
    }

    /// The administration client of the land registry system serving `code`.
    pub async fn land_admin(&self, code: &str) -> anyhow::Result<LandAdminClient<Channel>> {
        let node = self.node(AgencyKind::LandRegistry, code)?;
        Ok(LandAdminClient::new(channel(node.addr).await?))
    }

    /// The administration client of the public security system serving `code`.
    pub async fn police_admin(&self, code: &str) -> anyhow::Result<PoliceAdminClient<Channel>> {
        let node = self.node(AgencyKind::PublicSecurity, code)?;
        Ok(PoliceAdminClient::new(channel(node.addr).await?))
    }

    /// Adds a bank with its own system and adapter.
    pub async fn add_bank(&mut self, code: &str) -> anyhow::Result<()> {
        self.add_system(AgencyKind::Bank, &[code.to_string()]).await
    }

    /// Adds a reference system of `kind` serving `codes`, with one adapter for all of them, and
    /// waits until the gateway knows them.
    pub async fn add_system(&mut self, kind: AgencyKind, codes: &[String]) -> anyhow::Result<()> {
        let parsed = codes
            .iter()
            .map(|c| AgencyCode::parse(c).map_err(|e| anyhow::anyhow!("{e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let name = format!(
            "{}_{}",
            kind.as_str(),
            codes.first().map(String::as_str).unwrap_or("none")
        );
        let schema = self.sandbox.schema(&name);
        // The adapter's inbox is bound after the system; the system learns its URL before it runs.
        let (addr, system, start) = match kind {
            AgencyKind::Bank => {
                self.build_system::<Banking>(&parsed, &schema, System::Bank)
                    .await?
            }
            AgencyKind::LandRegistry => {
                self.build_system::<Land>(&parsed, &schema, System::Land)
                    .await?
            }
            AgencyKind::PublicSecurity => {
                self.build_system::<Police>(&parsed, &schema, System::Police)
                    .await?
            }
        };
        let adapter_config = self.adapter_config(kind, &parsed, addr, loopback());
        let adapter_app =
            hub_adapter::Application::build(adapter_config, self.clock.clone()).await?;
        let inbox_addr = adapter_app.inbox_addr()?;
        let service = start(format!("http://{inbox_addr}"));
        let adapter = Running::spawn(|t| adapter_app.run_until_stopped(t));
        self.nodes.push(AgencyNode {
            kind,
            codes: codes.to_vec(),
            schema,
            addr,
            inbox_addr,
            service,
            adapter: Some(adapter),
            system,
        });
        self.wait_registered(kind.as_str(), codes).await
    }

    /// Builds a reference system of kind `S` serving `codes` in `schema`, with `system` as the
    /// handle tests see. It runs once `start` is given its adapter's inbox URL.
    async fn build_system<S: hub_agencies::application::System>(
        &self,
        codes: &[AgencyCode],
        schema: &str,
        system: fn(Office<S>) -> System,
    ) -> anyhow::Result<(
        SocketAddr,
        System,
        Box<dyn FnOnce(String) -> Running + Send>,
    )> {
        let config = AgencyConfig::<S> {
            codes: codes.to_vec(),
            listen: loopback(),
            database_url: self.sandbox.database_url().to_string(),
            database_schema: Some(schema.to_string()),
            inbox_url: String::new(),
            fixture: None,
            notice_poll_ms: 200,
            lapse_poll_ms: 200,
            system: PhantomData,
        };
        let app = Application::build(config, self.clock.clone()).await?;
        Ok((
            app.local_addr()?,
            system(app.office()),
            Box::new(move |inbox| {
                let app = app.with_inbox_url(inbox);
                Running::spawn(|t| app.run_until_stopped(t))
            }),
        ))
    }

    fn adapter_config(
        &self,
        kind: AgencyKind,
        codes: &[AgencyCode],
        agency_addr: SocketAddr,
        inbox: SocketAddr,
    ) -> hub_adapter::Config {
        hub_adapter::Config {
            agency_kind: kind,
            agency_codes: codes.to_vec(),
            agency_url: format!("http://{agency_addr}"),
            inbox_listen: inbox,
            gateway_public_key: Some(self.gateway_public_key()),
            http_listen: None,
            amqp_url: self.sandbox.amqp_url(),
            prefetch: 64,
            lanes: 16,
            call_timeout_ms: 5_000,
            retry_attempts: self.adapter_attempts,
            retry_initial_ms: self.adapter_retry_ms,
            retry_max_ms: self.adapter_retry_ms * 8,
            delivery_limit: 10,
            reconnect_ms: 100,
        }
    }

    /// Waits until the gateway's registry lists every agency `codes` of `kind` (the adapter
    /// declared their queues and announced them).
    pub async fn wait_registered(&self, kind: &str, codes: &[String]) -> anyhow::Result<()> {
        let query = format!(
            "SELECT count(*) FROM {}.agencies WHERE kind = $1 AND code = ANY($2)",
            self.gateway_schema
        );
        crate::eventually(
            &format!("{} {kind} agencies in the registry", codes.len()),
            Duration::from_secs(60),
            || async {
                let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(query.clone()))
                    .bind(kind)
                    .bind(codes)
                    .fetch_one(self.sandbox.pool())
                    .await?;
                Ok((n == codes.len() as i64).then_some(()))
            },
        )
        .await
    }

    /// Stops a bank's in-process adapter (it drains first).
    pub async fn stop_adapter(&mut self, code: &str) -> anyhow::Result<()> {
        self.stop_adapter_of(AgencyKind::Bank, code).await
    }

    /// Starts a bank's adapter as a separate process of the `adapter` binary, on the same inbox
    /// address the bank sends notices to. The in-process adapter must be stopped first.
    pub async fn spawn_adapter_process(&self, code: &str) -> anyhow::Result<ChildProcess> {
        self.adapter_process(AgencyKind::Bank, code).await
    }

    /// Starts the adapter of the system serving `code` of `kind` as a separate process, on the
    /// inbox address the system sends notices to. Its in-process adapter must be stopped first.
    pub async fn adapter_process(
        &self,
        kind: AgencyKind,
        code: &str,
    ) -> anyhow::Result<ChildProcess> {
        let node = self.node(kind, code)?;
        anyhow::ensure!(
            node.adapter.is_none(),
            "stop the in-process adapter of {code} first"
        );
        let env = [
            ("ADAPTER_AGENCY_KIND", kind.as_str().to_string()),
            ("ADAPTER_AGENCY_CODES", node.codes.join(",")),
            ("ADAPTER_AGENCY_URL", format!("http://{}", node.addr)),
            ("ADAPTER_INBOX_LISTEN", node.inbox_addr.to_string()),
            ("ADAPTER_AMQP_URL", self.sandbox.amqp_url()),
            ("ADAPTER_GATEWAY_PUBLIC_KEY", self.gateway_public_key()),
            (
                "ADAPTER_RETRY_INITIAL_MS",
                self.adapter_retry_ms.to_string(),
            ),
            ("ADAPTER_RETRY_ATTEMPTS", self.adapter_attempts.to_string()),
            ("ADAPTER_CALL_TIMEOUT_MS", "5000".to_string()),
            ("ADAPTER_RECONNECT_MS", "100".to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v));
        ChildProcess::spawn(
            &format!("adapter {}", node.codes.join(",")),
            &binary("adapter")?,
            &[],
            &env,
            None,
        )
        .await
    }

    /// Stops the in-process adapter of the system serving `code` of `kind`.
    pub async fn stop_adapter_of(&mut self, kind: AgencyKind, code: &str) -> anyhow::Result<()> {
        if let Some(adapter) = self.node_mut(kind, code)?.adapter.take() {
            adapter.stop().await?;
        }
        Ok(())
    }

    /// Kills the gateway process with SIGKILL (it must run as a process).
    pub async fn kill_gateway(&mut self) -> anyhow::Result<()> {
        match self.gateway.as_mut() {
            Some(Gateway::Process(process)) => process.kill().await,
            _ => anyhow::bail!("the gateway does not run as a process"),
        }
    }

    /// Whether the gateway process is still running.
    pub fn gateway_running(&mut self) -> bool {
        match self.gateway.as_mut() {
            Some(Gateway::Process(process)) => process.is_running(),
            Some(Gateway::InProcess(_)) => true,
            None => false,
        }
    }

    /// Starts the gateway process again (after it was killed or died at a failpoint), with
    /// `failpoint` armed if given; courts then reach it at its new address.
    pub async fn restart_gateway(&mut self, failpoint: Option<&str>) -> anyhow::Result<()> {
        if let Some(Gateway::Process(mut old)) = self.gateway.take()
            && old.is_running()
        {
            old.kill().await?;
        }
        let process = self.gateway_settings.spawn(failpoint).await?;
        self.gateway_addr = process.addr().context("gateway address")?;
        self.gateway = Some(Gateway::Process(Box::new(process)));
        Ok(())
    }

    /// The gateway process's last log lines, for diagnosis.
    pub fn gateway_log(&self) -> String {
        match &self.gateway {
            Some(Gateway::Process(process)) => process.log_tail(),
            _ => String::new(),
        }
    }

    /// Starts the in-process adapter of a bank again.
    pub async fn start_adapter(&mut self, code: &str) -> anyhow::Result<()> {
        self.start_adapter_of(AgencyKind::Bank, code).await
    }

    /// Starts the in-process adapter of the system serving `code` of `kind` again.
    pub async fn start_adapter_of(&mut self, kind: AgencyKind, code: &str) -> anyhow::Result<()> {
        let config = {
            let node = self.node(kind, code)?;
            anyhow::ensure!(node.adapter.is_none(), "the adapter of {code} is running");
            let codes = node
                .codes
                .iter()
                .map(|c| AgencyCode::parse(c).map_err(|e| anyhow::anyhow!("{e}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            self.adapter_config(kind, &codes, node.addr, node.inbox_addr)
        };
        let app = hub_adapter::Application::build(config, self.clock.clone()).await?;
        let adapter = Running::spawn(|t| app.run_until_stopped(t));
        self.node_mut(kind, code)?.adapter = Some(adapter);
        Ok(())
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
        anyhow::ensure!(
            failures.is_empty(),
            "services failed: {}",
            failures.join("; ")
        );
        Ok(())
    }
}

/// The gateway of a test hub: in the test process, or a process of its own.
enum Gateway {
    InProcess(Running),
    Process(Box<ChildProcess>),
}

/// What a test gateway is configured with, in process or as a process.
#[derive(Clone)]
struct GatewaySettings {
    database_url: String,
    schema: String,
    amqp_url: String,
    /// The seed instructions are signed with.
    signing_key: String,
    /// Instruction deadline and grace, in seconds.
    deadline: (u64, u64),
}

impl GatewaySettings {
    fn config(&self) -> hub_gateway::Config {
        hub_gateway::Config {
            listen: loopback(),
            http_listen: Some(loopback()),
            max_request_bytes: 1 << 20,
            database_url: self.database_url.clone(),
            database_schema: self.schema.clone(),
            database_connections: 16,
            amqp_url: self.amqp_url.clone(),
            signing_key: Some(self.signing_key.clone()),
            instruction_deadline_secs: self.deadline.0,
            deadline_grace_secs: self.deadline.1,
            relay_batch: 256,
            relay_poll_ms: 100,
            report_prefetch: 128,
            report_workers: 4,
            report_batch: 64,
            delivery_limit: 10,
            expiry_warning_days: vec![30, 7],
            timer_poll_ms: 100,
            reconnect_ms: 100,
        }
    }

    /// Starts the failpoints build of the gateway with these settings.
    async fn spawn(&self, failpoint: Option<&str>) -> anyhow::Result<ChildProcess> {
        let mut env: Vec<(String, String)> = [
            ("GATEWAY_LISTEN", "127.0.0.1:0".to_string()),
            ("GATEWAY_DATABASE_URL", self.database_url.clone()),
            ("GATEWAY_DATABASE_SCHEMA", self.schema.clone()),
            ("GATEWAY_AMQP_URL", self.amqp_url.clone()),
            ("GATEWAY_SIGNING_KEY", self.signing_key.clone()),
            (
                "GATEWAY_INSTRUCTION_DEADLINE_SECS",
                self.deadline.0.to_string(),
            ),
            ("GATEWAY_DEADLINE_GRACE_SECS", self.deadline.1.to_string()),
            ("GATEWAY_RELAY_POLL_MS", "100".to_string()),
            ("GATEWAY_TIMER_POLL_MS", "100".to_string()),
            ("GATEWAY_RECONNECT_MS", "100".to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .to_vec();
        if let Some(failpoint) = failpoint {
            env.push(("GATEWAY_FAILPOINT".into(), failpoint.into()));
        }
        ChildProcess::spawn(
            "gateway",
            &gateway_with_failpoints()?,
            &[],
            &env,
            Some("gateway serving"),
        )
        .await
    }
}

/// Logs of the in-process services go to the test's output, filtered by `RUST_LOG`
/// (default: warnings and errors).
fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
    });
}

/// Port 0 on loopback: the OS picks a free port when the service binds.
fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn channel(addr: SocketAddr) -> anyhow::Result<Channel> {
    Channel::from_shared(format!("http://{addr}"))?
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
        let mut client = self.court().await?;
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
