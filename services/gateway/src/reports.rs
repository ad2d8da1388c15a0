//! The consumer of agency reports: decodes each `AgencyReport`, checks that the agency said it
//! ([`crate::trust`]: the adapter's signature, the agency's seal, not a replay), applies it, then
//! acknowledges.
//!
//! A report that cannot be read (oversized, undecodable, without a valid agency) or that fails
//! the checks is put in the dead-letter queue with the reason in `x-hub-dead-reason`, then
//! acknowledged: nothing of it is applied. A database failure is retried with back-off; if it
//! persists the delivery is returned to the queue, and the broker's delivery limit bounds how
//! often that can happen.

use std::{collections::HashMap, sync::Arc, time::Duration};

use enforcement_proto::{convert, v1 as pb};
use hub_bus::{
    Published, Publisher, header_str,
    signing::{HEADER_KEY_ID, HEADER_SIGNATURE, Verifier},
    topology::GATEWAY_QUEUE,
    trace::{TRACEPARENT, TraceId},
};
use hub_domain::{AgencyCode, AgencyKind, Clock, MeasureKind};
use hub_runtime::Backoff;
use lapin::{Consumer, message::Delivery};
use prost::Message;
use sha2::Digest as _;
use time::OffsetDateTime;
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    apply::{Applied, Incoming, apply_reports},
    metrics::GatewayMetrics,
    store::{Store, keys::NewReceipt},
    trust::{self, KeyRing, RegisteredKey, Seen},
};

/// Applies agency reports from the gateway's queue.
#[derive(Clone)]
pub struct ReportConsumer {
    store: Store,
    clock: Clock,
    workers: usize,
    batch: usize,
    metrics: GatewayMetrics,
    /// Refuse unsigned reports even of agencies with no key registered.
    require_signed: bool,
}

impl ReportConsumer {
    /// A consumer applying at most `workers` batches of at most `batch` reports at once; with
    /// `require_signed`, every report must be signed (otherwise only those of agencies with a
    /// registered key).
    pub fn new(
        store: Store,
        clock: Clock,
        workers: usize,
        batch: usize,
        metrics: GatewayMetrics,
        require_signed: bool,
    ) -> Self {
        Self {
            store,
            clock,
            workers: workers.max(1),
            batch: batch.max(1),
            metrics,
            require_signed,
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

    /// Applies a batch: announcements to the registry, updates to measures, and remembers the
    /// reports' `receipts` with the updates.
    async fn apply(
        &self,
        announcements: &[pb::Announcement],
        updates: &[Incoming],
        receipts: &[NewReceipt],
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
            self.store.record_receipts(receipts, now).await?;
            return Ok(Applied::default());
        }
        apply_reports(&self.store, updates, receipts, now).await
    }

    /// The registered keys of the reporting agencies, and what was received before under the
    /// ids of `reports`; `None` if the database cannot say (the batch is returned to the queue).
    async fn trust_context(
        &self,
        reports: &[(Delivery, pb::AgencyReport)],
    ) -> Option<TrustContext> {
        let ids: Vec<Uuid> = reports
            .iter()
            .filter_map(|(_, r)| Uuid::parse_str(&r.report_id).ok())
            .collect();
        let mut agencies: Vec<(String, String)> =
            reports.iter().flat_map(|(_, r)| speaks_for(r)).collect();
        agencies.sort_unstable();
        agencies.dedup();
        let loaded = async {
            let keys = self.store.keys_of(&agencies).await?;
            let receipts = self.store.receipts(&ids).await?;
            let enrolled = self.store.enrolments_of(&agencies).await?;
            Ok::<_, sqlx::Error>((keys, receipts, enrolled))
        }
        .await;
        match loaded {
            Ok((keys, receipts, enrolled)) => Some(TrustContext {
                ring: key_ring(keys),
                earlier: receipts.into_iter().collect(),
                enrolled: enrolled
                    .into_iter()
                    .map(|e| ((e.agency_kind, e.agency_code), e.broker_user))
                    .collect(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "reading the agency keys failed; returning the reports");
                for (delivery, _) in reports {
                    if let Err(e) = hub_bus::reply::requeue(delivery).await {
                        tracing::warn!(error = %e, "nack failed; the broker will redeliver");
                    }
                }
                None
            }
        }
    }

    /// Whether `report`, delivered as `delivery`, is to be applied (with its receipt), was
    /// received before and is harmless (its receipt only), or is refused (why).
    fn believe(
        &self,
        trust: &TrustContext,
        delivery: &Delivery,
        report: &pb::AgencyReport,
        now: OffsetDateTime,
    ) -> Result<(Seen, NewReceipt), String> {
        let (ring, earlier) = (&trust.ring, &trust.earlier);
        let report_id = Uuid::parse_str(&report.report_id)
            .map_err(|_| "the report id is not a UUID".to_string())?;
        let agency = report
            .agency
            .as_ref()
            .and_then(convert::agency_from_proto)
            .ok_or_else(|| "agency report without a valid agency".to_string())?;
        let props = &delivery.properties;
        trust::check_sender(
            &trust.enrolled,
            &speaks_for(report),
            props.user_id().as_ref().map(|u| u.as_str()),
        )
        .map_err(|why| why.reason())?;
        trust::check_signature(
            ring,
            &agency,
            &delivery.data,
            header_str(props, HEADER_KEY_ID),
            header_str(props, HEADER_SIGNATURE),
            now,
            self.require_signed,
        )
        .and_then(|()| trust::check_seal(ring, &agency, report, now, self.require_signed))
        .map_err(|why| why.reason())?;
        let digest = sha2::Sha256::digest(&delivery.data).to_vec();
        let sent_at = report.sent_at.as_ref().and_then(convert::instant);
        let seen = trust::seen(
            earlier.get(&report_id),
            &digest,
            sent_at,
            delivery.redelivered,
        );
        if let Seen::Replayed(why) = &seen {
            return Err(why.reason());
        }
        let trace = header_str(props, TRACEPARENT).and_then(|v| TraceId::from_traceparent(v).ok());
        let instruction_id = Uuid::parse_str(&report.instruction_id).ok();
        if instruction_id.is_some() {
            let measure = report.updates.first().map_or("", |u| u.measure_id.as_str());
            tracing::info!(
                report = %report_id,
                %measure,
                trace_id = %trace.map(|t| t.to_string()).unwrap_or_default(),
                "applying the agency's report"
            );
        }
        Ok((
            seen,
            NewReceipt {
                report_id,
                agency_kind: agency.kind.as_str().to_string(),
                agency_code: agency.code.to_string(),
                digest,
                sent_at,
                instruction_id,
                delivered_at: report.received_at.as_ref().and_then(convert::instant),
                answered_at: report.answered_at.as_ref().and_then(convert::instant),
                trace_id: trace.map(|t| t.to_string()),
                body: delivery.data.clone(),
                key_id: header_str(props, HEADER_KEY_ID).map(str::to_string),
                signature: header_str(props, HEADER_SIGNATURE).map(str::to_string),
                measure_ids: report
                    .updates
                    .iter()
                    .filter_map(|u| Uuid::parse_str(&u.measure_id).ok())
                    .collect(),
            },
        ))
    }

    async fn handle(&self, deliveries: Vec<Delivery>, dead_letters: &Publisher) {
        let mut decoded = Vec::with_capacity(deliveries.len());
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
            match pb::AgencyReport::decode(delivery.data.as_slice()) {
                Ok(report) => decoded.push((delivery, report)),
                Err(e) => {
                    tracing::error!(error = %e, "undecodable agency report; dead-lettering it");
                    let reason = format!("the agency report could not be decoded: {e}");
                    self.dead_letter(dead_letters, &delivery, &reason).await;
                }
            }
        }
        if decoded.is_empty() {
            return;
        }
        let Some(trust) = self.trust_context(&decoded).await else {
            return;
        };
        let now = self.clock.now();
        let mut updates = Vec::new();
        let mut announcements = Vec::new();
        let mut receipts = Vec::new();
        let mut readable = Vec::with_capacity(decoded.len());
        // When each readable report was sent, for the apply lag.
        let mut sent = Vec::with_capacity(decoded.len());
        for (delivery, report) in decoded {
            match self.believe(&trust, &delivery, &report, now) {
                Err(reason) => {
                    tracing::warn!(report = %report.report_id, %reason, "agency report refused; dead-lettering it");
                    self.dead_letter(dead_letters, &delivery, &reason).await;
                    continue;
                }
                Ok((Seen::Again, receipt)) => {
                    tracing::info!(report = %report.report_id, "report received again; nothing to apply");
                    receipts.push(receipt);
                    readable.push(delivery);
                    continue;
                }
                Ok((_, receipt)) => receipts.push(receipt),
            }
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
            match self.apply(&announcements, &updates, &receipts).await {
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

/// What the gateway knows that decides whether it believes a batch's reports.
struct TrustContext {
    /// The reporting agencies' registered keys.
    ring: KeyRing,
    /// What was received before under the batch's report ids.
    earlier: HashMap<Uuid, trust::Receipt>,
    /// The broker user each enrolled agency of the batch publishes as, by (kind, code).
    enrolled: HashMap<(String, String), String>,
}

/// The agencies (kind, code) a report speaks for: the reporting agency, and for an
/// announcement every agency it announces.
fn speaks_for(report: &pb::AgencyReport) -> Vec<(String, String)> {
    let mut agencies: Vec<(String, String)> = report
        .agency
        .as_ref()
        .and_then(convert::agency_from_proto)
        .map(|a| (a.kind.as_str().to_string(), a.code.to_string()))
        .into_iter()
        .collect();
    if let Some((kind, codes, _)) = report.announcement.as_ref().and_then(announced) {
        agencies.extend(
            codes
                .iter()
                .map(|c| (kind.as_str().to_string(), c.to_string())),
        );
    }
    agencies
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

/// The registered keys that are well formed, ready to verify.
fn key_ring(rows: Vec<crate::store::keys::AgencyKeyRow>) -> KeyRing {
    let mut ring = KeyRing::default();
    for row in rows {
        let hex = hub_bus::signing::to_hex(&row.public_key);
        match Verifier::from_hex(&hex) {
            Ok(verifier) => ring.insert(
                &row.agency_kind,
                &row.agency_code,
                RegisteredKey {
                    key_id: row.key_id,
                    verifier,
                    valid_from: row.valid_from,
                    valid_until: row.valid_until,
                },
            ),
            Err(e) => {
                tracing::error!(key = %row.key_id, error = %e, "unusable agency key in the registry")
            }
        }
    }
    ring
}
