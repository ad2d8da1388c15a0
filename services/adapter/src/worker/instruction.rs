//! One instruction, from its delivery to its acknowledgement, in named steps: [`read`] it
//! (size, signature, decoding, addressee), check its deadline, call the agency with retries,
//! report what came of it, and only then acknowledge the delivery.
//!
//! The order of the last two steps is the adapter's promise: a delivery is acknowledged only
//! once the broker has confirmed the report, so an adapter killed at any point leaves the
//! instruction to be redelivered, and the agency, idempotent on the instruction id, answers the
//! repeat from its record.

use anyhow::Context;
use enforcement_proto::{convert::instant, v1 as pb};
use hub_bus::{
    Published, Publisher, header_str,
    signing::{HEADER_SIGNATURE, Verifier},
    trace::{TRACEPARENT, TraceId},
};
use hub_domain::AgencyId;
use lapin::{BasicProperties, message::Delivery};
use prost::Message;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Served, Worker, retry::Retries};
use crate::report::{self, Fate, publish_report};

/// What one delivery is handled with.
pub(super) struct Handling<'a> {
    /// The agency whose queue it came from.
    pub(super) served: &'a Served,
    /// The delivery itself, acknowledged at the end.
    pub(super) delivery: &'a Delivery,
    /// The session's confirming publisher, for reports and dead letters.
    pub(super) publisher: &'a Publisher,
    /// When the adapter took the delivery: the `received_at` of every report on it.
    pub(super) received_at: OffsetDateTime,
    /// The measure's trace, from the delivery's `traceparent`: passed on to the agency's
    /// system and put on every report on the instruction.
    pub(super) trace: Option<TraceId>,
}

impl Handling<'_> {
    /// Stamps a report on this delivery with when the adapter took it.
    fn stamped(&self, mut report: pb::AgencyReport) -> pb::AgencyReport {
        report.received_at = Some(enforcement_proto::convert::timestamp(self.received_at));
        report
    }
}

/// What became of one delivery.
pub(super) enum Handled {
    /// Done: outcome published, delivery acknowledged.
    Done,
    /// Left unacknowledged (shutdown); the broker returns it when the channel closes and it
    /// will come again.
    Returned,
}

/// The measure and instruction an ending is about, as far as they are known.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct About {
    /// The measure, for the court; a failure is reported only if this is a measure id.
    pub(super) measure_id: Option<String>,
    /// The instruction, once it could be read; empty before.
    pub(super) instruction_id: String,
}

impl About {
    fn instruction(instruction: &pb::Instruction) -> Self {
        Self {
            measure_id: Some(instruction.measure_id.clone()),
            instruction_id: instruction.instruction_id.clone(),
        }
    }
}

/// A delivery the adapter will not carry out: unread, unverified or not for this agency.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Refusal {
    /// What it is (or claims to be) about.
    pub(super) about: About,
    /// Why, for the court and the dead letter.
    pub(super) reason: String,
}

/// What came of calling the agency.
enum Call {
    /// The agency answered (boxed: an answer is large, the other endings small), at the
    /// instant given.
    Answered(Box<pb::ExecuteResponse>, OffsetDateTime),
    /// The deadline passed before an attempt could be made.
    Late,
    /// The agency failed for good, or the attempts ran out: why.
    Failed(String),
    /// The session ended while waiting to try again.
    Interrupted,
}

impl Worker {
    /// Carries out one delivery: read, deadline, call with retries, report, acknowledge.
    /// An error is broker trouble: the delivery stays unacknowledged and comes again.
    pub(super) async fn handle(
        &self,
        h: &Handling<'_>,
        session: &CancellationToken,
    ) -> anyhow::Result<Handled> {
        let verifier = self.verifier.as_ref();
        let properties = &h.delivery.properties;
        let agency_code = h.served.agency.code.as_str();
        match read(h.served, verifier, &h.delivery.data, properties) {
            Err(refusal) => {
                let fate = Fate::Malformed(refusal.reason);
                self.give_up(h, refusal.about, fate).await?;
                self.metrics.finished(agency_code, "refused");
            }
            Ok(instruction) if is_reminder(&instruction) => {
                // A reminder (督办) is the hub's, not a court's order: its answer is the agency's
                // answer to the reminded instruction again; if it has none, the measure is left
                // to the instruction itself.
                let outcome = match self.call_with_retries(h, &instruction, session).await? {
                    Call::Answered(response, answered_at) => {
                        self.report_outcome(h, &instruction, *response, answered_at)
                            .await?;
                        "reminded"
                    }
                    Call::Late | Call::Failed(_) => {
                        tracing::warn!(
                            measure = %instruction.measure_id,
                            "the agency did not take the reminder"
                        );
                        "reminder-unanswered"
                    }
                    Call::Interrupted => return Ok(Handled::Returned),
                };
                self.metrics.finished(agency_code, outcome);
            }
            Ok(instruction) => {
                let call = self.call_with_retries(h, &instruction, session).await?;
                let about = About::instruction(&instruction);
                let outcome = match call {
                    Call::Answered(response, answered_at) => {
                        let state = response
                            .outcome
                            .as_ref()
                            .and_then(|o| enforcement_proto::convert::state_from_proto(o.state))
                            .map_or("unknown", |s| s.as_str());
                        if let Some(reason) =
                            response.outcome.as_ref().and_then(|o| o.reason.as_ref())
                        {
                            // In the agency's words; the log masks personal data in it.
                            tracing::info!(
                                measure = %instruction.measure_id,
                                state,
                                reason = reason.code,
                                message = %reason.message,
                                "the agency gave a reason"
                            );
                        }
                        self.report_outcome(h, &instruction, *response, answered_at)
                            .await?;
                        state
                    }
                    Call::Late => {
                        self.give_up(h, about, Fate::Expired).await?;
                        "expired"
                    }
                    Call::Failed(cause) => {
                        self.give_up(h, about, Fate::AgencyError(cause)).await?;
                        "failed"
                    }
                    Call::Interrupted => return Ok(Handled::Returned),
                };
                self.metrics.finished(agency_code, outcome);
            }
        }
        // Only now that the broker holds the report.
        ack(h.delivery).await;
        Ok(Handled::Done)
    }

    /// Calls the agency until it answers, retrying passing failures with growing delay; sends
    /// the court a receipt the first time the agency does not answer. An answer comes with when
    /// it came.
    async fn call_with_retries(
        &self,
        h: &Handling<'_>,
        instruction: &pb::Instruction,
        session: &CancellationToken,
    ) -> anyhow::Result<Call> {
        tracing::info!(
            measure = %instruction.measure_id,
            instruction = %instruction.instruction_id,
            "instruction taken; calling the agency"
        );
        let mut retries = Retries::new(self.config.retry_backoff(), self.config.retry_attempts);
        let mut receipt_sent = false;
        loop {
            if self.past_deadline(instruction) {
                return Ok(Call::Late);
            }
            let started = std::time::Instant::now();
            let called = self.call(instruction, h.trace.as_ref()).await;
            let agency = h.served.agency.code.as_str();
            self.metrics.called(agency, started.elapsed());
            let status = match called {
                Ok(response) => {
                    let answered_at = self.clock.now();
                    return Ok(Call::Answered(Box::new(response), answered_at));
                }
                Err(status) => status,
            };
            let (code, message) = (status.code(), status.message());
            let id = &instruction.instruction_id;
            let Some(retry) = retries.after(code) else {
                tracing::error!(instruction = %id, ?code, message, "agency call failed for good");
                let cause = format!("the agency's system failed: {code:?} {message}");
                return Ok(Call::Failed(cause));
            };
            tracing::warn!(
                instruction = %id,
                ?code,
                message,
                attempt = retry.failed,
                "agency call failed; retrying"
            );
            self.metrics.retried(agency);
            if !receipt_sent && !is_reminder(instruction) {
                let receipt = report::receipt(&h.served.agency, instruction, self.clock.now());
                let receipt = h.stamped(receipt);
                let measure = Some(instruction.measure_id.as_str());
                let signer = self.signer.as_ref();
                let (agency, trace) = (&h.served.agency, h.trace.as_ref());
                publish_report(h.publisher, signer, agency, &receipt, measure, trace).await?;
                receipt_sent = true;
            }
            tokio::select! {
                // Left unacknowledged, returned with the rest when the channel closes; the
                // later instructions on the asset stay behind it.
                () = session.cancelled() => return Ok(Call::Interrupted),
                () = tokio::time::sleep(retry.delay) => {}
            }
        }
    }

    /// Whether the instruction's deadline has passed: the gateway has ended (or is about to
    /// end) the measure `EXPIRED`, so the agency must not act on it any more.
    fn past_deadline(&self, instruction: &pb::Instruction) -> bool {
        instruction
            .deadline
            .as_ref()
            .and_then(instant)
            .is_some_and(|deadline| self.clock.now() > deadline)
    }

    /// One call to the agency's system, within the call timeout, with the measure's trace as
    /// `traceparent` metadata (a new span id each call).
    async fn call(
        &self,
        instruction: &pb::Instruction,
        trace: Option<&TraceId>,
    ) -> Result<pb::ExecuteResponse, tonic::Status> {
        let mut request = tonic::Request::new(instruction.clone());
        request.set_timeout(self.config.call_timeout());
        if let Some(value) = trace.and_then(|t| t.traceparent().parse().ok()) {
            request.metadata_mut().insert(TRACEPARENT, value);
        }
        let mut backend = self.backend.clone();
        backend
            .execute(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Reports the agency's answer, given at `answered_at`, to the gateway (and waits for the
    /// broker's confirm).
    async fn report_outcome(
        &self,
        h: &Handling<'_>,
        instruction: &pb::Instruction,
        response: pb::ExecuteResponse,
        answered_at: OffsetDateTime,
    ) -> anyhow::Result<()> {
        let agency = &h.served.agency;
        let Some(mut outcome) = report::outcome(agency, instruction, response, self.clock.now())
        else {
            let fate = Fate::AgencyError("the agency answered without an outcome".into());
            return self.give_up(h, About::instruction(instruction), fate).await;
        };
        outcome.answered_at = Some(enforcement_proto::convert::timestamp(answered_at));
        let outcome = h.stamped(outcome);
        let measure = Some(instruction.measure_id.as_str());
        let (signer, trace) = (self.signer.as_ref(), h.trace.as_ref());
        publish_report(h.publisher, signer, agency, &outcome, measure, trace).await?;
        tracing::info!(measure = %instruction.measure_id, report = %outcome.report_id, "outcome reported");
        Ok(())
    }

    /// Ends an instruction the adapter cannot carry out: tells the gateway (if the measure is
    /// known) and puts a copy in the dead-letter queue with the reason (unless it was late).
    async fn give_up(&self, h: &Handling<'_>, about: About, fate: Fate) -> anyhow::Result<()> {
        let reason = fate.reason();
        tracing::warn!(measure = ?about.measure_id, %reason, "giving up on instruction");
        let measure_id = about
            .measure_id
            .as_deref()
            .filter(|m| Uuid::parse_str(m).is_ok());
        if let Some(measure_id) = measure_id {
            let agency = &h.served.agency;
            let now = self.clock.now();
            let failure = report::failure(agency, measure_id, &about.instruction_id, &fate, now);
            let failure = h.stamped(failure);
            let (signer, trace) = (self.signer.as_ref(), h.trace.as_ref());
            publish_report(
                h.publisher,
                signer,
                agency,
                &failure,
                Some(measure_id),
                trace,
            )
            .await?;
        }
        if fate.is_dead_letter() {
            dead_letter(h, &reason).await?;
            self.metrics.dead_lettered(&h.served.queue.queue);
        }
        Ok(())
    }
}

/// Whether `instruction` is the hub's reminder of an earlier one.
fn is_reminder(instruction: &pb::Instruction) -> bool {
    matches!(
        instruction.action,
        Some(pb::instruction::Action::Reminder(_))
    )
}

/// Reads a delivery as an instruction for `served`: no larger than a message may be, signed by
/// the gateway (when its key is known), decodable, and addressed to this agency. An inquiry to
/// every agency of the kind arrives with an empty code and is returned addressed to `served`.
pub(super) fn read(
    served: &Served,
    verifier: Option<&Verifier>,
    body: &[u8],
    properties: &BasicProperties,
) -> Result<pb::Instruction, Refusal> {
    if body.len() > hub_bus::MAX_MESSAGE_BYTES {
        let reason = format!(
            "oversized instruction: {} bytes, more than the {} an instruction may have",
            body.len(),
            hub_bus::MAX_MESSAGE_BYTES
        );
        return Err(Refusal {
            about: About::default(),
            reason,
        });
    }
    // What a message that cannot be read claims to be about, for the court.
    let claimed = || About {
        measure_id: properties.correlation_id().as_ref().map(|c| c.to_string()),
        instruction_id: String::new(),
    };
    if let Some(verifier) = verifier
        && let Err(e) = verifier.verify(body, header_str(properties, HEADER_SIGNATURE))
    {
        let reason = format!("instruction refused: {e}");
        return Err(Refusal {
            about: claimed(),
            reason,
        });
    }
    let mut instruction = pb::Instruction::decode(body).map_err(|e| Refusal {
        about: claimed(),
        reason: format!("undecodable instruction: {e}"),
    })?;
    if let Some(reason) = misfit(&served.agency, &instruction) {
        let about = About::instruction(&instruction);
        return Err(Refusal { about, reason });
    }
    if let Some(agency) = instruction.agency.as_mut()
        && agency.code.is_empty()
    {
        agency.code = served.agency.code.to_string();
    }
    Ok(instruction)
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

/// Puts a copy of the delivery in the dead-letter queue, with why and from where.
async fn dead_letter(h: &Handling<'_>, reason: &str) -> anyhow::Result<()> {
    let queue = &h.served.queue;
    match hub_bus::dead_letter(
        h.publisher,
        h.delivery,
        &queue.queue,
        &queue.routing_key,
        reason,
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

/// Acknowledges a delivery whose report the broker holds.
async fn ack(delivery: &Delivery) {
    match hub_bus::reply::ack(delivery).await {
        Ok(true) => {}
        // The channel was replaced: the broker redelivers, and the agency answers the repeat
        // from its record of the instruction id.
        Ok(false) => tracing::warn!("ack not delivered; the instruction will be redelivered"),
        Err(e) => tracing::warn!(error = %e, "ack failed; the instruction will be redelivered"),
    }
}

#[cfg(test)]
mod tests {
    use hub_bus::signing::Signer;
    use hub_domain::{AgencyCode, AgencyKind};
    use lapin::types::{AMQPValue, FieldTable};

    use super::*;

    fn icbc() -> Served {
        let agency = AgencyId {
            kind: AgencyKind::Bank,
            code: AgencyCode::parse("ICBC").expect("code"),
        };
        Served {
            queue: hub_bus::topology::AgencyQueue::new("bank", "ICBC"),
            agency,
        }
    }

    fn freeze_for(code: &str) -> pb::Instruction {
        pb::Instruction {
            instruction_id: Uuid::now_v7().to_string(),
            measure_id: Uuid::now_v7().to_string(),
            agency: Some(pb::AgencyRef {
                kind: pb::AgencyKind::Bank as i32,
                code: code.into(),
            }),
            action: Some(pb::instruction::Action::Freeze(pb::Freeze::default())),
            ..Default::default()
        }
    }

    /// Properties as the relay sends them: the measure as correlation id, and a signature.
    fn properties(measure_id: &str, signature: Option<String>) -> BasicProperties {
        let mut headers = FieldTable::default();
        if let Some(signature) = signature {
            headers.insert(
                HEADER_SIGNATURE.into(),
                AMQPValue::LongString(signature.as_str().into()),
            );
        }
        BasicProperties::default()
            .with_correlation_id(measure_id.into())
            .with_headers(headers)
    }

    fn signer() -> (Signer, Verifier) {
        let signer = Signer::generate().expect("randomness");
        let verifier = Verifier::from_hex(&signer.public_hex()).expect("key");
        (signer, verifier)
    }

    #[test]
    fn a_signed_instruction_for_this_agency_is_read_as_sent() {
        let (signer, verifier) = signer();
        let instruction = freeze_for("ICBC");
        let body = instruction.encode_to_vec();
        let props = properties(&instruction.measure_id, Some(signer.sign(&body)));
        assert_eq!(
            read(&icbc(), Some(&verifier), &body, &props),
            Ok(instruction)
        );
    }

    #[test]
    fn an_inquiry_of_every_bank_is_read_as_addressed_to_the_bank_whose_queue_it_came_from() {
        let mut instruction = freeze_for("");
        instruction.action = Some(pb::instruction::Action::Inquiry(pb::Inquiry::default()));
        let body = instruction.encode_to_vec();
        let read = read(&icbc(), None, &body, &properties("m", None)).expect("read");
        assert_eq!(read.agency.map(|a| a.code), Some("ICBC".to_string()));
    }

    #[test]
    fn an_unsigned_or_forged_instruction_is_refused_for_the_measure_it_claims() {
        let (signer, verifier) = signer();
        let body = freeze_for("ICBC").encode_to_vec();
        for signature in [None, Some(signer.sign(b"something else"))] {
            let refusal = read(
                &icbc(),
                Some(&verifier),
                &body,
                &properties("m-1", signature),
            )
            .expect_err("refused");
            assert_eq!(refusal.about.measure_id.as_deref(), Some("m-1"));
            assert_eq!(refusal.about.instruction_id, "");
            assert!(
                refusal.reason.starts_with("instruction refused: "),
                "{refusal:?}"
            );
        }
    }

    #[test]
    fn oversized_and_undecodable_messages_are_refused_unread() {
        let huge = vec![0u8; hub_bus::MAX_MESSAGE_BYTES + 1];
        let refusal = read(&icbc(), None, &huge, &properties("m-1", None)).expect_err("huge");
        assert_eq!(refusal.about, About::default());
        assert!(
            refusal.reason.starts_with("oversized instruction: "),
            "{refusal:?}"
        );

        let garbage = [0xff, 0xff, 0xff];
        let refusal = read(&icbc(), None, &garbage, &properties("m-1", None)).expect_err("bad");
        assert_eq!(refusal.about.measure_id.as_deref(), Some("m-1"));
        assert!(
            refusal.reason.starts_with("undecodable instruction: "),
            "{refusal:?}"
        );
    }

    #[test]
    fn an_instruction_for_another_bank_is_refused_with_its_own_ids() {
        let instruction = freeze_for("CCB");
        let body = instruction.encode_to_vec();
        let refusal = read(&icbc(), None, &body, &properties("m", None)).expect_err("misfit");
        assert_eq!(refusal.about, About::instruction(&instruction));
        assert!(refusal.reason.contains("another agency"), "{refusal:?}");
    }
}
