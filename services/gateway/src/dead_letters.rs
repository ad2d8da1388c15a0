//! What an operator sees of a dead letter: where it came from, why it is there, and (on
//! inspection) what its payload says, with amounts in yuan and accounts masked.

use enforcement_proto::{convert::timestamp, v1 as pb};
use hub_bus::{
    header_str,
    topology::{HEADER_DEAD_QUEUE, HEADER_DEAD_REASON},
};
use hub_domain::{AccountNumber, Money};
use lapin::{BasicProperties, message::Delivery, types::AMQPValue};
use prost::Message;

use crate::ops::{INSTRUCTION_TYPE, REPORT_TYPE};

/// What an operator sees of a dead letter.
pub(crate) fn describe(delivery: &Delivery, decode: bool) -> pb::DeadLetter {
    let props = &delivery.properties;
    let death = first_death(props);
    let reason = header_str(props, HEADER_DEAD_REASON)
        .map(str::to_string)
        .or_else(|| {
            death
                .as_ref()
                .map(|d| format!("dead-lettered by the broker ({})", d.reason))
        })
        .unwrap_or_else(|| "unknown".into());
    let source_queue = header_str(props, HEADER_DEAD_QUEUE)
        .map(str::to_string)
        .or_else(|| death.as_ref().map(|d| d.queue.clone()))
        .unwrap_or_default();
    let kind = props
        .kind()
        .as_ref()
        .map(|k| k.to_string())
        .unwrap_or_default();
    pb::DeadLetter {
        message_id: message_id_of(props),
        measure_id: props
            .correlation_id()
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        reason,
        source_queue,
        routing_key: delivery.routing_key.to_string(),
        court: header_str(props, "court").unwrap_or_default().to_string(),
        published_at: props.timestamp().and_then(|t| {
            time::OffsetDateTime::from_unix_timestamp(i64::try_from(t).ok()?)
                .ok()
                .map(timestamp)
        }),
        size_bytes: u32::try_from(delivery.data.len()).unwrap_or(u32::MAX),
        summary: if decode {
            summarise(&kind, &delivery.data)
        } else {
            String::new()
        },
        r#type: kind,
    }
}

/// A sentence about a dead letter's payload.
fn summarise(kind: &str, data: &[u8]) -> String {
    match kind {
        INSTRUCTION_TYPE => match pb::Instruction::decode(data) {
            Ok(i) => {
                let agency = match i.agency.as_ref().map(|a| a.code.as_str()) {
                    Some("") | None => "every agency of its kind".to_string(),
                    Some(code) => code.to_string(),
                };
                let case = i
                    .case
                    .as_ref()
                    .map(|c| c.case_number.clone())
                    .unwrap_or_default();
                let what = match &i.action {
                    Some(pb::instruction::Action::Freeze(f)) => format!(
                        "freeze of {} on account {}",
                        yuan(f.amount_fen),
                        masked(&f.account_number)
                    ),
                    Some(pb::instruction::Action::Deduction(d)) => format!(
                        "deduction of {} from account {}",
                        yuan(d.amount_fen),
                        masked(&d.account_number)
                    ),
                    Some(pb::instruction::Action::SealUp(s)) => {
                        format!("seal-up of property {}", s.property_id)
                    }
                    Some(pb::instruction::Action::Distraint(d)) => format!(
                        "distraint of vehicle {}",
                        [d.plate.as_str(), d.vin.as_str()]
                            .into_iter()
                            .filter(|s| !s.is_empty())
                            .collect::<Vec<_>>()
                            .join(" / ")
                    ),
                    Some(pb::instruction::Action::ExitRestriction(_)) => "exit restriction".into(),
                    Some(pb::instruction::Action::Reminder(r)) => format!(
                        "reminder (督办, level {}) of instruction {}",
                        r.level, r.instruction_id
                    ),
                    Some(pb::instruction::Action::Inquiry(_)) => "inquiry".into(),
                    Some(pb::instruction::Action::Release(r)) => {
                        format!("release of measure {}", r.target_measure_id)
                    }
                    Some(pb::instruction::Action::Renewal(r)) => {
                        format!("renewal of measure {}", r.target_measure_id)
                    }
                    Some(pb::instruction::Action::Reduction(r)) => format!(
                        "reduction of measure {} to {}",
                        r.target_measure_id,
                        yuan(r.amount_fen)
                    ),
                    None => "instruction without an action".into(),
                };
                format!(
                    "{what} at {agency}, ordered by court {} in case {case}, measure {}",
                    i.court_code, i.measure_id
                )
            }
            Err(e) => format!("does not decode as an instruction: {e}"),
        },
        REPORT_TYPE => match pb::AgencyReport::decode(data) {
            Ok(r) => format!(
                "report {} from {} with {} update(s)",
                r.report_id,
                r.agency.map(|a| a.code).unwrap_or_default(),
                r.updates.len()
            ),
            Err(e) => format!("does not decode as an agency report: {e}"),
        },
        other => format!("a message of unknown type {other:?}, {} bytes", data.len()),
    }
}

/// What the broker recorded when it dead-lettered a message itself.
struct Death {
    reason: String,
    queue: String,
}

/// The first entry of the broker's `x-death` header.
fn first_death(props: &BasicProperties) -> Option<Death> {
    let headers = props.headers().as_ref()?;
    let (_, value) = headers
        .inner()
        .iter()
        .find(|(k, _)| k.as_str() == "x-death")?;
    let AMQPValue::FieldArray(entries) = value else {
        return None;
    };
    let AMQPValue::FieldTable(entry) = entries.as_slice().first()? else {
        return None;
    };
    let text = |key: &str| {
        entry
            .inner()
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .and_then(|(_, v)| match v {
                AMQPValue::LongString(s) => {
                    Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
                }
                AMQPValue::ShortString(s) => Some(s.to_string()),
                _ => None,
            })
            .unwrap_or_default()
    };
    Some(Death {
        reason: text("reason"),
        queue: text("queue"),
    })
}

pub(crate) fn message_id_of(props: &BasicProperties) -> String {
    props
        .message_id()
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default()
}

fn yuan(fen: i64) -> String {
    Money::from_fen(fen).map_or_else(|_| format!("{fen} fen"), |m| format!("{m} yuan"))
}

fn masked(account: &str) -> String {
    AccountNumber::parse(account).map_or_else(|_| "****".into(), |a| a.masked())
}
