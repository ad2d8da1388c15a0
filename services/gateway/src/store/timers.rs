//! The changes the hub makes because time passed ([`crate::timers`] decides when and what to say).

use std::sync::LazyLock;

use enforcement_proto::v1 as pb;
use hub_domain::{MeasureKind, MeasureState};
use prost::Message;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Addressee, IN_FORCE, MeasureRow, Store, UNANSWERED, UNDELIVERED, WITH_PERIOD, transition,
};
use crate::overdue::AnswerDeadlines;

impl Store {
    /// The next instant at which a timer has something to do after `now`: an undelivered
    /// instruction's deadline plus `grace`, an open inquiry's deadline, an expiry of a measure in
    /// force, or the moment a measure comes within one of the warning `horizons` (days). Every
    /// part reads one row of an index in deadline order, however many measures are recorded:
    /// each part's conditions are its partial index's predicate, and the expiries are read with
    /// `ORDER BY … LIMIT 1`, which the planner answers from the index even when its statistics
    /// lag the table's growth (an aggregate it may answer by reading them all).
    pub async fn next_deadline(
        &self,
        now: OffsetDateTime,
        grace: time::Duration,
        horizons: &[u32],
    ) -> Result<Option<OffsetDateTime>, sqlx::Error> {
        static NEXT: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT LEAST( \
                     (SELECT min(deadline) FROM measures \
                         WHERE kind <> '{inquiry}' AND state IN ({undelivered}) \
                           AND deadline > $1 - $2::interval) + $2::interval, \
                     (SELECT min(deadline) FROM measures \
                         WHERE kind = '{inquiry}' AND state IN ({undelivered}) AND deadline > $1), \
                     (SELECT expires_at FROM measures \
                         WHERE state IN ({in_force}) AND expires_at IS NOT NULL \
                           AND kind IN ({with_period}) AND expires_at > $1 \
                         ORDER BY expires_at LIMIT 1), \
                     (SELECT min(w.at) FROM unnest($3::int[]) AS h(days), LATERAL ( \
                         SELECT m.expires_at - make_interval(days => h.days) AS at \
                         FROM measures m \
                         WHERE m.state IN ({in_force}) AND m.expires_at IS NOT NULL \
                           AND m.kind IN ({with_period}) \
                           AND m.expires_at > $1 + make_interval(days => h.days) \
                           AND (m.warned_within_days IS NULL OR m.warned_within_days > h.days) \
                         ORDER BY m.expires_at LIMIT 1) AS w))",
                inquiry = MeasureKind::Inquiry.as_str(),
                undelivered = *UNDELIVERED,
                in_force = *IN_FORCE,
                with_period = *WITH_PERIOD,
            )
        });
        let horizons: Vec<i32> = horizons
            .iter()
            .map(|days| i32::try_from(*days).unwrap_or(i32::MAX))
            .collect();
        sqlx::query_scalar(NEXT.as_str())
            .bind(now)
            .bind(grace)
            .bind(horizons)
            .fetch_one(&self.pool)
            .await
    }

    /// Ends `EXPIRED`, with `message`, the measures whose instruction no agency took by
    /// `cutoff`, and withdraws their instructions from the outbox, so none is carried out late.
    pub async fn expire_undelivered(
        &self,
        cutoff: OffsetDateTime,
        message: &str,
    ) -> Result<Vec<MeasureRow>, sqlx::Error> {
        static EXPIRE: LazyLock<String> = LazyLock::new(|| {
            let undelivered = format!(
                "kind <> '{}' AND state IN ({})",
                MeasureKind::Inquiry.as_str(),
                *UNDELIVERED
            );
            format!(
                concat!(
                    "UPDATE measures SET state = '{expired}', reason_code = $2, reason_message = $3, \
                         version = version + 1, updated_at = now() \
                     WHERE id IN (SELECT id FROM measures \
                         WHERE {undelivered} AND deadline <= $1 ORDER BY id FOR UPDATE) \
                     AND {undelivered} \
                     RETURNING ",
                    measure_columns!()
                ),
                expired = MeasureState::Expired.as_str(),
                undelivered = undelivered
            )
        });
        let mut tx = self.pool.begin().await?;
        let mut written = Vec::new();
        let expired = transition(
            &mut tx,
            sqlx::query_as(EXPIRE.as_str())
                .bind(cutoff)
                .bind(pb::ReasonCode::DeadlinePassed as i32)
                .bind(message),
            pb::EventKind::StateChanged,
            |row| row.reason_message.clone(),
            &mut written,
        )
        .await?;
        if expired.is_empty() {
            tx.rollback().await?;
            return Ok(expired);
        }
        let ids: Vec<uuid::Uuid> = expired.iter().map(|r| r.id).collect();
        sqlx::query("DELETE FROM outbox WHERE measure_id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.hub.committed(written, Vec::new(), false);
        Ok(expired)
    }

    /// Ends the inquiries whose deadline has passed by `now`: `PARTIAL`, counting who did not
    /// answer (`EFFECTIVE` if every agency did, which the answer path normally sees first).
    pub async fn close_overdue_inquiries(
        &self,
        now: OffsetDateTime,
        message: impl Fn(&MeasureRow) -> String,
    ) -> Result<Vec<MeasureRow>, sqlx::Error> {
        static CLOSE: LazyLock<String> = LazyLock::new(|| {
            format!(
                concat!(
                    "UPDATE measures SET \
                         state = CASE WHEN inquiry_answered >= inquiry_addressed \
                             THEN '{effective}' ELSE '{partial}' END, \
                         inquiry_unanswered = GREATEST(inquiry_addressed - inquiry_answered, 0), \
                         effective_at = $1, version = version + 1, updated_at = $1 \
                     WHERE id IN (SELECT id FROM measures \
                         WHERE kind = '{inquiry}' AND state IN ({open}) AND deadline <= $1 \
                         ORDER BY id FOR UPDATE) \
                     AND state IN ({open}) \
                     RETURNING ",
                    measure_columns!()
                ),
                effective = MeasureState::Effective.as_str(),
                partial = MeasureState::Partial.as_str(),
                inquiry = MeasureKind::Inquiry.as_str(),
                open = *UNDELIVERED
            )
        });
        let mut tx = self.pool.begin().await?;
        let mut written = Vec::new();
        let closed = transition(
            &mut tx,
            sqlx::query_as(CLOSE.as_str()).bind(now),
            pb::EventKind::StateChanged,
            message,
            &mut written,
        )
        .await?;
        tx.commit().await?;
        self.hub.committed(written, Vec::new(), false);
        Ok(closed)
    }

    /// Marks the measures in force expiring within `days` of `now` that have not had a warning
    /// this near, and records an `EXPIRY_WARNING` with `message` for each.
    pub async fn warn_expiring(
        &self,
        now: OffsetDateTime,
        days: u32,
        message: impl Fn(&MeasureRow) -> String,
    ) -> Result<Vec<MeasureRow>, sqlx::Error> {
        static WARN: LazyLock<String> = LazyLock::new(|| {
            format!(
                concat!(
                    "UPDATE measures SET warned_within_days = $3, version = version + 1, \
                         updated_at = $1 \
                     WHERE id IN (SELECT id FROM measures \
                         WHERE state IN ({}) AND expires_at IS NOT NULL AND kind IN ({}) \
                           AND expires_at > $1 AND expires_at <= $2 \
                           AND (warned_within_days IS NULL OR warned_within_days > $3) \
                         ORDER BY id FOR UPDATE) \
                     RETURNING ",
                    measure_columns!()
                ),
                *IN_FORCE, *WITH_PERIOD
            )
        });
        let horizon = now + time::Duration::days(i64::from(days));
        let mut tx = self.pool.begin().await?;
        let mut written = Vec::new();
        let warned = transition(
            &mut tx,
            sqlx::query_as(WARN.as_str())
                .bind(now)
                .bind(horizon)
                .bind(i32::try_from(days).unwrap_or(i32::MAX)),
            pb::EventKind::ExpiryWarning,
            message,
            &mut written,
        )
        .await?;
        tx.commit().await?;
        self.hub.committed(written, Vec::new(), false);
        Ok(warned)
    }
}

/// The answer deadlines as a table for SQL: `d(d_agency, d_kind, d_secs)`.
const DEADLINES: &str =
    "unnest($1::text[], $2::text[], $3::bigint[]) AS d(d_agency, d_kind, d_secs)";

impl Store {
    /// The next moment after `now` at which a measure still awaiting its agency's answer becomes
    /// overdue (or overdue at the next level), by `deadlines`.
    pub async fn next_overdue(
        &self,
        now: OffsetDateTime,
        deadlines: &AnswerDeadlines,
    ) -> Result<Option<OffsetDateTime>, sqlx::Error> {
        static NEXT: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT min(m.submitted_at + make_interval(secs => d.d_secs * (m.overdue_level + 1))) \
                 FROM measures m JOIN {DEADLINES} ON m.agency_kind = d.d_agency AND m.kind = d.d_kind \
                 WHERE m.state IN ({unanswered}) AND m.kind <> '{inquiry}' AND m.overdue_level < {top} \
                   AND m.submitted_at + make_interval(secs => d.d_secs * (m.overdue_level + 1)) > $4",
                unanswered = *UNANSWERED,
                inquiry = MeasureKind::Inquiry.as_str(),
                top = crate::overdue::TOP_LEVEL,
            )
        });
        let (agencies, kinds, secs) = deadlines.table();
        sqlx::query_scalar(NEXT.as_str())
            .bind(agencies)
            .bind(kinds)
            .bind(secs)
            .bind(now)
            .fetch_one(&self.pool)
            .await
    }

    /// Marks the measures that are overdue at `now` at their level, records an `OVERDUE` event
    /// for each with what `told` says, and queues for each a reminder (`remind` builds it from
    /// the marked row and a new instruction id) to its agency, in one transaction. Inquiries are
    /// not reminded: they close at their own deadline.
    pub async fn mark_overdue(
        &self,
        now: OffsetDateTime,
        deadlines: &AnswerDeadlines,
        told: impl Fn(&MeasureRow) -> String,
        remind: impl Fn(&MeasureRow, Uuid) -> pb::Instruction,
    ) -> Result<Vec<MeasureRow>, sqlx::Error> {
        static MARK: LazyLock<String> = LazyLock::new(|| {
            format!(
                concat!(
                    "WITH due AS ( \
                         SELECT m.id AS due_id, \
                             CASE WHEN $4 >= m.submitted_at + make_interval(secs => d.d_secs * {top}) \
                                 THEN {top} ELSE 1 END AS due_level \
                         FROM measures m JOIN {deadlines} \
                             ON m.agency_kind = d.d_agency AND m.kind = d.d_kind \
                         WHERE m.state IN ({unanswered}) AND m.kind <> '{inquiry}' \
                           AND m.overdue_level < {top} \
                           AND $4 >= m.submitted_at + make_interval(secs => d.d_secs * (m.overdue_level + 1)) \
                         ORDER BY m.id FOR UPDATE OF m) \
                     UPDATE measures SET overdue_level = due.due_level, version = version + 1, \
                         updated_at = $4 \
                     FROM due WHERE measures.id = due.due_id AND measures.state IN ({unanswered}) \
                     RETURNING ",
                    measure_columns!()
                ),
                deadlines = DEADLINES,
                unanswered = *UNANSWERED,
                inquiry = MeasureKind::Inquiry.as_str(),
                top = crate::overdue::TOP_LEVEL,
            )
        });
        let (agencies, kinds, secs) = deadlines.table();
        let mut tx = self.pool.begin().await?;
        let mut written = Vec::new();
        let marked = transition(
            &mut tx,
            sqlx::query_as(MARK.as_str())
                .bind(agencies)
                .bind(kinds)
                .bind(secs)
                .bind(now),
            pb::EventKind::Overdue,
            told,
            &mut written,
        )
        .await?;
        if marked.is_empty() {
            tx.rollback().await?;
            return Ok(marked);
        }
        for row in &marked {
            let Addressee::Agency(agency) = &row.agency else {
                continue;
            };
            let instruction = remind(row, Uuid::now_v7());
            let Ok(instruction_id) = Uuid::parse_str(&instruction.instruction_id) else {
                continue;
            };
            let deadline = enforcement_proto::convert::instant_opt(instruction.deadline.as_ref())
                .unwrap_or(row.deadline);
            sqlx::query(
                "INSERT INTO outbox (measure_id, instruction_id, routing_key, court_code, asset_key, \
                     deadline, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(row.id)
            .bind(instruction_id)
            .bind(agency.routing_key())
            .bind(&row.court_code)
            .bind(&row.asset_key)
            .bind(deadline)
            .bind(instruction.encode_to_vec())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.hub.committed(written, Vec::new(), true);
        Ok(marked)
    }

    /// The measures overdue now, longest overdue first (at most `limit`), and how many there are.
    pub async fn list_overdue(&self, limit: i64) -> Result<(Vec<MeasureRow>, i64), sqlx::Error> {
        static LIST: LazyLock<String> = LazyLock::new(|| {
            format!(
                concat!(
                    "SELECT ",
                    measure_columns!(),
                    " FROM measures WHERE overdue_level > 0 AND state IN ({unanswered}) \
                     AND kind <> '{inquiry}' ORDER BY submitted_at, id LIMIT $1"
                ),
                unanswered = *UNANSWERED,
                inquiry = MeasureKind::Inquiry.as_str(),
            )
        });
        static COUNT: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT count(*) FROM measures WHERE overdue_level > 0 AND state IN ({unanswered}) \
                 AND kind <> '{inquiry}'",
                unanswered = *UNANSWERED,
                inquiry = MeasureKind::Inquiry.as_str(),
            )
        });
        let rows = sqlx::query_as(LIST.as_str())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let total = sqlx::query_scalar(COUNT.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }
}
