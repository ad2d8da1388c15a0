//! `BankAdmin`: opening and closing accounts, crediting funds (which tops up partial freezes),
//! reading accounts and the freezes on them; and the demo fixture, which opens accounts through
//! the same checks.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context;
use enforcement_proto::reference::{self as admin, bank_admin_server::BankAdmin};
use hub_domain::{AccountNumber, AgencyCode};
use serde::Deserialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};

use super::{
    Bank,
    ledger::{Account, FreezeRow, Ledger},
};
use crate::{checks::parse_holder, notices, stored};

#[tonic::async_trait]
impl BankAdmin for Bank {
    async fn open_account(
        &self,
        request: Request<admin::OpenAccountRequest>,
    ) -> Result<Response<admin::Account>, Status> {
        let req = request.into_inner();
        let bank_code = self.served_code(&req.bank_code)?.as_str();
        let opening = Opening::parse(
            bank_code,
            &req.account_number,
            &req.holder_name,
            &req.holder_id,
            req.balance_fen,
        )?;
        let inserted = opening
            .insert(&self.pool, stored::now(&self.clock))
            .await
            .map_err(Bank::unavailable)?;
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
        let code = self.served_code(&req.bank_code)?;
        let bank_code = code.as_str();
        let now = stored::now(&self.clock);
        let mut tx = self.pool.begin().await.map_err(Bank::unavailable)?;
        let mut ledger = Ledger {
            conn: &mut tx,
            bank_code,
            now,
        };
        let Some(account) = ledger
            .lock_account(&req.account_number)
            .await
            .map_err(Bank::unavailable)?
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
            .map_err(Bank::unavailable)?;
        let topped_up = !updates.is_empty();
        notices::record(
            &mut tx,
            &Self::agency_ref(code),
            updates,
            "incoming funds frozen",
            now,
        )
        .await
        .map_err(Bank::unavailable)?;
        tx.commit().await.map_err(Bank::unavailable)?;
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
        let bank_code = self.served_code(&req.bank_code)?.as_str();
        let done = sqlx::query(
            "UPDATE accounts SET closed = true WHERE bank_code = $1 AND account_number = $2",
        )
        .bind(bank_code)
        .bind(&req.account_number)
        .execute(&self.pool)
        .await
        .map_err(Bank::unavailable)?;
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
        self.account(
            self.served_code(&req.bank_code)?.as_str(),
            &req.account_number,
        )
        .await
    }

    async fn list_freezes(
        &self,
        request: Request<admin::ListFreezesRequest>,
    ) -> Result<Response<admin::ListFreezesResponse>, Status> {
        let req = request.into_inner();
        let bank_code = self.served_code(&req.bank_code)?.as_str();
        let rows: Vec<FreezeRow> = sqlx::query_as(concat!(
            "SELECT ",
            freeze_columns!(),
            " FROM freezes WHERE bank_code = $1 AND ($2 = '' OR account_number = $2) ORDER BY seq"
        ))
        .bind(bank_code)
        .bind(&req.account_number)
        .fetch_all(&self.pool)
        .await
        .map_err(Bank::unavailable)?;
        Ok(Response::new(admin::ListFreezesResponse {
            freezes: rows
                .into_iter()
                .map(|f| admin::LedgerFreeze {
                    measure_id: f.measure_id.to_string(),
                    instruction_id: f.instruction_id.to_string(),
                    account_number: f.account_number,
                    court_code: f.court_code,
                    case_number: f.case_number,
                    state: f.state.as_str().to_string(),
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
    /// The account as the administration shows it, with what is frozen on it.
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
        .map_err(Bank::unavailable)?
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

/// A checked account opening: number, holder and balance in their stored forms.
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
        let (id, name) = parse_holder(id, name)?;
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
    banks: BTreeMap<String, Vec<FixtureAccount>>,
}

/// One demo account, opened through the same checks as `OpenAccount`.
#[derive(Deserialize)]
struct FixtureAccount {
    account_number: String,
    holder_name: String,
    holder_id: String,
    balance_fen: i64,
}

/// Opens the fixture's accounts of the banks `codes`; returns how many were new.
pub(super) async fn load_fixture(
    pool: &PgPool,
    codes: &[AgencyCode],
    path: &Path,
    now: OffsetDateTime,
) -> anyhow::Result<usize> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let fixture: Fixture =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut opened = 0;
    for code in codes {
        for a in fixture.banks.get(code.as_str()).into_iter().flatten() {
            let opening = Opening::parse(
                code.as_str(),
                &a.account_number,
                &a.holder_name,
                &a.holder_id,
                a.balance_fen,
            )
            .map_err(|s| {
                anyhow::anyhow!("fixture account {}: {}", a.account_number, s.message())
            })?;
            if opening.insert(pool, now).await? {
                opened += 1;
            }
        }
    }
    Ok(opened)
}
