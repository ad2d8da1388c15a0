//! The reference public security system (公安): the population register and sightings, the
//! vehicle register, distraints (扣押) of vehicles and exit restrictions (限制出境) on persons.
//!
//! One process serves several public security units (agency codes such as `BJ-PSB`) from one
//! PostgreSQL schema, every row tagged with its unit: an instruction's `agency.code` chooses the
//! unit, and an instruction for a unit not served is refused with `INVALID_ARGUMENT` before
//! anything is read. It serves the partner contract (`AgencyBackend`) the adapter calls and an
//! administration API (`PoliceAdmin`) for recording persons, sightings and vehicles. Unprompted
//! changes (a distraint or restriction lapsing, the next distraint taking effect) go to the
//! adapter's inbox through [`crate::notices`].
//!
//! Distraints and exit restrictions share one `holds` table and the rules of [`crate::holds`]:
//! a distraint is exclusive (a second court's waits, 轮候), an exit restriction is not (several
//! courts may each bar one person from leaving, and every restriction is EFFECTIVE). Keeping both
//! in one table makes release, renewal and lapse one piece of code; `kind` and `exclusive` tell
//! them apart.

mod admin;
pub mod distraint;
pub mod exit_restriction;
pub mod inquiry;

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

/// A reference public security system's configuration (`POLICE_*` environment variables or
/// flags).
#[derive(Args, Clone, Debug)]
pub struct PoliceConfig {
    /// The public security units served, as courts address them (e.g. `BJ-PSB,SH-PSB`).
    #[arg(
        long,
        env = "POLICE_CODES",
        value_delimiter = ',',
        required = true,
        value_parser = parse_code
    )]
    pub codes: Vec<AgencyCode>,

    /// Address of the system's gRPC services (`AgencyBackend`, `PoliceAdmin`, health).
    #[arg(long, env = "POLICE_LISTEN", default_value = "127.0.0.1:20082")]
    pub listen: SocketAddr,

    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "POLICE_DATABASE_URL",
        default_value = "postgres://postgres:postgres@127.0.0.1:5432/enforcement",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Schema of the registers, shared by every unit served.
    #[arg(long, env = "POLICE_DATABASE_SCHEMA", default_value = "police")]
    pub database_schema: String,

    /// URL of the adapter's `AgencyInbox`, where notices go.
    #[arg(
        long,
        env = "POLICE_INBOX_URL",
        default_value = "http://127.0.0.1:20092"
    )]
    pub inbox_url: String,

    /// Demo persons, sightings and vehicles to record at start-up (JSON; records already there
    /// are left alone).
    #[arg(long, env = "POLICE_FIXTURE")]
    pub fixture: Option<PathBuf>,

    /// How often pending notices are retried when nothing woke the sender, in milliseconds.
    #[arg(long, env = "POLICE_NOTICE_POLL_MS", default_value_t = 1_000)]
    pub notice_poll_ms: u64,

    /// How often distraints and restrictions past their expiry are lapsed, in milliseconds.
    #[arg(long, env = "POLICE_LAPSE_POLL_MS", default_value_t = 60_000)]
    pub lapse_poll_ms: u64,
}

fn parse_code(s: &str) -> Result<AgencyCode, String> {
    AgencyCode::parse(s).map_err(|e| e.to_string())
}

/// Public security's trade: vehicle distraints, exit restrictions, and vehicle and whereabouts
/// inquiries.
pub struct Police;

impl Trade for Police {
    const KIND: pb::AgencyKind = pb::AgencyKind::PublicSecurity;
    const UNIT: &'static str = "public security unit";
    const NAME: &'static str = "public security system";
    const SCOPE: &'static str = "public security carries out vehicle distraints, exit \
                                 restrictions, their release and renewal, and vehicle and \
                                 whereabouts inquiries only";

    async fn carry_out(
        holds: &mut Holds<'_>,
        instruction: &pb::Instruction,
        action: &Action,
    ) -> Result<Option<Carried>, sqlx::Error> {
        Ok(match action {
            Action::Distraint(order) => Some((
                distraint::distrain(holds, instruction, order).await?,
                None,
                "distraint",
            )),
            Action::ExitRestriction(order) => Some((
                exit_restriction::restrict(holds, instruction, order).await?,
                None,
                "exit_restriction",
            )),
            Action::Inquiry(order) => {
                let (changes, answer) = inquiry::inquire(holds, instruction, order).await?;
                Some((changes, answer, "inquiry"))
            }
            _ => None,
        })
    }
}

/// A database failure, answered `UNAVAILABLE` for the adapter to retry.
fn unavailable(e: sqlx::Error) -> tonic::Status {
    crate::office::unavailable::<Police>(e)
}

/// The system's state shared by its services and background tasks.
pub type PublicSecurity = Office<Police>;

/// A reference public security system ready to serve.
pub struct PoliceApplication {
    config: PoliceConfig,
    listener: tokio::net::TcpListener,
    public_security: PublicSecurity,
}

impl PoliceApplication {
    /// Migrates the registers, loads the fixture and binds the listener.
    pub async fn build(config: PoliceConfig, clock: Clock) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !config.codes.is_empty(),
            "a public security system must serve at least one unit code"
        );
        let pool = hub_runtime::postgres::connect(
            &config.database_url,
            &config.database_schema,
            "reference-police",
            8,
        )
        .await?;
        sqlx::migrate!("./migrations/police")
            .run(&pool)
            .await
            .context("migrating the public security registers")?;
        if let Some(path) = &config.fixture {
            let recorded = admin::load_fixture(&pool, &config.codes, path, clock.now()).await?;
            tracing::info!(recorded, "demo persons, sightings and vehicles loaded");
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let public_security = PublicSecurity::new(pool, config.codes.clone(), clock);
        Ok(Self {
            config,
            listener,
            public_security,
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

    /// A handle on the system, for tests that drive lapses or inject faults directly.
    pub fn public_security(&self) -> PublicSecurity {
        self.public_security.clone()
    }

    /// Serves until `shutdown`, then drains the notice sender and the lapse task.
    pub async fn run_until_stopped(
        self,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<()> {
        let Self {
            config,
            listener,
            public_security,
        } = self;
        tracing::info!(units = %public_security.served(), "public security system");
        let routes = Routes::new(pb::agency_backend_server::AgencyBackendServer::new(
            public_security.clone(),
        ))
        .add_service(admin_pb::police_admin_server::PoliceAdminServer::new(
            public_security.clone(),
        ));
        let background = Background {
            pool: public_security.pool.clone(),
            inbox_url: config.inbox_url,
            notices_wake: public_security.notices_wake.clone(),
            notice_poll: Duration::from_millis(config.notice_poll_ms),
            lapse_poll: Duration::from_millis(config.lapse_poll_ms),
        };
        serving::serve(
            "reference public security system",
            listener,
            routes,
            background,
            move || {
                let public_security = public_security.clone();
                async move { public_security.lapse_due().await }
            },
            shutdown,
        )
        .await
    }
}
