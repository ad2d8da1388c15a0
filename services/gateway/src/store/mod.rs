//! The gateway's tables, and the only place in the gateway that speaks SQL.
//!
//! ```text
//! measures         one row per measure, moving forward through the state machine
//!   ├─ outbox      instructions recorded with their measure, until the broker confirms them
//!   ├─ measure_events   the audit log: one entry per change, the measure as it stood after it
//!   └─ inquiry_answers  per agency asked by an inquiry: pending, answered or refused
//! agencies         the registry of what adapters announced
//! agency_keys      the agencies' public signing keys, with their validity
//! report_receipts  every agency report accepted, by id (replays are refused), with the hops
//!                  an answer reports (delivered, answered, sent) and its trace id
//! audit_chain      every entry of measure_events and case_events, hash-chained
//! ```
//!
//! Every change of a measure is written with its audit entry in the same transaction, and the
//! entry is told to the [`EventHub`] once it commits, so that every gateway instance can stream
//! it to its watchers ([`crate::events`]). The modules below group the statements by who needs
//! them: [`measures`] (recording and reading), [`outbox`] (the relay), [`reports`] (applying what
//! agencies report), [`timers`], [`registry`], [`inquiries`] and [`trace`] (a measure's hops); the case ledger's tables
//! (`cases`, `case_events`, `case_orders`, `case_order_accounts`, `remainders`) are [`cases`],
//! [`orders`], [`remainders`] and [`lapse`]; operators' figures read across them in
//! [`figures`].
//!
//! Which states and kinds a statement means comes from the domain's own rules
//! ([`MeasureState::is_undelivered`], [`MeasureKind::has_period`], …): the lists in the SQL are
//! written from them once, when the statement is first used.

use std::sync::LazyLock;

use anyhow::Context;
use enforcement_proto::v1 as pb;
use hub_domain::{MeasureKind, MeasureState};
use prost::Message;
use sqlx::{
    PgConnection, PgPool, Postgres,
    postgres::{PgArguments, PgListener},
    query::QueryAs,
};
use time::OffsetDateTime;

/// Columns of `measures` read into a [`MeasureRow`], as a literal for `concat!` (queries stay
/// static strings).
macro_rules! measure_columns {
    () => {
        "id, court_code, case_number, kind, agency_kind, agency_code, asset_key, asset_display, \
         target_measure_id, requested_fen, state, held_fen, waiting_position, registration_number, \
         reason_code, reason_message, agency_revision, version, instruction_id, deadline, \
         submitted_at, effective_at, expires_at, updated_at, inquiry_addressed, \
         inquiry_answered, inquiry_found, inquiry_found_nothing, inquiry_refused, \
         inquiry_unanswered, warned_within_days, amount_fen, overdue_level"
    };
}

pub mod audit;
pub mod cases;
pub mod evidence;
pub mod figures;
pub mod inquiries;
pub mod keys;
pub mod lapse;
pub mod measures;
pub mod orders;
pub mod outbox;
pub mod registry;
pub mod remainders;
pub mod reports;
pub mod timers;
pub mod trace;

pub use measures::{Addressee, MeasureRow, NewMeasure, Recorded};

use crate::{
    Error,
    events::{Due, EVENT_BUFFER, EventHub},
};

/// Most audit-entry ids announced in one notification (the payload limit is 8,000 bytes).
const NOTIFY_CHUNK: usize = 300;

/// The gateway's tables in its schema, the channel its audit entries are announced on to other
/// instances, and the hub that tells this process's watchers of what commits.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    schema: String,
    channel: String,
    hub: EventHub,
    /// Who in this process is working on which case ([`cases::CaseTx`]).
    cases: cases::LocalLocks,
}

impl Store {
    /// Connects with a pool confined to `schema`, creating and migrating the schema.
    pub async fn connect(url: &str, schema: &str, connections: u32) -> anyhow::Result<Self> {
        let pool =
            hub_runtime::postgres::connect(url, schema, "enforcement-gateway", connections).await?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("migrating the gateway schema")?;
        Ok(Self {
            pool,
            schema: schema.to_owned(),
            channel: format!("{schema}_events"),
            hub: EventHub::new(EVENT_BUFFER),
            cases: cases::LocalLocks::default(),
        })
    }

    /// The hub committed audit entries are told to.
    pub fn hub(&self) -> &EventHub {
        &self.hub
    }

    /// Tells other gateway instances what `origin` committed ([`EventHub::ring`]): the ids of
    /// audit entries on their channels, in chunks a notification can carry, and a wake-up of
    /// the relay. One statement in a transaction of its own that does not wait for its flush:
    /// it holds the notification lock only for its commit, and lost, it delays nothing for good.
    pub async fn ring(&self, origin: &str, due: &Due) -> Result<(), sqlx::Error> {
        let payloads = |ids: &[i64]| -> Vec<String> {
            ids.chunks(NOTIFY_CHUNK)
                .map(|chunk| {
                    let ids: Vec<String> = chunk.iter().map(i64::to_string).collect();
                    format!("{origin} {}", ids.join(","))
                })
                .collect()
        };
        sqlx::query(
            "SELECT set_config('synchronous_commit', 'off', true), \
                 (SELECT count(pg_notify($1, p)) FROM UNNEST($2::text[]) p), \
                 (SELECT count(pg_notify($3, p)) FROM UNNEST($4::text[]) p), \
                 (SELECT count(pg_notify($5, $6)) WHERE $7)",
        )
        .bind(&self.channel)
        .bind(payloads(&due.measures))
        .bind(self.case_channel())
        .bind(payloads(&due.cases))
        .bind(self.outbox_channel())
        .bind(origin)
        .bind(due.outbox)
        .execute(&self.pool)
        .await
        .map(drop)
    }

    /// Keeps the gateway's tables vacuumed and their statistics current until `shutdown`
    /// ([`hub_runtime::postgres::keep_tables`]).
    pub fn keep_tables(
        &self,
        every: std::time::Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> impl Future<Output = ()> + use<> {
        hub_runtime::postgres::keep_tables(self.pool.clone(), self.schema.clone(), every, shutdown)
    }

    /// A listener on the channels audit entries and outbox activity are announced on.
    pub async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener
            .listen_all([
                self.channel.as_str(),
                self.outbox_channel().as_str(),
                self.case_channel().as_str(),
            ])
            .await?;
        Ok(listener)
    }

    /// The channel audit-entry ids are announced on.
    pub fn events_channel(&self) -> &str {
        &self.channel
    }

    /// The channel that wakes every instance's relay when an instruction is recorded.
    pub fn outbox_channel(&self) -> String {
        format!("{}_outbox", self.channel)
    }

    /// The channel the ids of case-level audit entries (`case_events`) are announced on.
    pub fn case_channel(&self) -> String {
        format!("{}_cases", self.channel)
    }

    /// Audit entries by id, in id order.
    pub async fn events(&self, ids: &[i64]) -> Result<Vec<EventRow>, Error> {
        Ok(sqlx::query_as(
            "SELECT id, measure_id, court_code, case_number, version, kind, message, snapshot, at, \
                 detail \
             FROM measure_events WHERE id = ANY($1) ORDER BY id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A measure's audit entries of versions after `after` and before `before`, in order.
    pub async fn events_between(
        &self,
        measure: uuid::Uuid,
        after: i64,
        before: i64,
    ) -> Result<Vec<EventRow>, Error> {
        Ok(sqlx::query_as(
            "SELECT id, measure_id, court_code, case_number, version, kind, message, snapshot, at, \
                 detail \
             FROM measure_events WHERE measure_id = $1 AND version > $2 AND version < $3 \
             ORDER BY id",
        )
        .bind(measure)
        .bind(after)
        .bind(before)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// One audit entry to write: the measure as it now stands, what happened, and for an answer the
/// encoded `InquiryAnswerEvent`.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub row: MeasureRow,
    pub kind: pb::EventKind,
    pub message: String,
    pub detail: Option<Vec<u8>>,
}

impl NewEvent {
    /// A change of state or details, without detail.
    pub fn new(row: MeasureRow, kind: pb::EventKind, message: impl Into<String>) -> Self {
        Self {
            row,
            kind,
            message: message.into(),
            detail: None,
        }
    }
}

/// An audit entry as read back for watchers.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct EventRow {
    pub id: i64,
    pub measure_id: uuid::Uuid,
    pub court_code: String,
    pub case_number: String,
    pub version: i64,
    pub kind: i32,
    pub message: String,
    pub snapshot: Vec<u8>,
    pub at: OffsetDateTime,
    pub detail: Option<Vec<u8>>,
    /// The measure as the change left it, for an entry told by this process (not read back).
    #[sqlx(skip)]
    pub row: Option<MeasureRow>,
}

impl EventRow {
    /// The entry `id` written for the change of kind `kind` that left the measure as `row`, as
    /// this process tells it (with `row`).
    fn written(
        id: i64,
        row: &MeasureRow,
        kind: pb::EventKind,
        message: String,
        snapshot: Vec<u8>,
        detail: Option<Vec<u8>>,
    ) -> Self {
        Self {
            id,
            measure_id: row.id,
            court_code: row.court_code.clone(),
            case_number: row.case_number.clone(),
            version: row.version,
            kind: kind as i32,
            message,
            snapshot,
            at: row.updated_at,
            detail,
            row: Some(row.clone()),
        }
    }

    /// The watch event this entry becomes.
    pub fn to_proto(&self) -> pb::MeasureEvent {
        pb::MeasureEvent {
            kind: self.kind,
            measure: pb::Measure::decode(self.snapshot.as_slice()).ok(),
            at: Some(enforcement_proto::convert::timestamp(self.at)),
            message: self.message.clone(),
            case: None,
            order: None,
        }
    }
}

/// Writes audit entries, and adds them as written, with their ids, to `written`: to be told to
/// the [`EventHub`] once the transaction commits.
async fn record_events(
    conn: &mut PgConnection,
    events: &[NewEvent],
    written: &mut Vec<EventRow>,
) -> Result<(), sqlx::Error> {
    for chunk in events.chunks(NOTIFY_CHUNK) {
        let mut measure_ids = Vec::with_capacity(chunk.len());
        let mut courts = Vec::with_capacity(chunk.len());
        let mut cases = Vec::with_capacity(chunk.len());
        let mut versions = Vec::with_capacity(chunk.len());
        let mut kinds = Vec::with_capacity(chunk.len());
        let mut states = Vec::with_capacity(chunk.len());
        let mut messages = Vec::with_capacity(chunk.len());
        let mut snapshots = Vec::with_capacity(chunk.len());
        let mut ats = Vec::with_capacity(chunk.len());
        let mut details = Vec::with_capacity(chunk.len());
        for e in chunk {
            measure_ids.push(e.row.id);
            courts.push(e.row.court_code.as_str());
            cases.push(e.row.case_number.as_str());
            versions.push(e.row.version);
            kinds.push(e.kind as i32);
            states.push(e.row.state.as_str());
            messages.push(e.message.as_str());
            snapshots.push(e.row.to_proto().encode_to_vec());
            ats.push(e.row.updated_at);
            details.push(e.detail.as_deref());
        }
        // The entries are numbered in the order UNNEST gives them, the order of `chunk`.
        let ids: Vec<i64> = sqlx::query_scalar(
            "INSERT INTO measure_events (measure_id, court_code, case_number, version, kind, \
                 state, message, snapshot, at, detail) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::int4[], \
                 $6::text[], $7::text[], $8::bytea[], $9::timestamptz[], $10::bytea[]) \
             RETURNING id",
        )
        .bind(&measure_ids)
        .bind(&courts)
        .bind(&cases)
        .bind(&versions)
        .bind(&kinds)
        .bind(&states)
        .bind(&messages)
        .bind(&snapshots)
        .bind(&ats)
        .bind(&details)
        .fetch_all(&mut *conn)
        .await?;
        if ids.len() != chunk.len() {
            return Err(sqlx::Error::Protocol(format!(
                "{} audit entries written for {}",
                ids.len(),
                chunk.len()
            )));
        }
        written.extend(
            chunk
                .iter()
                .zip(ids)
                .zip(snapshots)
                .map(|((e, id), snapshot)| {
                    EventRow::written(
                        id,
                        &e.row,
                        e.kind,
                        e.message.clone(),
                        snapshot,
                        e.detail.clone(),
                    )
                }),
        );
    }
    Ok(())
}

/// Runs `update` — an `UPDATE measures … RETURNING` [`measure_columns!`] — and writes an audit
/// entry of `kind` for every measure it changed, with `message(row)`. Returns the rows as they
/// now stand. This is the shape of every change the hub makes on its own (dispatch, rejection
/// of the unroutable, expiry, the close of an inquiry, a warning).
async fn transition<'q>(
    conn: &mut PgConnection,
    update: QueryAs<'q, Postgres, MeasureRow, PgArguments>,
    kind: pb::EventKind,
    message: impl Fn(&MeasureRow) -> String,
    written: &mut Vec<EventRow>,
) -> Result<Vec<MeasureRow>, sqlx::Error> {
    let changed = update.fetch_all(&mut *conn).await?;
    let events: Vec<NewEvent> = changed
        .iter()
        .map(|row| NewEvent::new(row.clone(), kind, message(row)))
        .collect();
    record_events(conn, &events, written).await?;
    Ok(changed)
}

/// The quoted names of the states that pass `test`, for an SQL `IN (…)`.
fn states_where(test: impl Fn(MeasureState) -> bool) -> String {
    quoted(
        MeasureState::ALL
            .into_iter()
            .filter(|s| test(*s))
            .map(MeasureState::as_str),
    )
}

/// The quoted names of the measure kinds that pass `test`, for an SQL `IN (…)`.
fn kinds_where(test: impl Fn(MeasureKind) -> bool) -> String {
    quoted(
        MeasureKind::ALL
            .into_iter()
            .filter(|k| test(*k))
            .map(MeasureKind::as_str),
    )
}

fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The states of measures in force (`'effective', 'partial'`).
static IN_FORCE: LazyLock<String> = LazyLock::new(|| states_where(MeasureState::is_in_force));
/// The states of measures no agency has taken yet (`'submitted', 'dispatched'`).
static UNDELIVERED: LazyLock<String> = LazyLock::new(|| states_where(MeasureState::is_undelivered));
/// The states in which the agency's answer is still awaited: overdue measures are among them.
static UNANSWERED: LazyLock<String> =
    LazyLock::new(|| states_where(|s| s.is_undelivered() || s == MeasureState::Delivered));
/// The kinds of measures that bind an asset for a period.
static WITH_PERIOD: LazyLock<String> = LazyLock::new(|| kinds_where(MeasureKind::has_period));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_in_the_sql_come_from_the_domain() {
        assert_eq!(*IN_FORCE, "'effective', 'partial'");
        assert_eq!(*UNDELIVERED, "'submitted', 'dispatched'");
        assert_eq!(
            *WITH_PERIOD,
            "'freeze', 'seal_up', 'distraint', 'exit_restriction'"
        );
    }

    #[test]
    fn the_expiry_index_covers_exactly_the_kinds_with_a_period() {
        let migration = include_str!("../../migrations/0028_expiry_by_kind.sql");
        assert!(migration.contains(&format!("state IN ({})", *IN_FORCE)));
        assert!(migration.contains(&format!("kind IN ({})", *WITH_PERIOD)));
    }
}
