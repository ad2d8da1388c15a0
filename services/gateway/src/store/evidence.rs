//! A measure's evidence: its instructions as published (`instruction_evidence`) and the reports
//! accepted on it (`report_receipts`, found by instruction and by `report_measures`).

use time::OffsetDateTime;
use uuid::Uuid;

use super::Store;

/// An instruction as published.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SentRow {
    pub instruction_id: Uuid,
    pub routing_key: String,
    pub payload: Vec<u8>,
    pub signature: Option<String>,
    pub published_at: OffsetDateTime,
}

/// A report as accepted (reports accepted before evidence was kept have no body).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReceivedRow {
    pub report_id: Uuid,
    pub body: Option<Vec<u8>>,
    pub key_id: Option<String>,
    pub signature: Option<String>,
    pub received_at: OffsetDateTime,
}

impl Store {
    /// The instructions published for `measure` and the reports accepted on it, each oldest
    /// first.
    pub async fn evidence(
        &self,
        measure: Uuid,
    ) -> Result<(Vec<SentRow>, Vec<ReceivedRow>), sqlx::Error> {
        let sent: Vec<SentRow> = sqlx::query_as(
            "SELECT instruction_id, routing_key, payload, signature, published_at \
             FROM instruction_evidence WHERE measure_id = $1 \
             ORDER BY published_at, instruction_id",
        )
        .bind(measure)
        .fetch_all(&self.pool)
        .await?;
        let instructions: Vec<Uuid> = sent.iter().map(|s| s.instruction_id).collect();
        let received = sqlx::query_as(
            "SELECT report_id, body, key_id, signature, received_at FROM report_receipts \
             WHERE instruction_id = ANY($2) \
                OR report_id IN (SELECT report_id FROM report_measures WHERE measure_id = $1) \
             ORDER BY received_at, report_id",
        )
        .bind(measure)
        .bind(&instructions)
        .fetch_all(&self.pool)
        .await?;
        Ok((sent, received))
    }
}
