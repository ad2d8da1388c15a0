//! Output for programs (`--json`): one object per line, full ids, amounts in fen, times in
//! RFC 3339 UTC, enum values as lower-case snake-case names, absent values as `null`.

use enforcement_proto::{convert, reference as admin, v1 as pb};
use prost_types::Timestamp;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use crate::format;

/// An optional wire timestamp as RFC 3339 UTC, or `null`.
pub fn time(at: Option<&Timestamp>) -> Value {
    convert::instant_opt(at)
        .and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

fn text_or_null(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text.to_owned())
    }
}

/// A measure.
pub fn measure(m: &pb::Measure) -> Value {
    json!({
        "measure_id": m.measure_id,
        "court_code": m.court_code,
        "case_number": m.case_number,
        "kind": format::kind(m.kind),
        "agency": m.agency.as_ref().map(|a| json!({
            "kind": format::agency_kind(a.kind),
            "code": a.code,
        })),
        "state": format::state(m.state),
        "requested_fen": m.requested_fen,
        "held_fen": m.held_fen,
        "waiting_position": m.waiting_position,
        "asset": text_or_null(&m.asset),
        "target_measure_id": text_or_null(&m.target_measure_id),
        "registration_number": text_or_null(&m.registration_number),
        "reason": m.reason.as_ref().map(|r| json!({
            "code": format::reason_code(r.code),
            "message": r.message,
        })),
        "submitted_at": time(m.submitted_at.as_ref()),
        "effective_at": time(m.effective_at.as_ref()),
        "expires_at": time(m.expires_at.as_ref()),
        "updated_at": time(m.updated_at.as_ref()),
        "version": m.version,
        "inquiry": m.inquiry.as_ref().map(inquiry_progress),
        "amount_fen": m.amount_fen,
    })
}

/// A case: its ledger, and (from `hubctl case show`) its measures and orders.
pub fn case(c: &pb::Case) -> Value {
    json!({
        "court_code": c.court_code,
        "case_number": c.case_number,
        "state": format::case::case_state(c.state),
        "enforcement_amount_fen": c.enforcement_amount_fen,
        "frozen_fen": c.frozen_fen,
        "pending_fen": c.pending_fen,
        "deducted_fen": c.deducted_fen,
        "open_fen": c.open_fen,
        "excess_fen": c.excess_fen,
        "live_measures": c.live_measures,
        "close_reason": text_or_null(&c.close_reason),
        "version": c.version,
        "opened_at": time(c.opened_at.as_ref()),
        "updated_at": time(c.updated_at.as_ref()),
        "measures": c.measures.iter().map(measure).collect::<Vec<_>>(),
        "orders": c.orders.iter().map(case_order).collect::<Vec<_>>(),
    })
}

/// A case-level order and its freezes.
pub fn case_order(o: &pb::CaseOrder) -> Value {
    json!({
        "order_id": o.order_id,
        "court_code": o.court_code,
        "case_number": o.case_number,
        "state": format::case::order_state(o.state),
        "amount_fen": o.amount_fen,
        "frozen_fen": o.frozen_fen,
        "pending_fen": o.pending_fen,
        "inquiry_measure_id": text_or_null(&o.inquiry_measure_id),
        "accounts_left": o.accounts_left,
        "message": text_or_null(&o.message),
        "created_at": time(o.created_at.as_ref()),
        "updated_at": time(o.updated_at.as_ref()),
        "parts": o.parts.iter().map(|p| json!({
            "agency": p.agency.as_ref().map(|a| json!({
                "kind": format::agency_kind(a.kind),
                "code": a.code,
            })),
            "account": text_or_null(&p.account),
            "available_fen": p.available_fen,
            "measure_id": text_or_null(&p.measure_id),
            "state": format::state(p.state),
            "amount_fen": p.amount_fen,
            "held_fen": p.held_fen,
        })).collect::<Vec<_>>(),
    })
}

/// How far an inquiry's answers have come.
pub fn inquiry_progress(p: &pb::InquiryProgress) -> Value {
    json!({
        "addressed": p.addressed,
        "answered": p.answered,
        "found": p.found,
        "found_nothing": p.found_nothing,
        "refused": p.refused,
        "unanswered": p.unanswered,
        "deadline": time(p.deadline.as_ref()),
    })
}

/// An inquiry at a stage of `hubctl inquire` or `hubctl answers`: `started`, `finished`, or
/// `progress` (answers listed while it is still open).
pub fn inquiry(stage: &str, key: Option<&str>, m: &pb::Measure) -> Value {
    json!({
        "event": stage,
        "idempotency_key": key,
        "measure": measure(m),
    })
}

/// One agency's answer to the inquiry `measure_id`.
pub fn answer(measure_id: &str, a: &pb::InquiryAnswerEvent) -> Value {
    json!({
        "event": "answer",
        "measure_id": measure_id,
        "agency": a.agency.as_ref().map(|agency| json!({
            "kind": format::agency_kind(agency.kind),
            "code": agency.code,
        })),
        "state": format::state(a.state),
        "outcome": format::inquiry::Outcome::of(a).as_str(),
        "holdings": a.holdings.iter().map(holding).collect::<Vec<_>>(),
        "reason": a.reason.as_ref().map(|r| json!({
            "code": format::reason_code(r.code),
            "message": r.message,
        })),
        "at": time(a.at.as_ref()),
    })
}

/// One asset found, tagged with its `kind`: `deposit`, `property`, `vehicle`, `whereabouts`.
pub fn holding(h: &pb::Holding) -> Value {
    use pb::holding::Asset;
    match &h.asset {
        Some(Asset::Deposit(d)) => json!({
            "kind": "deposit",
            "account_number": d.account_number,
            "balance_fen": d.balance_fen,
            "frozen_fen": d.frozen_fen,
        }),
        Some(Asset::Property(p)) => json!({
            "kind": "property",
            "property_kind": format::enum_name(
                pb::PropertyKind::try_from(p.property_kind).ok().map(|k| k.as_str_name()),
                "PROPERTY_KIND_",
                p.property_kind,
            ),
            "property_id": p.property_id,
            "address": text_or_null(&p.address),
            "sealed": p.sealed,
        }),
        Some(Asset::Vehicle(v)) => json!({
            "kind": "vehicle",
            "plate": text_or_null(&v.plate),
            "vin": text_or_null(&v.vin),
            "distrained": v.distrained,
        }),
        Some(Asset::Whereabouts(w)) => json!({
            "kind": "whereabouts",
            "place": w.place,
            "seen_at": time(w.seen_at.as_ref()),
        }),
        None => json!({ "kind": null }),
    }
}

/// A measure about to expire, with the whole days left counted from `now`.
pub fn expiring(m: &pb::Measure, now: time::OffsetDateTime) -> Value {
    let mut value = measure(m);
    value["days_left"] = convert::instant_opt(m.expires_at.as_ref())
        .map_or(Value::Null, |at| Value::from(format::days_left(at, now)));
    value
}

/// The answer to a submission (freeze, deduct, release, renew). `stage` is `submitted` for the
/// answer to the request, `outcome` for the measure once the agency has answered (`--wait`).
pub fn submission(stage: &str, key: &str, duplicate: bool, m: &pb::Measure) -> Value {
    json!({
        "stage": stage,
        "idempotency_key": key,
        "duplicate": duplicate,
        "measure": measure(m),
    })
}

/// A watch event. An expiry warning also carries the whole days left when the hub sent it.
pub fn event(e: &pb::MeasureEvent) -> Value {
    let mut value = json!({
        "kind": format::event_kind(e.kind),
        "at": time(e.at.as_ref()),
        "message": e.message,
        "measure": e.measure.as_ref().map(measure),
        "case": e.case.as_ref().map(case),
        "order": e.order.as_ref().map(case_order),
    });
    if e.kind == pb::EventKind::ExpiryWarning as i32
        && let (Some(expires), Some(at)) = (
            e.measure
                .as_ref()
                .and_then(|m| convert::instant_opt(m.expires_at.as_ref())),
            convert::instant_opt(e.at.as_ref()),
        )
    {
        value["days_left"] = Value::from(format::days_left(expires, at));
    }
    value
}

/// An account of a reference bank.
pub fn account(a: &admin::Account) -> Value {
    json!({
        "account_number": a.account_number,
        "holder_name": a.holder_name,
        "holder_id": a.holder_id,
        "balance_fen": a.balance_fen,
        "frozen_fen": a.frozen_fen,
        "available_fen": a.balance_fen.saturating_sub(a.frozen_fen),
        "closed": a.closed,
    })
}

/// A freeze in a reference bank's ledger.
pub fn ledger_freeze(f: &admin::LedgerFreeze) -> Value {
    json!({
        "measure_id": f.measure_id,
        "instruction_id": f.instruction_id,
        "account_number": f.account_number,
        "court_code": f.court_code,
        "case_number": f.case_number,
        "state": f.state,
        "amount_fen": f.amount_fen,
        "frozen_fen": f.frozen_fen,
        "waiting_position": f.waiting_position,
        "effective_at": time(f.effective_at.as_ref()),
        "expires_at": time(f.expires_at.as_ref()),
        "registration_number": text_or_null(&f.registration_number),
    })
}

/// A dead letter: `type` is `instruction`, `report` (or the wire type when neither), with the
/// wire type itself in `message_type`; `summary` only when inspected.
pub fn dead_letter(l: &pb::DeadLetter) -> Value {
    json!({
        "message_id": l.message_id,
        "type": format::dlq::kind(&l.r#type),
        "message_type": text_or_null(&l.r#type),
        "measure_id": text_or_null(&l.measure_id),
        "routing_key": text_or_null(&l.routing_key),
        "source_queue": text_or_null(&l.source_queue),
        "court_code": text_or_null(&l.court),
        "published_at": time(l.published_at.as_ref()),
        "size_bytes": l.size_bytes,
        "reason": l.reason,
        "summary": text_or_null(&l.summary),
    })
}

/// What an operator did to a dead letter: `replayed` (with the routing key it was sent to again)
/// or `discarded`, or `kept` when a discard was not confirmed.
pub fn dead_letter_action(action: &str, l: &pb::DeadLetter) -> Value {
    let mut value = json!({
        "action": action,
        "dead_letter": dead_letter(l),
    });
    if action == "replayed" {
        value["sent_to"] = text_or_null(&l.routing_key);
    }
    value
}

/// The count after `hubctl dlq list`'s dead letters: how many wait in all, how many were listed.
pub fn dead_letters_waiting(total: u32, listed: usize) -> Value {
    json!({
        "waiting": total,
        "listed": listed,
    })
}

/// `hubctl ops agencies`: every agency, with its windows (`last_hour`, `last_day`); rates in
/// basis points, times in milliseconds.
pub fn agency_figures(f: &pb::AgencyFiguresResponse) -> Value {
    let window = |w: Option<&pb::AgencyWindow>| {
        let w = w.copied().unwrap_or_default();
        json!({
            "window_ms": w.window_ms,
            "answered": w.answered,
            "failed": w.failed,
            "rejected": w.rejected,
            "error_rate_bp": w.error_rate_bp,
            "refusal_rate_bp": w.refusal_rate_bp,
            "p50_response_ms": w.p50_response_ms,
            "p95_response_ms": w.p95_response_ms,
        })
    };
    let agencies: Vec<Value> = f
        .agencies
        .iter()
        .map(|a| {
            json!({
                "agency_kind": a.agency_kind,
                "agency_code": a.agency_code,
                "connected": a.connected,
                "queue_exists": a.queue_exists,
                "queue_depth": a.queue_depth,
                "consumers": a.consumers,
                "last_announced": time(a.last_announced.as_ref()),
                "in_flight": a.in_flight,
                "oldest_waiting": time(a.oldest_waiting.as_ref()),
                "last_hour": window(a.last_hour.as_ref()),
                "last_day": window(a.last_day.as_ref()),
            })
        })
        .collect();
    json!({
        "at": time(f.at.as_ref()),
        "agencies": agencies,
    })
}

/// `hubctl ops ranking`: the month, its bounds, every agency and court in rank order; rates in
/// basis points, times in milliseconds, amounts in fen.
pub fn ranking(r: &pb::RankingResponse) -> Value {
    let agencies: Vec<Value> = r
        .agencies
        .iter()
        .map(|a| {
            json!({
                "agency_kind": a.agency_kind,
                "agency_code": a.agency_code,
                "measures": a.measures,
                "on_time": a.on_time,
                "late": a.late,
                "unanswered": a.unanswered,
                "on_time_rate_bp": a.on_time_rate_bp,
                "median_response_ms": a.median_response_ms,
                "rejected": a.rejected,
                "failed": a.failed,
            })
        })
        .collect();
    let courts: Vec<Value> = r
        .courts
        .iter()
        .map(|c| {
            json!({
                "court_code": c.court_code,
                "measures": c.measures,
                "effective": c.effective,
                "rejected": c.rejected,
                "effective_rate_bp": c.effective_rate_bp,
                "cases": c.cases,
                "enforcement_fen": c.enforcement_fen,
                "secured_fen": c.secured_fen,
                "frozen_fen": c.frozen_fen,
                "deducted_fen": c.deducted_fen,
                "secured_rate_bp": c.secured_rate_bp,
            })
        })
        .collect();
    json!({
        "month": r.month,
        "from": time(r.from.as_ref()),
        "until": time(r.until.as_ref()),
        "at": time(r.at.as_ref()),
        "agencies": agencies,
        "courts": courts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    #[test]
    fn a_measure_has_full_ids_fen_and_utc_times() {
        let at = OffsetDateTime::from_unix_timestamp(1_793_685_909).expect("in range");
        let m = pb::Measure {
            measure_id: "0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70".into(),
            kind: pb::MeasureKind::Freeze as i32,
            state: pb::MeasureState::Effective as i32,
            agency: Some(pb::AgencyRef {
                kind: pb::AgencyKind::Bank as i32,
                code: "ICBC".into(),
            }),
            requested_fen: 1_000_000,
            held_fen: 1_000_000,
            expires_at: Some(convert::timestamp(at)),
            ..Default::default()
        };
        let value = measure(&m);
        assert_eq!(value["measure_id"], "0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70");
        assert_eq!(value["kind"], "freeze");
        assert_eq!(value["state"], "effective");
        assert_eq!(value["agency"]["kind"], "bank");
        assert_eq!(value["held_fen"], 1_000_000);
        assert_eq!(value["expires_at"], "2026-11-03T06:05:09Z");
        assert_eq!(value["effective_at"], Value::Null);
        assert_eq!(value["reason"], Value::Null);
        assert_eq!(value["target_measure_id"], Value::Null);
    }

    #[test]
    fn an_answer_lists_each_holding_with_amounts_in_fen() {
        let a = pb::InquiryAnswerEvent {
            agency: Some(pb::AgencyRef {
                kind: pb::AgencyKind::Bank as i32,
                code: "B001".into(),
            }),
            state: pb::MeasureState::Effective as i32,
            holdings: vec![pb::Holding {
                asset: Some(pb::holding::Asset::Deposit(pb::DepositHolding {
                    account_number: "6222020200000000001".into(),
                    balance_fen: 1_234_567,
                    frozen_fen: 100,
                })),
            }],
            ..Default::default()
        };
        let value = answer("0190", &a);
        assert_eq!(value["event"], "answer");
        assert_eq!(value["agency"]["code"], "B001");
        assert_eq!(value["outcome"], "found");
        assert_eq!(value["holdings"][0]["kind"], "deposit");
        assert_eq!(value["holdings"][0]["balance_fen"], 1_234_567);
        assert_eq!(value["holdings"][0]["frozen_fen"], 100);
        assert_eq!(value["reason"], Value::Null);
    }

    #[test]
    fn a_submission_carries_its_key_and_stage() {
        let value = submission("outcome", "k-1", true, &pb::Measure::default());
        assert_eq!(value["stage"], "outcome");
        assert_eq!(value["idempotency_key"], "k-1");
        assert_eq!(value["duplicate"], true);
        assert!(value["measure"].is_object());
    }
}
