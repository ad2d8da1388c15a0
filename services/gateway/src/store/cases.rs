//! The case ledger's rows: a case and its audit log (`cases`, `case_events`), read freely and
//! changed only in a [`CaseTx`] — a transaction holding the lock on the case's row, in which the
//! case's measures are read, checked and recorded. Every freeze or deduction is recorded in one,
//! so two orders of one case are never checked against the same ledger.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
};

use hub_domain::{CourtCode, IdempotencyKey};
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use super::{MeasureRow, NewMeasure, Recorded, Store};
use crate::{Error, case::CaseState};

/// A case as stored.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    pub court_code: String,
    pub case_number: String,
    /// Debt plus costs (执行标的额): set by the first measure, changed by amendments only.
    pub enforcement_amount_fen: i64,
    #[sqlx(try_from = "String")]
    pub state: CaseState,
    /// Why the court closed it.
    pub close_reason: String,
    /// The ledger as last announced on the watch stream.
    pub frozen_fen: i64,
    pub pending_fen: i64,
    pub deducted_fen: i64,
    /// The last audit entry of the case's measures the keeper has looked at.
    pub checked_event: i64,
    /// Increases with every change of the row.
    pub version: i64,
    pub opened_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Columns of `cases` read into a [`CaseRow`].
macro_rules! case_columns {
    () => {
        "court_code, case_number, enforcement_amount_fen, state, close_reason, frozen_fen, \
         pending_fen, deducted_fen, checked_event, version, opened_at, updated_at"
    };
}

/// A case-level audit entry to write.
#[derive(Debug, Clone, Default)]
pub struct NewCaseEvent {
    /// The watch event kind (`pb::EventKind`).
    pub kind: i32,
    /// What happened, for the court.
    pub message: String,
    /// The encoded `Case` after the change.
    pub snapshot: Vec<u8>,
    /// The encoded `CaseOrder`, for an order's progress.
    pub order: Option<Vec<u8>>,
    /// The measure concerned.
    pub measure_id: Option<Uuid>,
    /// A court's request: its key and canonical encoding.
    pub request: Option<(IdempotencyKey, Vec<u8>)>,
}

/// A case-level audit entry as read back for watchers.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct CaseEventRow {
    pub id: i64,
    pub court_code: String,
    pub case_number: String,
    pub version: i64,
    pub kind: i32,
    pub message: String,
    pub snapshot: Vec<u8>,
    pub order_snapshot: Option<Vec<u8>>,
    pub measure_id: Option<Uuid>,
    pub at: OffsetDateTime,
}

impl CaseEventRow {
    /// The watch event this entry becomes, with `measure` (the measure concerned, as it stands).
    pub fn to_proto(
        &self,
        measure: Option<enforcement_proto::v1::Measure>,
    ) -> enforcement_proto::v1::MeasureEvent {
        use prost::Message;
        enforcement_proto::v1::MeasureEvent {
            kind: self.kind,
            measure,
            at: Some(enforcement_proto::convert::timestamp(self.at)),
            message: self.message.clone(),
            case: enforcement_proto::v1::Case::decode(self.snapshot.as_slice()).ok(),
            order: self
                .order_snapshot
                .as_deref()
                .and_then(|o| enforcement_proto::v1::CaseOrder::decode(o).ok()),
        }
    }
}

/// The cases someone in this process is working on. A case transaction takes its case's local
/// lock before it takes a database connection and the row lock: orders of one case that arrive
/// together then wait in memory, not each holding one of the pool's few connections while it
/// waits for the row — which would leave none for applying the banks' answers. The row lock
/// still decides between gateway instances.
#[derive(Clone, Default)]
pub struct LocalLocks {
    held: Arc<Mutex<HashMap<CaseKey, Weak<tokio::sync::Mutex<()>>>>>,
}

/// A court and one of its case numbers.
type CaseKey = (String, String);

/// Cases remembered before the forgotten ones are swept out.
const LOCAL_LOCKS_SWEEP: usize = 4096;

impl LocalLocks {
    /// Waits for this process's turn at the court's case.
    async fn lock(&self, court: &str, case_number: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut held = self
                .held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if held.len() >= LOCAL_LOCKS_SWEEP {
                held.retain(|_, lock| lock.strong_count() > 0);
            }
            let key = (court.to_string(), case_number.to_string());
            match held.get(&key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    held.insert(key, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

/// One case, locked for the rest of the transaction: nothing else records a measure in the case,
/// amends or closes it until [`CaseTx::commit`] (or the transaction is dropped, undoing all).
pub struct CaseTx {
    pub(super) tx: Transaction<'static, Postgres>,
    pub(super) store: Store,
    row: CaseRow,
    /// This process's turn at the case, released with the transaction.
    _turn: OwnedMutexGuard<()>,
    /// The audit entries of measures recorded, told to the hub once committed.
    recorded: Vec<super::EventRow>,
    /// The case's own audit entries written, likewise.
    case_events: Vec<CaseEventRow>,
}

impl Store {
    /// Opens the court's case if it has no row yet (its enforcement amount is `amount_fen`, the
    /// first measure's) and locks it. Returns the locked case and whether it was opened now.
    pub async fn open_case(
        &self,
        court: &CourtCode,
        case_number: &str,
        amount_fen: i64,
        now: OffsetDateTime,
    ) -> Result<(CaseTx, bool), Error> {
        let turn = self.cases.lock(court.as_str(), case_number).await;
        let mut tx = self.pool.begin().await?;
        // A case opened now is this transaction's own row until it commits (a concurrent opening
        // waits on its key), so only a case that was there needs locking.
        let opened: Option<CaseRow> = sqlx::query_as(concat!(
            "INSERT INTO cases (court_code, case_number, enforcement_amount_fen, opened_at, \
                 updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING RETURNING ",
            case_columns!()
        ))
        .bind(court.as_str())
        .bind(case_number)
        .bind(amount_fen)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let (row, opened) = match opened {
            Some(row) => (row, true),
            None => (
                lock(&mut tx, court.as_str(), case_number)
                    .await?
                    .ok_or_else(|| Error::Corrupt(format!("case {case_number} vanished")))?,
                false,
            ),
        };
        Ok((
            CaseTx {
                tx,
                store: self.clone(),
                row,
                _turn: turn,
                recorded: Vec::new(),
                case_events: Vec::new(),
            },
            opened,
        ))
    }

    /// Locks the court's case; `None` if it has none of that number.
    pub async fn lock_case(&self, court: &str, case_number: &str) -> Result<Option<CaseTx>, Error> {
        let turn = self.cases.lock(court, case_number).await;
        let mut tx = self.pool.begin().await?;
        Ok(lock(&mut tx, court, case_number).await?.map(|row| CaseTx {
            tx,
            store: self.clone(),
            row,
            _turn: turn,
            recorded: Vec::new(),
            case_events: Vec::new(),
        }))
    }

    /// The court's case as it stands, unlocked.
    pub async fn case(&self, court: &str, case_number: &str) -> Result<Option<CaseRow>, Error> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            case_columns!(),
            " FROM cases WHERE court_code = $1 AND case_number = $2"
        ))
        .bind(court)
        .bind(case_number)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every measure of the court's case, oldest first, unlocked.
    pub async fn case_measures(
        &self,
        court: &str,
        case_number: &str,
    ) -> Result<Vec<MeasureRow>, Error> {
        Ok(case_measures(&self.pool, court, case_number).await?)
    }

    /// Cases that need the keeper: not closed, with an audit entry of one of their measures it
    /// has not looked at, or closing, or with an order under way. At most `limit`.
    pub async fn cases_to_settle(&self, limit: i64) -> Result<Vec<(String, String)>, Error> {
        Ok(sqlx::query_as(
            "SELECT c.court_code, c.case_number FROM cases c \
             WHERE c.state <> 'closed' AND ( \
                 c.state = 'closing' \
                 OR EXISTS (SELECT 1 FROM measure_events e \
                     WHERE e.court_code = c.court_code AND e.case_number = c.case_number \
                       AND e.id > c.checked_event) \
                 OR EXISTS (SELECT 1 FROM case_orders o \
                     WHERE o.court_code = c.court_code AND o.case_number = c.case_number \
                       AND o.state IN ('inquiring', 'placing'))) \
             ORDER BY c.updated_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Case-level audit entries by id, in id order.
    pub async fn case_events(&self, ids: &[i64]) -> Result<Vec<CaseEventRow>, Error> {
        Ok(sqlx::query_as(
            "SELECT id, court_code, case_number, version, kind, message, snapshot, \
                 order_snapshot, measure_id, at \
             FROM case_events WHERE id = ANY($1) ORDER BY id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?)
    }
}

async fn lock(
    tx: &mut Transaction<'static, Postgres>,
    court: &str,
    case_number: &str,
) -> Result<Option<CaseRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        case_columns!(),
        " FROM cases WHERE court_code = $1 AND case_number = $2 FOR UPDATE"
    ))
    .bind(court)
    .bind(case_number)
    .fetch_optional(&mut **tx)
    .await
}

async fn case_measures<'c, E>(
    executor: E,
    court: &str,
    case_number: &str,
) -> Result<Vec<MeasureRow>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = Postgres>,
{
    sqlx::query_as(concat!(
        "SELECT ",
        measure_columns!(),
        " FROM measures WHERE court_code = $1 AND case_number = $2 ORDER BY id"
    ))
    .bind(court)
    .bind(case_number)
    .fetch_all(executor)
    .await
}

impl CaseTx {
    /// The case as locked (and as changed in this transaction).
    pub fn row(&self) -> &CaseRow {
        &self.row
    }

    /// The store the transaction belongs to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every measure of the case, oldest first, as this transaction sees them.
    pub async fn measures(&mut self) -> Result<Vec<MeasureRow>, Error> {
        Ok(case_measures(&mut *self.tx, &self.row.court_code, &self.row.case_number).await?)
    }

    /// What the court recorded under `key` before: `None` if the key is new, the original
    /// measure if it was recorded for the same `request`, [`Error::KeyReused`] if for another.
    pub async fn earlier(
        &mut self,
        key: &IdempotencyKey,
        request: &[u8],
    ) -> Result<Option<MeasureRow>, Error> {
        let found: Option<(Uuid, Vec<u8>)> = sqlx::query_as(
            "SELECT id, request FROM measures WHERE court_code = $1 AND idempotency_key = $2",
        )
        .bind(&self.row.court_code)
        .bind(key.as_str())
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some((id, original)) = found else {
            return Ok(None);
        };
        if original != request {
            return Err(Error::KeyReused(id));
        }
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            measure_columns!(),
            " FROM measures WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await?)
    }

    /// The canonical request a measure of the case was recorded for.
    pub async fn request_of(&mut self, id: Uuid) -> Result<Vec<u8>, Error> {
        Ok(
            sqlx::query_scalar("SELECT request FROM measures WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *self.tx)
                .await?,
        )
    }

    /// Records a measure of the case with its outbox row and first audit entry. Its key must be
    /// new (see [`CaseTx::earlier`]).
    pub async fn record(&mut self, m: &NewMeasure) -> Result<MeasureRow, Error> {
        let row = MeasureRow::submitted(m);
        let store = self.store.clone();
        let Some(event) = store.insert(&mut *self.tx, m, &row).await? else {
            return Err(Error::Corrupt(format!(
                "idempotency key {} was taken inside the case's lock",
                m.idempotency_key
            )));
        };
        self.recorded.push(event);
        Ok(row)
    }

    /// Records a court's measure like [`Self::record`], except that a key taken already answers
    /// with what [`Self::earlier`] finds under it: the original measure, or
    /// [`Error::KeyReused`]. Nothing is written then.
    pub async fn record_submitted(&mut self, m: &NewMeasure) -> Result<Recorded, Error> {
        let row = MeasureRow::submitted(m);
        let store = self.store.clone();
        if let Some(event) = store.insert(&mut *self.tx, m, &row).await? {
            self.recorded.push(event);
            return Ok(Recorded::New(row));
        }
        self.earlier(&m.idempotency_key, &m.request)
            .await?
            .map(Recorded::Duplicate)
            .ok_or_else(|| Error::Corrupt("a conflicting idempotency key vanished".into()))
    }

    /// Remembers that `remainder` is the id the freeze of `deduction`'s remainder will have.
    pub async fn add_remainder(&mut self, remainder: Uuid, deduction: Uuid) -> Result<(), Error> {
        sqlx::query("INSERT INTO remainders (measure_id, deduction_id) VALUES ($1, $2)")
            .bind(remainder)
            .bind(deduction)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The court's earlier case request (amendment, closing) under `key`: `None` if the key is
    /// new, `Some(())` if it was for the same `request`, [`Error::KeyReused`] if for another.
    pub async fn earlier_request(
        &mut self,
        key: &IdempotencyKey,
        request: &[u8],
    ) -> Result<Option<()>, Error> {
        let found: Option<(Option<Vec<u8>>,)> = sqlx::query_as(
            "SELECT request FROM case_events WHERE court_code = $1 AND idempotency_key = $2",
        )
        .bind(&self.row.court_code)
        .bind(key.as_str())
        .fetch_optional(&mut *self.tx)
        .await?;
        match found {
            None => Ok(None),
            Some((Some(original),)) if original == request => Ok(Some(())),
            Some(_) => Err(tonic::Status::already_exists(
                "idempotency_key was already used by this court for a different case request; choose a new key",
            )
            .into()),
        }
    }

    /// Changes the case: its amount, state and close reason as in `row`, a new version.
    pub async fn update(
        &mut self,
        amount_fen: i64,
        state: CaseState,
        close_reason: &str,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        self.row = sqlx::query_as(concat!(
            "UPDATE cases SET enforcement_amount_fen = $3, state = $4, close_reason = $5, \
                 version = version + 1, updated_at = $6 \
             WHERE court_code = $1 AND case_number = $2 RETURNING ",
            case_columns!()
        ))
        .bind(&self.row.court_code)
        .bind(&self.row.case_number)
        .bind(amount_fen)
        .bind(state.as_str())
        .bind(close_reason)
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Remembers the ledger as announced now (frozen, pending, deducted).
    pub async fn announced(&mut self, totals: [i64; 3]) -> Result<(), Error> {
        sqlx::query(
            "UPDATE cases SET frozen_fen = $3, pending_fen = $4, deducted_fen = $5 \
             WHERE court_code = $1 AND case_number = $2",
        )
        .bind(&self.row.court_code)
        .bind(&self.row.case_number)
        .bind(totals[0])
        .bind(totals[1])
        .bind(totals[2])
        .execute(&mut *self.tx)
        .await?;
        [
            self.row.frozen_fen,
            self.row.pending_fen,
            self.row.deducted_fen,
        ] = totals;
        Ok(())
    }

    /// Marks every audit entry of the case's measures up to now as looked at.
    pub async fn checked(&mut self) -> Result<(), Error> {
        sqlx::query(
            "UPDATE cases SET checked_event = GREATEST(checked_event, \
                 (SELECT COALESCE(MAX(id), 0) FROM measure_events \
                  WHERE court_code = $1 AND case_number = $2)) \
             WHERE court_code = $1 AND case_number = $2",
        )
        .bind(&self.row.court_code)
        .bind(&self.row.case_number)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Writes a case-level audit entry, told to the hub once the transaction commits.
    pub async fn record_event(
        &mut self,
        event: NewCaseEvent,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let (key, request) = match event.request {
            Some((key, request)) => (Some(key.to_string()), Some(request)),
            None => (None, None),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO case_events (court_code, case_number, version, kind, message, snapshot, \
                 order_snapshot, measure_id, idempotency_key, request, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(&self.row.court_code)
        .bind(&self.row.case_number)
        .bind(self.row.version)
        .bind(event.kind)
        .bind(&event.message)
        .bind(&event.snapshot)
        .bind(event.order.as_deref())
        .bind(event.measure_id)
        .bind(key)
        .bind(request)
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await?;
        self.case_events.push(CaseEventRow {
            id,
            court_code: self.row.court_code.clone(),
            case_number: self.row.case_number.clone(),
            version: self.row.version,
            kind: event.kind,
            message: event.message,
            snapshot: event.snapshot,
            order_snapshot: event.order,
            measure_id: event.measure_id,
            at: now,
        });
        Ok(())
    }

    /// Commits: the case's changes, measures and audit entries become durable together.
    pub async fn commit(self) -> Result<(), Error> {
        self.tx.commit().await?;
        // Still the case's turn: this process's next change of the case is told after. Every
        // measure recorded added an instruction to the outbox.
        let outbox = !self.recorded.is_empty();
        self.store
            .hub
            .committed(self.recorded, self.case_events, outbox);
        Ok(())
    }
}
