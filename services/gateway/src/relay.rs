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

use hub_bus::{
    MessageMeta, PendingConfirm, Published, Publisher,
    signing::{HEADER_SIGNATURE, Signer},
    topology::INSTRUCTIONS_EXCHANGE,
    trace::{TRACEPARENT, TraceId},
};
use time::format_description::well_known::Rfc3339;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::{
    Store,
    outbox::{Delivery, Leader, OutboxRow},
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

/// Publishes the outbox.
#[derive(Clone)]
pub struct Relay {
    store: Store,
    batch: i64,
    poll: Duration,
    wake: Arc<Notify>,
    clock: hub_domain::Clock,
    signer: Option<Signer>,
    /// Counts the measures rejected as unroutable among the outcomes.
    metrics: crate::metrics::GatewayMetrics,
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
        metrics: crate::metrics::GatewayMetrics,
    ) -> Self {
        Self {
            store,
            batch: i64::from(batch.max(1)),
            poll,
            wake,
            clock,
            signer,
            metrics,
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

    /// Waits to hold the leader's lock; `None` if shut down while waiting.
    async fn become_leader(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Option<Leader>, RelayError> {
        loop {
            if let Some(leader) = self.store.try_lead().await? {
                tracing::info!("outbox relay is the leader");
                return Ok(Some(leader));
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(None),
                () = tokio::time::sleep(self.poll * 4) => {}
            }
        }
    }

    /// Publishes one batch; returns how many rows it took.
    async fn publish_batch(&self, publisher: &Publisher) -> Result<usize, RelayError> {
        let (batch, rows) = self.store.take_outbox(self.batch).await?;
        if rows.is_empty() {
            batch.close().await?;
            return Ok(0);
        }

        crate::failpoint::hit(crate::failpoint::RELAY_BEFORE_PUBLISH);
        // The instant the broker is handed the batch is when its measures are DISPATCHED (the
        // audit entry is written once the broker has confirmed): the agency's adapter may take
        // an instruction before its confirm comes back, never before it was sent.
        let handed_over = self.clock.now();
        // Send everything, then collect the confirms: one round trip per batch, not per row.
        let mut pending: Vec<PendingConfirm> = Vec::with_capacity(rows.len());
        let signatures: Vec<Option<String>> = rows
            .iter()
            .map(|row| self.signer.as_ref().map(|s| s.sign(&row.payload)))
            .collect();
        for (row, signature) in rows.iter().zip(&signatures) {
            pending.push(
                publisher
                    .send(
                        INSTRUCTIONS_EXCHANGE,
                        &row.routing_key,
                        &row.payload,
                        &meta(row, signature.as_deref()),
                    )
                    .await?,
            );
        }
        let mut deliveries = Vec::with_capacity(rows.len());
        for (row, confirm) in rows.iter().zip(pending) {
            deliveries.push(match confirm.wait().await? {
                Published::Confirmed => Delivery::Confirmed(row.measure_id),
                Published::Returned { .. } => {
                    tracing::warn!(measure = %row.measure_id, routing_key = %row.routing_key, "instruction unroutable");
                    let agency = row.routing_key.replacen('.', " ", 1);
                    Delivery::Unroutable {
                        measure_id: row.measure_id,
                        message: format!("no agency {agency} is connected to the hub"),
                    }
                }
            });
        }

        crate::failpoint::hit(crate::failpoint::RELAY_BEFORE_COMMIT);
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let now = self.clock.now();
        for row in batch
            .settle(&ids, &signatures, &deliveries, handed_over)
            .await?
        {
            let agency = row.agency.code();
            let since = now - row.submitted_at;
            self.metrics.outcome(row.kind, agency, row.state, since);
        }
        Ok(rows.len())
    }
}

fn meta(row: &OutboxRow, signature: Option<&str>) -> MessageMeta {
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
    if let Some(signature) = signature {
        meta.headers
            .push((HEADER_SIGNATURE.to_string(), signature.to_string()));
    }
    if let Some(trace) = row.trace_id.as_deref().and_then(|t| TraceId::parse(t).ok()) {
        meta.headers
            .push((TRACEPARENT.to_string(), trace.traceparent()));
    }
    meta
}
