//! The reference land registry (不动产登记机构): properties, seal-ups (查封), pre-seizures (预查封)
//! and the waiting line (轮候) on each property.
//!
//! One process serves several registry regions (agency codes such as `110105`) from one
//! PostgreSQL schema, every row tagged with its region: an instruction's `agency.code` chooses the
//! region, and an instruction for a region not served is refused with `INVALID_ARGUMENT` before
//! anything is read. It serves the partner contract (`AgencyBackend`) the adapter calls and an
//! administration API (`LandAdmin`) for recording properties and registering title. Unprompted
//! changes (a seal-up lapsing and the next taking effect, a pre-seizure converting) go to the
//! adapter's inbox through [`crate::notices`].
//!
//! The hold rules shared with public security (waiting, release, renewal, lapse) are in
//! [`crate::holds`] and the office around them in [`crate::office`]; what is particular to real
//! estate (who may be sealed up, pre-seizure and its conversion on title registration,
//! real-estate inquiries) is in [`seal_up`].

mod admin;
pub mod seal_up;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use clap::Args;
use enforcement_proto::{
    reference as admin_pb,
    v1::{self as pb, instruction::Action},
};
use hub_domain::{AgencyCode, Clock};
use tonic::service::Routes;

use crate::{
    holds::Holds,
    office::{Carried, Office, Trade},
    serving::{self, Background},
};

/// A reference land registry's configuration (`LAND_*` environment variables or flags).
#[derive(Args, Clone, Debug)]
pub struct LandConfig {
    /// The registry regions served, as courts address them (e.g. `110105,110108`).
    #[arg(
        long,
        env = "LAND_CODES",
        value_delimiter = ',',
        required = true,
        value_parser = parse_code
    )]
    pub codes: Vec<AgencyCode>,

    /// Address of the registry's gRPC services (`AgencyBackend`, `LandAdmin`, health).
    #[arg(long, env = "LAND_LISTEN", default_value = "127.0.0.1:20081")]
    pub listen: SocketAddr,

    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "LAND_DATABASE_URL",
        default_value = "postgres://postgres:postgres@127.0.0.1:5432/enforcement",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Schema of the register, shared by every region served.
    #[arg(long, env = "LAND_DATABASE_SCHEMA", default_value = "land")]
    pub database_schema: String,

    /// URL of the adapter's `AgencyInbox`, where notices go.
    #[arg(long, env = "LAND_INBOX_URL", default_value = "http://127.0.0.1:20091")]
    pub inbox_url: String,

    /// Demo properties to record at start-up (JSON; properties already recorded are left alone).
    #[arg(long, env = "LAND_FIXTURE")]
    pub fixture: Option<PathBuf>,

    /// How often pending notices are retried when nothing woke the sender, in milliseconds.
    #[arg(long, env = "LAND_NOTICE_POLL_MS", default_value_t = 1_000)]
    pub notice_poll_ms: u64,

    /// How often seal-ups past their expiry are lapsed, in milliseconds.
    #[arg(long, env = "LAND_LAPSE_POLL_MS", default_value_t = 60_000)]
    pub lapse_poll_ms: u64,
}

fn parse_code(s: &str) -> Result<AgencyCode, String> {
    AgencyCode::parse(s).map_err(|e| e.to_string())
}

/// The land registry's trade: seal-ups, pre-seizures and real-estate inquiries.
pub struct Land;

impl Trade for Land {
    const KIND: pb::AgencyKind = pb::AgencyKind::LandRegistry;
    const UNIT: &'static str = "registry region";
    const NAME: &'static str = "land registry";
    const SCOPE: &'static str = "a land registry carries out seal-ups, pre-seizures, their \
                                 release and renewal, and real-estate inquiries only";

    async fn carry_out(
        holds: &mut Holds<'_>,
        instruction: &pb::Instruction,
        action: &Action,
    ) -> Result<Option<Carried>, sqlx::Error> {
        Ok(match action {
            Action::SealUp(order) => Some((
                seal_up::seal_up(holds, instruction, order).await?,
                None,
                "seal_up",
            )),
            Action::Inquiry(order) => {
                let (changes, answer) = seal_up::inquire(holds, instruction, order).await?;
                Some((changes, answer, "inquiry"))
            }
            _ => None,
        })
    }
}

/// A database failure, answered `UNAVAILABLE` for the adapter to retry.
fn unavailable(e: sqlx::Error) -> tonic::Status {
    crate::office::unavailable::<Land>(e)
}

/// The registry's state shared by its services and background tasks.
pub type Registry = Office<Land>;

/// A reference land registry ready to serve.
pub struct LandApplication {
    config: LandConfig,
    listener: tokio::net::TcpListener,
    registry: Registry,
}

impl LandApplication {
    /// Migrates the register, loads the fixture and binds the listener.
    pub async fn build(config: LandConfig, clock: Clock) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !config.codes.is_empty(),
            "a land registry must serve at least one region code"
        );
        let pool = hub_runtime::postgres::connect(
            &config.database_url,
            &config.database_schema,
            "reference-land",
            8,
        )
        .await?;
        sqlx::migrate!("./migrations/land")
            .run(&pool)
            .await
            .context("migrating the land register")?;
        if let Some(path) = &config.fixture {
            let recorded = admin::load_fixture(&pool, &config.codes, path, clock.now()).await?;
            tracing::info!(recorded, "demo properties loaded");
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let registry = Registry::new(pool, config.codes.clone(), clock);
        Ok(Self {
            config,
            listener,
            registry,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Sends notices to the inbox at `url` instead of the configured one (for a caller that binds
    /// the adapter after the registry).
    pub fn with_inbox_url(mut self, url: String) -> Self {
        self.config.inbox_url = url;
        self
    }

    /// A handle on the registry, for tests that drive lapses or inject faults directly.
    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }

    /// Serves until `shutdown`, then drains the notice sender and the lapse task.
    pub async fn run_until_stopped(
        self,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<()> {
        let Self {
            config,
            listener,
            registry,
        } = self;
        tracing::info!(regions = %registry.served(), "land registry");
        let routes = Routes::new(pb::agency_backend_server::AgencyBackendServer::new(
            registry.clone(),
        ))
        .add_service(admin_pb::land_admin_server::LandAdminServer::new(
            registry.clone(),
        ));
        let background = Background {
            pool: registry.pool.clone(),
            inbox_url: config.inbox_url,
            notices_wake: registry.notices_wake.clone(),
            notice_poll: Duration::from_millis(config.notice_poll_ms),
            lapse_poll: Duration::from_millis(config.lapse_poll_ms),
        };
        serving::serve(
            "reference land registry",
            listener,
            routes,
            background,
            move || {
                let registry = registry.clone();
                async move { registry.lapse_due().await }
            },
            shutdown,
        )
        .await
    }
}
