//! Text for people: amounts as on rulings (`10,000.00`), states and kinds as lower-case words,
//! times in China Standard Time with the zone shown, since that is the zone courts date their
//! orders in.

use enforcement_proto::{convert, reference as admin, v1 as pb};
use hub_domain::Money;
use prost_types::Timestamp;
use time::{OffsetDateTime, macros::format_description};

pub use hub_domain::CHINA_STANDARD_TIME;

pub mod dlq;
pub mod inquiry;

/// Fen as yuan with separators, e.g. `10,000.00`; a negative value (never sent by the hub) is
/// shown as fen rather than hidden.
pub fn money(fen: i64) -> String {
    Money::from_fen(fen).map_or_else(|_| format!("{fen} fen"), |m| m.to_string())
}

/// An instant in China Standard Time, e.g. `2026-11-03 14:05:09 +08:00`.
pub fn local_time(at: OffsetDateTime) -> String {
    let format = format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
    );
    at.to_offset(CHINA_STANDARD_TIME)
        .format(&format)
        .unwrap_or_else(|_| at.to_string())
}

/// The calendar date of an instant in China Standard Time, e.g. `2026-11-03`.
pub fn local_date(at: OffsetDateTime) -> String {
    at.to_offset(CHINA_STANDARD_TIME).date().to_string()
}

/// Whole days from `now` until `expires`, rounded down, as the hub counts them in its warnings.
pub fn days_left(expires: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (expires - now).whole_days()
}

/// `in 6 days`, `in 1 day`, `within a day`, `already passed`.
pub fn in_days(days: i64) -> String {
    match days {
        ..0 => "already passed".into(),
        0 => "within a day".into(),
        1 => "in 1 day".into(),
        n => format!("in {n} days"),
    }
}

/// An optional wire timestamp as [`local_time`], or `-`.
pub fn timestamp(at: Option<&Timestamp>) -> String {
    convert::instant_opt(at).map_or_else(|| "-".into(), local_time)
}

/// An optional wire timestamp as [`local_date`], or `-`.
pub fn date(at: Option<&Timestamp>) -> String {
    convert::instant_opt(at).map_or_else(|| "-".into(), local_date)
}

/// The lower-case snake-case name of a wire enum value: `MEASURE_STATE_EFFECTIVE` with prefix
/// `MEASURE_STATE_` becomes `effective`. Unknown values come out as `unknown(<n>)`.
pub fn enum_name(name: Option<&str>, prefix: &str, value: i32) -> String {
    match name {
        Some(name) => name
            .strip_prefix(prefix)
            .unwrap_or(name)
            .to_ascii_lowercase(),
        None => format!("unknown({value})"),
    }
}

/// A measure state, e.g. `effective`.
pub fn state(value: i32) -> String {
    convert::state_from_proto(value).map_or_else(
        || {
            enum_name(
                pb::MeasureState::try_from(value)
                    .ok()
                    .map(|s| s.as_str_name()),
                "MEASURE_STATE_",
                value,
            )
        },
        |s| s.as_str().to_owned(),
    )
}

/// A measure kind, e.g. `freeze`, `seal_up`.
pub fn kind(value: i32) -> String {
    enum_name(
        pb::MeasureKind::try_from(value)
            .ok()
            .map(|k| k.as_str_name()),
        "MEASURE_KIND_",
        value,
    )
}

/// An agency kind, e.g. `bank`.
pub fn agency_kind(value: i32) -> String {
    enum_name(
        pb::AgencyKind::try_from(value)
            .ok()
            .map(|k| k.as_str_name()),
        "AGENCY_KIND_",
        value,
    )
}

/// A reason code, e.g. `name_mismatch`.
pub fn reason_code(value: i32) -> String {
    enum_name(
        pb::ReasonCode::try_from(value)
            .ok()
            .map(|r| r.as_str_name()),
        "REASON_CODE_",
        value,
    )
}

/// A watch event kind, e.g. `state_changed`.
pub fn event_kind(value: i32) -> String {
    enum_name(
        pb::EventKind::try_from(value).ok().map(|k| k.as_str_name()),
        "EVENT_KIND_",
        value,
    )
}

/// A snake-case name as words: `state_changed` → `state changed`.
pub fn words(name: &str) -> String {
    name.replace('_', " ")
}

/// Where a measure goes, e.g. `bank ICBC`; `bank (several)` for an inquiry of several banks or
/// all of them, which names no single code.
pub fn agency(agency: Option<&pb::AgencyRef>) -> String {
    agency.map_or_else(
        || "-".into(),
        |a| {
            let kind = words(&agency_kind(a.kind));
            if a.code.is_empty() {
                format!("{kind} (several)")
            } else {
                format!("{kind} {}", a.code)
            }
        },
    )
}

/// Why a measure was refused, e.g. `name mismatch: the holder is 李四`.
pub fn reason(reason: Option<&pb::Reason>) -> Option<String> {
    let reason = reason?;
    let code = words(&reason_code(reason.code));
    Some(if reason.message.is_empty() {
        code
    } else {
        format!("{code}: {}", reason.message)
    })
}

/// A measure id shortened for tables and narration: `…` and its last group. Measure ids are
/// UUIDv7, whose leading digits are the time of creation and repeat across measures made in the
/// same millisecond; the last group is random, so it tells measures apart and can be found in
/// the full id at a glance.
pub fn short_id(id: &str) -> String {
    match id.rsplit_once('-') {
        Some((_, tail)) if !tail.is_empty() => format!("…{tail}"),
        _ => id.to_owned(),
    }
}

/// How many terminal columns `text` takes: East Asian wide and full-width characters (汉字,
/// （）, 。) take two, everything else one. Enough for aligning case numbers, names and codes.
pub fn display_width(text: &str) -> usize {
    text.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

/// East Asian Wide or Fullwidth (Unicode TR 11), for the blocks hub data uses.
fn is_wide(c: char) -> bool {
    matches!(
        u32::from(c),
        0x1100..=0x115F // Hangul Jamo
            | 0x2E80..=0x303E // CJK radicals, punctuation (、。「」)
            | 0x3041..=0x33FF // kana, CJK symbols
            | 0x3400..=0x4DBF // CJK extension A
            | 0x4E00..=0x9FFF // CJK unified ideographs
            | 0xA000..=0xA4CF // Yi
            | 0xAC00..=0xD7A3 // Hangul syllables
            | 0xF900..=0xFAFF // CJK compatibility ideographs
            | 0xFE30..=0xFE4F // CJK compatibility forms
            | 0xFF00..=0xFF60 // full-width forms (（）)
            | 0xFFE0..=0xFFE6 // full-width signs
            | 0x20000..=0x3FFFD // CJK extensions B and later
    )
}

/// `text` padded with spaces to `width` terminal columns, on the right or (amounts) the left.
fn pad(text: &str, width: usize, right_align: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(display_width(text)));
    if right_align {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

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
pub fn measure(m: &pb::Measure) -> String {
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

/// Lines of `label  value` with the values aligned.
pub fn labelled(rows: &[(&str, String)]) -> String {
    let width = rows
        .iter()
        .map(|(label, _)| display_width(label))
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(label, value)| format!("{}  {value}", pad(label, width, false)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Measures as a table, one row each.
pub fn measure_table(measures: &[pb::Measure]) -> String {
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
    table(&header, &rows, &[5, 6])
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
    table(&header, &rows, &[6])
}

/// Bank freezes as a table, one row each.
pub fn freeze_table(freezes: &[admin::LedgerFreeze]) -> String {
    let header = [
        "MEASURE",
        "ACCOUNT",
        "COURT",
        "CASE",
        "STATE",
        "AMOUNT",
        "FROZEN",
        "WAITING",
        "EXPIRES (UTC+08:00)",
        "BANK REF",
    ];
    let rows = freezes
        .iter()
        .map(|f| {
            vec![
                short_id(&f.measure_id),
                f.account_number.clone(),
                f.court_code.clone(),
                f.case_number.clone(),
                f.state.clone(),
                money(f.amount_fen),
                money(f.frozen_fen),
                if f.waiting_position > 0 {
                    f.waiting_position.to_string()
                } else {
                    "-".into()
                },
                date(f.expires_at.as_ref()),
                dash_if_empty(&f.registration_number),
            ]
        })
        .collect::<Vec<_>>();
    table(&header, &rows, &[5, 6])
}

/// An account of a reference bank.
pub fn account(a: &admin::Account) -> String {
    let available = a.balance_fen.saturating_sub(a.frozen_fen);
    labelled(&[
        ("account", a.account_number.clone()),
        ("holder", format!("{} ({})", a.holder_name, a.holder_id)),
        ("balance", money(a.balance_fen)),
        ("frozen", money(a.frozen_fen)),
        ("available", money(available)),
        ("status", if a.closed { "closed" } else { "open" }.into()),
    ])
}

/// A watch event as one line: time, why, which measure, its state and amounts (an inquiry's
/// answers), the message. An expiry warning reads as a sentence.
pub fn event(e: &pb::MeasureEvent) -> String {
    if e.kind == pb::EventKind::ExpiryWarning as i32
        && let Some(warning) = expiry_warning(e)
    {
        return warning;
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

fn dash_if_empty(text: &str) -> String {
    if text.is_empty() {
        "-".into()
    } else {
        text.to_owned()
    }
}

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

/// A plain-text table with columns two spaces apart, aligned in terminal columns (a case
/// number's 汉字 take two each); columns in `right` are right-aligned (amounts).
fn table(header: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| display_width(h)).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(display_width(cell));
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        cells
            .enumerate()
            .map(|(i, cell)| {
                let width = widths.get(i).copied().unwrap_or(0);
                pad(cell, width, right.contains(&i))
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(&mut header.iter().copied())];
    for row in rows {
        out.push(line(&mut row.iter().map(String::as_str)));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(rfc3339: &str) -> Timestamp {
        let at = OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
            .expect("valid time");
        convert::timestamp(at)
    }

    fn freeze() -> pb::Measure {
        pb::Measure {
            measure_id: "0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70".into(),
            court_code: "京0105".into(),
            case_number: "（2024）京0105执1号".into(),
            kind: pb::MeasureKind::Freeze as i32,
            agency: Some(pb::AgencyRef {
                kind: pb::AgencyKind::Bank as i32,
                code: "ICBC".into(),
            }),
            state: pb::MeasureState::Partial as i32,
            requested_fen: 3_000_000,
            held_fen: 500_000,
            asset: "6222****0001".into(),
            registration_number: "ICBC-DJ00000001".into(),
            submitted_at: Some(ts("2026-11-03T06:05:09Z")),
            effective_at: Some(ts("2026-11-03T06:05:10Z")),
            expires_at: Some(ts("2027-11-02T16:30:00Z")),
            updated_at: Some(ts("2026-11-03T06:05:10Z")),
            version: 4,
            ..Default::default()
        }
    }

    #[test]
    fn amounts_are_written_as_on_rulings() {
        assert_eq!(money(1_000_000), "10,000.00");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(-1), "-1 fen");
    }

    #[test]
    fn times_are_shown_in_china_standard_time_with_the_zone() {
        let at = OffsetDateTime::parse(
            "2026-11-03T16:30:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .expect("valid time");
        assert_eq!(local_time(at), "2026-11-04 00:30:00 +08:00");
        // After 16:00 UTC the date in Beijing is already the next day.
        assert_eq!(local_date(at), "2026-11-04");
        assert_eq!(timestamp(None), "-");
    }

    #[test]
    fn wire_names_become_lower_case_words() {
        assert_eq!(state(pb::MeasureState::Effective as i32), "effective");
        assert_eq!(state(0), "unspecified");
        assert_eq!(state(99), "unknown(99)");
        assert_eq!(kind(pb::MeasureKind::SealUp as i32), "seal_up");
        assert_eq!(words(&kind(pb::MeasureKind::SealUp as i32)), "seal up");
        assert_eq!(
            event_kind(pb::EventKind::StateChanged as i32),
            "state_changed"
        );
        assert_eq!(
            reason(Some(&pb::Reason {
                code: pb::ReasonCode::NameMismatch as i32,
                message: "the holder is 李四".into(),
            }))
            .as_deref(),
            Some("name mismatch: the holder is 李四")
        );
    }

    #[test]
    fn short_ids_keep_the_random_tail_of_a_uuid_v7() {
        assert_eq!(
            short_id("0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70"),
            "…2b3c4d5e6f70"
        );
        assert_eq!(short_id("odd"), "odd");
    }

    #[test]
    fn chinese_text_takes_two_columns_per_character() {
        assert_eq!(display_width("ICBC"), 4);
        assert_eq!(display_width("京0105"), 6);
        assert_eq!(display_width("（2024）京0105执1号"), 19);
        assert_eq!(pad("京", 4, false), "京  ");
        assert_eq!(pad("1.00", 6, true), "  1.00");
    }

    #[test]
    fn bank_freezes_line_up_under_their_headers_despite_chinese_case_numbers() {
        let freeze = |court: &str, case: &str| admin::LedgerFreeze {
            measure_id: "0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70".into(),
            account_number: "6222020200000000001".into(),
            court_code: court.into(),
            case_number: case.into(),
            state: "effective".into(),
            amount_fen: 100,
            frozen_fen: 100,
            ..Default::default()
        };
        let text = freeze_table(&[
            freeze("京0105", "（2024）京0105执1号"),
            freeze("粤03", "（2024）粤03执12号"),
        ]);
        let columns: Vec<usize> = text
            .lines()
            .map(|line| {
                let at = line.find("effective").or_else(|| line.find("STATE"));
                display_width(&line[..at.unwrap_or(0)])
            })
            .collect();
        assert_eq!(columns.len(), 3);
        assert!(columns.iter().all(|c| *c == columns[0]), "{text}");
    }

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
        let text = measure(&freeze());
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
        let text = measure_table(&[freeze(), small]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("MEASURE        KIND"));
        assert!(lines[1].starts_with("…2b3c4d5e6f70  freeze"));
        assert!(lines[1].contains("partial    30,000.00  5,000.00  -"));
        assert!(lines[2].contains("effective       1.00      1.00  -"));
        assert!(lines[1].ends_with("2027-11-03"));
    }

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
        };
        assert_eq!(
            super::event(&event),
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
        };
        let line = super::event(&event);
        assert!(line.contains("answer"), "{line}");
        assert!(line.contains("inquiry"), "{line}");
        assert!(
            line.ends_with("answered 3 of 20  — bank B001 answered: 1 found"),
            "{line}"
        );
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

    #[test]
    fn an_event_line_has_time_kind_measure_state_amounts_and_message() {
        let event = pb::MeasureEvent {
            kind: pb::EventKind::DetailsChanged as i32,
            measure: Some(freeze()),
            at: Some(ts("2026-11-03T06:05:10Z")),
            message: "incoming funds frozen".into(),
        };
        assert_eq!(
            super::event(&event),
            "2026-11-03 14:05:10 +08:00  details changed  …2b3c4d5e6f70  freeze            partial     \
             held 5,000.00 of 30,000.00  expires 2027-11-03  — incoming funds frozen"
        );
    }
}
