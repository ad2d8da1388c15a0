//! A reference agency process: built from its configuration (register migrated, demo fixture
//! loaded, listener bound), then serving its gRPC services with the health service, the notice
//! sender and the periodic lapse of measures past expiry until it is told to stop, and draining
//! them.
//!
//! Every kind of agency runs the same process; what differs is described by [`System`].

use std::{future::Future, net::SocketAddr, path::Path, time::Duration};

use anyhow::Context;
use enforcement_proto::v1 as pb;
use hub_bus::signing::KeyedSigner;
use hub_domain::{AgencyCode, Clock};
use sqlx::{PgPool, migrate::Migrator};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::{
    config::{AgencyConfig, Settings},
    notices::NoticeSender,
    office::{Office, Trade},
};

/// How a kind of reference agency is set up as a process, beyond what its office carries out.
pub trait System: Trade {
    /// Its settings' names and defaults.
    const SETTINGS: Settings;

    /// The migrations of its register.
    fn migrator() -> &'static Migrator;

    /// Loads the demo fixture at `path` for the codes served; returns how many records were new.
    fn load_fixture(
        pool: &PgPool,
        codes: &[AgencyCode],
        path: &Path,
        now: OffsetDateTime,
    ) -> impl Future<Output = anyhow::Result<usize>> + Send;

    /// The full name of its administration service, for reflection.
    const ADMIN_SERVICE: &'static str;

    /// Adds its administration service (`BankAdmin`, `LandAdmin`, `PoliceAdmin`) to `routes`.
    fn administration(routes: Routes, office: Office<Self>) -> Routes
    where
        Self: Sized;
}

/// A reference agency ready to serve.
pub struct Application<S: System> {
    config: AgencyConfig<S>,
    listener: TcpListener,
    office: Office<S>,
}

impl<S: System> Application<S> {
    /// Migrates the register, loads the fixture and binds the listener.
    pub async fn build(config: AgencyConfig<S>, clock: Clock) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !config.codes.is_empty(),
            "a {} must serve at least one {} code",
            S::NAME,
            S::UNIT
        );
        let process = format!("reference-{}", S::SETTINGS.prefix.to_ascii_lowercase());
        let pool =
            hub_runtime::postgres::connect(&config.database_url, &config.schema(), &process, 8)
                .await?;
        S::migrator()
            .run(&pool)
            .await
            .with_context(|| format!("migrating the {} register", S::NAME))?;
        if let Some(path) = &config.fixture {
            let loaded = S::load_fixture(&pool, &config.codes, path, clock.now()).await?;
            tracing::info!(loaded, "demo records loaded");
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let sealer = config
            .seal_key
            .as_deref()
            .map(|seed| KeyedSigner::from_hex(&config.seal_key_id, seed))
            .transpose()
            .with_context(|| S::SETTINGS.seal_key)?;
        if sealer.is_none() {
            tracing::warn!("no seal key: answers go out unsealed");
        }
        let office = Office::new(pool, config.codes.clone(), clock).with_sealer(sealer);
        Ok(Self {
            config,
            listener,
            office,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Sends notices to the inbox at `url` instead of the configured one (for a caller that binds
    /// the adapter after the system).
    pub fn with_inbox_url(mut self, url: String) -> Self {
        self.config.inbox_url = url;
        self
    }

    /// A handle on the office, for tests that drive lapses or inject faults directly.
    pub fn office(&self) -> Office<S> {
        self.office.clone()
    }

    /// Serves `AgencyBackend`, the administration and the health service until `shutdown`,
    /// lapsing measures every `lapse_poll_ms` and sending notices meanwhile; then drains both.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            config,
            listener,
            office,
        } = self;
        let name = format!("reference {}", S::NAME);
        tracing::info!(codes = %office.served(), "{name}");
        let routes = S::administration(
            Routes::new(pb::agency_backend_server::AgencyBackendServer::new(
                office.clone(),
            )),
            office.clone(),
        );
        let transport = config.transport()?;
        let tls = transport
            .server()
            .with_context(|| format!("loading the {name}'s TLS files"))?;
        let sender = NoticeSender::new(
            office.pool.clone(),
            &config.inbox_url,
            &transport,
            office.notices_wake.clone(),
            Duration::from_millis(config.notice_poll_ms),
        )?;
        let sending = tokio::spawn(sender.run(shutdown.clone()));
        let maintenance = tokio::spawn(hub_runtime::postgres::keep_tables(
            office.pool.clone(),
            config.schema(),
            Duration::from_secs(10),
            shutdown.clone(),
        ));
        let lapsing = tokio::spawn({
            let shutdown = shutdown.clone();
            let every = Duration::from_millis(config.lapse_poll_ms).max(Duration::from_millis(10));
            async move {
                loop {
                    if let Err(e) = office.lapse_due().await {
                        tracing::warn!(error = %e, "lapsing measures past their expiry failed");
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(every) => {}
                    }
                }
            }
        });
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        health_reporter
            .set_service_status(
                pb::agency_backend_server::SERVICE_NAME,
                tonic_health::ServingStatus::Serving,
            )
            .await;
        let (reflection, reflection_alpha) = hub_runtime::reflection::services(
            enforcement_proto::FILE_DESCRIPTOR_SET,
            &[pb::agency_backend_server::SERVICE_NAME, S::ADMIN_SERVICE],
        )
        .context("building the reflection service")?;
        tracing::info!(addr = %listener.local_addr()?, "{name} serving");
        let router = tonic::transport::Server::builder().add_routes(
            routes
                .add_service(health_service)
                .add_service(reflection)
                .add_service(reflection_alpha),
        );
        let served = hub_trust::serve(router, listener, tls, shutdown.clone()).await;
        shutdown.cancel();
        let _ = sending.await;
        let _ = maintenance.await;
        let _ = lapsing.await;
        served.with_context(|| format!("serving the {name}"))
    }
}
