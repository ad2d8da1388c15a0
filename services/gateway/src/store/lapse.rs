//! The gateway's own lapse: a measure in force past its expiry with no renewal under way ends
//! LAPSED at the gateway (查扣冻规定 art. 27), whether or not its agency's notice has come, so that
//! the case ledger stops counting it on time. The agency lapses it too, on its own clock; its
//! notice, when it comes, changes nothing more.

use std::sync::LazyLock;

use enforcement_proto::v1 as pb;
use hub_domain::{MeasureKind, MeasureState};
use time::OffsetDateTime;

use super::{IN_FORCE, MeasureRow, Store, WITH_PERIOD, transition};

impl Store {
    /// Lapses the measures in force whose expiry is at or before `now` and that no renewal
    /// recorded before then may still have moved (one not yet answered), with `message(row)`.
    pub async fn lapse_expired(
        &self,
        now: OffsetDateTime,
        message: impl Fn(&MeasureRow) -> String,
    ) -> Result<Vec<MeasureRow>, sqlx::Error> {
        static LAPSE: LazyLock<String> = LazyLock::new(|| {
            format!(
                concat!(
                    "UPDATE measures SET state = '{lapsed}', held_fen = 0, version = version + 1, \
                         updated_at = $1 \
                     WHERE id IN (SELECT m.id FROM measures m \
                         WHERE m.state IN ({in_force}) AND m.kind IN ({with_period}) \
                           AND m.expires_at IS NOT NULL AND m.expires_at <= $1 \
                           AND NOT EXISTS (SELECT 1 FROM measures r \
                               WHERE r.target_measure_id = m.id AND r.kind = '{renewal}' \
                                 AND r.state IN ({under_way})) \
                         ORDER BY m.id FOR UPDATE) \
                     AND state IN ({in_force}) \
                     RETURNING ",
                    measure_columns!()
                ),
                lapsed = MeasureState::Lapsed.as_str(),
                in_force = *IN_FORCE,
                with_period = *WITH_PERIOD,
                renewal = MeasureKind::Renewal.as_str(),
                under_way = super::states_where(|s| !s.is_final() && !s.is_in_force()),
            )
        });
        let mut tx = self.pool.begin().await?;
        let mut written = Vec::new();
        let lapsed = transition(
            &mut tx,
            sqlx::query_as(LAPSE.as_str()).bind(now),
            pb::EventKind::StateChanged,
            message,
            &mut written,
        )
        .await?;
        tx.commit().await?;
        self.hub.committed(written, Vec::new(), false);
        Ok(lapsed)
    }
}
