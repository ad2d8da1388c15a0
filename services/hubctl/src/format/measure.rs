//! A measure as people read it: one line on where it stands ([`summary`]), a block of every
//! field ([`details`]), and tables of measures ([`table`], [`expiring_table`]).

use enforcement_proto::{convert, v1 as pb};
use time::OffsetDateTime;

use super::{
    agency, date, days_left, inquiry, kind,
    layout::{self, dash_if_empty, labelled},
    money, reason, short_id, state, timestamp, words,
};

/// One line on what a measure amounts to now, e.g. `effective: 10,000.00 of 10,000.00 held,
/// until 2027-11-03`.
pub fn summary(m: &pb::Measure) -> String {
    let mut text = state(m.state);
    if m.requested_fen > 0 {
        text.push_str(&format!(
            ": {} of {} held",
            money(m.held_fen),
            money(m.requested_fen)
        ));
    }
    if m.waiting_position > 0 {
        text.push_str(&format!(", waiting at position {}", m.waiting_position));
    }
    if let Some(p) = m.inquiry.as_ref() {
        text.push_str(&format!(
            ": {} of {} answered, {} found something",
            p.answered, p.addressed, p.found
        ));
    }
    if m.expires_at.is_some() && !convert::state_from_proto(m.state).is_some_and(|s| s.is_final()) {
        text.push_str(&format!(
            ", until {} (UTC+08:00)",
            date(m.expires_at.as_ref())
        ));
    }
    if let Some(reason) = reason(m.reason.as_ref()) {
        text.push_str(&format!(" ({reason})"));
    }
    text
}

/// A measure as a block of labelled lines, empty fields left out.
pub fn details(m: &pb::Measure) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("measure", m.measure_id.clone()),
        ("kind", words(&kind(m.kind))),
        ("court", m.court_code.clone()),
        ("case", m.case_number.clone()),
        (
            "agency",
            match m.inquiry.as_ref() {
                Some(p) if m.agency.as_ref().is_some_and(|a| a.code.is_empty()) => {
                    inquiry::agencies(m.agency.as_ref(), p.addressed)
                }
                _ => agency(m.agency.as_ref()),
            },
        ),
    ];
    if !m.asset.is_empty() {
        rows.push(("asset", m.asset.clone()));
    }
    if !m.target_measure_id.is_empty() {
        rows.push(("acts on", m.target_measure_id.clone()));
    }
    rows.push(("state", state(m.state)));
    if m.waiting_position > 0 {
        rows.push(("waiting", format!("position {}", m.waiting_position)));
    }
    if m.requested_fen > 0 {
        rows.push(("requested", money(m.requested_fen)));
        rows.push(("held", money(m.held_fen)));
    }
    if let Some(reason) = reason(m.reason.as_ref()) {
        rows.push(("reason", reason));
    }
    if !m.registration_number.is_empty() {
        rows.push(("agency ref", m.registration_number.clone()));
    }
    if let Some(progress) = m.inquiry.as_ref() {
        rows.push(("answers", inquiry::summary(m)));
        rows.push(("deadline", timestamp(progress.deadline.as_ref())));
    }
    rows.push(("submitted", timestamp(m.submitted_at.as_ref())));
    if m.effective_at.is_some() {
        rows.push(("effective", timestamp(m.effective_at.as_ref())));
    }
    if m.expires_at.is_some() {
        rows.push(("expires", timestamp(m.expires_at.as_ref())));
    }
    rows.push(("updated", timestamp(m.updated_at.as_ref())));
    labelled(&rows)
}

/// Measures as a table, one row each.
pub fn table(measures: &[pb::Measure]) -> String {
    let header = [
        "MEASURE",
        "KIND",
        "AGENCY",
        "ASSET",
        "STATE",
        "REQUESTED",
        "HELD",
        "WAITING",
        "EXPIRES (UTC+08:00)",
    ];
    let rows = measures
        .iter()
        .map(|m| {
            vec![
                short_id(&m.measure_id),
                words(&kind(m.kind)),
                agency(m.agency.as_ref()),
                dash_if_empty(&m.asset),
                state(m.state),
                amount_or_dash(m.requested_fen),
                amount_or_dash_unless(m.held_fen, m.requested_fen > 0),
                if m.waiting_position > 0 {
                    m.waiting_position.to_string()
                } else {
                    "-".into()
                },
                date(m.expires_at.as_ref()),
            ]
        })
        .collect::<Vec<_>>();
    layout::table(&header, &rows, &[5, 6])
}

/// Measures in force about to expire, soonest first, with the full ids a renewal needs and the
/// days left counted from `now`.
pub fn expiring_table(measures: &[pb::Measure], now: OffsetDateTime) -> String {
    let header = [
        "MEASURE",
        "KIND",
        "AGENCY",
        "ASSET",
        "CASE",
        "EXPIRES (UTC+08:00)",
        "DAYS LEFT",
    ];
    let rows = measures
        .iter()
        .map(|m| {
            vec![
                m.measure_id.clone(),
                words(&kind(m.kind)),
                agency(m.agency.as_ref()),
                dash_if_empty(&m.asset),
                m.case_number.clone(),
                date(m.expires_at.as_ref()),
                convert::instant_opt(m.expires_at.as_ref())
                    .map_or_else(|| "-".into(), |at| days_left(at, now).to_string()),
            ]
        })
        .collect::<Vec<_>>();
    layout::table(&header, &rows, &[6])
}

/// The amount, or `-` when it is zero (nothing requested: a release, a renewal, an inquiry).
fn amount_or_dash(fen: i64) -> String {
    amount_or_dash_unless(fen, false)
}

/// The amount, or `-` when it is zero and zero means "not applicable" (`show_zero` false).
fn amount_or_dash_unless(fen: i64, show_zero: bool) -> String {
    if fen == 0 && !show_zero {
        "-".into()
    } else {
        money(fen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{fixtures::freeze, in_days};

    #[test]
    fn a_summary_says_how_much_is_held_and_until_when() {
        assert_eq!(
            summary(&freeze()),
            "partial: 5,000.00 of 30,000.00 held, until 2027-11-03 (UTC+08:00)"
        );
        let waiting = pb::Measure {
            state: pb::MeasureState::Waiting as i32,
            held_fen: 0,
            waiting_position: 1,
            expires_at: None,
            ..freeze()
        };
        assert_eq!(
            summary(&waiting),
            "waiting: 0.00 of 30,000.00 held, waiting at position 1"
        );
    }

    #[test]
    fn a_measure_block_aligns_its_labels_and_skips_empty_fields() {
        let text = details(&freeze());
        assert!(text.contains("measure     0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70"));
        assert!(text.contains("state       partial"));
        assert!(text.contains("requested   30,000.00"));
        assert!(text.contains("held        5,000.00"));
        assert!(text.contains("expires     2027-11-03 00:30:00 +08:00"));
        assert!(!text.contains("acts on"));
        assert!(!text.contains("reason"));
    }

    #[test]
    fn the_table_right_aligns_amounts() {
        let mut small = freeze();
        small.measure_id = "0190f0e5-0000-7000-8000-000000000000".into();
        small.requested_fen = 100;
        small.held_fen = 100;
        small.state = pb::MeasureState::Effective as i32;
        let text = table(&[freeze(), small]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("MEASURE        KIND"));
        assert!(lines[1].starts_with("…2b3c4d5e6f70  freeze"));
        assert!(lines[1].contains("partial    30,000.00  5,000.00  -"));
        assert!(lines[2].contains("effective       1.00      1.00  -"));
        assert!(lines[1].ends_with("2027-11-03"));
    }

    #[test]
    fn expiring_measures_show_full_ids_and_days_left() {
        let now = OffsetDateTime::parse(
            "2027-10-27T16:30:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .expect("valid time");
        let text = expiring_table(&[freeze()], now);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("MEASURE "), "{text}");
        assert!(
            lines[0].ends_with("EXPIRES (UTC+08:00)  DAYS LEFT"),
            "{text}"
        );
        assert!(
            lines[1].starts_with("0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70  freeze"),
            "{text}"
        );
        assert!(
            lines[1].ends_with("2027-11-03                   6"),
            "{text}"
        );
        assert_eq!(in_days(1), "in 1 day");
        assert_eq!(in_days(0), "within a day");
    }
}
