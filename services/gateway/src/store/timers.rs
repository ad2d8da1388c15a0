//! The changes the hub makes because time passed ([`crate::timers`] decides when and what to say).

use std::sync::LazyLock;

use enforcement_proto::v1 as pb;
use hub_domain::{MeasureKind, MeasureState};
use time::OffsetDateTime;

use super::{IN_FORCE, MeasureRow, Store, UNDELIVERED, WITH_PERIOD, transition};

impl Store {
    /// The next instant at which a timer has something to do after `now`: an undelivered
    /// instruction's deadline plus `grace`, an open inquiry's deadline, an expiry of a measure in
    /// force, or the moment a measure comes within one of the warning `horizons` (days). Every
    /// part reads one row of an index in deadline order, however many measures are recorded.
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
                     (SELECT min(expires_at) FROM measures \
                         WHERE state IN ({in_force}) AND expires_at IS NOT NULL \
                           AND kind IN ({with_period}) AND expires_at > $1), \
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
        let expired = transition(
            &mut tx,
            &self.channel,
            sqlx::query_as(EXPIRE.as_str())
                .bind(cutoff)
                .bind(pb::ReasonCode::DeadlinePassed as i32)
                .bind(message),
            pb::EventKind::StateChanged,
            |row| row.reason_message.clone(),
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
        let closed = transition(
            &mut tx,
            &self.channel,
            sqlx::query_as(CLOSE.as_str()).bind(now),
            pb::EventKind::StateChanged,
            message,
        )
        .await?;
        tx.commit().await?;
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
        let warned = transition(
            &mut tx,
            &self.channel,
            sqlx::query_as(WARN.as_str())
                .bind(now)
                .bind(horizon)
                .bind(i32::try_from(days).unwrap_or(i32::MAX)),
            pb::EventKind::ExpiryWarning,
            message,
        )
        .await?;
        tx.commit().await?;
        Ok(warned)
    }
}
