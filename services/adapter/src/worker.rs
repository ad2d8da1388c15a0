//! Taking instructions off the agency's queue and carrying them out.
//!
//! Deliveries are spread over lanes by asset: one lane handles its deliveries one after another,
//! so two instructions on the same account reach the agency in queue order, while different
//! assets proceed in parallel. For each instruction the adapter calls the agency with a deadline,
//! publishes the outcome with a confirm, and only then acknowledges the delivery: if the adapter
//! dies in between, the broker redelivers and the agency, idempotent on the instruction id,
//! answers the same again.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use enforcement_proto::{
    convert::{instant, timestamp},
    v1::{self as pb, agency_backend_client::AgencyBackendClient},
};
use hub_bus::{
    MessageMeta, Published, Publisher, header_str,
    reply::within,
    signing::{HEADER_SIGNATURE, Verifier},
    topology::{
        AgencyQueue, DEAD_LETTER_EXCHANGE, HEADER_DEAD_QUEUE, HEADER_DEAD_REASON,
        OUTCOMES_EXCHANGE, QueuePolicy, declare_agency,
    },
};
use hub_domain::{AgencyId, MeasureKind};
use lapin::message::Delivery;
use prost::Message;
use time::OffsetDateTime;
use tokio::{
    sync::{mpsc, watch},
    task::JoinSet,
};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::{Code, transport::Channel};
use uuid::Uuid;

use crate::config::Config;

/// The publisher of the current broker session, shared with the inbox.
pub type CurrentPublisher = watch::Receiver<Option<Publisher>>;

/// One agency served: its identity and its queue.
#[derive(Clone, Debug)]
pub struct Served {
    /// The agency.
    pub agency: AgencyId,
    /// Its queue and routing keys.
    pub queue: AgencyQueue,
}

/// Carries out the instructions of the agencies served.
#[derive(Clone)]
pub struct Worker {
    config: Arc<Config>,
    /// Verifies the gateway's signature on instructions, when its key is configured.
    verifier: Option<Verifier>,
    /// The agencies, all of one kind; a delivery names the one it came for by index.
    served: Arc<Vec<Served>>,
    backend: AgencyBackendClient<Channel>,
}

/// A delivery and the index of the agency whose queue it came from.
type Incoming = (usize, Delivery);

/// What became of one delivery.
enum Handled {
    /// Done: outcome published, delivery acknowledged.
    Done,
    /// Left unacknowledged (shutdown or broker trouble); the broker returns it when the channel
    /// closes and it will come again.
    Returned,
}

impl Worker {
    /// A worker for the agency in `config`, calling its system at `config.agency_url`.
    pub fn new(config: Arc<Config>) -> anyhow::Result<Self> {
        let served = config
            .agencies()
            .into_iter()
            .map(|agency| Served {
                queue: AgencyQueue::new(agency.kind.as_str(), agency.code.as_str()),
                agency,
            })
            .collect();
        let endpoint = Channel::from_shared(config.agency_url.clone())
            .with_context(|| format!("agency URL {:?}", config.agency_url))?
            .connect_timeout(Duration::from_secs(5));
        let verifier = config
            .gateway_public_key
            .as_deref()
            .map(Verifier::from_hex)
            .transpose()
            .context("ADAPTER_GATEWAY_PUBLIC_KEY")?;
        if verifier.is_none() {
            tracing::warn!("no gateway public key: instructions are not verified");
        }
        Ok(Self {
            verifier,
            served: Arc::new(served),
            backend: AgencyBackendClient::new(endpoint.connect_lazy()),
            config,
        })
    }

    /// Runs broker sessions until `shutdown`, reconnecting with back-off. The current session's
    /// publisher is shared through `publisher` (none while disconnected).
    pub async fn run(
        &self,
        publisher: watch::Sender<Option<Publisher>>,
        shutdown: CancellationToken,
    ) {
        let mut backoff = self.config.reconnect_backoff();
        loop {
            let result = self.session(&publisher, &shutdown).await;
            publisher.send_replace(None);
            match result {
                Ok(()) if shutdown.is_cancelled() => return,
                Ok(()) => tracing::warn!("consumer cancelled by the broker; reconnecting"),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "broker session ended; reconnecting")
                }
            }
            let delay = backoff.next_delay();
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn session(
        &self,
        current: &watch::Sender<Option<Publisher>>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let name = match self.served.as_slice() {
            [one] => format!("enforcement-adapter {}", one.agency),
            many => format!("enforcement-adapter {} agencies", many.len()),
        };
        let connection = hub_bus::connect(&self.config.amqp_url, &name)
            .await
            .context("connecting to RabbitMQ")?;
        let publisher = Publisher::open(&connection)
            .await
            .context("opening the publish channel")?;
        tokio::time::timeout(SETUP_TIMEOUT, self.declare_queues(&connection))
            .await
            .context("declaring the agency queues took too long")??;
        let channel = within("opening a channel", connection.create_channel())
            .await
            .context("opening the consume channel")?;
        let (incoming_tx, mut deliveries) = mpsc::channel::<Result<Incoming, lapin::Error>>(
            usize::from(self.config.prefetch.max(1)),
        );
        let mut forwarders = JoinSet::new();
        for (index, served) in self.served.iter().enumerate() {
            let tag = format!("adapter-{}-{}", served.agency, Uuid::now_v7());
            let consumer = tokio::time::timeout(
                SETUP_TIMEOUT,
                hub_bus::consume(&channel, &served.queue.queue, &tag, self.config.prefetch),
            )
            .await
            .with_context(|| format!("consuming {} took too long", served.queue.queue))?
            .with_context(|| format!("consuming {}", served.queue.queue))?;
            forwarders.spawn(forward(index, consumer, incoming_tx.clone()));
        }
        drop(incoming_tx);
        self.announce(&publisher).await?;
        current.send_replace(Some(publisher.clone()));
        tracing::info!(queues = self.served.len(), "adapter consuming");

        // Lanes end when their sender is dropped or the session token is cancelled.
        let session = shutdown.child_token();
        let lanes = self.config.lanes.max(1);
        let mut senders = Vec::with_capacity(lanes);
        let mut workers = JoinSet::new();
        for _ in 0..lanes {
            let (tx, rx) = mpsc::channel::<Incoming>(usize::from(self.config.prefetch.max(1)));
            senders.push(tx);
            let this = self.clone();
            let publisher = publisher.clone();
            let session = session.clone();
            workers.spawn(async move { this.lane(rx, publisher, session).await });
        }

        let result = loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => break Ok(()),
                next = deliveries.recv() => next,
            };
            match next {
                None => break Ok(()),
                Some(Err(e)) => break Err(anyhow::Error::new(e).context("consuming")),
                Some(Ok((index, delivery))) => {
                    let lane = lane_of(&delivery, lanes);
                    if senders[lane].send((index, delivery)).await.is_err() {
                        break Err(anyhow::anyhow!("lane {lane} stopped"));
                    }
                }
            }
        };
        // Stop taking work, let the lanes finish what they have begun, and leave the rest
        // unacknowledged. No basic.cancel first: with a single active consumer, cancelling
        // would let the next adapter become active while this one still holds instructions,
        // and it would carry out later instructions on an account before the earlier ones came
        // back. Closing the connection returns everything held, in order, in the same step
        // that makes the next consumer active. (The consumers are dropped only after the
        // close, as dropping an active lapin consumer cancels it.)
        if result.is_err() {
            session.cancel();
        }
        drop(senders);
        while workers.join_next().await.is_some() {}
        current.send_replace(None);
        let _ = within(
            "closing the connection",
            connection.close(200, "adapter stopping".into()),
        )
        .await;
        forwarders.abort_all();
        result
    }

    /// Handles one lane's deliveries in order.
    async fn lane(
        &self,
        mut rx: mpsc::Receiver<Incoming>,
        publisher: Publisher,
        session: CancellationToken,
    ) {
        while let Some((index, delivery)) = rx.recv().await {
            // Once the session ends, what a lane holds is left unacknowledged: the broker
            // returns it when the channel closes (see `leave`).
            if session.is_cancelled() {
                leave(delivery);
                continue;
            }
            let Some(served) = self.served.get(index) else {
                leave(delivery);
                continue;
            };
            let handling = Handling {
                served,
                delivery: &delivery,
                publisher: &publisher,
            };
            match self.handle(&handling, &session).await {
                Ok(Handled::Done | Handled::Returned) => {}
                Err(e) => {
                    // Broker trouble: the delivery stays unacknowledged and comes back after
                    // the reconnect; end the session so that happens promptly.
                    tracing::warn!(error = %format!("{e:#}"), "instruction left for redelivery");
                    session.cancel();
                }
            }
        }
    }

    async fn handle(
        &self,
        h: &Handling<'_>,
        session: &CancellationToken,
    ) -> anyhow::Result<Handled> {
        if h.delivery.data.len() > hub_bus::MAX_MESSAGE_BYTES {
            let reason = format!(
                "oversized instruction: {} bytes, more than the {} an instruction may have",
                h.delivery.data.len(),
                hub_bus::MAX_MESSAGE_BYTES
            );
            return self.give_up(h, None, "", Fate::Malformed(reason)).await;
        }
        // The measure a message that cannot be read claims to be about, for the court.
        let claimed_measure = || {
            h.delivery
                .properties
                .correlation_id()
                .as_ref()
                .map(|c| c.to_string())
        };
        if let Some(verifier) = &self.verifier
            && let Err(e) = verifier.verify(
                &h.delivery.data,
                header_str(&h.delivery.properties, HEADER_SIGNATURE),
            )
        {
            let reason = format!("instruction refused: {e}");
            return self
                .give_up(h, claimed_measure().as_deref(), "", Fate::Malformed(reason))
                .await;
        }
        let instruction = match pb::Instruction::decode(h.delivery.data.as_slice()) {
            Ok(i) => i,
            Err(e) => {
                let reason = format!("undecodable instruction: {e}");
                return self
                    .give_up(h, claimed_measure().as_deref(), "", Fate::Malformed(reason))
                    .await;
            }
        };
        if let Some(problem) = misfit(&h.served.agency, &instruction) {
            return self
                .give_up(
                    h,
                    Some(&instruction.measure_id),
                    &instruction.instruction_id,
                    Fate::Malformed(problem),
                )
                .await;
        }
        // An inquiry to every agency of the kind arrives with an empty code: it is for the
        // agency whose queue it came from.
        let mut instruction = instruction;
        if let Some(agency) = instruction.agency.as_mut()
            && agency.code.is_empty()
        {
            agency.code = h.served.agency.code.to_string();
        }
        let deadline = instruction.deadline.as_ref().and_then(instant);
        let mut backoff = self.config.retry_backoff();
        let mut receipt_sent = false;
        loop {
            if let Some(deadline) = deadline
                && OffsetDateTime::now_utc() > deadline
            {
                return self
                    .give_up(
                        h,
                        Some(&instruction.measure_id),
                        &instruction.instruction_id,
                        Fate::Expired,
                    )
                    .await;
            }
            let mut request = tonic::Request::new(instruction.clone());
            request.set_timeout(self.config.call_timeout());
            let mut backend = self.backend.clone();
            match backend.execute(request).await {
                Ok(response) => {
                    return self
                        .report_outcome(h, &instruction, response.into_inner())
                        .await;
                }
                Err(status)
                    if transient(status.code())
                        && backoff.attempts() + 1 < self.config.retry_attempts.max(1) =>
                {
                    tracing::warn!(
                        instruction = %instruction.instruction_id,
                        code = ?status.code(),
                        message = status.message(),
                        attempt = backoff.attempts() + 1,
                        "agency call failed; retrying"
                    );
                    if !receipt_sent {
                        self.send_receipt(h, &instruction).await?;
                        receipt_sent = true;
                    }
                    let delay = backoff.next_delay();
                    tokio::select! {
                        () = session.cancelled() => {
                            // Left unacknowledged, returned with the rest when the channel
                            // closes; the later instructions on the asset stay behind it.
                            return Ok(Handled::Returned);
                        }
                        () = tokio::time::sleep(delay) => {}
                    }
                }
                Err(status) => {
                    tracing::error!(
                        instruction = %instruction.instruction_id,
                        code = ?status.code(),
                        message = status.message(),
                        "agency call failed for good"
                    );
                    let cause = format!(
                        "the agency's system failed: {:?} {}",
                        status.code(),
                        status.message()
                    );
                    return self
                        .give_up(
                            h,
                            Some(&instruction.measure_id),
                            &instruction.instruction_id,
                            Fate::AgencyError(cause),
                        )
                        .await;
                }
            }
        }
    }

    async fn report_outcome(
        &self,
        h: &Handling<'_>,
        instruction: &pb::Instruction,
        response: pb::ExecuteResponse,
    ) -> anyhow::Result<Handled> {
        let Some(mut outcome) = response.outcome else {
            return self
                .give_up(
                    h,
                    Some(&instruction.measure_id),
                    &instruction.instruction_id,
                    Fate::AgencyError("the agency answered without an outcome".into()),
                )
                .await;
        };
        // The outcome is about this instruction's measure, whatever the agency wrote.
        outcome.measure_id.clone_from(&instruction.measure_id);
        let mut updates = vec![outcome];
        updates.extend(response.related);
        let report = pb::AgencyReport {
            report_id: Uuid::now_v7().to_string(),
            agency: Some(agency_ref(&h.served.agency)),
            kind: pb::ReportKind::Outcome as i32,
            instruction_id: instruction.instruction_id.clone(),
            updates,
            answer: response.answer,
            message: String::new(),
            sent_at: Some(timestamp(OffsetDateTime::now_utc())),
            announcement: None,
        };
        publish_report(
            h.publisher,
            &h.served.agency,
            &report,
            Some(&instruction.measure_id),
        )
        .await?;
        ack(h.delivery).await;
        Ok(Handled::Done)
    }

    async fn send_receipt(
        &self,
        h: &Handling<'_>,
        instruction: &pb::Instruction,
    ) -> anyhow::Result<()> {
        let report = pb::AgencyReport {
            report_id: Uuid::now_v7().to_string(),
            agency: Some(agency_ref(&h.served.agency)),
            kind: pb::ReportKind::Receipt as i32,
            instruction_id: instruction.instruction_id.clone(),
            updates: vec![pb::MeasureUpdate {
                measure_id: instruction.measure_id.clone(),
                revision: 0,
                state: pb::MeasureState::Delivered as i32,
                at: Some(timestamp(OffsetDateTime::now_utc())),
                cause: pb::UpdateCause::Received as i32,
                note: "received by the agency's adapter; the agency's system is not answering yet"
                    .into(),
                ..Default::default()
            }],
            message: String::new(),
            answer: None,
            sent_at: Some(timestamp(OffsetDateTime::now_utc())),
            announcement: None,
        };
        publish_report(
            h.publisher,
            &h.served.agency,
            &report,
            Some(&instruction.measure_id),
        )
        .await
    }

    /// Ends an instruction the adapter cannot carry out: tells the gateway (if the measure is
    /// known), puts a copy in the dead-letter queue with the reason, then acknowledges.
    async fn give_up(
        &self,
        h: &Handling<'_>,
        measure_id: Option<&str>,
        instruction_id: &str,
        fate: Fate,
    ) -> anyhow::Result<Handled> {
        let (state, code, reason) = match &fate {
            Fate::Malformed(r) => (
                pb::MeasureState::Failed,
                pb::ReasonCode::MalformedInstruction,
                r.clone(),
            ),
            Fate::AgencyError(r) => (
                pb::MeasureState::Failed,
                pb::ReasonCode::AgencyError,
                r.clone(),
            ),
            Fate::Expired => (
                pb::MeasureState::Expired,
                pb::ReasonCode::DeadlinePassed,
                "the instruction reached the agency after its deadline and was not carried out"
                    .into(),
            ),
        };
        tracing::warn!(measure = ?measure_id, %reason, "giving up on instruction");
        if let Some(measure_id) = measure_id.filter(|m| Uuid::parse_str(m).is_ok()) {
            let report = pb::AgencyReport {
                report_id: Uuid::now_v7().to_string(),
                agency: Some(agency_ref(&h.served.agency)),
                kind: pb::ReportKind::Failure as i32,
                instruction_id: instruction_id.to_string(),
                updates: vec![pb::MeasureUpdate {
                    measure_id: measure_id.to_string(),
                    revision: 0,
                    state: state as i32,
                    reason: Some(pb::Reason {
                        code: code as i32,
                        message: reason.clone(),
                    }),
                    at: Some(timestamp(OffsetDateTime::now_utc())),
                    cause: pb::UpdateCause::GaveUp as i32,
                    note: reason.clone(),
                    ..Default::default()
                }],
                message: reason.clone(),
                answer: None,
                sent_at: Some(timestamp(OffsetDateTime::now_utc())),
                announcement: None,
            };
            publish_report(h.publisher, &h.served.agency, &report, Some(measure_id)).await?;
        }
        if !matches!(fate, Fate::Expired) {
            dead_letter(h, &reason).await?;
        }
        ack(h.delivery).await;
        Ok(Handled::Done)
    }

    /// Tells the gateway which agencies this adapter serves and what they carry out, so courts
    /// can address them.
    async fn announce(&self, publisher: &Publisher) -> anyhow::Result<()> {
        let Some(first) = self.served.first() else {
            return Ok(());
        };
        let kind = first.agency.kind;
        let report = pb::AgencyReport {
            report_id: Uuid::now_v7().to_string(),
            agency: Some(agency_ref(&first.agency)),
            kind: pb::ReportKind::Announce as i32,
            sent_at: Some(timestamp(OffsetDateTime::now_utc())),
            announcement: Some(pb::Announcement {
                kind: enforcement_proto::convert::agency_kind_to_proto(kind) as i32,
                codes: self
                    .served
                    .iter()
                    .map(|s| s.agency.code.to_string())
                    .collect(),
                measures: MeasureKind::ALL
                    .into_iter()
                    .filter(|m| kind.carries(*m))
                    .map(|m| enforcement_proto::convert::kind_to_proto(m) as i32)
                    .collect(),
            }),
            ..Default::default()
        };
        publish_report(publisher, &first.agency, &report, None)
            .await
            .context("announcing the agencies")
    }

    /// Declares every agency queue, several at a time on channels of their own (a processing
    /// centre may serve thousands of agencies).
    async fn declare_queues(&self, connection: &lapin::Connection) -> anyhow::Result<()> {
        let policy = QueuePolicy {
            delivery_limit: self.config.delivery_limit,
        };
        let chunk = self.served.len().div_ceil(DECLARE_CHANNELS).max(1);
        let mut declaring = JoinSet::new();
        for part in self.served.chunks(chunk) {
            let channel = connection
                .create_channel()
                .await
                .context("opening a declaring channel")?;
            let queues: Vec<AgencyQueue> = part.iter().map(|s| s.queue.clone()).collect();
            declaring.spawn(async move {
                for queue in &queues {
                    declare_agency(&channel, queue, &policy)
                        .await
                        .with_context(|| format!("declaring {}", queue.queue))?;
                }
                let _ = channel.close(200, "declared".into()).await;
                Ok::<_, anyhow::Error>(())
            });
        }
        while let Some(done) = declaring.join_next().await {
            done??;
        }
        Ok(())
    }
}

/// How long declaring the queues of a session may take; a broker still recovering its queues
/// may not answer, and the session is better started again.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Channels used at once to declare the agency queues.
const DECLARE_CHANNELS: usize = 8;

/// What one delivery is handled with.
struct Handling<'a> {
    served: &'a Served,
    delivery: &'a Delivery,
    publisher: &'a Publisher,
}

/// Moves a consumer's deliveries, tagged with the agency's index, into the shared stream.
async fn forward(
    index: usize,
    mut consumer: lapin::Consumer,
    tx: mpsc::Sender<Result<Incoming, lapin::Error>>,
) {
    while let Some(next) = consumer.next().await {
        let failed = next.is_err();
        if tx.send(next.map(|d| (index, d))).await.is_err() || failed {
            return;
        }
    }
}

/// Why an instruction cannot be for `agency`, if it cannot.
fn misfit(agency: &AgencyId, instruction: &pb::Instruction) -> Option<String> {
    if Uuid::parse_str(&instruction.measure_id).is_err()
        || Uuid::parse_str(&instruction.instruction_id).is_err()
    {
        return Some("instruction without valid measure and instruction ids".into());
    }
    let addressed = instruction.agency.as_ref().map(|a| {
        (
            enforcement_proto::convert::agency_kind_from_proto(a.kind),
            a.code.as_str(),
        )
    });
    // An inquiry to every agency of a kind is addressed to the kind with an empty code.
    let fits = match addressed {
        Some((Some(kind), code)) => {
            kind == agency.kind && (code == agency.code.as_str() || code.is_empty())
        }
        _ => false,
    };
    if !fits {
        return Some(format!(
            "instruction addressed to another agency than {agency}"
        ));
    }
    if instruction.action.is_none() {
        return Some("instruction without an action".into());
    }
    None
}

fn agency_ref(agency: &AgencyId) -> pb::AgencyRef {
    pb::AgencyRef {
        kind: enforcement_proto::convert::agency_kind_to_proto(agency.kind) as i32,
        code: agency.code.to_string(),
    }
}

/// Puts a copy of the delivery in the dead-letter queue, with why and from where.
async fn dead_letter(h: &Handling<'_>, reason: &str) -> anyhow::Result<()> {
    let props = &h.delivery.properties;
    let mut headers = vec![
        (HEADER_DEAD_REASON.to_string(), reason.to_string()),
        (HEADER_DEAD_QUEUE.to_string(), h.served.queue.queue.clone()),
    ];
    for key in ["court", "asset", "deadline", HEADER_SIGNATURE] {
        if let Some(value) = header_str(props, key) {
            headers.push((key.to_string(), value.to_string()));
        }
    }
    let meta = MessageMeta {
        message_id: props
            .message_id()
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default(),
        correlation_id: props.correlation_id().as_ref().map(|c| c.to_string()),
        kind: props
            .kind()
            .as_ref()
            .map(|k| k.to_string())
            .unwrap_or_default(),
        timestamp: props.timestamp().unwrap_or(0),
        headers,
    };
    match h
        .publisher
        .publish(
            DEAD_LETTER_EXCHANGE,
            &h.served.queue.routing_key,
            &h.delivery.data,
            &meta,
        )
        .await
        .context("dead-lettering")?
    {
        Published::Confirmed => Ok(()),
        Published::Returned { reply_text, .. } => {
            anyhow::bail!("dead-letter queue missing: {reply_text}")
        }
    }
}

/// Publishes a report for `agency` and waits for the broker's confirm.
pub(crate) async fn publish_report(
    publisher: &Publisher,
    agency: &AgencyId,
    report: &pb::AgencyReport,
    measure_id: Option<&str>,
) -> anyhow::Result<()> {
    let meta = MessageMeta {
        message_id: report.report_id.clone(),
        correlation_id: measure_id.map(str::to_string),
        kind: "enforcement.v1.AgencyReport".into(),
        timestamp: u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0),
        headers: Vec::new(),
    };
    match publisher
        .publish(
            OUTCOMES_EXCHANGE,
            &agency.routing_key(),
            &report.encode_to_vec(),
            &meta,
        )
        .await
        .context("publishing the report")?
    {
        Published::Confirmed => Ok(()),
        // The gateway's queue is missing: keep the instruction until it is back.
        Published::Returned { reply_text, .. } => {
            anyhow::bail!("no gateway queue for reports: {reply_text}")
        }
    }
}

/// Why the adapter gives up on an instruction.
enum Fate {
    /// It cannot be read or is not for this agency.
    Malformed(String),
    /// The agency failed permanently or retries ran out.
    AgencyError(String),
    /// Its deadline passed before it could be carried out.
    Expired,
}

/// Failures worth another attempt. A call that timed out or was cut off may still have been
/// carried out: trying again is safe (the agency answers a repeat from its record) and is the
/// only way to learn what happened.
fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::ResourceExhausted
            | Code::Aborted
    )
}

/// The lane of a delivery: by its asset, so one asset's instructions stay in order.
fn lane_of(delivery: &Delivery, lanes: usize) -> usize {
    let mut hasher = DefaultHasher::new();
    match header_str(&delivery.properties, "asset") {
        Some(asset) => asset.hash(&mut hasher),
        None => delivery.data.hash(&mut hasher),
    }
    (hasher.finish() % lanes as u64) as usize
}

async fn ack(delivery: &Delivery) {
    match hub_bus::reply::ack(delivery).await {
        Ok(true) => {}
        // The channel was replaced: the broker redelivers, and the agency answers the repeat
        // from its record of the instruction id.
        Ok(false) => tracing::warn!("ack not delivered; the instruction will be redelivered"),
        Err(e) => tracing::warn!(error = %e, "ack failed; the instruction will be redelivered"),
    }
}

/// Leaves a delivery unacknowledged for the broker to return when the channel closes.
///
/// Not requeued one by one: when the connection closes, RabbitMQ returns everything this
/// adapter held in one step, in the order it was delivered, ahead of the rest of the queue, so
/// the instructions on one account reach the next adapter in the order the hub sent them.
fn leave(delivery: Delivery) {
    drop(delivery);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_passing_failures_are_retried() {
        assert!(transient(Code::Unavailable));
        assert!(transient(Code::DeadlineExceeded));
        // A client-side timeout comes back as Cancelled.
        assert!(transient(Code::Cancelled));
        assert!(!transient(Code::InvalidArgument));
        assert!(!transient(Code::Internal));
    }
}
