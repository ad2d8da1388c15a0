//! Applying a batch of agency reports: the measures concerned are locked, changed in memory by
//! [`crate::apply`], and written back with their audit entries in one transaction.

use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{EventRow, MeasureRow, NewEvent, Store, record_events};
use crate::events::EventHub;

/// Measures locked for applying reports; nothing is written until [`ReportBatch::commit`].
pub struct ReportBatch {
    pub(super) tx: Transaction<'static, Postgres>,
    pub(super) hub: EventHub,
    /// Audit entries written, told to the hub once committed.
    pub(super) written: Vec<EventRow>,
}

/// What recording one agency's answer to an inquiry found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerRecorded {
    /// The agency was asked and had not answered yet.
    Awaited,
    /// The agency was not named when the inquiry was recorded (a broadcast reached an agency
    /// the registry did not list yet): its answer is added.
    Added,
    /// The agency had answered already: this one changes nothing.
    Repeated,
}

impl Store {
    /// Locks the measures `ids` in id order (so concurrent batches and the relay never
    /// deadlock) and returns them as they stand.
    pub async fn lock_for_reports(
        &self,
        ids: &[Uuid],
    ) -> Result<(ReportBatch, Vec<MeasureRow>), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query_as(concat!(
            "SELECT ",
            measure_columns!(),
            " FROM measures WHERE id = ANY($1) ORDER BY id FOR UPDATE"
        ))
        .bind(ids)
        .fetch_all(&mut *tx)
        .await?;
        Ok((
            ReportBatch {
                tx,
                hub: self.hub.clone(),
                written: Vec::new(),
            },
            rows,
        ))
    }
}

impl ReportBatch {
    /// Records what `agency_code` answered to the inquiry `measure_id`: `refused` or not, and
    /// the encoded `InquiryAnswerEvent`.
    pub async fn record_answer(
        &mut self,
        measure_id: Uuid,
        agency_code: &str,
        refused: bool,
        detail: &[u8],
        now: OffsetDateTime,
    ) -> Result<AnswerRecorded, sqlx::Error> {
        let state = if refused { "refused" } else { "answered" };
        let awaited = sqlx::query(
            "UPDATE inquiry_answers SET state = $3, answer = $4, answered_at = $5 \
             WHERE measure_id = $1 AND agency_code = $2 AND state = 'pending'",
        )
        .bind(measure_id)
        .bind(agency_code)
        .bind(state)
        .bind(detail)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        if awaited.rows_affected() > 0 {
            return Ok(AnswerRecorded::Awaited);
        }
        let added = sqlx::query(
            "INSERT INTO inquiry_answers (measure_id, agency_code, state, answer, answered_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(measure_id)
        .bind(agency_code)
        .bind(state)
        .bind(detail)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(if added.rows_affected() > 0 {
            AnswerRecorded::Added
        } else {
            AnswerRecorded::Repeated
        })
    }

    /// Writes `changed` back (every field an agency report or an answer can change) in one
    /// statement, records `events`, and commits.
    pub async fn commit(
        mut self,
        changed: &[&MeasureRow],
        events: &[NewEvent],
    ) -> Result<(), sqlx::Error> {
        if !changed.is_empty() {
            write_back(&mut self.tx, changed).await?;
        }
        record_events(&mut self.tx, events, &mut self.written).await?;
        self.tx.commit().await?;
        self.hub.committed(self.written, Vec::new(), false);
        Ok(())
    }
}

/// Writes the agency-reported fields of `rows` back in one statement.
async fn write_back(tx: &mut sqlx::PgConnection, rows: &[&MeasureRow]) -> Result<(), sqlx::Error> {
    let mut ids = Vec::new();
    let mut states = Vec::new();
    let mut held = Vec::new();
    let mut positions = Vec::new();
    let mut registrations = Vec::new();
    let mut reason_codes = Vec::new();
    let mut reason_messages = Vec::new();
    let mut revisions = Vec::new();
    let mut effective = Vec::new();
    let mut expires = Vec::new();
    let mut versions = Vec::new();
    let mut updated = Vec::new();
    let mut counters: [Vec<i32>; 6] = Default::default();
    let mut warned = Vec::new();
    let mut amounts = Vec::new();
    for r in rows {
        ids.push(r.id);
        states.push(r.state.as_str());
        held.push(r.held_fen);
        positions.push(r.waiting_position);
        registrations.push(r.registration_number.as_str());
        reason_codes.push(r.reason_code);
        reason_messages.push(r.reason_message.as_str());
        revisions.push(r.agency_revision);
        effective.push(r.effective_at);
        expires.push(r.expires_at);
        versions.push(r.version);
        updated.push(r.updated_at);
        for (column, value) in counters.iter_mut().zip([
            r.inquiry_addressed,
            r.inquiry_answered,
            r.inquiry_found,
            r.inquiry_found_nothing,
            r.inquiry_refused,
            r.inquiry_unanswered,
        ]) {
            column.push(value);
        }
        warned.push(r.warned_within_days);
        amounts.push(r.amount_fen);
    }
    sqlx::query(
        "UPDATE measures AS m SET state = u.state, held_fen = u.held_fen, \
             waiting_position = u.waiting_position, registration_number = u.registration_number, \
             reason_code = u.reason_code, reason_message = u.reason_message, \
             agency_revision = u.agency_revision, effective_at = u.effective_at, \
             expires_at = u.expires_at, version = u.version, updated_at = u.updated_at, \
             inquiry_addressed = u.addressed, inquiry_answered = u.answered, \
             inquiry_found = u.found, inquiry_found_nothing = u.found_nothing, \
             inquiry_refused = u.refused, inquiry_unanswered = u.unanswered, \
             warned_within_days = u.warned, amount_fen = u.amount_fen \
         FROM UNNEST($1::uuid[], $2::text[], $3::int8[], $4::int4[], $5::text[], $6::int4[], \
             $7::text[], $8::int8[], $9::timestamptz[], $10::timestamptz[], $11::int8[], \
             $12::timestamptz[], $13::int4[], $14::int4[], $15::int4[], $16::int4[], \
             $17::int4[], $18::int4[], $19::int4[], $20::int8[]) \
             AS u(id, state, held_fen, waiting_position, registration_number, reason_code, \
             reason_message, agency_revision, effective_at, expires_at, version, updated_at, \
             addressed, answered, found, found_nothing, refused, unanswered, warned, \
             amount_fen) \
         WHERE m.id = u.id",
    )
    .bind(&ids)
    .bind(&states)
    .bind(&held)
    .bind(&positions)
    .bind(&registrations)
    .bind(&reason_codes)
    .bind(&reason_messages)
    .bind(&revisions)
    .bind(&effective)
    .bind(&expires)
    .bind(&versions)
    .bind(&updated)
    .bind(&counters[0])
    .bind(&counters[1])
    .bind(&counters[2])
    .bind(&counters[3])
    .bind(&counters[4])
    .bind(&counters[5])
    .bind(&warned)
    .bind(&amounts)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
