//! The watch stream as people read it: one line per event, an expiry warning as a sentence.

use enforcement_proto::{convert, v1 as pb};
use time::OffsetDateTime;

use super::{
    agency, date, days_left, event_kind, in_days, kind, local_date, money, reason, short_id, state,
    timestamp, words,
};

/// A watch event as one line: time, why, which measure, its state and amounts (an inquiry's
/// answers), the message. An expiry warning reads as a sentence.
pub fn line(e: &pb::MeasureEvent) -> String {
    if e.kind == pb::EventKind::ExpiryWarning as i32
        && let Some(warning) = expiry_warning(e)
    {
        return warning;
    }
    if e.measure.is_none() && (e.case.is_some() || e.order.is_some()) {
        return super::case::event_line(e);
    }
    let mut line = format!(
        "{}  {:<15}",
        timestamp(e.at.as_ref()),
        words(&event_kind(e.kind))
    );
    match e.measure.as_ref() {
        Some(m) => {
            line.push_str(&format!(
                "  {}  {:<16}  {:<10}",
                short_id(&m.measure_id),
                words(&kind(m.kind)),
                state(m.state)
            ));
            if let Some(c) = e.case.as_ref() {
                line.push_str(&format!("  case open {}", money(c.open_fen)));
            }
            if m.requested_fen > 0 {
                line.push_str(&format!(
                    "  held {} of {}",
                    money(m.held_fen),
                    money(m.requested_fen)
                ));
            }
            if m.waiting_position > 0 {
                line.push_str(&format!("  waiting #{}", m.waiting_position));
            }
            if let Some(p) = m.inquiry.as_ref() {
                line.push_str(&format!("  answered {} of {}", p.answered, p.addressed));
            }
            if m.expires_at.is_some() {
                line.push_str(&format!("  expires {}", date(m.expires_at.as_ref())));
            }
            if let Some(reason) = reason(m.reason.as_ref()) {
                line.push_str(&format!("  ({reason})"));
            }
        }
        None => line.push_str("  (no measure)"),
    }
    if !e.message.is_empty() {
        line.push_str(&format!("  — {}", e.message));
    }
    line
}

/// `2026-11-21 09:00:00 +08:00  warning: freeze …6f70 (bank ICBC, 6222****0001) expires on
/// 2026-11-27, in 6 days: renew it before then or it lapses`, the days counted from when the hub
/// sent the warning. `None` without a measure or expiry to speak of.
fn expiry_warning(e: &pb::MeasureEvent) -> Option<String> {
    let m = e.measure.as_ref()?;
    let expires = convert::instant_opt(m.expires_at.as_ref())?;
    let now = convert::instant_opt(e.at.as_ref()).unwrap_or_else(OffsetDateTime::now_utc);
    let mut on = agency(m.agency.as_ref());
    if !m.asset.is_empty() {
        on.push_str(&format!(", {}", m.asset));
    }
    Some(format!(
        "{}  warning: {} {} ({on}) expires on {}, {}: renew it before then or it lapses",
        timestamp(e.at.as_ref()),
        words(&kind(m.kind)),
        short_id(&m.measure_id),
        local_date(expires),
        in_days(days_left(expires, now)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::fixtures::{freeze, ts};

    #[test]
    fn an_expiry_warning_says_when_and_in_how_many_days() {
        let event = pb::MeasureEvent {
            kind: pb::EventKind::ExpiryWarning as i32,
            measure: Some(pb::Measure {
                state: pb::MeasureState::Effective as i32,
                ..freeze()
            }),
            at: Some(ts("2027-10-27T01:00:00Z")),
            message: "freeze ICBC-DJ00000001 expires on 2027-11-03 (UTC+08:00), in 6 days".into(),
            case: None,
            order: None,
        };
        assert_eq!(
            line(&event),
            "2027-10-27 09:00:00 +08:00  warning: freeze …2b3c4d5e6f70 (bank ICBC, 6222****0001) \
             expires on 2027-11-03, in 6 days: renew it before then or it lapses"
        );
    }

    #[test]
    fn an_answer_event_shows_how_far_the_inquiry_has_come() {
        let event = pb::MeasureEvent {
            kind: pb::EventKind::Answer as i32,
            measure: Some(pb::Measure {
                measure_id: "0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70".into(),
                kind: pb::MeasureKind::Inquiry as i32,
                state: pb::MeasureState::Dispatched as i32,
                inquiry: Some(pb::InquiryProgress {
                    addressed: 20,
                    answered: 3,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            at: Some(ts("2026-11-03T06:05:10Z")),
            message: "bank B001 answered: 1 found".into(),
            case: None,
            order: None,
        };
        let line = line(&event);
        assert!(line.contains("answer"), "{line}");
        assert!(line.contains("inquiry"), "{line}");
        assert!(
            line.ends_with("answered 3 of 20  — bank B001 answered: 1 found"),
            "{line}"
        );
    }

    #[test]
    fn an_event_line_has_time_kind_measure_state_amounts_and_message() {
        let event = pb::MeasureEvent {
            kind: pb::EventKind::DetailsChanged as i32,
            measure: Some(freeze()),
            at: Some(ts("2026-11-03T06:05:10Z")),
            message: "incoming funds frozen".into(),
            case: None,
            order: None,
        };
        assert_eq!(
            line(&event),
            "2026-11-03 14:05:10 +08:00  details changed  …2b3c4d5e6f70  freeze            partial     \
             held 5,000.00 of 30,000.00  expires 2027-11-03  — incoming funds frozen"
        );
    }
}
