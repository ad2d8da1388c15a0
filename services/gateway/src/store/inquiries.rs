//! Inquiries: the measure, one answer row per agency asked, and one outbox row per message.

use enforcement_proto::v1 as pb;
use hub_domain::MeasureKind;
use prost::Message;
use uuid::Uuid;

use super::{MeasureRow, NewEvent, NewMeasure, Recorded, Store, record_events};
use crate::Error;

/// An inquiry to record.
#[derive(Debug, Clone)]
pub struct NewInquiry {
    /// The inquiry as a measure (its `payload` is unused: the messages are in `messages`).
    pub measure: NewMeasure,
    /// The codes of the agencies asked, each awaited for an answer.
    pub codes: Vec<String>,
    /// The messages to publish: one broadcast to every agency of the kind, or one per agency.
    pub messages: Vec<InquiryMessage>,
    /// The first audit entry's message.
    pub message: String,
}

/// One message of an inquiry.
#[derive(Debug, Clone)]
pub struct InquiryMessage {
    pub instruction_id: Uuid,
    pub routing_key: String,
    /// The encoded `Instruction`.
    pub payload: Vec<u8>,
}

impl Store {
    /// Records an inquiry, its answer rows, its outbox rows and its first audit entry in one
    /// transaction. A repeat under the same key returns the original; the same key with another
    /// request is [`Error::KeyReused`].
    pub async fn record_inquiry(&self, inquiry: &NewInquiry) -> Result<Recorded, Error> {
        let m = &inquiry.measure;
        let row = MeasureRow::submitted(m);
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO measures (id, court_code, idempotency_key, request, case_number, kind, \
                 agency_kind, agency_code, asset_key, asset_display, requested_fen, state, \
                 instruction_id, deadline, submitted_at, updated_at, inquiry_addressed, trace_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12, $13, $14, $14, $15, \
                 $16) \
             ON CONFLICT (court_code, idempotency_key) DO NOTHING",
        )
        .bind(row.id)
        .bind(&row.court_code)
        .bind(m.idempotency_key.as_str())
        .bind(&m.request)
        .bind(&row.case_number)
        .bind(MeasureKind::Inquiry.as_str())
        .bind(row.agency.kind().as_str())
        .bind(row.agency.code())
        .bind(&row.asset_key)
        .bind(&row.asset_display)
        .bind(row.state.as_str())
        .bind(row.instruction_id)
        .bind(row.deadline)
        .bind(row.submitted_at)
        .bind(row.inquiry_addressed)
        .bind(m.trace_id.to_string())
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return self
                .earlier(&m.court, &m.idempotency_key, &m.request)
                .await?
                .map(Recorded::Duplicate)
                .ok_or_else(|| Error::Corrupt("a conflicting idempotency key vanished".into()));
        }
        sqlx::query(
            "INSERT INTO inquiry_answers (measure_id, agency_code, state) \
             SELECT $1, code, 'pending' FROM UNNEST($2::text[]) AS code",
        )
        .bind(row.id)
        .bind(&inquiry.codes)
        .execute(&mut *tx)
        .await?;
        for message in &inquiry.messages {
            sqlx::query(
                "INSERT INTO outbox (measure_id, instruction_id, routing_key, court_code, \
                     asset_key, deadline, payload, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(row.id)
            .bind(message.instruction_id)
            .bind(&message.routing_key)
            .bind(&row.court_code)
            .bind(&row.asset_key)
            .bind(row.deadline)
            .bind(&message.payload)
            .bind(row.submitted_at)
            .execute(&mut *tx)
            .await?;
        }
        let mut written = Vec::new();
        record_events(
            &mut tx,
            &[NewEvent::new(
                row.clone(),
                pb::EventKind::StateChanged,
                inquiry.message.clone(),
            )],
            &mut written,
        )
        .await?;
        tx.commit().await?;
        self.hub.committed(written, Vec::new(), true);
        Ok(Recorded::New(row))
    }

    /// The answers recorded for an inquiry, in order of arrival.
    pub async fn answers(&self, measure_id: Uuid) -> Result<Vec<pb::InquiryAnswerEvent>, Error> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT answer FROM inquiry_answers \
             WHERE measure_id = $1 AND state <> 'pending' AND answer IS NOT NULL \
             ORDER BY answered_at, agency_code",
        )
        .bind(measure_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|bytes| pb::InquiryAnswerEvent::decode(bytes.as_slice()).ok())
            .collect())
    }
}
