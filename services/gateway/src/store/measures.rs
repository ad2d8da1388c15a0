//! Measures: recording one with its outbox row and first audit entry, and reading them back.

use std::sync::LazyLock;

use enforcement_proto::{
    convert::{self, timestamp, timestamp_opt},
    v1 as pb,
};
use hub_domain::{
    AgencyCode, AgencyId, AgencyKind, CourtCode, IdempotencyKey, MeasureKind, MeasureState,
};
use prost::Message;
use sqlx::{FromRow, Row, postgres::PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{IN_FORCE, Store, WITH_PERIOD};
use crate::Error;

/// A measure as stored.
#[derive(sqlx::FromRow, Clone, Debug, PartialEq)]
pub struct MeasureRow {
    pub id: Uuid,
    /// The ordering court; only it may see, follow, release or renew the measure.
    pub court_code: String,
    /// The case, normalised (full-width parentheses).
    pub case_number: String,
    #[sqlx(try_from = "String")]
    pub kind: MeasureKind,
    /// The agency that must act (or, for an inquiry of several, their kind).
    #[sqlx(flatten)]
    pub agency: Addressee,
    /// Instructions with the same asset key reach the agency in the order they were accepted.
    pub asset_key: String,
    /// The asset, masked for display.
    pub asset_display: String,
    /// For a release or renewal: the measure it acts on.
    pub target_measure_id: Option<Uuid>,
    /// Amount ordered in fen (freeze, deduction), else zero.
    pub requested_fen: i64,
    #[sqlx(try_from = "String")]
    pub state: MeasureState,
    /// What the agency reports it holds, in fen.
    pub held_fen: i64,
    /// Place in the waiting line (轮候), 0 unless waiting.
    pub waiting_position: i32,
    /// The registry's number for a seal-up, distraint or exit restriction.
    pub registration_number: String,
    /// The agency's coded reason (a `pb::ReasonCode`), 0 if none.
    pub reason_code: i32,
    pub reason_message: String,
    /// The highest agency revision applied; older or repeated reports are ignored.
    pub agency_revision: i64,
    /// Increases with every change; watch streams use it to skip what a client has seen.
    pub version: i64,
    pub instruction_id: Uuid,
    /// When the instruction stops being valid (for an inquiry: when answers stop being awaited).
    pub deadline: OffsetDateTime,
    pub submitted_at: OffsetDateTime,
    pub effective_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
    /// Inquiry progress: agencies asked, and how many answered, found, found nothing, refused,
    /// or had not answered when the deadline came.
    pub inquiry_addressed: i32,
    pub inquiry_answered: i32,
    pub inquiry_found: i32,
    pub inquiry_found_nothing: i32,
    pub inquiry_refused: i32,
    pub inquiry_unanswered: i32,
    /// The smallest expiry-warning horizon (in days) already sent for the current expiry.
    pub warned_within_days: Option<i32>,
    /// What a freeze is for now, as its bank reports it (ordered, less deductions and
    /// reductions); `None` until reported: `requested_fen`.
    pub amount_fen: Option<i64>,
    /// 0, or how far past its answer deadline the measure went unanswered (督办): 1 past it, 2
    /// past twice it ([`crate::overdue`]).
    pub overdue_level: i16,
}

/// Whom a measure is addressed to: one agency, or (an inquiry of several, or of every agency of
/// a kind) only a kind; the inquiry's answers then name each agency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addressee {
    Agency(AgencyId),
    Several(AgencyKind),
}

impl Addressee {
    /// The kind of agency.
    pub fn kind(&self) -> AgencyKind {
        match self {
            Self::Agency(agency) => agency.kind,
            Self::Several(kind) => *kind,
        }
    }

    /// The agency's code as stored: empty for several.
    pub fn code(&self) -> &str {
        match self {
            Self::Agency(agency) => agency.code.as_str(),
            Self::Several(_) => "",
        }
    }

    /// Whether `agency` is the one addressed.
    pub fn is(&self, agency: &AgencyId) -> bool {
        matches!(self, Self::Agency(a) if a == agency)
    }

    /// Whether `agency` may answer for this addressee: it is the agency, or of the kind asked.
    pub fn includes(&self, agency: &AgencyId) -> bool {
        match self {
            Self::Agency(a) => a == agency,
            Self::Several(kind) => *kind == agency.kind,
        }
    }

    /// The wire form: an empty code for several.
    pub fn to_proto(&self) -> pb::AgencyRef {
        pb::AgencyRef {
            kind: convert::agency_kind_to_proto(self.kind()) as i32,
            code: self.code().to_string(),
        }
    }
}

impl<'r> FromRow<'r, PgRow> for Addressee {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        let kind: String = row.try_get("agency_kind")?;
        let code: String = row.try_get("agency_code")?;
        let decode = |index: &str, source: Box<dyn std::error::Error + Send + Sync>| {
            sqlx::Error::ColumnDecode {
                index: index.to_string(),
                source,
            }
        };
        let kind = AgencyKind::parse(&kind).map_err(|e| decode("agency_kind", Box::new(e)))?;
        if code.is_empty() {
            return Ok(Self::Several(kind));
        }
        let code = AgencyCode::parse(&code).map_err(|e| decode("agency_code", Box::new(e)))?;
        Ok(Self::Agency(AgencyId { kind, code }))
    }
}

impl MeasureRow {
    /// The row a new measure is recorded as. Times are cut to microseconds, PostgreSQL's
    /// precision, so the row equals what a later read returns.
    pub fn submitted(m: &NewMeasure) -> Self {
        let submitted_at = to_micros(m.submitted_at);
        Self {
            id: m.id,
            court_code: m.court.to_string(),
            case_number: m.case_number.clone(),
            kind: m.kind,
            agency: m.agency.clone(),
            asset_key: m.asset_key.clone(),
            asset_display: m.asset_display.clone(),
            target_measure_id: m.target,
            requested_fen: m.requested_fen,
            state: MeasureState::Submitted,
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
            overdue_level: 0,
            amount_fen: None,
        }
    }

    /// A freeze-like measure of `kind` in `state` at a bank, submitted 2026-11-26 10:00 UTC with
    /// that deadline, for tests.
    #[cfg(test)]
    pub fn example(kind: MeasureKind, state: MeasureState) -> Self {
        let at = time::macros::datetime!(2026-11-26 10:00 UTC);
        Self {
            id: Uuid::now_v7(),
            court_code: "京0105".into(),
            case_number: "（2023）京0105执1234号".into(),
            kind,
            agency: Addressee::Agency(AgencyId {
                kind: AgencyKind::Bank,
                code: AgencyCode::parse("ICBC").unwrap_or_else(|e| panic!("{e}")),
            }),
            asset_key: "bank.ICBC:6222020200112233445".into(),
            asset_display: "6222****3445".into(),
            target_measure_id: None,
            requested_fen: 1_000_000,
            state,
            held_fen: 0,
            waiting_position: 0,
            registration_number: String::new(),
            reason_code: 0,
            reason_message: String::new(),
            agency_revision: 0,
            version: 1,
            instruction_id: Uuid::now_v7(),
            deadline: at,
            submitted_at: at,
            effective_at: None,
            expires_at: None,
            updated_at: at,
            inquiry_addressed: 0,
            inquiry_answered: 0,
            inquiry_found: 0,
            inquiry_found_nothing: 0,
            inquiry_refused: 0,
            inquiry_unanswered: 0,
            warned_within_days: None,
            overdue_level: 0,
            amount_fen: None,
        }
    }

    /// What the measure is for now: the amount reported by its agency, else the amount ordered.
    pub fn amount(&self) -> i64 {
        self.amount_fen.unwrap_or(self.requested_fen)
    }

    /// Whether `court` ordered the measure.
    pub fn is_of(&self, court: &CourtCode) -> bool {
        self.court_code == court.as_str()
    }

    /// The court's view of the measure.
    pub fn to_proto(&self) -> pb::Measure {
        pb::Measure {
            measure_id: self.id.to_string(),
            court_code: self.court_code.clone(),
            case_number: self.case_number.clone(),
            kind: convert::kind_to_proto(self.kind) as i32,
            agency: Some(self.agency.to_proto()),
            state: convert::state_to_proto(self.state) as i32,
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
            amount_fen: if self.kind == MeasureKind::Freeze {
                self.amount()
            } else {
                0
            },
            overdue_level: u32::try_from(self.overdue_level).unwrap_or(0),
            inquiry: (self.kind == MeasureKind::Inquiry).then(|| {
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
    pub court: CourtCode,
    pub idempotency_key: IdempotencyKey,
    /// The canonical encoded request: what tells a resubmission from the reuse of a key.
    pub request: Vec<u8>,
    pub case_number: String,
    pub kind: MeasureKind,
    pub agency: Addressee,
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
    /// The trace its messages and log lines carry (`traceparent`).
    pub trace_id: hub_bus::trace::TraceId,
}

/// What recording a measure did.
#[derive(Debug)]
pub enum Recorded {
    /// A new measure, durable with its outbox row and audit entry.
    New(MeasureRow),
    /// The court had used the key for the same request: the original measure.
    Duplicate(MeasureRow),
}

impl Store {
    /// Records a measure, its outbox row and its first audit entry, atomically, in one statement
    /// (one round trip, one commit). A resubmission of the same request under the same key
    /// returns the original instead; the same key with another request is
    /// [`Error::KeyReused`].
    pub async fn record(&self, m: &NewMeasure) -> Result<Recorded, Error> {
        let row = MeasureRow::submitted(m);
        if let Some(event) = self.insert(&self.pool, m, &row).await? {
            self.hub.committed(vec![event], Vec::new(), true);
            return Ok(Recorded::New(row));
        }
        self.earlier(&m.court, &m.idempotency_key, &m.request)
            .await?
            .map(Recorded::Duplicate)
            .ok_or_else(|| Error::Corrupt("a conflicting idempotency key vanished".into()))
    }

    /// Inserts `m` as `row` (its submitted form), its outbox row and its first audit entry in
    /// one statement on `executor` (the pool, or a transaction): the audit entry, to be told to
    /// the hub once committed; `None` if the court's key was taken already.
    pub(super) async fn insert<'c, E>(
        &self,
        executor: E,
        m: &NewMeasure,
        row: &MeasureRow,
    ) -> Result<Option<super::EventRow>, Error>
    where
        E: sqlx::Executor<'c, Database = sqlx::Postgres>,
    {
        let Addressee::Agency(agency) = &m.agency else {
            return Err(Error::Corrupt(
                "a measure for several agencies is recorded as an inquiry".into(),
            ));
        };
        const RECORDED: &str = "recorded by the hub";
        let snapshot = row.to_proto().encode_to_vec();
        let inserted: Option<(i64,)> = sqlx::query_as(
            "WITH m AS ( \
                 INSERT INTO measures (id, court_code, idempotency_key, request, case_number, kind, \
                     agency_kind, agency_code, asset_key, asset_display, target_measure_id, \
                     requested_fen, state, instruction_id, deadline, submitted_at, updated_at, \
                     trace_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, \
                     $23) \
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
             SELECT id FROM e",
        )
        .bind(row.id)
        .bind(&row.court_code)
        .bind(m.idempotency_key.as_str())
        .bind(&m.request)
        .bind(&row.case_number)
        .bind(row.kind.as_str())
        .bind(agency.kind.as_str())
        .bind(agency.code.as_str())
        .bind(&row.asset_key)
        .bind(&row.asset_display)
        .bind(row.target_measure_id)
        .bind(row.requested_fen)
        .bind(row.state.as_str())
        .bind(row.instruction_id)
        .bind(row.deadline)
        .bind(row.submitted_at)
        .bind(agency.routing_key())
        .bind(&m.payload)
        .bind(row.version)
        .bind(pb::EventKind::StateChanged as i32)
        .bind(RECORDED)
        .bind(&snapshot)
        .bind(m.trace_id.to_string())
        .fetch_optional(executor)
        .await?;
        let kind = pb::EventKind::StateChanged;
        Ok(inserted.map(|(id,)| {
            super::EventRow::written(id, row, kind, RECORDED.to_string(), snapshot, None)
        }))
    }

    /// What `court` recorded under `key` before: `None` if the key is new, the original measure
    /// if it was recorded for the same `request`, [`Error::KeyReused`] if for another.
    pub async fn earlier(
        &self,
        court: &CourtCode,
        key: &IdempotencyKey,
        request: &[u8],
    ) -> Result<Option<MeasureRow>, Error> {
        let found: Option<(Uuid, Vec<u8>)> = sqlx::query_as(
            "SELECT id, request FROM measures WHERE court_code = $1 AND idempotency_key = $2",
        )
        .bind(court.as_str())
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some((id, original)) = found else {
            return Ok(None);
        };
        if original != request {
            return Err(Error::KeyReused(id));
        }
        self.get(id).await
    }

    /// One measure.
    pub async fn get(&self, id: Uuid) -> Result<Option<MeasureRow>, Error> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            measure_columns!(),
            " FROM measures WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The canonical request a measure was recorded for.
    pub async fn request_of(&self, id: Uuid) -> Result<Vec<u8>, Error> {
        Ok(
            sqlx::query_scalar("SELECT request FROM measures WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// A court's measures in one case, oldest first, after `after`.
    pub async fn list_case(
        &self,
        court: &CourtCode,
        case_number: &str,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<MeasureRow>, Error> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            measure_columns!(),
            " FROM measures \
             WHERE court_code = $1 AND case_number = $2 AND ($3::uuid IS NULL OR id > $3) \
             ORDER BY id LIMIT $4"
        ))
        .bind(court.as_str())
        .bind(case_number)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A court's measures in force expiring between `now` and `until`, soonest first, after
    /// `after` (expiry, id).
    pub async fn expiring(
        &self,
        court: &CourtCode,
        now: OffsetDateTime,
        until: OffsetDateTime,
        after: Option<(OffsetDateTime, Uuid)>,
        limit: i64,
    ) -> Result<Vec<MeasureRow>, Error> {
        static EXPIRING: LazyLock<String> = LazyLock::new(|| {
            format!(
                concat!(
                    "SELECT ",
                    measure_columns!(),
                    " FROM measures \
                     WHERE court_code = $1 AND state IN ({}) AND kind IN ({}) \
                       AND expires_at > $2 AND expires_at <= $3 \
                       AND ($4::timestamptz IS NULL OR (expires_at, id) > ($4, $5)) \
                     ORDER BY expires_at, id LIMIT $6"
                ),
                *IN_FORCE, *WITH_PERIOD
            )
        });
        Ok(sqlx::query_as(EXPIRING.as_str())
            .bind(court.as_str())
            .bind(now)
            .bind(until)
            .bind(after.map(|a| a.0))
            .bind(after.map(|a| a.1))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// A release of `target` that is under way or done (not one that came to nothing), if any.
    pub async fn live_release_of(&self, target: Uuid) -> Result<Option<MeasureRow>, Error> {
        static LIVE_RELEASE: LazyLock<String> = LazyLock::new(|| {
            format!(
                concat!(
                    "SELECT ",
                    measure_columns!(),
                    " FROM measures \
                     WHERE target_measure_id = $1 AND kind = '{}' AND state NOT IN ({}) \
                     ORDER BY id LIMIT 1"
                ),
                MeasureKind::Release.as_str(),
                super::states_where(MeasureState::came_to_nothing)
            )
        });
        Ok(sqlx::query_as(LIVE_RELEASE.as_str())
            .bind(target)
            .fetch_optional(&self.pool)
            .await?)
    }
}

/// `at` cut to whole microseconds.
pub(super) fn to_micros(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .unwrap_or(at)
}
