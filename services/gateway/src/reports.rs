//! The consumer of agency reports: decodes each `AgencyReport`, applies it, then acknowledges.
//!
//! A report that cannot be read (oversized, undecodable, without a valid agency) is put in the
//! dead-letter queue with the reason in `x-hub-dead-reason`, then acknowledged. A database failure is retried with back-off; if it persists the delivery is returned
//! to the queue, and the broker's delivery limit bounds how often that can happen.

use std::{sync::Arc, time::Duration};

use enforcement_proto::{convert, v1 as pb};
use hub_bus::{Published, Publisher, topology::GATEWAY_QUEUE};
use hub_domain::{AgencyCode, AgencyKind, Clock, MeasureKind};
use hub_runtime::Backoff;
use lapin::{Consumer, message::Delivery};
use prost::Message;
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::{
    apply::{Applied, Incoming, apply_reports},
    metrics::GatewayMetrics,
    store::Store,
};

/// Applies agency reports from the gateway's queue.
#[derive(Clone)]
pub struct ReportConsumer {
    store: Store,
    clock: Clock,
    workers: usize,
    batch: usize,
    metrics: GatewayMetrics,
}

impl ReportConsumer {
    /// A consumer applying at most `workers` batches of at most `batch` reports at once.
    pub fn new(
        store: Store,
        clock: Clock,
        workers: usize,
        batch: usize,
        metrics: GatewayMetrics,
    ) -> Self {
        Self {
            store,
            clock,
            workers: workers.max(1),
            batch: batch.max(1),
            metrics,
        }
    }

    /// Consumes until `shutdown` (then finishes what it holds) or a broker error.
    ///
    /// Reports that have already arrived are applied together: one transaction for a burst
    /// instead of one per report.
    pub async fn run(
        &self,
        mut consumer: Consumer,
        dead_letters: &Publisher,
        shutdown: &CancellationToken,
    ) -> Result<(), lapin::Error> {
        let permits = Arc::new(Semaphore::new(self.workers));
        let mut tasks = JoinSet::new();
        let result = loop {
            let permit = tokio::select! {
                () = shutdown.cancelled() => break Ok(()),
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break Ok(()),
                },
            };
            let next = tokio::select! {
                () = shutdown.cancelled() => break Ok(()),
                next = consumer.next() => next,
            };
            let mut batch = match next {
                None => break Ok(()),
                Some(Err(e)) => break Err(e),
                Some(Ok(delivery)) => vec![delivery],
            };
            let mut failed = None;
            while batch.len() < self.batch {
                // Only what is already here: a zero timeout polls once and never waits.
                match tokio::time::timeout(Duration::ZERO, consumer.next()).await {
                    Ok(Some(Ok(delivery))) => batch.push(delivery),
                    Ok(Some(Err(e))) => {
                        failed = Some(e);
                        break;
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            let this = self.clone();
            let dead_letters = dead_letters.clone();
            tasks.spawn(async move {
                this.handle(batch, &dead_letters).await;
                drop(permit);
            });
            if let Some(e) = failed {
                break Err(e);
            }
            while tasks.try_join_next().is_some() {}
        };
        // Drain: reports being applied are finished and acknowledged before the channel closes.
        while tasks.join_next().await.is_some() {}
        result
    }

    /// Applies a batch: announcements to the registry, updates to measures.
    async fn apply(
        &self,
        announcements: &[pb::Announcement],
        updates: &[Incoming],
    ) -> Result<Applied, crate::Error> {
        let now = self.clock.now();
        for announcement in announcements {
            let Some((kind, codes, measures)) = announced(announcement) else {
                continue;
            };
            let n = self.store.announce(kind, &codes, &measures, now).await?;
            tracing::info!(agencies = n, "adapter announced its agencies");
        }
        if updates.is_empty() {
            return Ok(Applied::default());
        }
        apply_reports(&self.store, updates, now).await
    }

    async fn handle(&self, deliveries: Vec<Delivery>, dead_letters: &Publisher) {
        let mut updates = Vec::new();
        let mut announcements = Vec::new();
        let mut readable = Vec::with_capacity(deliveries.len());
        // When each readable report was sent, for the apply lag.
        let mut sent = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            if delivery.data.len() > hub_bus::MAX_MESSAGE_BYTES {
                tracing::error!(
                    bytes = delivery.data.len(),
                    "oversized agency report; dead-lettering it"
                );
                let reason = format!(
                    "report of {} bytes, larger than the {} a message may be",
                    delivery.data.len(),
                    hub_bus::MAX_MESSAGE_BYTES
                );
                self.dead_letter(dead_letters, &delivery, &reason).await;
                continue;
            }
            let report = match pb::AgencyReport::decode(delivery.data.as_slice()) {
                Ok(report) => report,
                Err(e) => {
                    tracing::error!(error = %e, "undecodable agency report; dead-lettering it");
                    let reason = format!("the agency report could not be decoded: {e}");
                    self.dead_letter(dead_letters, &delivery, &reason).await;
                    continue;
                }
            };
            sent.extend(report.sent_at.as_ref().and_then(convert::instant));
            if report.kind == pb::ReportKind::Announce as i32 {
                if let Some(announcement) = &report.announcement {
                    announcements.push(announcement.clone());
                }
                readable.push(delivery);
                continue;
            }
            let Some(agency) = report.agency.as_ref().and_then(convert::agency_from_proto) else {
                tracing::error!(report = %report.report_id, "agency report without a valid agency; dead-lettering it");
                self.dead_letter(
                    dead_letters,
                    &delivery,
                    "agency report without a valid agency",
                )
                .await;
                continue;
            };
            let answer = report.answer;
            updates.extend(report.updates.into_iter().map(|update| Incoming {
                agency: agency.clone(),
                update,
                answer: answer.clone(),
            }));
            readable.push(delivery);
        }
        if readable.is_empty() {
            return;
        }
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
        loop {
            match self.apply(&announcements, &updates).await {
                Ok(applied) => {
                    for (measure, why) in &applied.ignored {
                        tracing::debug!(%measure, ?why, "update not applied");
                    }
                    let now = self.clock.now();
                    for m in &applied.moved {
                        let since = now - m.submitted_at;
                        self.metrics.moved(m.kind, &m.agency, m.from, m.to, since);
                    }
                    for at in &sent {
                        self.metrics.report_applied(now - *at);
                    }
                    break;
                }
                Err(e) if backoff.attempts() < 5 => {
                    tracing::warn!(error = %e, reports = readable.len(), "applying reports failed; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, reports = readable.len(), "applying reports failed; returning them to the queue");
                    for delivery in &readable {
                        if let Err(e) = hub_bus::reply::requeue(delivery).await {
                            tracing::warn!(error = %e, "nack failed; the broker will redeliver");
                        }
                    }
                    return;
                }
            }
        }
        for delivery in &readable {
            match hub_bus::reply::ack(delivery).await {
                Ok(true) => {}
                // After a channel recovery the old delivery tag is void: the broker will
                // redeliver the report, and applying it again changes nothing.
                Ok(false) => tracing::warn!("ack not delivered; report will be redelivered"),
                Err(e) => tracing::warn!(error = %e, "ack failed; report will be redelivered"),
            }
        }
    }

    /// Puts an unreadable report in the dead-letter queue with `reason` and acknowledges it; if the
    /// copy cannot be published, rejects it (the queue's dead-letter exchange takes it, with only
    /// the broker's reason) rather than lose it or take it again.
    async fn dead_letter(&self, publisher: &Publisher, delivery: &Delivery, reason: &str) {
        let copied = hub_bus::dead_letter(
            publisher,
            delivery,
            GATEWAY_QUEUE,
            delivery.routing_key.as_str(),
            reason,
        )
        .await;
        let settled = match copied {
            Ok(Published::Confirmed) => {
                self.metrics.dead_lettered(GATEWAY_QUEUE);
                hub_bus::reply::ack(delivery).await
            }
            Ok(Published::Returned { reply_text, .. }) => {
                tracing::warn!(%reply_text, "dead-letter queue missing; rejecting the report");
                hub_bus::reply::reject(delivery).await
            }
            Err(e) => {
                tracing::warn!(error = %e, "dead-lettering failed; rejecting the report");
                hub_bus::reply::reject(delivery).await
            }
        };
        if let Err(e) = settled {
            tracing::warn!(error = %e, "settling a dead-lettered report failed; the broker will redeliver");
        }
    }
}

/// What an adapter announced: the kind, the valid codes, and the measures of those the kind
/// carries out; `None` if the kind is unknown.
fn announced(
    announcement: &pb::Announcement,
) -> Option<(AgencyKind, Vec<AgencyCode>, Vec<MeasureKind>)> {
    let kind = convert::agency_kind_from_proto(announcement.kind)?;
    let codes = announcement
        .codes
        .iter()
        .filter_map(|c| AgencyCode::parse(c).ok())
        .collect();
    let measures = announcement
        .measures
        .iter()
        .filter_map(|m| convert::kind_from_proto(*m))
        .filter(|m| kind.carries(*m))
        .collect();
    Some((kind, codes, measures))
}
