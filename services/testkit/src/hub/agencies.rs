//! The agency systems of a test hub and their adapters: adding them, stopping and starting
//! adapters, running an adapter as a process.

use hub_bus::signing::{KeyedSigner, Signer};

use super::*;

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
    pub(super) kind: AgencyKind,
    pub(super) codes: Vec<String>,
    pub(super) schema: String,
    pub(super) addr: SocketAddr,
    pub(super) inbox_addr: SocketAddr,
    pub(super) service: Running,
    pub(super) adapter: Option<Running>,
    /// The HTTP address (health, metrics) of the running adapter.
    pub(super) adapter_http: Option<SocketAddr>,
    pub(super) system: System,
    /// The key the adapter signs its reports with, registered at the gateway for every code.
    pub(super) adapter_key: KeyedSigner,
    /// The key the system seals its answers with, registered likewise.
    pub(super) seal_key: KeyedSigner,
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

    /// The HTTP address of its in-process adapter (`/healthz`, `/readyz`, `/metrics`), while it
    /// runs.
    pub fn adapter_http_addr(&self) -> Option<SocketAddr> {
        self.adapter.as_ref().and(self.adapter_http)
    }

    /// The address of its adapter's inbox (`AgencyInbox`).
    pub fn inbox_addr(&self) -> SocketAddr {
        self.inbox_addr
    }

    /// The system itself, for faults and lapses.
    pub fn system(&self) -> &System {
        &self.system
    }

    /// The key the adapter signs reports with.
    pub fn adapter_key(&self) -> &KeyedSigner {
        &self.adapter_key
    }

    /// The key the system seals its answers with.
    pub fn seal_key(&self) -> &KeyedSigner {
        &self.seal_key
    }

    /// The reference bank, if this is one.
    pub fn bank(&self) -> anyhow::Result<&hub_agencies::bank::Bank> {
        match &self.system {
            System::Bank(bank) => Ok(bank),
            _ => anyhow::bail!("{} is not a bank", self.codes.join(",")),
        }
    }
}

impl TestHub {
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
        let (adapter_tls, system_tls) = self.node_tls(kind, &parsed)?;
        // Each system and its adapter sign with keys of their own, registered for every code
        // they serve before they say anything.
        let adapter_key = new_key(&format!("{name}-adapter"))?;
        let seal_key = new_key(&format!("{name}-seal"))?;
        for code in codes {
            for key in [&adapter_key, &seal_key] {
                self.register_key(kind, code, key, None).await?;
            }
        }
        // The adapter's inbox is bound after the system; the system learns its URL before it runs.
        let (addr, system, start) = match kind {
            AgencyKind::Bank => {
                self.build_system::<Banking>(&parsed, &schema, &system_tls, &seal_key, System::Bank)
                    .await?
            }
            AgencyKind::LandRegistry => {
                self.build_system::<Land>(&parsed, &schema, &system_tls, &seal_key, System::Land)
                    .await?
            }
            AgencyKind::PublicSecurity => {
                self.build_system::<Police>(
                    &parsed,
                    &schema,
                    &system_tls,
                    &seal_key,
                    System::Police,
                )
                .await?
            }
        };
        let adapter_config =
            self.adapter_config(kind, &parsed, addr, loopback(), &adapter_tls, &adapter_key);
        let adapter_app =
            hub_adapter::Application::build(adapter_config, self.clock.clone()).await?;
        let inbox_addr = adapter_app.inbox_addr()?;
        let adapter_http = adapter_app.http_addr();
        let service = start(format!("https://{inbox_addr}"));
        let adapter = Running::spawn(|t| adapter_app.run_until_stopped(t));
        self.nodes.push(AgencyNode {
            kind,
            codes: codes.to_vec(),
            schema,
            addr,
            inbox_addr,
            service,
            adapter: Some(adapter),
            adapter_http,
            system,
            adapter_key,
            seal_key,
        });
        self.wait_registered(kind.as_str(), codes).await
    }

    /// Builds a reference system of kind `S` serving `codes` in `schema`, with `system` as the
    /// handle tests see. It runs once `start` is given its adapter's inbox URL.
    async fn build_system<S: hub_agencies::application::System>(
        &self,
        codes: &[AgencyCode],
        schema: &str,
        tls: &hub_trust::TlsFiles,
        seal_key: &KeyedSigner,
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
            tls_ca: Some(tls.ca.clone()),
            tls_cert: Some(tls.cert.clone()),
            tls_key: Some(tls.key.clone()),
            tls_deny_list: tls.deny.clone(),
            insecure_plaintext: false,
            fixture: None,
            notice_poll_ms: 200,
            lapse_poll_ms: 200,
            seal_key: Some(seal_key.signer.seed_hex()),
            seal_key_id: seal_key.key_id.clone(),
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
        tls: &hub_trust::TlsFiles,
        key: &KeyedSigner,
    ) -> hub_adapter::Config {
        hub_adapter::Config {
            agency_kind: kind,
            agency_codes: codes.to_vec(),
            agency_url: format!("https://{agency_addr}"),
            inbox_listen: inbox,
            tls_ca: Some(tls.ca.clone()),
            tls_cert: Some(tls.cert.clone()),
            tls_key: Some(tls.key.clone()),
            tls_deny_list: tls.deny.clone(),
            insecure_plaintext: false,
            gateway_public_key: Some(self.gateway_public_key()),
            signing_key: Some(key.signer.seed_hex()),
            signing_key_id: key.key_id.clone(),
            http_listen: Some(loopback()),
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

    /// The certificates of the adapter and of the system serving `codes` of `kind`.
    pub fn node_tls(
        &self,
        kind: AgencyKind,
        codes: &[AgencyCode],
    ) -> anyhow::Result<(hub_trust::TlsFiles, hub_trust::TlsFiles)> {
        let agencies: Vec<hub_domain::AgencyId> = codes
            .iter()
            .map(|code| hub_domain::AgencyId::new(kind, code.clone()))
            .collect();
        let name = agencies
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        Ok((
            self.pki.adapter(&format!("adapter-{name}"), &agencies)?,
            self.pki.system(&format!("system-{name}"), &agencies)?,
        ))
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
        self.adapter_process_on(kind, code, None).await
    }

    /// Starts a second adapter process for bank `code`, standing by behind the first (single
    /// active consumer) until it goes away. Its inbox listens on a port of its own: the bank
    /// sends its notices to the first adapter's.
    pub async fn spawn_standby_adapter_process(&self, code: &str) -> anyhow::Result<ChildProcess> {
        self.adapter_process_on(AgencyKind::Bank, code, Some(loopback()))
            .await
    }

    async fn adapter_process_on(
        &self,
        kind: AgencyKind,
        code: &str,
        inbox: Option<SocketAddr>,
    ) -> anyhow::Result<ChildProcess> {
        let node = self.node(kind, code)?;
        anyhow::ensure!(
            node.adapter.is_none(),
            "stop the in-process adapter of {code} first"
        );
        let codes = node
            .codes
            .iter()
            .map(|c| AgencyCode::parse(c).map_err(|e| anyhow::anyhow!("{e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (tls, _) = self.node_tls(kind, &codes)?;
        let path = |p: &std::path::Path| p.display().to_string();
        let env = [
            ("ADAPTER_AGENCY_KIND", kind.as_str().to_string()),
            ("ADAPTER_AGENCY_CODES", node.codes.join(",")),
            ("ADAPTER_AGENCY_URL", format!("https://{}", node.addr)),
            ("ADAPTER_TLS_CA", path(&tls.ca)),
            ("ADAPTER_TLS_CERT", path(&tls.cert)),
            ("ADAPTER_TLS_KEY", path(&tls.key)),
            (
                "ADAPTER_INBOX_LISTEN",
                inbox.unwrap_or(node.inbox_addr).to_string(),
            ),
            ("ADAPTER_AMQP_URL", self.sandbox.amqp_url()),
            ("ADAPTER_GATEWAY_PUBLIC_KEY", self.gateway_public_key()),
            ("ADAPTER_SIGNING_KEY", node.adapter_key.signer.seed_hex()),
            ("ADAPTER_SIGNING_KEY_ID", node.adapter_key.key_id.clone()),
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

    /// Starts the in-process adapter of a bank again.
    pub async fn start_adapter(&mut self, code: &str) -> anyhow::Result<()> {
        self.start_adapter_of(AgencyKind::Bank, code).await
    }

    /// Starts the in-process adapter of the system serving `code` of `kind` again.
    pub async fn start_adapter_of(&mut self, kind: AgencyKind, code: &str) -> anyhow::Result<()> {
        self.start_adapter_with(kind, code, None).await
    }

    /// Starts it connecting to the broker with `amqp_url` (an enrolled agency's own user)
    /// instead of the test's administrator.
    pub async fn start_adapter_as(
        &mut self,
        kind: AgencyKind,
        code: &str,
        amqp_url: &str,
    ) -> anyhow::Result<()> {
        self.start_adapter_with(kind, code, Some(amqp_url.to_string()))
            .await
    }

    async fn start_adapter_with(
        &mut self,
        kind: AgencyKind,
        code: &str,
        amqp_url: Option<String>,
    ) -> anyhow::Result<()> {
        let mut config = {
            let node = self.node(kind, code)?;
            anyhow::ensure!(node.adapter.is_none(), "the adapter of {code} is running");
            let codes = node
                .codes
                .iter()
                .map(|c| AgencyCode::parse(c).map_err(|e| anyhow::anyhow!("{e}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let (tls, _) = self.node_tls(kind, &codes)?;
            self.adapter_config(
                kind,
                &codes,
                node.addr,
                node.inbox_addr,
                &tls,
                &node.adapter_key,
            )
        };
        if let Some(url) = amqp_url {
            config.amqp_url = url;
        }
        let app = hub_adapter::Application::build(config, self.clock.clone()).await?;
        let http = app.http_addr();
        let adapter = Running::spawn(|t| app.run_until_stopped(t));
        let node = self.node_mut(kind, code)?;
        node.adapter = Some(adapter);
        node.adapter_http = http;
        Ok(())
    }
}

impl TestHub {
    /// Registers `key` for the agency `code` of `kind` at the gateway (through `Ops`), valid
    /// from `valid_from` (now if `None`).
    pub async fn register_key(
        &self,
        kind: AgencyKind,
        code: &str,
        key: &KeyedSigner,
        valid_from: Option<time::OffsetDateTime>,
    ) -> anyhow::Result<enforcement_proto::v1::AgencyKey> {
        let mut ops = self.ops().await?;
        let added = ops
            .add_agency_key(enforcement_proto::v1::AgencyKey {
                key_id: key.key_id.clone(),
                agency_kind: kind.as_str().into(),
                agency_code: code.into(),
                public_key: key.signer.public_hex(),
                valid_from: valid_from.map(enforcement_proto::convert::timestamp),
                valid_until: None,
            })
            .await
            .with_context(|| format!("registering key {} of {code}", key.key_id))?;
        Ok(added.into_inner())
    }
}

/// A fresh key with id `key_id`.
pub fn new_key(key_id: &str) -> anyhow::Result<KeyedSigner> {
    let signer =
        Signer::generate().map_err(|e| anyhow::anyhow!("no randomness for a signing key: {e}"))?;
    Ok(KeyedSigner {
        key_id: key_id.replace('_', "-").to_ascii_lowercase(),
        signer,
    })
}
