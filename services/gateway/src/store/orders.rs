//! Case-level orders and the accounts they may freeze (`case_orders`, `case_order_accounts`).
//! Written only inside a [`CaseTx`], under the case's lock; read freely.

use hub_domain::IdempotencyKey;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Store, cases::CaseTx};
use crate::{Error, case::OrderState};

/// A case-level order as stored.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub id: Uuid,
    pub court_code: String,
    pub case_number: String,
    /// The canonical encoded `FreezeDepositsRequest`.
    pub request: Vec<u8>,
    /// Up to this much.
    pub amount_fen: i64,
    /// The inquiry whose answers it allocates from.
    pub inquiry_id: Uuid,
    #[sqlx(try_from = "String")]
    pub state: OrderState,
    /// Where it stands, in words.
    pub message: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// One account an order may freeze, best first.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, Eq)]
pub struct OrderAccountRow {
    pub order_id: Uuid,
    /// 0 for the best.
    pub rank: i32,
    /// The bank's code.
    pub agency_code: String,
    pub account_number: String,
    /// Balance less frozen, as the inquiry answered.
    pub available_fen: i64,
    /// Whether some court's freeze was already on it (a new freeze would wait).
    pub frozen_before: bool,
    /// The freeze asked of it, once asked.
    pub measure_id: Option<Uuid>,
}

/// A new order.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub id: Uuid,
    pub key: IdempotencyKey,
    pub request: Vec<u8>,
    pub amount_fen: i64,
    pub inquiry_id: Uuid,
}

/// Columns of `case_orders` read into an [`OrderRow`].
macro_rules! order_columns {
    () => {
        "id, court_code, case_number, request, amount_fen, inquiry_id, state, message, \
         created_at, updated_at"
    };
}

/// Columns of `case_order_accounts` read into an [`OrderAccountRow`].
macro_rules! account_columns {
    () => {
        "order_id, rank, agency_code, account_number, available_fen, frozen_before, measure_id"
    };
}

impl Store {
    /// The order the court recorded under `key`, if any.
    pub async fn order_by_key(
        &self,
        court: &str,
        key: &IdempotencyKey,
    ) -> Result<Option<OrderRow>, Error> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            order_columns!(),
            " FROM case_orders WHERE court_code = $1 AND idempotency_key = $2"
        ))
        .bind(court)
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A case's orders, oldest first, each with its accounts best first.
    pub async fn case_orders(
        &self,
        court: &str,
        case_number: &str,
    ) -> Result<Vec<(OrderRow, Vec<OrderAccountRow>)>, Error> {
        let orders: Vec<OrderRow> = sqlx::query_as(concat!(
            "SELECT ",
            order_columns!(),
            " FROM case_orders WHERE court_code = $1 AND case_number = $2 ORDER BY id"
        ))
        .bind(court)
        .bind(case_number)
        .fetch_all(&self.pool)
        .await?;
        let mut all = Vec::with_capacity(orders.len());
        for order in orders {
            let accounts = accounts(&self.pool, order.id).await?;
            all.push((order, accounts));
        }
        Ok(all)
    }
}

async fn accounts<'c, E>(executor: E, order: Uuid) -> Result<Vec<OrderAccountRow>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    sqlx::query_as(concat!(
        "SELECT ",
        account_columns!(),
        " FROM case_order_accounts WHERE order_id = $1 ORDER BY rank"
    ))
    .bind(order)
    .fetch_all(executor)
    .await
}

impl CaseTx {
    /// Records a new order of the case, waiting for its inquiry.
    pub async fn add_order(
        &mut self,
        order: &NewOrder,
        now: OffsetDateTime,
    ) -> Result<OrderRow, Error> {
        let (court, case) = (
            self.row().court_code.clone(),
            self.row().case_number.clone(),
        );
        Ok(sqlx::query_as(concat!(
            "INSERT INTO case_orders (id, court_code, case_number, idempotency_key, request, \
                 amount_fen, inquiry_id, state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'inquiring', $8, $8) RETURNING ",
            order_columns!()
        ))
        .bind(order.id)
        .bind(court)
        .bind(case)
        .bind(order.key.as_str())
        .bind(&order.request)
        .bind(order.amount_fen)
        .bind(order.inquiry_id)
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// The case's orders still under way (inquiring or placing), oldest first.
    pub async fn live_orders(&mut self) -> Result<Vec<OrderRow>, Error> {
        let (court, case) = (
            self.row().court_code.clone(),
            self.row().case_number.clone(),
        );
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            order_columns!(),
            " FROM case_orders WHERE court_code = $1 AND case_number = $2 \
               AND state IN ('inquiring', 'placing') ORDER BY id"
        ))
        .bind(court)
        .bind(case)
        .fetch_all(&mut *self.tx)
        .await?)
    }

    /// An order's accounts, best first.
    pub async fn order_accounts(&mut self, order: Uuid) -> Result<Vec<OrderAccountRow>, Error> {
        Ok(accounts(&mut *self.tx, order).await?)
    }

    /// Sets the accounts an order may freeze, best first.
    pub async fn set_order_accounts(
        &mut self,
        order: Uuid,
        accounts: &[OrderAccountRow],
    ) -> Result<(), Error> {
        let ranks: Vec<i32> = accounts.iter().map(|a| a.rank).collect();
        let codes: Vec<&str> = accounts.iter().map(|a| a.agency_code.as_str()).collect();
        let numbers: Vec<&str> = accounts.iter().map(|a| a.account_number.as_str()).collect();
        let available: Vec<i64> = accounts.iter().map(|a| a.available_fen).collect();
        let frozen: Vec<bool> = accounts.iter().map(|a| a.frozen_before).collect();
        sqlx::query(
            "INSERT INTO case_order_accounts (order_id, rank, agency_code, account_number, \
                 available_fen, frozen_before) \
             SELECT $1, * FROM UNNEST($2::int4[], $3::text[], $4::text[], $5::int8[], $6::bool[])",
        )
        .bind(order)
        .bind(&ranks)
        .bind(&codes)
        .bind(&numbers)
        .bind(&available)
        .bind(&frozen)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Records the freeze asked of an order's account.
    pub async fn set_account_measure(
        &mut self,
        order: Uuid,
        rank: i32,
        measure: Uuid,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE case_order_accounts SET measure_id = $3 WHERE order_id = $1 AND rank = $2",
        )
        .bind(order)
        .bind(rank)
        .bind(measure)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Moves an order to `state` with `message`.
    pub async fn set_order(
        &mut self,
        order: Uuid,
        state: OrderState,
        message: &str,
        now: OffsetDateTime,
    ) -> Result<OrderRow, Error> {
        Ok(sqlx::query_as(concat!(
            "UPDATE case_orders SET state = $2, message = $3, updated_at = $4 WHERE id = $1 \
             RETURNING ",
            order_columns!()
        ))
        .bind(order)
        .bind(state.as_str())
        .bind(message)
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await?)
    }
}
