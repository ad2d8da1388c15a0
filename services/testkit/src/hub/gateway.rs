//! The gateway of a test hub: in the test process, or as a process of the failpoints build
//! that a test can kill and start again.

use super::*;

/// The gateway of a test hub: in the test process, or a process of its own.
pub(super) enum Gateway {
    InProcess(Running),
    Process(Box<ChildProcess>),
}

/// What a test gateway is configured with, in process or as a process.
#[derive(Clone)]
pub(super) struct GatewaySettings {
    pub(super) database_url: String,
    pub(super) schema: String,
    pub(super) amqp_url: String,
    /// The seed instructions are signed with.
    pub(super) signing_key: String,
    /// Instruction deadline and grace, in seconds.
    pub(super) deadline: (u64, u64),
    /// The longest the timers sleep and the case keeper's sweep, in milliseconds.
    pub(super) timer_poll_ms: u64,
    /// The gateway's certificate, key, the test CA and deny list.
    pub(super) tls: hub_trust::TlsFiles,
    /// `GATEWAY_ANSWER_DEADLINES`.
    pub(super) answer_deadlines: String,
    /// `GATEWAY_DASHBOARD_TOKEN`.
    pub(super) dashboard_token: Option<String>,
    /// `GATEWAY_AUDIT_CHAIN_MS`.
    pub(super) audit_chain_ms: u64,
}

/// How often a test gateway's dashboard takes its figures: quickly, so a page follows a test.
const DASHBOARD_INTERVAL_MS: u64 = 250;

impl GatewaySettings {
    pub(super) fn config(&self) -> hub_gateway::Config {
        hub_gateway::Config {
            listen: loopback(),
            tls_ca: Some(self.tls.ca.clone()),
            tls_cert: Some(self.tls.cert.clone()),
            tls_key: Some(self.tls.key.clone()),
            tls_deny_list: self.tls.deny.clone(),
            insecure_plaintext: false,
            http_listen: Some(loopback()),
            max_request_bytes: 1 << 20,
            database_url: self.database_url.clone(),
            database_schema: self.schema.clone(),
            database_connections: 16,
            amqp_url: self.amqp_url.clone(),
            signing_key: Some(self.signing_key.clone()),
            require_signed_reports: true,
            instruction_deadline_secs: self.deadline.0,
            deadline_grace_secs: self.deadline.1,
            relay_batch: 256,
            relay_poll_ms: 100,
            report_prefetch: 128,
            report_workers: 4,
            report_batch: 64,
            delivery_limit: 10,
            expiry_warning_days: vec![30, 7],
            timer_poll_ms: self.timer_poll_ms,
            table_upkeep_secs: 10,
            reconnect_ms: 100,
            answer_deadlines: self.answer_deadlines.clone(),
            dashboard_token: self.dashboard_token.clone(),
            dashboard_interval_ms: DASHBOARD_INTERVAL_MS,
            audit_chain_ms: self.audit_chain_ms,
        }
    }

    /// Starts the gateway as a process with these settings: the failpoints build when a
    /// failpoint is armed, the gateway itself otherwise.
    pub(super) async fn spawn(&self, failpoint: Option<&str>) -> anyhow::Result<ChildProcess> {
        let mut env: Vec<(String, String)> = [
            ("GATEWAY_LISTEN", "127.0.0.1:0".to_string()),
            ("GATEWAY_DATABASE_URL", self.database_url.clone()),
            ("GATEWAY_DATABASE_SCHEMA", self.schema.clone()),
            ("GATEWAY_AMQP_URL", self.amqp_url.clone()),
            ("GATEWAY_SIGNING_KEY", self.signing_key.clone()),
            ("GATEWAY_REQUIRE_SIGNED_REPORTS", "true".to_string()),
            (
                "GATEWAY_INSTRUCTION_DEADLINE_SECS",
                self.deadline.0.to_string(),
            ),
            ("GATEWAY_DEADLINE_GRACE_SECS", self.deadline.1.to_string()),
            ("GATEWAY_RELAY_POLL_MS", "100".to_string()),
            ("GATEWAY_TIMER_POLL_MS", self.timer_poll_ms.to_string()),
            ("GATEWAY_RECONNECT_MS", "100".to_string()),
            ("GATEWAY_ANSWER_DEADLINES", self.answer_deadlines.clone()),
            (
                "GATEWAY_DASHBOARD_INTERVAL_MS",
                DASHBOARD_INTERVAL_MS.to_string(),
            ),
            ("GATEWAY_AUDIT_CHAIN_MS", self.audit_chain_ms.to_string()),
            ("GATEWAY_TLS_CA", path(&self.tls.ca)),
            ("GATEWAY_TLS_CERT", path(&self.tls.cert)),
            ("GATEWAY_TLS_KEY", path(&self.tls.key)),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .to_vec();
        if let Some(deny) = &self.tls.deny {
            env.push(("GATEWAY_TLS_DENY_LIST".into(), path(deny)));
        }
        if let Some(token) = &self.dashboard_token {
            env.push(("GATEWAY_DASHBOARD_TOKEN".into(), token.clone()));
        }
        let program = match failpoint {
            Some(failpoint) => {
                env.push(("GATEWAY_FAILPOINT".into(), failpoint.into()));
                gateway_with_failpoints()?
            }
            None => binary("gateway")?,
        };
        ChildProcess::spawn("gateway", &program, &[], &env, Some("gateway serving")).await
    }
}

impl TestHub {
    /// Kills the gateway process with SIGKILL (it must run as a process).
    pub async fn kill_gateway(&mut self) -> anyhow::Result<()> {
        match self.gateway.as_mut() {
            Some(Gateway::Process(process)) => process.kill().await,
            _ => anyhow::bail!("the gateway does not run as a process"),
        }
    }

    /// The gateway's process id, when it runs as a process.
    pub fn gateway_pid(&self) -> Option<u32> {
        match self.gateway.as_ref() {
            Some(Gateway::Process(process)) => process.pid(),
            _ => None,
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

    /// Whether the gateway process logged a line containing `text` (among its first or last).
    pub fn gateway_has_logged(&self, text: &str) -> bool {
        match &self.gateway {
            Some(Gateway::Process(process)) => process.has_logged(text),
            _ => false,
        }
    }

    /// The lines kept of the gateway process's log (its first and last).
    pub fn gateway_log_lines(&self) -> Vec<String> {
        match &self.gateway {
            Some(Gateway::Process(process)) => process.logged(),
            _ => Vec::new(),
        }
    }

    /// The gateway process's last log lines, for diagnosis.
    pub fn gateway_log(&self) -> String {
        match &self.gateway {
            Some(Gateway::Process(process)) => process.log_tail(),
            _ => String::new(),
        }
    }
}

/// A further gateway instance of a test hub, in the test process, sharing the hub's database
/// schema and vhost with the first: courts may call either.
pub struct ExtraGateway {
    running: Running,
    addr: SocketAddr,
}

impl ExtraGateway {
    /// The address courts call it at.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops it and waits for it to drain.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.running.stop().await
    }
}

/// A broker address nothing listens on (port 1 is never served on loopback).
const NO_BROKER: &str = "amqp://guest:guest@127.0.0.1:1/%2f";

impl TestHub {
    /// Starts another gateway instance in the test process, on the same database and vhost.
    /// Without `broker`, it is given a broker address nothing answers at: it serves courts and
    /// watch streams from the database, but never relays nor applies a report, so whatever its
    /// watch streams show was applied by another instance.
    pub async fn start_extra_gateway(&self, broker: bool) -> anyhow::Result<ExtraGateway> {
        let mut config = self.gateway_settings.config();
        if !broker {
            config.amqp_url = NO_BROKER.into();
        }
        let app = hub_gateway::Application::build(config, self.clock.clone()).await?;
        let addr = app.local_addr()?;
        Ok(ExtraGateway {
            running: Running::spawn(|t| app.run_until_stopped(t)),
            addr,
        })
    }

    /// Starts another gateway instance as a process (nothing armed) on
    /// the same database and vhost, for tests that kill it.
    pub async fn spawn_gateway_process(&self) -> anyhow::Result<ChildProcess> {
        self.gateway_settings.spawn(None).await
    }
}

fn path(path: &std::path::Path) -> String {
    path.display().to_string()
}
