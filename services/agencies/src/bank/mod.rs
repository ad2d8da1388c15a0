//! The reference bank: deposits, court freezes with real ledger rules, deductions.
//!
//! It serves the partner contract (`AgencyBackend`) its adapter calls and an administration API
//! (`BankAdmin`) for opening accounts and moving money. Unprompted changes go to the adapter's
//! inbox through [`crate::notices`].

pub mod ledger;

use std::{collections::BTreeSet, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;
use enforcement_proto::{
    reference::{self as admin, bank_admin_server::BankAdmin},
    v1::{self as pb, agency_backend_server::AgencyBackend},
};
use hub_domain::{AccountNumber, AgencyCode, Clock, CreditCode, PersonName, ResidentId};
use prost::Message;
use serde::Deserialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tonic::{Request, Response, Status, service::Routes};
use uuid::Uuid;

use self::ledger::{Account, Changes, Ledger};
use crate::{
    notices,
    serving::{self, Background},
};

/// A reference bank's configuration (`BANK_*` environment variables or flags).
#[derive(Args, Clone, Debug)]
pub struct BankConfig {
    /// The codes of the banks served, as courts address them (e.g. `ICBC`, or `ICBC,CCB`).
    #[arg(
        long = "codes",
        env = "BANK_CODES",
        value_parser = parse_code,
        value_delimiter = ',',
        required = true
    )]
    pub codes: Vec<AgencyCode>,

    /// Address of the bank's gRPC services (`AgencyBackend`, `BankAdmin`).
    #[arg(long, env = "BANK_LISTEN", default_value = "127.0.0.1:20061")]
    pub listen: SocketAddr,

    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "BANK_DATABASE_URL",
        default_value = "postgres://postgres:postgres@127.0.0.1:5432/enforcement",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Schema of the ledger; default `bank_<first code>` in lower case.
    #[arg(long, env = "BANK_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,

    /// URL of the adapter's `AgencyInbox`, where notices go.
    #[arg(long, env = "BANK_INBOX_URL", default_value = "http://127.0.0.1:20071")]
    pub inbox_url: String,

    /// Demo accounts to open at start-up (JSON; accounts already open are left alone).
    #[arg(long, env = "BANK_FIXTURE")]
    pub fixture: Option<PathBuf>,

    /// How often pending notices are retried when nothing woke the sender, in milliseconds.
    #[arg(long, env = "BANK_NOTICE_POLL_MS", default_value_t = 1_000)]
    pub notice_poll_ms: u64,

    /// How often freezes past their expiry are lapsed, in milliseconds.
    #[arg(long, env = "BANK_LAPSE_POLL_MS", default_value_t = 60_000)]
    pub lapse_poll_ms: u64,
}

impl BankConfig {
    /// The ledger's schema.
    pub fn schema(&self) -> String {
        self.database_schema.clone().unwrap_or_else(|| {
            let first = self.codes.first().map(AgencyCode::as_str).unwrap_or("main");
            format!("bank_{}", first.to_ascii_lowercase().replace('-', "_"))
        })
    }
}

fn parse_code(s: &str) -> Result<AgencyCode, String> {
    AgencyCode::parse(s).map_err(|e| e.to_string())
}

/// The banks' state shared by their services and background tasks.
#[derive(Clone)]
pub struct Bank {
    pool: PgPool,
    codes: Arc<BTreeSet<String>>,
    clock: Clock,
    notices_wake: Arc<Notify>,
    faults: Arc<crate::faults::Faults>,
}

impl Bank {
    /// The banks `codes` over a migrated pool.
    pub fn new(pool: PgPool, codes: &[AgencyCode], clock: Clock) -> Self {
        Self {
            pool,
            codes: Arc::new(codes.iter().map(|c| c.to_string()).collect()),
            clock,
            notices_wake: Arc::new(Notify::new()),
            faults: Arc::default(),
        }
    }

    /// Faults to inject into `Execute` (slowness, outages), for demonstrating and testing how
    /// the hub copes with an agency in trouble.
    pub fn faults(&self) -> &crate::faults::Faults {
        &self.faults
    }

    fn agency_ref(code: &str) -> pb::AgencyRef {
        pb::AgencyRef {
            kind: pb::AgencyKind::Bank as i32,
            code: code.to_string(),
        }
    }

    /// The bank an administration request names: `code`, or the only bank if it is empty.
    fn bank_code<'a>(&'a self, code: &'a str) -> Result<&'a str, Status> {
        if code.is_empty() {
            return match self.codes.iter().next() {
                Some(only) if self.codes.len() == 1 => Ok(only),
                _ => Err(Status::invalid_argument(
                    "bank_code is required: this process serves several banks",
                )),
            };
        }
        self.codes
            .get(code)
            .map(String::as_str)
            .ok_or_else(|| Status::not_found(format!("this process does not serve bank {code}")))
    }

    /// Lapses freezes past expiry, at every bank served, and notifies the courts.
    pub async fn lapse_due(&self) -> Result<usize, sqlx::Error> {
        let now = self.clock.now();
        let mut lapsed = 0;
        for code in self.codes.iter() {
            let mut tx = self.pool.begin().await?;
            let updates = Ledger {
                conn: &mut tx,
                bank_code: code,
                now,
            }
            .lapse_due(500)
            .await?;
            lapsed += updates.len();
            notices::record(
                &mut tx,
                &Self::agency_ref(code),
                updates,
                "freezes lapsed at expiry",
                now,
            )
            .await?;
            tx.commit().await?;
        }
        if lapsed > 0 {
            self.notices_wake.notify_one();
        }
        Ok(lapsed)
    }

    async fn execute_once(
        &self,
        bank_code: &str,
        instruction: &pb::Instruction,
    ) -> Result<pb::ExecuteResponse, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // Two deliveries of one instruction at once: the second waits here, then finds the
        // first's answer below.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || $2, 0))")
            .bind(bank_code)
            .bind(&instruction.instruction_id)
            .execute(&mut *tx)
            .await?;
        let earlier: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT response FROM executions WHERE bank_code = $1 AND instruction_id = $2",
        )
        .bind(bank_code)
        .bind(parse_uuid(&instruction.instruction_id))
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(bytes) = earlier {
            tx.commit().await?;
            return pb::ExecuteResponse::decode(bytes.as_slice())
                .map_err(|e| sqlx::Error::Decode(Box::new(e)));
        }
        let now = self.clock.now();
        let mut ledger = Ledger {
            conn: &mut tx,
            bank_code,
            now,
        };
        use pb::instruction::Action;
        let (changes, answer, action) = match &instruction.action {
            Some(Action::Freeze(order)) => (ledger.freeze_funds(instruction, order).await?, None, "freeze"),
            Some(Action::Release(order)) => (ledger.release(instruction, order).await?, None, "release"),
            Some(Action::Renewal(order)) => (ledger.renew(instruction, order).await?, None, "renewal"),
            Some(Action::Deduction(order)) => (ledger.deduct(instruction, order).await?, None, "deduction"),
            Some(Action::Inquiry(_)) => {
                let (changes, answer) = ledger.inquire(instruction).await?;
                (changes, Some(answer), "inquiry")
            }
            Some(Action::SealUp(_) | Action::Distraint(_) | Action::ExitRestriction(_)) | None => (
                Changes {
                    outcome: Some(ledger::rejected(
                        &instruction.measure_id,
                        ledger::Refusal {
                            code: pb::ReasonCode::NotSupported,
                            message: "a bank carries out freezes, deductions and inquiries of deposits only".into(),
                        },
                        now,
                    )),
                    related: Vec::new(),
                },
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
        sqlx::query(
            "INSERT INTO executions (bank_code, instruction_id, measure_id, action, response, \
                 executed_at) \
             VALUES ($6, $1, $2, $3, $4, $5)",
        )
        .bind(parse_uuid(&instruction.instruction_id))
        .bind(parse_uuid(&instruction.measure_id))
        .bind(action)
        .bind(response.encode_to_vec())
        .bind(now)
        .bind(bank_code)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(response)
    }
}

#[tonic::async_trait]
impl AgencyBackend for Bank {
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
        let bank_code = match instruction.agency.as_ref() {
            Some(a) if a.kind == pb::AgencyKind::Bank as i32 && self.codes.contains(&a.code) => {
                a.code.clone()
            }
            _ => {
                return Err(Status::invalid_argument(
                    "the instruction is addressed to a bank this system does not serve",
                ));
            }
        };
        match self.execute_once(&bank_code, &instruction).await {
            Ok(response) => {
                tracing::info!(
                    instruction = %instruction.instruction_id,
                    state = response.outcome.as_ref().map(|o| o.state).unwrap_or_default(),
                    "instruction executed"
                );
                Ok(Response::new(response))
            }
            Err(e) => {
                tracing::error!(error = %e, instruction = %instruction.instruction_id, "executing instruction failed");
                Err(Status::unavailable(
                    "the bank's ledger is unavailable; retry",
                ))
            }
        }
    }
}

#[tonic::async_trait]
impl BankAdmin for Bank {
    async fn open_account(
        &self,
        request: Request<admin::OpenAccountRequest>,
    ) -> Result<Response<admin::Account>, Status> {
        let req = request.into_inner();
        let bank_code = self.bank_code(&req.bank_code)?;
        let opening = Opening::parse(
            bank_code,
            &req.account_number,
            &req.holder_name,
            &req.holder_id,
            req.balance_fen,
        )?;
        let inserted = opening
            .insert(&self.pool, self.clock.now())
            .await
            .map_err(unavailable)?;
        if !inserted {
            return Err(Status::already_exists(format!(
                "account {} is already open",
                opening.account_number
            )));
        }
        self.account(bank_code, &opening.account_number).await
    }

    async fn credit(
        &self,
        request: Request<admin::CreditRequest>,
    ) -> Result<Response<admin::Account>, Status> {
        let req = request.into_inner();
        if req.amount_fen <= 0 {
            return Err(Status::invalid_argument("amount_fen must be positive"));
        }
        let bank_code = self.bank_code(&req.bank_code)?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let mut ledger = Ledger {
            conn: &mut tx,
            bank_code,
            now,
        };
        let Some(account) = ledger
            .lock_account(&req.account_number)
            .await
            .map_err(unavailable)?
        else {
            return Err(Status::not_found(format!(
                "no account {}",
                req.account_number
            )));
        };
        if account.closed {
            return Err(Status::failed_precondition("the account is closed"));
        }
        let updates = ledger
            .credit(&account, req.amount_fen)
            .await
            .map_err(unavailable)?;
        let topped_up = !updates.is_empty();
        notices::record(
            &mut tx,
            &Self::agency_ref(bank_code),
            updates,
            "incoming funds frozen",
            now,
        )
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        if topped_up {
            self.notices_wake.notify_one();
        }
        self.account(bank_code, &req.account_number).await
    }

    async fn close_account(
        &self,
        request: Request<admin::AccountRequest>,
    ) -> Result<Response<admin::Account>, Status> {
        let req = request.into_inner();
        let bank_code = self.bank_code(&req.bank_code)?;
        let done = sqlx::query(
            "UPDATE accounts SET closed = true WHERE bank_code = $1 AND account_number = $2",
        )
        .bind(bank_code)
        .bind(&req.account_number)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        if done.rows_affected() == 0 {
            return Err(Status::not_found(format!(
                "no account {}",
                req.account_number
            )));
        }
        self.account(bank_code, &req.account_number).await
    }

    async fn get_account(
        &self,
        request: Request<admin::AccountRequest>,
    ) -> Result<Response<admin::Account>, Status> {
        let req = request.into_inner();
        self.account(self.bank_code(&req.bank_code)?, &req.account_number)
            .await
    }

    async fn list_freezes(
        &self,
        request: Request<admin::ListFreezesRequest>,
    ) -> Result<Response<admin::ListFreezesResponse>, Status> {
        let req = request.into_inner();
        let bank_code = self.bank_code(&req.bank_code)?;
        let rows: Vec<ledger::FreezeRow> = sqlx::query_as(
            "SELECT measure_id, instruction_id, seq, account_number, court_code, case_number, \
                 state, amount_fen, frozen_fen, waiting_position, period_months, period_days, \
                 registration_number, revision, received_at, effective_at, expires_at \
                          FROM freezes WHERE bank_code = $1 AND ($2 = '' OR account_number = $2) \
             ORDER BY seq",
        )
        .bind(bank_code)
        .bind(&req.account_number)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(Response::new(admin::ListFreezesResponse {
            freezes: rows
                .into_iter()
                .map(|f| admin::LedgerFreeze {
                    measure_id: f.measure_id.to_string(),
                    instruction_id: f.instruction_id.to_string(),
                    account_number: f.account_number,
                    court_code: f.court_code,
                    case_number: f.case_number,
                    state: f.state,
                    amount_fen: f.amount_fen,
                    frozen_fen: f.frozen_fen,
                    waiting_position: u32::try_from(f.waiting_position).unwrap_or(0),
                    effective_at: f.effective_at.map(enforcement_proto::convert::timestamp),
                    expires_at: f.expires_at.map(enforcement_proto::convert::timestamp),
                    registration_number: f.registration_number,
                })
                .collect(),
        }))
    }
}

impl Bank {
    async fn account(
        &self,
        bank_code: &str,
        number: &str,
    ) -> Result<Response<admin::Account>, Status> {
        let row: Option<(Account, i64)> = sqlx::query_as::<_, (String, String, String, i64, bool, i64)>(
            "SELECT a.account_number, a.holder_name, a.holder_id, a.balance_fen, a.closed, \
                 COALESCE(SUM(f.frozen_fen) FILTER (WHERE f.state IN ('effective', 'partial')), 0)::int8 \
                          FROM accounts a LEFT JOIN freezes f \
                 ON f.bank_code = a.bank_code AND f.account_number = a.account_number \
             WHERE a.bank_code = $1 AND a.account_number = $2 \
             GROUP BY a.bank_code, a.account_number",
        )
        .bind(bank_code)
        .bind(number)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .map(|(account_number, holder_name, holder_id, balance_fen, closed, frozen)| {
            (
                Account {
                    account_number,
                    holder_name,
                    holder_id,
                    balance_fen,
                    closed,
                },
                frozen,
            )
        });
        let Some((a, frozen_fen)) = row else {
            return Err(Status::not_found(format!("no account {number}")));
        };
        Ok(Response::new(admin::Account {
            bank_code: bank_code.to_string(),
            account_number: a.account_number,
            holder_name: a.holder_name,
            holder_id: a.holder_id,
            balance_fen: a.balance_fen,
            frozen_fen,
            closed: a.closed,
        }))
    }
}

/// A checked account opening.
struct Opening {
    bank_code: String,
    account_number: String,
    holder_name: String,
    holder_id: String,
    balance_fen: i64,
}

impl Opening {
    fn parse(
        bank_code: &str,
        number: &str,
        name: &str,
        id: &str,
        balance_fen: i64,
    ) -> Result<Self, Status> {
        let number = AccountNumber::parse(number)
            .map_err(|e| Status::invalid_argument(format!("account_number: {e}")))?;
        let name = PersonName::parse(name)
            .map(|n| n.to_string())
            .or_else(|_| hub_domain::OrganisationName::parse(name).map(|n| n.to_string()))
            .map_err(|e| Status::invalid_argument(format!("holder_name: {e}")))?;
        let id = ResidentId::parse(id)
            .map(|r| r.to_string())
            .or_else(|_| CreditCode::parse(id).map(|c| c.to_string()))
            .map_err(|e| {
                Status::invalid_argument(format!(
                    "holder_id: neither a resident identity number nor a credit code ({e})"
                ))
            })?;
        if balance_fen < 0 {
            return Err(Status::invalid_argument("balance_fen must not be negative"));
        }
        Ok(Self {
            bank_code: bank_code.to_string(),
            account_number: number.to_string(),
            holder_name: name,
            holder_id: id,
            balance_fen,
        })
    }

    /// Opens the account; `false` if the number is taken.
    async fn insert(&self, pool: &PgPool, now: OffsetDateTime) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO accounts (bank_code, account_number, holder_name, holder_id, \
                 balance_fen, opened_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (bank_code, account_number) DO NOTHING",
        )
        .bind(&self.bank_code)
        .bind(&self.account_number)
        .bind(&self.holder_name)
        .bind(&self.holder_id)
        .bind(self.balance_fen)
        .bind(now)
        .execute(pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// The demo accounts file: `{"banks": {"ICBC": [{"account_number": …}, …], …}}`.
#[derive(Deserialize)]
struct Fixture {
    banks: std::collections::BTreeMap<String, Vec<FixtureAccount>>,
}

#[derive(Deserialize)]
struct FixtureAccount {
    account_number: String,
    holder_name: String,
    holder_id: String,
    balance_fen: i64,
}

/// Opens the fixture's accounts of the banks `codes`; returns how many were new.
async fn load_fixture(
    pool: &PgPool,
    codes: &[AgencyCode],
    path: &std::path::Path,
    now: OffsetDateTime,
) -> anyhow::Result<usize> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let fixture: Fixture =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut opened = 0;
    for (code, a) in codes.iter().flat_map(|code| {
        fixture
            .banks
            .get(code.as_str())
            .into_iter()
            .flatten()
            .map(move |a| (code, a))
    }) {
        let opening = Opening::parse(
            code.as_str(),
            &a.account_number,
            &a.holder_name,
            &a.holder_id,
            a.balance_fen,
        )
        .map_err(|s| anyhow::anyhow!("fixture account {}: {}", a.account_number, s.message()))?;
        if opening.insert(pool, now).await? {
            opened += 1;
        }
    }
    Ok(opened)
}

fn parse_uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap_or(Uuid::nil())
}

fn unavailable(e: sqlx::Error) -> Status {
    tracing::error!(error = %e, "database error");
    Status::unavailable("the bank's ledger is unavailable; retry")
}

/// A reference bank ready to serve.
pub struct BankApplication {
    config: BankConfig,
    listener: tokio::net::TcpListener,
    bank: Bank,
}

impl BankApplication {
    /// Migrates the ledger, loads the fixture and binds the listener.
    pub async fn build(config: BankConfig, clock: Clock) -> anyhow::Result<Self> {
        let pool = hub_runtime::postgres::connect(
            &config.database_url,
            &config.schema(),
            "reference-bank",
            8,
        )
        .await?;
        sqlx::migrate!("./migrations/bank")
            .run(&pool)
            .await
            .context("migrating the bank ledger")?;
        if let Some(path) = &config.fixture {
            let opened = load_fixture(&pool, &config.codes, path, clock.now()).await?;
            tracing::info!(opened, "demo accounts loaded");
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        anyhow::ensure!(!config.codes.is_empty(), "name at least one bank code");
        let bank = Bank::new(pool, &config.codes, clock);
        Ok(Self {
            config,
            listener,
            bank,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Sends notices to the inbox at `url` instead of the configured one (for a caller that binds
    /// the adapter after the bank).
    pub fn with_inbox_url(mut self, url: String) -> Self {
        self.config.inbox_url = url;
        self
    }

    /// A handle on the bank, for tests that drive lapses directly.
    pub fn bank(&self) -> Bank {
        self.bank.clone()
    }

    /// Serves until `shutdown`, then drains the notice sender and the lapse task.
    pub async fn run_until_stopped(
        self,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<()> {
        let Self {
            config,
            listener,
            bank,
        } = self;
        tracing::info!(banks = config.codes.len(), "bank");
        let routes = Routes::new(pb::agency_backend_server::AgencyBackendServer::new(
            bank.clone(),
        ))
        .add_service(admin::bank_admin_server::BankAdminServer::new(bank.clone()));
        let background = Background {
            pool: bank.pool.clone(),
            inbox_url: config.inbox_url,
            notices_wake: bank.notices_wake.clone(),
            notice_poll: Duration::from_millis(config.notice_poll_ms),
            lapse_poll: Duration::from_millis(config.lapse_poll_ms),
        };
        serving::serve(
            "reference bank",
            listener,
            routes,
            background,
            move || {
                let bank = bank.clone();
                async move { bank.lapse_due().await }
            },
            shutdown,
        )
        .await
    }
}
