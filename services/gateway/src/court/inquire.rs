//! `Inquire` and `ListAnswers`: one court question, many agencies, answers streamed as they
//! arrive.
//!
//! An inquiry is a measure of kind INQUIRY with one answer row per agency asked. An inquiry of
//! every agency of a kind is one message on the broker: it is published with the routing key
//! `all.<kind>`, which every agency queue of the kind is bound to, so asking a thousand banks
//! costs the hub one publish and one outbox row. Answers are applied with the other agency
//! reports ([`crate::apply`]) and announced as audit entries of kind ANSWER; the inquiry ends
//! EFFECTIVE when every agency has answered, or PARTIAL when its deadline passes first
//! ([`crate::timers`]).

use std::collections::HashSet;

use enforcement_proto::{convert, v1 as pb};
use hub_bus::topology::broadcast_key;
use hub_domain::{AgencyKind, CourtCode, MeasureKind, MeasureState};
use prost::Message;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use uuid::Uuid;

use super::{CourtService, Envelope, InquireStream};
use crate::{
    Error,
    events::{EventHub, Signal},
    store::{
        Addressee, MeasureRow, NewMeasure, Recorded, Store,
        inquiries::{InquiryMessage, NewInquiry},
        registry::Known,
    },
    validate::{self, Scope, ValidInquiry, Violations, invalid},
};

/// Answers buffered per inquiry stream.
const STREAM_BUFFER: usize = 256;

impl CourtService {
    pub(super) async fn inquire_agencies(
        &self,
        req: pb::InquireRequest,
    ) -> Result<InquireStream, Error> {
        let row = self.start_inquiry(&req).await?;
        let rx = stream(
            self.store.clone(),
            self.store.hub(),
            row.id,
            self.shutdown.clone(),
        );
        Ok(Box::pin(ReceiverStream::new(rx)))
    }

    /// Records an inquiry (or finds the original of a repeat): the court's own, or one the hub
    /// runs for a case-level order. A new inquiry must state its case's enforcement amount and
    /// the case must be open, as for any measure of the case.
    pub(super) async fn start_inquiry(
        &self,
        req: &pb::InquireRequest,
    ) -> Result<MeasureRow, Error> {
        let valid = validate::inquire(req)?;
        let request = valid.normalised.encode_to_vec();
        if let Some(earlier) = self
            .store
            .earlier(&valid.court, &valid.idempotency_key, &request)
            .await?
        {
            return Ok(earlier);
        }
        let amount = valid
            .normalised
            .case
            .as_ref()
            .map_or(0, |c| c.enforcement_amount_fen);
        self.check_case_terms(&valid.court, valid.case_number.as_str(), amount)
            .await?;
        let codes = self.addressed(&valid).await?;
        let inquiry = new_inquiry(&valid, codes, self.clock.now());
        Ok(match self.store.record_inquiry(&inquiry).await? {
            Recorded::New(row) => {
                tracing::info!(measure = %row.id, agencies = inquiry.codes.len(), "inquiry recorded");
                row
            }
            Recorded::Duplicate(row) => row,
        })
    }

    pub(super) async fn inquiry_answers(
        &self,
        req: pb::ListAnswersRequest,
    ) -> Result<pb::ListAnswersResponse, Error> {
        let court = CourtCode::parse(&req.court_code).map_err(|e| invalid("court_code", e))?;
        let id = validate::measure_id(&req.measure_id).map_err(|e| invalid("measure_id", e))?;
        let row = self.own_measure(&court, id).await?;
        if row.kind != MeasureKind::Inquiry {
            return Err(Status::failed_precondition(format!(
                "measure {id} is a {}, not an inquiry",
                row.kind.label()
            ))
            .into());
        }
        Ok(pb::ListAnswersResponse {
            inquiry: Some(row.to_proto()),
            answers: self.store.answers(id).await?,
        })
    }

    /// The codes of the agencies the inquiry goes to: every connected one of the kind, or the
    /// ones named, each connected and answering inquiries.
    async fn addressed(&self, valid: &ValidInquiry) -> Result<Vec<String>, Error> {
        let (listed, single) = match &valid.scope {
            Scope::All => {
                let codes = self
                    .store
                    .carriers(valid.kind, MeasureKind::Inquiry)
                    .await?;
                if codes.is_empty() {
                    return Err(Status::failed_precondition(format!(
                        "no {} answering inquiries is connected to the hub",
                        valid.kind.as_str()
                    ))
                    .into());
                }
                return Ok(codes);
            }
            Scope::One(code) => (std::slice::from_ref(code), true),
            Scope::Listed(codes) => (codes.as_slice(), false),
        };
        let codes: Vec<String> = listed.iter().map(ToString::to_string).collect();
        let unusable = self
            .store
            .unusable(valid.kind, &codes, MeasureKind::Inquiry)
            .await?;
        let mut v = Violations::default();
        for (code, known) in unusable {
            let field = if single {
                "agency.code".to_string()
            } else {
                let i = codes.iter().position(|c| *c == code).unwrap_or(0);
                format!("agencies.agencies[{i}].code")
            };
            let why = match known {
                Known::DoesNotCarry => "does not answer inquiries through the hub",
                _ => "is not connected to the hub",
            };
            v.add(&field, format!("{} {code} {why}", valid.kind.as_str()));
        }
        Ok(v.finish(Some(codes))?)
    }
}

/// The inquiry to record for `codes`: one broadcast message for "all", else one per agency.
fn new_inquiry(valid: &ValidInquiry, codes: Vec<String>, now: time::OffsetDateTime) -> NewInquiry {
    let id = Uuid::now_v7();
    let deadline = now + valid.deadline;
    let kind = valid.kind;
    let single = match (&valid.scope, codes.as_slice()) {
        (Scope::All, _) => None,
        (_, [one]) => hub_domain::AgencyCode::parse(one).ok(),
        _ => None,
    };
    let routing = match &single {
        Some(code) => format!("{}.{code}", kind.as_str()),
        None => format!("{}.*", kind.as_str()),
    };
    // One instruction per message: a broadcast carries the kind and an empty code, which each
    // adapter fills in with the agency whose queue it came from.
    let targets: Vec<(Uuid, String, String)> = match valid.scope {
        Scope::All => vec![(Uuid::now_v7(), broadcast_key(kind.as_str()), String::new())],
        Scope::One(_) | Scope::Listed(_) => codes
            .iter()
            .map(|code| {
                (
                    Uuid::now_v7(),
                    format!("{}.{code}", kind.as_str()),
                    code.clone(),
                )
            })
            .collect(),
    };
    let envelope = Envelope {
        measure_id: id,
        court: &valid.court,
        case: valid.normalised.case.clone(),
        subject: valid.normalised.subject.clone(),
        issued_at: now,
        deadline,
    };
    let messages = targets
        .into_iter()
        .map(|(instruction_id, routing_key, code)| {
            let agency = pb::AgencyRef {
                kind: convert::agency_kind_to_proto(kind) as i32,
                code,
            };
            let action = pb::instruction::Action::Inquiry(pb::Inquiry {
                classes: valid.normalised.classes.clone(),
            });
            InquiryMessage {
                instruction_id,
                routing_key,
                payload: envelope
                    .instruction(instruction_id, agency, action)
                    .encode_to_vec(),
            }
        })
        .collect::<Vec<_>>();
    let instruction_id = messages
        .first()
        .map(|m| m.instruction_id)
        .unwrap_or_else(Uuid::now_v7);
    let message = format!(
        "inquiry sent to {} {}",
        codes.len(),
        agencies_word(kind, codes.len())
    );
    NewInquiry {
        measure: NewMeasure {
            id,
            court: valid.court.clone(),
            idempotency_key: valid.idempotency_key.clone(),
            request: valid.normalised.encode_to_vec(),
            case_number: valid.case_number.to_string(),
            kind: MeasureKind::Inquiry,
            agency: match single {
                Some(code) => Addressee::Agency(hub_domain::AgencyId { kind, code }),
                // Many agencies: the measure names the kind only.
                None => Addressee::Several(kind),
            },
            asset_key: format!("{routing}:subject:{}", valid.subject_key),
            asset_display: mask_subject(&valid.subject_key),
            target: None,
            requested_fen: 0,
            instruction_id,
            deadline,
            submitted_at: now,
            payload: Vec::new(),
            addressed: i32::try_from(codes.len()).unwrap_or(i32::MAX),
            trace_id: hub_bus::trace::TraceId::generate(),
        },
        codes,
        messages,
        message,
    }
}

/// Whether an inquiry has finished: every agency answered, or the deadline passed.
fn finished(state: MeasureState) -> bool {
    !matches!(
        state,
        MeasureState::Submitted | MeasureState::Dispatched | MeasureState::Delivered
    )
}

/// Streams an inquiry: the measure, the answers so far, new answers as they come, and the
/// measure again when it finishes. The stream ends then, or when the client goes away.
fn stream(
    store: Store,
    hub: &EventHub,
    measure_id: Uuid,
    shutdown: CancellationToken,
) -> mpsc::Receiver<Result<pb::InquiryEvent, Status>> {
    // Subscribe before the first read, so nothing between the two is missed.
    let mut signals = hub.subscribe();
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(async move {
        let mut seen: HashSet<String> = HashSet::new();
        let mut started = false;
        loop {
            // (Re)read from the database: at the start, and whenever events may have been missed.
            match catch_up(&store, measure_id, &tx, &mut seen, &mut started).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => {
                    let _ = tx.send(Err(Status::from(e))).await;
                    return;
                }
            }
            loop {
                let signal = tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tx.closed() => return,
                    signal = signals.recv() => signal,
                };
                match signal {
                    Ok(Signal::Event(event)) if event.measure_id == measure_id => {
                        if event.kind == pb::EventKind::Answer as i32 {
                            let Some(answer) = event
                                .detail
                                .as_deref()
                                .and_then(|d| pb::InquiryAnswerEvent::decode(d).ok())
                            else {
                                continue;
                            };
                            if seen.insert(answer_agency(&answer)) {
                                let event = pb::InquiryEvent {
                                    event: Some(pb::inquiry_event::Event::Answer(answer)),
                                };
                                if tx.send(Ok(event)).await.is_err() {
                                    return;
                                }
                            }
                        } else if let Some(measure) = event.to_proto().measure
                            && convert::state_from_proto(measure.state).is_some_and(finished)
                        {
                            // Answers committed with the last one may not have been broadcast
                            // yet in this order: read the rest from the database.
                            break;
                        }
                    }
                    // Events may have been missed: read the rest from the database.
                    Ok(Signal::Resync) | Err(RecvError::Lagged(_)) => break,
                    Ok(Signal::Event(_) | Signal::Case(_)) => {}
                    Err(RecvError::Closed) => return,
                }
            }
        }
    });
    rx
}

/// Sends what the client has not seen; `Ok(true)` once the inquiry has finished (and the
/// finish was sent) or the client has gone.
async fn catch_up(
    store: &Store,
    measure_id: Uuid,
    tx: &mpsc::Sender<Result<pb::InquiryEvent, Status>>,
    seen: &mut HashSet<String>,
    started: &mut bool,
) -> Result<bool, Error> {
    let row: MeasureRow = store
        .get(measure_id)
        .await?
        .ok_or_else(|| Status::not_found(format!("no inquiry {measure_id}")))?;
    if !*started {
        *started = true;
        let event = pb::InquiryEvent {
            event: Some(pb::inquiry_event::Event::Started(row.to_proto())),
        };
        if tx.send(Ok(event)).await.is_err() {
            return Ok(true);
        }
    }
    for answer in store.answers(measure_id).await? {
        if seen.insert(answer_agency(&answer)) {
            let event = pb::InquiryEvent {
                event: Some(pb::inquiry_event::Event::Answer(answer)),
            };
            if tx.send(Ok(event)).await.is_err() {
                return Ok(true);
            }
        }
    }
    if finished(row.state) {
        let event = pb::InquiryEvent {
            event: Some(pb::inquiry_event::Event::Finished(row.to_proto())),
        };
        let _ = tx.send(Ok(event)).await;
        return Ok(true);
    }
    Ok(false)
}

fn answer_agency(answer: &pb::InquiryAnswerEvent) -> String {
    answer
        .agency
        .as_ref()
        .map(|a| a.code.clone())
        .unwrap_or_default()
}

/// The subject's identifier, masked for display.
fn mask_subject(key: &str) -> String {
    hub_domain::ResidentId::parse(key)
        .map(|id| id.masked())
        .or_else(|_| hub_domain::CreditCode::parse(key).map(|c| c.masked()))
        .unwrap_or_else(|_| "****".into())
}

fn agencies_word(kind: AgencyKind, n: usize) -> &'static str {
    match (kind, n) {
        (AgencyKind::Bank, 1) => "bank",
        (AgencyKind::Bank, _) => "banks",
        (AgencyKind::LandRegistry, 1) => "land registry",
        (AgencyKind::LandRegistry, _) => "land registries",
        (AgencyKind::PublicSecurity, 1) => "public security unit",
        (AgencyKind::PublicSecurity, _) => "public security units",
    }
}
