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
//! [`crate::holds`]; what is particular to real estate (who may be sealed up, pre-seizure and its
//! conversion on title registration, real-estate inquiries) is in [`seal_up`].

mod admin;
pub mod seal_up;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;
use enforcement_proto::{
    reference as admin_pb,
    v1::{self as pb, agency_backend_server::AgencyBackend},
};
use hub_domain::{AgencyCode, Clock};
use sqlx::PgPool;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    faults::Faults,
    holds::{self, Changes, Holds, Refusal, journal},
    notices,
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
    #[arg(long, env = "LAND_LISTEN", default_value = "127.0.0.1:50081")]
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
    #[arg(long, env = "LAND_INBOX_URL", default_value = "http://127.0.0.1:50091")]
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

/// Most seal-ups lapsed per region and round, so one round's transaction stays short.
const LAPSE_BATCH: i64 = 500;

/// The registry's state shared by its services and background tasks.
#[derive(Clone)]
pub struct Registry {
    pool: PgPool,
    /// The regions served; nothing else is answered.
    codes: Arc<[AgencyCode]>,
    clock: Clock,
    notices_wake: Arc<Notify>,
    faults: Arc<Faults>,
}

impl Registry {
    /// A registry over a migrated pool, serving `codes`.
    pub fn new(pool: PgPool, codes: Vec<AgencyCode>, clock: Clock) -> Self {
        Self {
            pool,
            codes: codes.into(),
            clock,
            notices_wake: Arc::new(Notify::new()),
            faults: Arc::default(),
        }
    }

    /// Faults to inject into `Execute` (slowness, outages), for demonstrating and testing how
    /// the hub copes with an agency in trouble.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The regions served.
    pub fn codes(&self) -> &[AgencyCode] {
        &self.codes
    }

    fn agency_ref(code: &AgencyCode) -> pb::AgencyRef {
        pb::AgencyRef {
            kind: pb::AgencyKind::LandRegistry as i32,
            code: code.to_string(),
        }
    }

    /// The served region an administration request names: `code`, or the only one served if it
    /// is empty (as the bank's administration does, so that one-region deployments need not
    /// repeat it). A region not served is `NOT_FOUND`.
    fn region(&self, code: &str) -> Result<&AgencyCode, Status> {
        let code = code.trim();
        if code.is_empty() {
            return match &*self.codes {
                [only] => Ok(only),
                _ => Err(Status::invalid_argument(
                    "agency_code is required: this process serves several regions",
                )),
            };
        }
        self.codes
            .iter()
            .find(|c| c.as_str() == code)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "this process serves registry region {}, not {code}",
                    self.served()
                ))
            })
    }

    /// The served region an instruction is addressed to.
    fn addressed(&self, agency: Option<&pb::AgencyRef>) -> Result<&AgencyCode, Status> {
        let served = agency.and_then(|a| {
            (a.kind == pb::AgencyKind::LandRegistry as i32)
                .then(|| self.codes.iter().find(|c| c.as_str() == a.code))
                .flatten()
        });
        served.ok_or_else(|| {
            Status::invalid_argument(format!(
                "this is the land registry of {}; the instruction is addressed elsewhere",
                self.served()
            ))
        })
    }

    fn served(&self) -> String {
        self.codes
            .iter()
            .map(AgencyCode::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Lapses seal-ups past expiry in every region served, promotes what waited behind them and
    /// notifies the courts. Returns how many lapsed.
    pub async fn lapse_due(&self) -> Result<usize, sqlx::Error> {
        let mut lapsed = 0;
        for code in self.codes.iter() {
            let now = holds::now(&self.clock);
            let mut tx = self.pool.begin().await?;
            let lapses = Holds {
                conn: &mut tx,
                agency_code: code.as_str(),
                now,
            }
            .lapse_due(LAPSE_BATCH)
            .await?;
            for lapse in &lapses {
                notices::record(
                    &mut tx,
                    &Self::agency_ref(code),
                    lapse.updates.clone(),
                    &lapse.message,
                    now,
                )
                .await?;
            }
            tx.commit().await?;
            lapsed += lapses.len();
        }
        if lapsed > 0 {
            self.notices_wake.notify_one();
        }
        Ok(lapsed)
    }

    /// Executes an instruction once; a repeat gets the stored answer.
    async fn execute_once(
        &self,
        code: &AgencyCode,
        instruction: &pb::Instruction,
    ) -> Result<pb::ExecuteResponse, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if let Some(earlier) =
            journal::recall(&mut tx, code.as_str(), &instruction.instruction_id).await?
        {
            tx.commit().await?;
            return Ok(earlier);
        }
        let now = holds::now(&self.clock);
        let mut holds = Holds {
            conn: &mut tx,
            agency_code: code.as_str(),
            now,
        };
        use pb::instruction::Action;
        let (changes, answer, action) = match &instruction.action {
            Some(Action::SealUp(order)) => (
                seal_up::seal_up(&mut holds, instruction, order).await?,
                None,
                "seal_up",
            ),
            Some(Action::Release(order)) => {
                (holds.release(instruction, order).await?, None, "release")
            }
            Some(Action::Renewal(order)) => {
                (holds.renew(instruction, order).await?, None, "renewal")
            }
            Some(Action::Inquiry(order)) => {
                let (changes, answer) = seal_up::inquire(&mut holds, instruction, order).await?;
                (changes, answer, "inquiry")
            }
            Some(
                Action::Freeze(_)
                | Action::Deduction(_)
                | Action::Distraint(_)
                | Action::ExitRestriction(_),
            )
            | None => (
                Changes::refused(
                    &instruction.measure_id,
                    Refusal::new(
                        pb::ReasonCode::NotSupported,
                        "a land registry carries out seal-ups, pre-seizures, their release and \
                         renewal, and real-estate inquiries only",
                    ),
                    now,
                ),
                None,
                "unsupported",
            ),
        };
        let response = pb::ExecuteResponse {
            outcome: changes.outcome,
            related: changes.related,
            answer,
            seal: Vec::new(),
        };
        journal::remember(&mut tx, code.as_str(), instruction, action, &response, now).await?;
        tx.commit().await?;
        Ok(response)
    }
}

#[tonic::async_trait]
impl AgencyBackend for Registry {
    async fn execute(
        &self,
        request: Request<pb::Instruction>,
    ) -> Result<Response<pb::ExecuteResponse>, Status> {
        let instruction = request.into_inner();
        if Uuid::parse_str(&instruction.instruction_id).is_err()
            || Uuid::parse_str(&instruction.measure_id).is_err()
        {
            return Err(Status::invalid_argument(
                "instruction_id and measure_id must be UUIDs",
            ));
        }
        self.faults.before_call().await?;
        let code = self.addressed(instruction.agency.as_ref())?;
        match self.execute_once(code, &instruction).await {
            Ok(response) => {
                tracing::info!(
                    region = %code,
                    instruction = %instruction.instruction_id,
                    state = response.outcome.as_ref().map(|o| o.state).unwrap_or_default(),
                    "instruction executed"
                );
                Ok(Response::new(response))
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// A database failure, logged in full and answered without internals: the adapter retries
/// `UNAVAILABLE`.
fn unavailable(e: sqlx::Error) -> Status {
    tracing::error!(error = %e, "land register error");
    Status::unavailable("the land register is unavailable; retry")
}

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
        let sender = notices::NoticeSender::new(
            registry.pool.clone(),
            &config.inbox_url,
            registry.notices_wake.clone(),
            Duration::from_millis(config.notice_poll_ms),
        )?;
        let sending = tokio::spawn(sender.run(shutdown.clone()));
        let lapsing = tokio::spawn({
            let registry = registry.clone();
            let shutdown = shutdown.clone();
            let every = Duration::from_millis(config.lapse_poll_ms.max(10));
            async move {
                loop {
                    if let Err(e) = registry.lapse_due().await {
                        tracing::warn!(error = %e, "lapsing expired seal-ups failed");
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
            .set_serving::<pb::agency_backend_server::AgencyBackendServer<Registry>>()
            .await;
        tracing::info!(
            regions = %registry.served(),
            addr = %listener.local_addr()?,
            "reference land registry serving"
        );
        let served = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(pb::agency_backend_server::AgencyBackendServer::new(
                registry.clone(),
            ))
            .add_service(admin_pb::land_admin_server::LandAdminServer::new(registry))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                shutdown.clone().cancelled_owned(),
            )
            .await;
        shutdown.cancel();
        let _ = sending.await;
        let _ = lapsing.await;
        served.context("serving the land registry")
    }
}
