//! The outbox, as the relay sees it: who leads, which rows to publish next, and what the
//! broker's answers do to their measures.

use std::sync::LazyLock;

use enforcement_proto::v1 as pb;
use hub_domain::{MeasureKind, MeasureState};
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{MeasureRow, Store, UNDELIVERED, states_where, transition};

/// One recorded instruction waiting for the broker's confirm.
#[derive(sqlx::FromRow, Debug)]
pub struct OutboxRow {
    pub id: i64,
    pub measure_id: Uuid,
    pub instruction_id: Uuid,
    /// `<kind>.<code>`, or `all.<kind>` for an inquiry of every agency of a kind.
    pub routing_key: String,
    pub court_code: String,
    pub asset_key: String,
    pub deadline: OffsetDateTime,
    /// The encoded `Instruction`.
    pub payload: Vec<u8>,
    pub created_at: OffsetDateTime,
    /// The measure's trace id, sent on as the `traceparent` header (none for measures recorded
    /// before traces were kept).
    pub trace_id: Option<String>,
}

/// The relay's leadership: a PostgreSQL advisory lock held on a connection of its own. While
/// the connection lives the lock is held; if it is lost, so is the lock.
pub struct Leader {
    conn: PgConnection,
}

impl Leader {
    /// Checks that the connection, and so the lock, is still there.
    pub async fn ping(&mut self) -> Result<(), sqlx::Error> {
        self.conn.ping().await
    }
}

/// A batch of outbox rows locked for publishing, in one transaction: rows another instance
/// holds are skipped, and nothing leaves the outbox until [`OutboxBatch::settle`] commits.
pub struct OutboxBatch {
    tx: Transaction<'static, Postgres>,
    hub: crate::events::EventHub,
}

/// How the broker answered one published instruction.
pub enum Delivery {
    /// Confirmed: routed to a queue.
    Confirmed(Uuid),
    /// Returned: no queue is bound to its routing key (no such agency connected). The message
    /// names the agency for the court.
    Unroutable { measure_id: Uuid, message: String },
}

impl Store {
    /// Tries once to become the relay's leader; `None` if another instance is.
    pub async fn try_lead(&self) -> Result<Option<Leader>, sqlx::Error> {
        // Detached: if the connection returned to the pool it would keep the lock.
        let mut conn = self.pool.acquire().await?.detach();
        let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(&self.channel)
            .fetch_one(&mut conn)
            .await?;
        Ok(leader.then_some(Leader { conn }))
    }

    /// How many instructions wait in the outbox, and when the oldest was recorded.
    pub async fn outbox_backlog(&self) -> Result<(i64, Option<OffsetDateTime>), sqlx::Error> {
        sqlx::query_as("SELECT count(*), min(created_at) FROM outbox")
            .fetch_one(&self.pool)
            .await
    }

    /// Locks up to `limit` outbox rows in id order (acceptance order) for publishing.
    pub async fn take_outbox(
        &self,
        limit: i64,
    ) -> Result<(OutboxBatch, Vec<OutboxRow>), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query_as(
            "SELECT id, measure_id, instruction_id, routing_key, court_code, asset_key, deadline, \
                 payload, created_at, \
                 (SELECT trace_id FROM measures m WHERE m.id = outbox.measure_id) AS trace_id \
             FROM outbox ORDER BY id LIMIT $1 FOR UPDATE OF outbox SKIP LOCKED",
        )
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        Ok((
            OutboxBatch {
                tx,
                hub: self.hub.clone(),
            },
            rows,
        ))
    }
}

impl OutboxBatch {
    /// Removes the published rows and moves their measures on: `DISPATCHED` when confirmed,
    /// `REJECTED` (unknown agency) when returned unroutable, both as of `now` (when the relay
    /// handed them to the broker). Commits; returns the measures rejected.
    pub async fn settle(
        mut self,
        published: &[i64],
        signatures: &[Option<String>],
        deliveries: &[Delivery],
        now: OffsetDateTime,
    ) -> Result<Vec<MeasureRow>, sqlx::Error> {
        static DISPATCH: LazyLock<String> = LazyLock::new(|| {
            format!(
                concat!(
                    "UPDATE measures SET state = '{}', version = version + 1, updated_at = $2 \
                     WHERE id = ANY($1) AND state IN ({}) RETURNING ",
                    measure_columns!()
                ),
                MeasureState::Dispatched.as_str(),
                states_where(|s| s.can_become(MeasureState::Dispatched))
            )
        });
        static REJECT_UNROUTABLE: LazyLock<String> = LazyLock::new(|| {
            format!(
                concat!(
                    "UPDATE measures SET state = '{}', reason_code = $2, reason_message = $3, \
                         version = version + 1, updated_at = $4 \
                     WHERE id = $1 AND state IN ({}) AND kind <> '{}' RETURNING ",
                    measure_columns!()
                ),
                MeasureState::Rejected.as_str(),
                *UNDELIVERED,
                MeasureKind::Inquiry.as_str()
            )
        });
        let tx = &mut *self.tx;
        // This commit need not wait for its flush: lost in a crash of the database, it leaves
        // the rows in the outbox to be published again (the agencies ignore the repeat) and the
        // measures SUBMITTED, and anything later that depends on it (an answer applied, a
        // release) is flushed with it, as the log is flushed in order. Waiting would only hold
        // the relay's next batch back for the flush.
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        // The rows go, and what was published stays as evidence, with its signature (`published`
        // and `signatures` side by side). A row published again after a crash is kept once.
        sqlx::query(
            "WITH gone AS (DELETE FROM outbox WHERE id = ANY($1) \
                 RETURNING id, measure_id, instruction_id, routing_key, payload) \
             INSERT INTO instruction_evidence \
                 (instruction_id, measure_id, routing_key, payload, signature, published_at) \
             SELECT g.instruction_id, g.measure_id, g.routing_key, g.payload, s.signature, $3 \
             FROM gone g LEFT JOIN UNNEST($1::int8[], $2::text[]) AS s(id, signature) \
                 ON s.id = g.id \
             ON CONFLICT (instruction_id) DO NOTHING",
        )
        .bind(published)
        .bind(signatures)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // Lock the measures in id order, as report application does, so the two never deadlock.
        let measure_ids: Vec<Uuid> = deliveries
            .iter()
            .map(|d| match d {
                Delivery::Confirmed(id) | Delivery::Unroutable { measure_id: id, .. } => *id,
            })
            .collect();
        sqlx::query("SELECT id FROM measures WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&measure_ids)
            .execute(&mut *tx)
            .await?;
        let confirmed: Vec<Uuid> = deliveries
            .iter()
            .filter_map(|d| match d {
                Delivery::Confirmed(id) => Some(*id),
                Delivery::Unroutable { .. } => None,
            })
            .collect();
        let mut written = Vec::new();
        transition(
            tx,
            sqlx::query_as(DISPATCH.as_str()).bind(&confirmed).bind(now),
            pb::EventKind::StateChanged,
            |_| "handed to the broker".to_string(),
            &mut written,
        )
        .await?;
        let mut rejected = Vec::new();
        for delivery in deliveries {
            if let Delivery::Unroutable {
                measure_id,
                message,
            } = delivery
            {
                let rows = transition(
                    tx,
                    sqlx::query_as(REJECT_UNROUTABLE.as_str())
                        .bind(measure_id)
                        .bind(pb::ReasonCode::UnknownAgency as i32)
                        .bind(message)
                        .bind(now),
                    pb::EventKind::StateChanged,
                    |_| message.clone(),
                    &mut written,
                )
                .await?;
                rejected.extend(rows);
            }
        }
        self.tx.commit().await?;
        self.hub.committed(written, Vec::new(), false);
        Ok(rejected)
    }

    /// Ends the batch without change (nothing was taken).
    pub async fn close(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}
