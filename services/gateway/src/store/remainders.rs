//! The freeze a deduction leaves for what it could not take (民诉解释 art. 484). Its id is minted
//! when the deduction is recorded (`remainders`) and sent in the deduction's instruction; the
//! freeze itself becomes a measure when its bank first reports it, in the transaction that
//! applies the report, so that the report is not lost as one about an unknown measure.

use enforcement_proto::v1 as pb;
use hub_domain::{MeasureKind, MeasureState};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{MeasureRow, NewEvent, record_events, reports::ReportBatch};

impl ReportBatch {
    /// Of `reported` (ids of measures the batch does not know, each with the amount its update
    /// says it is for), records those that are the freeze of a deduction's remainder: a freeze
    /// of the deduction's court, case, bank and account, its `target_measure_id` the deduction,
    /// submitted now. Returns them as recorded, for the updates to be applied to.
    pub async fn adopt_remainders(
        &mut self,
        reported: &[(Uuid, i64)],
        now: OffsetDateTime,
    ) -> Result<Vec<MeasureRow>, sqlx::Error> {
        let ids: Vec<Uuid> = reported.iter().map(|(id, _)| *id).collect();
        let deductions: Vec<(Uuid, Vec<u8>, MeasureRow)> = {
            let rows: Vec<(Uuid, Vec<u8>, Uuid)> = sqlx::query_as(
                "SELECT r.measure_id, m.request, m.id FROM remainders r \
                 JOIN measures m ON m.id = r.deduction_id \
                 WHERE r.measure_id = ANY($1) \
                   AND NOT EXISTS (SELECT 1 FROM measures x WHERE x.id = r.measure_id) \
                 ORDER BY r.measure_id",
            )
            .bind(&ids)
            .fetch_all(&mut *self.tx)
            .await?;
            let mut found = Vec::with_capacity(rows.len());
            for (remainder, request, deduction) in rows {
                let row: MeasureRow = sqlx::query_as(concat!(
                    "SELECT ",
                    measure_columns!(),
                    " FROM measures WHERE id = $1"
                ))
                .bind(deduction)
                .fetch_one(&mut *self.tx)
                .await?;
                found.push((remainder, request, row));
            }
            found
        };
        let mut adopted = Vec::with_capacity(deductions.len());
        for (id, request, deduction) in deductions {
            let amount = reported
                .iter()
                .find(|(r, _)| *r == id)
                .map(|(_, amount)| *amount)
                .filter(|a| *a > 0)
                .unwrap_or(deduction.requested_fen);
            let row = MeasureRow {
                id,
                kind: MeasureKind::Freeze,
                target_measure_id: Some(deduction.id),
                requested_fen: amount,
                state: MeasureState::Submitted,
                held_fen: 0,
                waiting_position: 0,
                registration_number: String::new(),
                reason_code: 0,
                reason_message: String::new(),
                agency_revision: 0,
                version: 1,
                instruction_id: Uuid::now_v7(),
                submitted_at: super::measures::to_micros(now),
                effective_at: None,
                expires_at: None,
                updated_at: super::measures::to_micros(now),
                inquiry_addressed: 0,
                inquiry_answered: 0,
                inquiry_found: 0,
                inquiry_found_nothing: 0,
                inquiry_refused: 0,
                inquiry_unanswered: 0,
                warned_within_days: None,
                overdue_level: 0,
                amount_fen: None,
                ..deduction.clone()
            };
            sqlx::query(
                "INSERT INTO measures (id, court_code, idempotency_key, request, case_number, \
                     kind, agency_kind, agency_code, asset_key, asset_display, target_measure_id, \
                     requested_fen, state, instruction_id, deadline, submitted_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                     $16)",
            )
            .bind(row.id)
            .bind(&row.court_code)
            .bind(format!("remainder:{id}"))
            .bind(&request)
            .bind(&row.case_number)
            .bind(row.kind.as_str())
            .bind(row.agency.kind().as_str())
            .bind(row.agency.code())
            .bind(&row.asset_key)
            .bind(&row.asset_display)
            .bind(row.target_measure_id)
            .bind(row.requested_fen)
            .bind(row.state.as_str())
            .bind(row.instruction_id)
            .bind(row.deadline)
            .bind(row.submitted_at)
            .execute(&mut *self.tx)
            .await?;
            let message = format!(
                "recorded by the hub: the freeze of what deduction {} could not take (民诉解释 art. 484)",
                deduction.id
            );
            record_events(
                &mut self.tx,
                &[NewEvent::new(
                    row.clone(),
                    pb::EventKind::StateChanged,
                    message,
                )],
                &mut self.written,
            )
            .await?;
            adopted.push(row);
        }
        Ok(adopted)
    }
}
