//! A measure's hops, as the tables recorded them: `measures` (accepted, and the trace id),
//! the `DISPATCHED` entry of `measure_events` (published), the receipt of the agency's answer in
//! `report_receipts` (delivered, answered, sent) and the audit entry written with it (applied).

use time::OffsetDateTime;
use uuid::Uuid;

use super::Store;
use crate::Error;

/// When a measure passed each hop, `None` for those not reached (or not recorded: measures
/// from before traces were kept).
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, Eq)]
pub struct HopTimes {
    /// The measure's trace id.
    pub trace_id: Option<String>,
    /// When the gateway recorded it.
    pub submitted_at: OffsetDateTime,
    /// Its `DISPATCHED` audit entry: when the relay handed its instruction to the broker.
    pub published_at: Option<OffsetDateTime>,
    /// From the first report answering its instruction: when the adapter took the delivery,
    /// when the agency answered, when the adapter sent the report, and the report's trace id.
    pub delivered_at: Option<OffsetDateTime>,
    pub answered_at: Option<OffsetDateTime>,
    pub sent_at: Option<OffsetDateTime>,
    pub report_trace_id: Option<String>,
    /// The audit entry the gateway wrote applying that report (same transaction, same instant
    /// as its receipt).
    pub applied_at: Option<OffsetDateTime>,
}

impl Store {
    /// The hop times of measure `id`; `None` if there is no such measure.
    pub async fn hop_times(&self, id: Uuid) -> Result<Option<HopTimes>, Error> {
        Ok(sqlx::query_as(
            "SELECT m.trace_id, m.submitted_at, \
                 (SELECT min(e.at) FROM measure_events e \
                  WHERE e.measure_id = m.id AND e.state = 'dispatched') AS published_at, \
                 r.delivered_at, r.answered_at, r.sent_at, r.trace_id AS report_trace_id, \
                 (SELECT min(e.at) FROM measure_events e \
                  WHERE e.measure_id = m.id AND e.at = r.received_at) AS applied_at \
             FROM measures m \
             LEFT JOIN LATERAL ( \
                 SELECT rr.delivered_at, rr.answered_at, rr.sent_at, rr.trace_id, rr.received_at \
                 FROM report_receipts rr \
                 WHERE rr.instruction_id = m.instruction_id AND rr.answered_at IS NOT NULL \
                 ORDER BY rr.received_at, rr.sent_at LIMIT 1) r ON true \
             WHERE m.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }
}
