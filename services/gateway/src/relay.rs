//! The outbox relay: publishes recorded instructions to RabbitMQ with confirms.
//!
//! A batch of outbox rows is locked, published in id order on one confirm channel (so that
//! instructions on the same asset reach the agency's queue in acceptance order), and deleted only
//! once the broker has confirmed every message, in the same transaction that marks the measures
//! DISPATCHED. A message the broker returns as unroutable ends its measure REJECTED: no agency
//! of that kind and code is connected. If the gateway dies between publish and commit, the rows
//! are published again; the instruction id lets every agency ignore the repeat.
//!
//! Only one relay publishes at a time: the leader holds a PostgreSQL advisory lock on a
//! dedicated connection, so several gateway instances cannot interleave a queue's messages.

use std::{sync::Arc, time::Duration};

use enforcement_proto::v1 as pb;
use hub_bus::{
    MessageMeta, PendingConfirm, Published, Publisher,
    signing::{HEADER_SIGNATURE, Signer},
    topology::INSTRUCTIONS_EXCHANGE,
};
use sqlx::{Connection, PgConnection};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    measure_columns,
    store::{MeasureRow, NewEvent, Store, record_events},
};

/// Failures that end a relay session (the caller reconnects).
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The broker failed or refused a message.
    #[error(transparent)]
    Bus(#[from] hub_bus::BusError),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: i64,
    measure_id: Uuid,
    instruction_id: Uuid,
    routing_key: String,
    court_code: String,
    asset_key: String,
    deadline: OffsetDateTime,
    payload: Vec<u8>,
    created_at: OffsetDateTime,
}

/// Publishes the outbox.
#[derive(Clone)]
pub struct Relay {
    store: Store,
    batch: i64,
    poll: Duration,
    wake: Arc<Notify>,
    clock: hub_domain::Clock,
    signer: Option<Signer>,
}

impl Relay {
    /// A relay over `store`'s outbox, woken by `wake` after each commit and every `poll`.
    pub fn new(
        store: Store,
        batch: u32,
        poll: Duration,
        wake: Arc<Notify>,
        clock: hub_domain::Clock,
        signer: Option<Signer>,
    ) -> Self {
        Self {
            store,
            batch: i64::from(batch.max(1)),
            poll,
            wake,
            clock,
            signer,
        }
    }

    /// Publishes until `shutdown` or an error. Waits to become leader first.
    pub async fn run(
        &self,
        publisher: &Publisher,
        shutdown: &CancellationToken,
    ) -> Result<(), RelayError> {
        let Some(mut leader) = self.become_leader(shutdown).await? else {
            return Ok(());
        };
        loop {
            // Drain: full batches mean more is waiting.
            loop {
                // A lost leader connection means the lock is gone; stop before another
                // instance starts publishing the same queue.
                leader.ping().await?;
                let published = self.publish_batch(publisher).await?;
                if published < self.batch as usize || shutdown.is_cancelled() {
                    break;
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    /// Takes the advisory lock on a connection of its own; `None` if shut down while waiting.
    async fn become_leader(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Option<PgConnection>, RelayError> {
        // Detached: if the connection returned to the pool it would keep the lock.
        let mut conn = self.store.pool().acquire().await?.detach();
        loop {
            let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
                .bind(self.store.channel())
                .fetch_one(&mut conn)
                .await?;
            if leader {
                tracing::info!("outbox relay is the leader");
                return Ok(Some(conn));
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(None),
                () = tokio::time::sleep(self.poll * 4) => {}
            }
        }
    }

    /// Publishes one batch; returns how many rows it took.
    async fn publish_batch(&self, publisher: &Publisher) -> Result<usize, RelayError> {
        let mut tx = self.store.pool().begin().await?;
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "SELECT id, measure_id, instruction_id, routing_key, court_code, asset_key, deadline, \
                 payload, created_at \
             FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(self.batch)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }

        crate::failpoint::hit(crate::failpoint::RELAY_BEFORE_PUBLISH);
        // Send everything, then collect the confirms: one round trip per batch, not per row.
        let mut pending: Vec<PendingConfirm> = Vec::with_capacity(rows.len());
        for row in &rows {
            pending.push(
                publisher
                    .send(
                        INSTRUCTIONS_EXCHANGE,
                        &row.routing_key,
                        &row.payload,
                        &meta(row, self.signer.as_ref()),
                    )
                    .await?,
            );
        }
        let mut dispatched = Vec::with_capacity(rows.len());
        let mut unroutable = Vec::new();
        for (row, confirm) in rows.iter().zip(pending) {
            match confirm.wait().await? {
                Published::Confirmed => dispatched.push(row.measure_id),
                Published::Returned { .. } => unroutable.push(row),
            }
        }

        crate::failpoint::hit(crate::failpoint::RELAY_BEFORE_COMMIT);
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        // Lock the measures in id order, as report application does, so the two never deadlock.
        let measure_ids: Vec<Uuid> = rows.iter().map(|r| r.measure_id).collect();
        sqlx::query("SELECT id FROM measures WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&measure_ids)
            .execute(&mut *tx)
            .await?;
        let now = self.clock.now();
        let mut changed: Vec<MeasureRow> = sqlx::query_as(concat!(
            "UPDATE measures SET state = 'dispatched', version = version + 1, updated_at = $2 \
             WHERE id = ANY($1) AND state = 'submitted' RETURNING ",
            measure_columns!()
        ))
        .bind(&dispatched)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut messages = vec![String::from("handed to the broker"); changed.len()];
        for row in unroutable {
            let agency = row.routing_key.replacen('.', " ", 1);
            let message = format!("no agency {agency} is connected to the hub");
            tracing::warn!(measure = %row.measure_id, routing_key = %row.routing_key, "instruction unroutable");
            let rejected: Option<MeasureRow> = sqlx::query_as(concat!(
                "UPDATE measures SET state = 'rejected', reason_code = $2, reason_message = $3, \
                     version = version + 1, updated_at = $4 \
                 WHERE id = $1 AND state IN ('submitted', 'dispatched') AND kind <> 'inquiry' RETURNING ",
                measure_columns!()
            ))
            .bind(row.measure_id)
            .bind(pb::ReasonCode::UnknownAgency as i32)
            .bind(&message)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(rejected) = rejected {
                changed.push(rejected);
                messages.push(message);
            }
        }
        let events: Vec<NewEvent<'_>> = changed
            .iter()
            .zip(messages)
            .map(|(row, message)| NewEvent {
                row,
                kind: pb::EventKind::StateChanged,
                message,
                detail: None,
            })
            .collect();
        record_events(&mut tx, self.store.channel(), &events).await?;
        tx.commit().await?;
        Ok(rows.len())
    }
}

fn meta(row: &OutboxRow, signer: Option<&Signer>) -> MessageMeta {
    let mut meta = MessageMeta {
        message_id: row.instruction_id.to_string(),
        correlation_id: Some(row.measure_id.to_string()),
        kind: "enforcement.v1.Instruction".into(),
        timestamp: u64::try_from(row.created_at.unix_timestamp()).unwrap_or(0),
        headers: vec![
            ("court".into(), row.court_code.clone()),
            ("asset".into(), row.asset_key.clone()),
            (
                "deadline".into(),
                row.deadline.format(&Rfc3339).unwrap_or_default(),
            ),
        ],
    };
    if let Some(signer) = signer {
        meta.headers
            .push((HEADER_SIGNATURE.to_string(), signer.sign(&row.payload)));
    }
    meta
}
