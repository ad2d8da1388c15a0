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
    #[arg(long, env = "POLICE_LISTEN", default_value = "127.0.0.1:50082")]
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
        default_value = "http://127.0.0.1:50092"
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

/// Most holds lapsed per unit and round, so one round's transaction stays short.
const LAPSE_BATCH: i64 = 500;

/// The system's state shared by its services and background tasks.
#[derive(Clone)]
pub struct PublicSecurity {
    pool: PgPool,
    /// The units served; nothing else is answered.
    codes: Arc<[AgencyCode]>,
    clock: Clock,
    notices_wake: Arc<Notify>,
    faults: Arc<Faults>,
}

impl PublicSecurity {
    /// A system over a migrated pool, serving `codes`.
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

    /// The units served.
    pub fn codes(&self) -> &[AgencyCode] {
        &self.codes
    }

    fn agency_ref(code: &AgencyCode) -> pb::AgencyRef {
        pb::AgencyRef {
            kind: pb::AgencyKind::PublicSecurity as i32,
            code: code.to_string(),
        }
    }

    /// The served unit an administration request names: `code`, or the only one served if it
    /// is empty (as the bank's administration does, so that one-unit deployments need not
    /// repeat it). A unit not served is `NOT_FOUND`.
    fn unit(&self, code: &str) -> Result<&AgencyCode, Status> {
        let code = code.trim();
        if code.is_empty() {
            return match &*self.codes {
                [only] => Ok(only),
                _ => Err(Status::invalid_argument(
                    "agency_code is required: this process serves several units",
                )),
            };
        }
        self.codes
            .iter()
            .find(|c| c.as_str() == code)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "this process serves public security unit {}, not {code}",
                    self.served()
                ))
            })
    }

    /// The served unit an instruction is addressed to.
    fn addressed(&self, agency: Option<&pb::AgencyRef>) -> Result<&AgencyCode, Status> {
        let served = agency.and_then(|a| {
            (a.kind == pb::AgencyKind::PublicSecurity as i32)
                .then(|| self.codes.iter().find(|c| c.as_str() == a.code))
                .flatten()
        });
        served.ok_or_else(|| {
            Status::invalid_argument(format!(
                "this is public security unit {}; the instruction is addressed elsewhere",
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

    /// Lapses distraints and exit restrictions past expiry in every unit served, promotes the
    /// distraints that waited behind them and notifies the courts. Returns how many lapsed.
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
            Some(Action::Distraint(order)) => (
                distraint::distrain(&mut holds, instruction, order).await?,
                None,
                "distraint",
            ),
            Some(Action::ExitRestriction(order)) => (
                exit_restriction::restrict(&mut holds, instruction, order).await?,
                None,
                "exit_restriction",
            ),
            Some(Action::Release(order)) => {
                (holds.release(instruction, order).await?, None, "release")
            }
            Some(Action::Renewal(order)) => {
                (holds.renew(instruction, order).await?, None, "renewal")
            }
            Some(Action::Inquiry(order)) => {
                let (changes, answer) = inquiry::inquire(&mut holds, instruction, order).await?;
                (changes, answer, "inquiry")
            }
            Some(Action::Freeze(_) | Action::Deduction(_) | Action::SealUp(_)) | None => (
                Changes::refused(
                    &instruction.measure_id,
                    Refusal::new(
                        pb::ReasonCode::NotSupported,
                        "public security carries out vehicle distraints, exit restrictions, their \
                         release and renewal, and vehicle and whereabouts inquiries only",
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
impl AgencyBackend for PublicSecurity {
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
                    unit = %code,
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
    tracing::error!(error = %e, "public security register error");
    Status::unavailable("the public security register is unavailable; retry")
}

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
        let sender = notices::NoticeSender::new(
            public_security.pool.clone(),
            &config.inbox_url,
            public_security.notices_wake.clone(),
            Duration::from_millis(config.notice_poll_ms),
        )?;
        let sending = tokio::spawn(sender.run(shutdown.clone()));
        let lapsing = tokio::spawn({
            let public_security = public_security.clone();
            let shutdown = shutdown.clone();
            let every = Duration::from_millis(config.lapse_poll_ms.max(10));
            async move {
                loop {
                    if let Err(e) = public_security.lapse_due().await {
                        tracing::warn!(error = %e, "lapsing expired holds failed");
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
            .set_serving::<pb::agency_backend_server::AgencyBackendServer<PublicSecurity>>()
            .await;
        tracing::info!(
            units = %public_security.served(),
            addr = %listener.local_addr()?,
            "reference public security system serving"
        );
        let served = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(pb::agency_backend_server::AgencyBackendServer::new(
                public_security.clone(),
            ))
            .add_service(admin_pb::police_admin_server::PoliceAdminServer::new(
                public_security,
            ))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                shutdown.clone().cancelled_owned(),
            )
            .await;
        shutdown.cancel();
        let _ = sending.await;
        let _ = lapsing.await;
        served.context("serving the public security system")
    }
}
