//! PostgreSQL access: measures, the outbox and the audit log.
//!
//! Every change of a measure is written together with its audit entry in one transaction, and
//! the entry's id is announced with `pg_notify` on commit so every gateway instance can stream it
//! to its watchers.

use enforcement_proto::{
    convert::{self, timestamp, timestamp_opt},
    v1 as pb,
};
use hub_domain::{AgencyId, MeasureKind, MeasureState};
use prost::Message;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// Columns of `measures` read into a [`MeasureRow`], as a literal for `concat!` (queries stay
/// static strings).
#[macro_export]
macro_rules! measure_columns {
    () => {
        "id, court_code, case_number, kind, agency_kind, agency_code, asset_key, asset_display, \
         target_measure_id, requested_fen, state, held_fen, waiting_position, registration_number, \
         reason_code, reason_message, agency_revision, version, instruction_id, deadline, \
                  submitted_at, effective_at, expires_at, updated_at, inquiry_addressed, \
         inquiry_answered, inquiry_found, inquiry_found_nothing, inquiry_refused, \
         inquiry_unanswered, warned_within_days"
    };
}

/// Most audit-entry ids announced in one notification (the payload limit is 8,000 bytes).
const NOTIFY_CHUNK: usize = 300;

/// A measure as stored.
#[derive(sqlx::FromRow, Clone, Debug, PartialEq)]
pub struct MeasureRow {
    pub id: Uuid,
    pub court_code: String,
    pub case_number: String,
    pub kind: String,
    pub agency_kind: String,
    pub agency_code: String,
    pub asset_key: String,
    pub asset_display: String,
    pub target_measure_id: Option<Uuid>,
    pub requested_fen: i64,
    pub state: String,
    pub held_fen: i64,
    pub waiting_position: i32,
    pub registration_number: String,
    pub reason_code: i32,
    pub reason_message: String,
    pub agency_revision: i64,
    pub version: i64,
    pub instruction_id: Uuid,
    pub deadline: OffsetDateTime,
    pub submitted_at: OffsetDateTime,
    pub effective_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
    pub inquiry_addressed: i32,
    pub inquiry_answered: i32,
    pub inquiry_found: i32,
    pub inquiry_found_nothing: i32,
    pub inquiry_refused: i32,
    pub inquiry_unanswered: i32,
    pub warned_within_days: Option<i32>,
}

impl MeasureRow {
    /// The row a new measure is recorded as. Times are cut to microseconds, PostgreSQL's
    /// precision, so the row equals what a later read returns.
    pub fn submitted(m: &NewMeasure) -> Self {
        let submitted_at = to_micros(m.submitted_at);
        Self {
            id: m.id,
            court_code: m.court_code.clone(),
            case_number: m.case_number.clone(),
            kind: m.kind.as_str().to_string(),
            agency_kind: m.agency.kind.as_str().to_string(),
            agency_code: m.agency.code.to_string(),
            asset_key: m.asset_key.clone(),
            asset_display: m.asset_display.clone(),
            target_measure_id: m.target,
            requested_fen: m.requested_fen,
            state: MeasureState::Submitted.as_str().to_string(),
            held_fen: 0,
            waiting_position: 0,
            registration_number: String::new(),
            reason_code: 0,
            reason_message: String::new(),
            agency_revision: 0,
            version: 1,
            instruction_id: m.instruction_id,
            deadline: to_micros(m.deadline),
            submitted_at,
            effective_at: None,
            expires_at: None,
            updated_at: submitted_at,
            inquiry_addressed: m.addressed,
            inquiry_answered: 0,
            inquiry_found: 0,
            inquiry_found_nothing: 0,
            inquiry_refused: 0,
            inquiry_unanswered: 0,
            warned_within_days: None,
        }
    }

    /// The measure's state. Rows are written only by this crate, so an unknown name is a
    /// corrupted row; it reads as `Failed` so nothing acts on it further.
    pub fn state(&self) -> MeasureState {
        MeasureState::parse(&self.state).unwrap_or(MeasureState::Failed)
    }

    /// The measure's kind, if the stored name is known.
    pub fn kind(&self) -> Option<MeasureKind> {
        MeasureKind::parse(&self.kind).ok()
    }

    /// Whether the measure is addressed to `agency`.
    pub fn is_for(&self, agency: &AgencyId) -> bool {
        self.agency_kind == agency.kind.as_str() && self.agency_code == agency.code.as_str()
    }

    /// The court's view of the measure.
    pub fn to_proto(&self) -> pb::Measure {
        let agency_kind = hub_domain::AgencyKind::parse(&self.agency_kind)
            .map(|k| convert::agency_kind_to_proto(k) as i32)
            .unwrap_or_default();
        pb::Measure {
            measure_id: self.id.to_string(),
            court_code: self.court_code.clone(),
            case_number: self.case_number.clone(),
            kind: self
                .kind()
                .map(|k| convert::kind_to_proto(k) as i32)
                .unwrap_or_default(),
            agency: Some(pb::AgencyRef {
                kind: agency_kind,
                code: self.agency_code.clone(),
            }),
            state: convert::state_to_proto(self.state()) as i32,
            requested_fen: self.requested_fen,
            held_fen: self.held_fen,
            waiting_position: u32::try_from(self.waiting_position).unwrap_or(0),
            asset: self.asset_display.clone(),
            target_measure_id: self
                .target_measure_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            registration_number: self.registration_number.clone(),
            reason: (self.reason_code != 0 || !self.reason_message.is_empty()).then(|| {
                pb::Reason {
                    code: self.reason_code,
                    message: self.reason_message.clone(),
                }
            }),
            submitted_at: Some(timestamp(self.submitted_at)),
            effective_at: timestamp_opt(self.effective_at),
            expires_at: timestamp_opt(self.expires_at),
            updated_at: Some(timestamp(self.updated_at)),
            version: u64::try_from(self.version).unwrap_or(0),
            inquiry: (self.kind == MeasureKind::Inquiry.as_str()).then(|| {
                let count = |n: i32| u32::try_from(n).unwrap_or(0);
                pb::InquiryProgress {
                    addressed: count(self.inquiry_addressed),
                    answered: count(self.inquiry_answered),
                    found: count(self.inquiry_found),
                    found_nothing: count(self.inquiry_found_nothing),
                    refused: count(self.inquiry_refused),
                    unanswered: count(self.inquiry_unanswered),
                    deadline: Some(timestamp(self.deadline)),
                }
            }),
        }
    }
}

/// A measure to record, with the instruction that carries it out.
#[derive(Debug, Clone)]
pub struct NewMeasure {
    pub id: Uuid,
    pub court_code: String,
    pub idempotency_key: String,
    /// The canonical encoded request.
    pub request: Vec<u8>,
    pub case_number: String,
    pub kind: MeasureKind,
    pub agency: AgencyId,
    pub asset_key: String,
    pub asset_display: String,
    pub target: Option<Uuid>,
    pub requested_fen: i64,
    pub instruction_id: Uuid,
    pub deadline: OffsetDateTime,
    pub submitted_at: OffsetDateTime,
    /// The encoded `Instruction`.
    pub payload: Vec<u8>,
    /// For an inquiry: how many agencies it is addressed to; otherwise 0.
    pub addressed: i32,
}

/// What [`Store::record`] did.
#[derive(Debug)]
pub enum Recorded {
    /// A new measure, durable with its outbox row and audit entry.
    New(MeasureRow),
    /// The court had used the key for the same request: the original measure.
    Duplicate(MeasureRow),
}

/// Failures of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The court used the idempotency key before for a different request.
    #[error("idempotency key already used for a different request (measure {0})")]
    KeyReused(Uuid),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// One audit entry to write.
pub struct NewEvent<'a> {
    pub row: &'a MeasureRow,
    pub kind: pb::EventKind,
    pub message: String,
    /// For an answer: the encoded `InquiryAnswerEvent`.
    pub detail: Option<Vec<u8>>,
}

/// An audit entry as read back for watchers.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct EventRow {
    pub id: i64,
    pub measure_id: Uuid,
    pub court_code: String,
    pub case_number: String,
    pub version: i64,
    pub kind: i32,
    pub message: String,
    pub snapshot: Vec<u8>,
    pub at: OffsetDateTime,
    pub detail: Option<Vec<u8>>,
}

impl EventRow {
    /// The watch event this entry becomes.
    pub fn to_proto(&self) -> pb::MeasureEvent {
        pb::MeasureEvent {
            kind: self.kind,
            measure: pb::Measure::decode(self.snapshot.as_slice()).ok(),
            at: Some(timestamp(self.at)),
            message: self.message.clone(),
        }
    }
}

/// The gateway's tables.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    channel: String,
}

impl Store {
    /// Wraps a pool whose search path starts with the gateway's schema. `channel` is the
    /// `NOTIFY` channel audit entries are announced on.
    pub fn new(pool: PgPool, channel: String) -> Self {
        Self { pool, channel }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The notification channel for audit entries.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Records a measure, its outbox row and its first audit entry, atomically, in one statement
    /// (one round trip, one commit). A resubmission of the same request under the same key
    /// returns the original instead.
    pub async fn record(&self, m: &NewMeasure) -> Result<Recorded, StoreError> {
        let row = MeasureRow::submitted(m);
        let message = "recorded by the hub";
        let inserted: Option<(i64,)> = sqlx::query_as(
            "WITH m AS ( \
                 INSERT INTO measures (id, court_code, idempotency_key, request, case_number, kind, \
                     agency_kind, agency_code, asset_key, asset_display, target_measure_id, \
                     requested_fen, state, instruction_id, deadline, submitted_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) \
                 ON CONFLICT (court_code, idempotency_key) DO NOTHING \
                 RETURNING id), \
             o AS ( \
                 INSERT INTO outbox (measure_id, instruction_id, routing_key, court_code, asset_key, \
                     deadline, payload, created_at) \
                 SELECT id, $14, $17, $2, $9, $15, $18, $16 FROM m), \
             e AS ( \
                 INSERT INTO measure_events (measure_id, court_code, case_number, version, kind, \
                     state, message, snapshot, at) \
                 SELECT id, $2, $5, $19, $20, $13, $21, $22, $16 FROM m \
                 RETURNING id) \
             SELECT e.id, pg_notify($23, e.id::text), pg_notify($24, '') FROM e",
        )
        .bind(row.id)
        .bind(&row.court_code)
        .bind(&m.idempotency_key)
        .bind(&m.request)
        .bind(&row.case_number)
        .bind(&row.kind)
        .bind(&row.agency_kind)
        .bind(&row.agency_code)
        .bind(&row.asset_key)
        .bind(&row.asset_display)
        .bind(row.target_measure_id)
        .bind(row.requested_fen)
        .bind(&row.state)
        .bind(row.instruction_id)
        .bind(row.deadline)
        .bind(row.submitted_at)
        .bind(m.agency.routing_key())
        .bind(&m.payload)
        .bind(row.version)
        .bind(pb::EventKind::StateChanged as i32)
        .bind(message)
        .bind(row.to_proto().encode_to_vec())
        .bind(&self.channel)
        // Wakes the relay of every gateway instance (the leader publishes).
        .bind(outbox_channel(&self.channel))
        .fetch_optional(&self.pool)
        .await?;
        if inserted.is_some() {
            return Ok(Recorded::New(row));
        }
        let (existing, request): (Uuid, Vec<u8>) = sqlx::query_as(
            "SELECT id, request FROM measures WHERE court_code = $1 AND idempotency_key = $2",
        )
        .bind(&m.court_code)
        .bind(&m.idempotency_key)
        .fetch_one(&self.pool)
        .await?;
        if request != m.request {
            return Err(StoreError::KeyReused(existing));
        }
        let row = self
            .get(existing)
            .await?
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))?;
        Ok(Recorded::Duplicate(row))
    }

    /// One measure.
    pub async fn get(&self, id: Uuid) -> Result<Option<MeasureRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            measure_columns!(),
            " FROM measures WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// A court's measures in one case, oldest first, after `after`.
    pub async fn list_case(
        &self,
        court: &str,
        case_number: &str,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<MeasureRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            measure_columns!(),
            " FROM measures \
             WHERE court_code = $1 AND case_number = $2 AND ($3::uuid IS NULL OR id > $3) \
             ORDER BY id LIMIT $4"
        ))
        .bind(court)
        .bind(case_number)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// A court's measures in force expiring between `now` and `until`, soonest first, after
    /// `after` (expiry, id).
    pub async fn expiring(
        &self,
        court: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        after: Option<(OffsetDateTime, Uuid)>,
        limit: i64,
    ) -> Result<Vec<MeasureRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            measure_columns!(),
            " FROM measures \
                          WHERE court_code = $1 AND state IN ('effective', 'partial') \
               AND kind IN ('freeze', 'seal_up', 'distraint', 'exit_restriction') \
               AND expires_at > $2 AND expires_at <= $3 \
               AND ($4::timestamptz IS NULL OR (expires_at, id) > ($4, $5)) \
             ORDER BY expires_at, id LIMIT $6"
        ))
        .bind(court)
        .bind(now)
        .bind(until)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// A release of `target` that is still under way or done, if any.
    pub async fn live_release_of(&self, target: Uuid) -> Result<Option<MeasureRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            measure_columns!(),
            " FROM measures \
             WHERE target_measure_id = $1 AND kind = 'release' \
               AND state NOT IN ('rejected', 'failed', 'expired') \
             ORDER BY id LIMIT 1"
        ))
        .bind(target)
        .fetch_optional(&self.pool)
        .await
    }

    /// Audit entries by id, in id order.
    pub async fn events(&self, ids: &[i64]) -> Result<Vec<EventRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, measure_id, court_code, case_number, version, kind, message, snapshot, at, \
                 detail \
             FROM measure_events WHERE id = ANY($1) ORDER BY id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await
    }
}

/// `at` cut to whole microseconds.
fn to_micros(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .unwrap_or(at)
}

/// The channel the outbox is announced on.
pub fn outbox_channel(events_channel: &str) -> String {
    format!("{events_channel}_outbox")
}

/// Writes audit entries and announces their ids on `channel` when the transaction commits.
pub async fn record_events(
    conn: &mut PgConnection,
    channel: &str,
    events: &[NewEvent<'_>],
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
            courts.push(e.row.court_code.clone());
            cases.push(e.row.case_number.clone());
            versions.push(e.row.version);
            kinds.push(e.kind as i32);
            states.push(e.row.state.clone());
            messages.push(e.message.clone());
            snapshots.push(e.row.to_proto().encode_to_vec());
            ats.push(e.row.updated_at);
            details.push(e.detail.clone());
        }
        sqlx::query(
            "WITH entries AS ( \
                                  INSERT INTO measure_events (measure_id, court_code, case_number, version, kind, \
                     state, message, snapshot, at, detail) \
                 SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::int4[], \
                     $6::text[], $7::text[], $8::bytea[], $9::timestamptz[], $11::bytea[]) \
                 RETURNING id) \
             SELECT pg_notify($10, string_agg(id::text, ',')) FROM entries",
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
        .bind(channel)
        .bind(&details)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
