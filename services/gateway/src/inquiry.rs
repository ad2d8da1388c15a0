//! Fan-out inquiries: one court question, many agencies, answers streamed as they arrive.
//!
//! An inquiry is a measure of kind INQUIRY with one `inquiry_answers` row per agency asked. An
//! inquiry of every agency of a kind is one message on the broker: it is published with the
//! routing key `all.<kind>`, which every agency queue of the kind is bound to, so asking a
//! thousand banks costs the hub one publish and one outbox row. Answers are applied with the
//! other agency reports ([`crate::apply`]) and announced as audit entries of kind ANSWER; the
//! inquiry ends EFFECTIVE when every agency has answered, or PARTIAL when its deadline passes
//! first ([`crate::timers`]).

use std::collections::HashSet;

use enforcement_proto::{
    convert::{agency_kind_to_proto, timestamp},
    v1 as pb,
};
use hub_bus::topology::broadcast_key;
use hub_domain::{AgencyKind, MeasureKind, MeasureState};
use prost::Message;
use time::OffsetDateTime;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tonic::Status;
use uuid::Uuid;

use crate::{
    events::{EventHub, Signal},
    store::{
        MeasureRow, NewEvent, NewMeasure, Recorded, Store, StoreError, outbox_channel,
        record_events,
    },
    validate::{Scope, ValidInquiry},
};

/// Records an inquiry of `codes` (agencies of `valid.kind`), its answer rows, its outbox rows
/// (one broadcast for "all", else one per agency) and its first audit entry, in one transaction.
pub async fn record(
    store: &Store,
    valid: &ValidInquiry,
    codes: &[String],
    now: OffsetDateTime,
) -> Result<Recorded, StoreError> {
    let id = Uuid::now_v7();
    let deadline = now + valid.deadline;
    let kind = valid.kind;
    let single = match (&valid.scope, codes) {
        (Scope::Listed(_), [one]) => Some(one.clone()),
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
        Scope::Listed(_) => codes
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
    let instruction_id = targets.first().map(|t| t.0).unwrap_or_else(Uuid::now_v7);
    let measure = NewMeasure {
        id,
        court_code: valid.court.to_string(),
        idempotency_key: valid.idempotency_key.clone(),
        request: valid.normalised.encode_to_vec(),
        case_number: valid.case_number.to_string(),
        kind: MeasureKind::Inquiry,
        agency: hub_domain::AgencyId {
            kind,
            code: match &single {
                Some(code) => hub_domain::AgencyCode::parse(code).map_err(|_| {
                    StoreError::Db(sqlx::Error::Protocol("invalid agency code".into()))
                })?,
                None => hub_domain::AgencyCode::parse("ALL").map_err(|_| {
                    StoreError::Db(sqlx::Error::Protocol("invalid agency code".into()))
                })?,
            },
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
    };
    let mut row = MeasureRow::submitted(&measure);
    if single.is_none() {
        // Many agencies: the measure names the kind only.
        row.agency_code = String::new();
    }

    let mut tx = store.pool().begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO measures (id, court_code, idempotency_key, request, case_number, kind, \
             agency_kind, agency_code, asset_key, asset_display, requested_fen, state, \
             instruction_id, deadline, submitted_at, updated_at, inquiry_addressed) \
         VALUES ($1, $2, $3, $4, $5, 'inquiry', $6, $7, $8, $9, 0, 'submitted', $10, $11, $12, \
             $12, $13) \
         ON CONFLICT (court_code, idempotency_key) DO NOTHING",
    )
    .bind(row.id)
    .bind(&row.court_code)
    .bind(&measure.idempotency_key)
    .bind(&measure.request)
    .bind(&row.case_number)
    .bind(&row.agency_kind)
    .bind(&row.agency_code)
    .bind(&row.asset_key)
    .bind(&row.asset_display)
    .bind(row.instruction_id)
    .bind(row.deadline)
    .bind(row.submitted_at)
    .bind(row.inquiry_addressed)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        tx.rollback().await?;
        return earlier(store, valid, &measure.request).await;
    }
    sqlx::query(
        "INSERT INTO inquiry_answers (measure_id, agency_code, state) \
         SELECT $1, code, 'pending' FROM UNNEST($2::text[]) AS code",
    )
    .bind(id)
    .bind(codes)
    .execute(&mut *tx)
    .await?;
    for (instruction_id, routing_key, code) in &targets {
        let instruction = pb::Instruction {
            instruction_id: instruction_id.to_string(),
            measure_id: id.to_string(),
            court_code: valid.court.to_string(),
            case: valid.normalised.case.clone(),
            subject: valid.normalised.subject.clone(),
            agency: Some(pb::AgencyRef {
                kind: agency_kind_to_proto(kind) as i32,
                code: code.clone(),
            }),
            issued_at: Some(timestamp(now)),
            deadline: Some(timestamp(deadline)),
            action: Some(pb::instruction::Action::Inquiry(pb::Inquiry {
                classes: valid.normalised.classes.clone(),
            })),
        };
        sqlx::query(
            "INSERT INTO outbox (measure_id, instruction_id, routing_key, court_code, asset_key, \
                 deadline, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(instruction_id)
        .bind(routing_key)
        .bind(&row.court_code)
        .bind(&row.asset_key)
        .bind(row.deadline)
        .bind(instruction.encode_to_vec())
        .bind(row.submitted_at)
        .execute(&mut *tx)
        .await?;
    }
    record_events(
        &mut tx,
        store.channel(),
        &[NewEvent {
            row: &row,
            kind: pb::EventKind::StateChanged,
            message: format!(
                "inquiry sent to {} {}",
                codes.len(),
                agencies_word(kind, codes.len())
            ),
            detail: None,
        }],
    )
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(outbox_channel(store.channel()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Recorded::New(row))
}

/// The inquiry recorded earlier under the same key, or `KeyReused` if the request differs.
async fn earlier(
    store: &Store,
    valid: &ValidInquiry,
    request: &[u8],
) -> Result<Recorded, StoreError> {
    let (id, original): (Uuid, Vec<u8>) = sqlx::query_as(
        "SELECT id, request FROM measures WHERE court_code = $1 AND idempotency_key = $2",
    )
    .bind(valid.court.as_str())
    .bind(&valid.idempotency_key)
    .fetch_one(store.pool())
    .await?;
    if original != request {
        return Err(StoreError::KeyReused(id));
    }
    let row = store
        .get(id)
        .await?
        .ok_or(StoreError::Db(sqlx::Error::RowNotFound))?;
    Ok(Recorded::Duplicate(row))
}

/// The answers recorded for an inquiry, in order of arrival.
pub async fn answers(
    store: &Store,
    measure_id: Uuid,
) -> Result<Vec<pb::InquiryAnswerEvent>, sqlx::Error> {
    let rows: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT answer FROM inquiry_answers \
         WHERE measure_id = $1 AND state <> 'pending' AND answer IS NOT NULL \
         ORDER BY answered_at, agency_code",
    )
    .bind(measure_id)
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .iter()
        .filter_map(|bytes| pb::InquiryAnswerEvent::decode(bytes.as_slice()).ok())
        .collect())
}

/// Whether an inquiry has finished: every agency answered, or the deadline passed.
pub fn finished(row: &MeasureRow) -> bool {
    !matches!(
        row.state(),
        MeasureState::Submitted | MeasureState::Dispatched | MeasureState::Delivered
    )
}

/// Streams an inquiry: the measure, the answers so far, new answers as they come, and the
/// measure again when it finishes. The stream ends then, or when the client goes away.
pub fn stream(
    store: Store,
    hub: &EventHub,
    measure_id: Uuid,
    shutdown: tokio_util::sync::CancellationToken,
) -> mpsc::Receiver<Result<pb::InquiryEvent, Status>> {
    // Subscribe before the first read, so nothing between the two is missed.
    let mut signals = hub.subscribe();
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut seen: HashSet<String> = HashSet::new();
        let mut started = false;
        loop {
            // (Re)read from the database: at the start, and whenever events may have been missed.
            let caught_up = catch_up(&store, measure_id, &tx, &mut seen, &mut started).await;
            match caught_up {
                Ok(true) => return,
                Ok(false) => {}
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
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
                            && measure_finished(&measure)
                        {
                            // Answers committed with the last one may not have been broadcast
                            // yet in this order: read the rest from the database.
                            break;
                        }
                    }
                    // Events may have been missed: read the rest from the database.
                    Ok(Signal::Resync) | Err(RecvError::Lagged(_)) => break,
                    Ok(Signal::Event(_)) => {}
                    Err(RecvError::Closed) => return,
                }
            }
        }
    });
    rx
}

/// Sends what the client has not seen; `Ok(true)` once the inquiry has finished (and the
/// finish was sent).
async fn catch_up(
    store: &Store,
    measure_id: Uuid,
    tx: &mpsc::Sender<Result<pb::InquiryEvent, Status>>,
    seen: &mut HashSet<String>,
    started: &mut bool,
) -> Result<bool, Status> {
    let row = store
        .get(measure_id)
        .await
        .map_err(unavailable)?
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
    for answer in answers(store, measure_id).await.map_err(unavailable)? {
        if seen.insert(answer_agency(&answer)) {
            let event = pb::InquiryEvent {
                event: Some(pb::inquiry_event::Event::Answer(answer)),
            };
            if tx.send(Ok(event)).await.is_err() {
                return Ok(true);
            }
        }
    }
    if finished(&row) {
        let event = pb::InquiryEvent {
            event: Some(pb::inquiry_event::Event::Finished(row.to_proto())),
        };
        let _ = tx.send(Ok(event)).await;
        return Ok(true);
    }
    Ok(false)
}

fn measure_finished(measure: &pb::Measure) -> bool {
    ![
        pb::MeasureState::Submitted as i32,
        pb::MeasureState::Dispatched as i32,
        pb::MeasureState::Delivered as i32,
    ]
    .contains(&measure.state)
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

fn unavailable(e: sqlx::Error) -> Status {
    tracing::error!(error = %e, "database error");
    Status::unavailable("the hub's database is unavailable; retry shortly")
}
