//! Reports to the gateway: their shapes, and publishing them with a confirm.
//!
//! Everything the adapter tells the hub is an `AgencyReport` on the outcomes exchange: the
//! agency's outcome of an instruction, a receipt while the agency is not answering, a failure
//! when the adapter gives up, the announcement of the agencies served, and (from the
//! [`inbox`](crate::inbox)) the agency's unprompted notices. The builders here are pure, given
//! the instant to stamp; [`publish_report`] returns only once the broker has confirmed, so a
//! caller that acknowledges an instruction afterwards never loses its report.

use anyhow::Context;
use enforcement_proto::{
    convert::{agency_kind_to_proto, agency_ref, kind_to_proto, timestamp},
    v1 as pb,
};
use hub_bus::{
    MessageMeta, Published, Publisher,
    signing::{HEADER_KEY_ID, HEADER_SIGNATURE, KeyedSigner},
    topology::OUTCOMES_EXCHANGE,
    trace::{TRACEPARENT, TraceId},
};
use hub_domain::{AgencyId, MeasureKind};
use prost::Message;
use time::OffsetDateTime;
use uuid::Uuid;

/// Why the adapter gives up on an instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// It cannot be read or is not for this agency.
    Malformed(String),
    /// The agency failed permanently or retries ran out.
    AgencyError(String),
    /// Its deadline passed before it could be carried out.
    Expired,
}

impl Fate {
    /// The reason given to the court and written on the dead letter.
    pub(crate) fn reason(&self) -> String {
        match self {
            Fate::Malformed(reason) | Fate::AgencyError(reason) => reason.clone(),
            Fate::Expired => {
                "the instruction reached the agency after its deadline and was not carried out"
                    .into()
            }
        }
    }

    /// Whether the instruction is kept in the dead-letter queue. A late one is not: nothing
    /// went wrong with it that an operator could replay away.
    pub(crate) fn is_dead_letter(&self) -> bool {
        !matches!(self, Fate::Expired)
    }

    /// The state the measure ends in, and the coded reason.
    fn verdict(&self) -> (pb::MeasureState, pb::ReasonCode) {
        match self {
            Fate::Malformed(_) => (
                pb::MeasureState::Failed,
                pb::ReasonCode::MalformedInstruction,
            ),
            Fate::AgencyError(_) => (pb::MeasureState::Failed, pb::ReasonCode::AgencyError),
            Fate::Expired => (pb::MeasureState::Expired, pb::ReasonCode::DeadlinePassed),
        }
    }
}

/// The agency's answer to `instruction`, with whatever else it changed (a waiting freeze
/// promoted by a release); `None` if the agency answered without an outcome.
pub(crate) fn outcome(
    agency: &AgencyId,
    instruction: &pb::Instruction,
    response: pb::ExecuteResponse,
    now: OffsetDateTime,
) -> Option<pb::AgencyReport> {
    let mut outcome = response.outcome?;
    // The outcome is about this instruction's measure, whatever the agency wrote.
    outcome.measure_id.clone_from(&instruction.measure_id);
    let mut updates = vec![outcome];
    updates.extend(response.related);
    Some(pb::AgencyReport {
        report_id: Uuid::now_v7().to_string(),
        agency: Some(agency_ref(agency)),
        kind: pb::ReportKind::Outcome as i32,
        instruction_id: instruction.instruction_id.clone(),
        updates,
        answer: response.answer,
        message: String::new(),
        sent_at: Some(timestamp(now)),
        announcement: None,
        // The agency's seal over its answer, forwarded as made.
        seal: response.seal,
        // Stamped by the worker, which knows when it took the delivery and had the answer.
        received_at: None,
        answered_at: None,
    })
}

/// The instruction reached the agency's adapter, though the agency's system is not answering
/// yet: the court sees its order `DELIVERED` while the adapter retries.
pub(crate) fn receipt(
    agency: &AgencyId,
    instruction: &pb::Instruction,
    now: OffsetDateTime,
) -> pb::AgencyReport {
    pb::AgencyReport {
        report_id: Uuid::now_v7().to_string(),
        agency: Some(agency_ref(agency)),
        kind: pb::ReportKind::Receipt as i32,
        instruction_id: instruction.instruction_id.clone(),
        updates: vec![pb::MeasureUpdate {
            measure_id: instruction.measure_id.clone(),
            revision: 0,
            state: pb::MeasureState::Delivered as i32,
            at: Some(timestamp(now)),
            cause: pb::UpdateCause::Received as i32,
            note: "received by the agency's adapter; the agency's system is not answering yet"
                .into(),
            ..Default::default()
        }],
        message: String::new(),
        answer: None,
        sent_at: Some(timestamp(now)),
        announcement: None,
        seal: None,
        ..Default::default()
    }
}

/// The adapter gave up on instruction `instruction_id` of `measure_id`, for `fate`.
pub(crate) fn failure(
    agency: &AgencyId,
    measure_id: &str,
    instruction_id: &str,
    fate: &Fate,
    now: OffsetDateTime,
) -> pb::AgencyReport {
    let (state, code) = fate.verdict();
    let reason = fate.reason();
    pb::AgencyReport {
        report_id: Uuid::now_v7().to_string(),
        agency: Some(agency_ref(agency)),
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
            at: Some(timestamp(now)),
            cause: pb::UpdateCause::GaveUp as i32,
            note: reason.clone(),
            ..Default::default()
        }],
        message: reason,
        answer: None,
        sent_at: Some(timestamp(now)),
        announcement: None,
        seal: None,
        ..Default::default()
    }
}

/// Which agencies of `first`'s kind this adapter serves (`codes`) and what they carry out, so
/// that courts can address them.
pub(crate) fn announcement(
    first: &AgencyId,
    codes: Vec<String>,
    now: OffsetDateTime,
) -> pb::AgencyReport {
    let kind = first.kind;
    pb::AgencyReport {
        report_id: Uuid::now_v7().to_string(),
        agency: Some(agency_ref(first)),
        kind: pb::ReportKind::Announce as i32,
        sent_at: Some(timestamp(now)),
        announcement: Some(pb::Announcement {
            kind: agency_kind_to_proto(kind) as i32,
            codes,
            measures: MeasureKind::ALL
                .into_iter()
                .filter(|m| kind.carries(*m))
                .map(|m| kind_to_proto(m) as i32)
                .collect(),
        }),
        ..Default::default()
    }
}

/// Publishes a report for `agency`, signed with `signer` if there is one, and waits for the
/// broker's confirm. The message's timestamp is the report's `sent_at`; the signature covers the
/// body exactly as published (headers `x-hub-key-id`, `x-hub-signature`). A report on an
/// instruction carries the measure's `trace` on as its `traceparent` header (not signed).
pub(crate) async fn publish_report(
    publisher: &Publisher,
    signer: Option<&KeyedSigner>,
    agency: &AgencyId,
    report: &pb::AgencyReport,
    measure_id: Option<&str>,
    trace: Option<&TraceId>,
) -> anyhow::Result<()> {
    let sent_at = report.sent_at.as_ref().map_or(0, |t| t.seconds);
    let body = report.encode_to_vec();
    let mut headers = signer.map_or_else(Vec::new, |s| {
        vec![
            (HEADER_KEY_ID.to_string(), s.key_id.clone()),
            (HEADER_SIGNATURE.to_string(), s.signer.sign(&body)),
        ]
    });
    if let Some(trace) = trace {
        headers.push((TRACEPARENT.to_string(), trace.traceparent()));
    }
    let meta = MessageMeta {
        message_id: report.report_id.clone(),
        correlation_id: measure_id.map(str::to_string),
        kind: "enforcement.v1.AgencyReport".into(),
        timestamp: u64::try_from(sent_at).unwrap_or(0),
        headers,
    };
    match publisher
        .publish(OUTCOMES_EXCHANGE, &agency.routing_key(), &body, &meta)
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
