//! Text for people: amounts as on rulings (`10,000.00`), states and kinds as lower-case words,
//! times in China Standard Time with the zone shown, since that is the zone courts date their
//! orders in.
//!
//! This module holds the words everything is written with: amounts, times, the names of wire
//! values, short ids. What is made of them is in one module per thing shown: [`measure`]
//! (a measure, its summary, tables of measures), [`event`] (the watch stream), [`case`] (a case's
//! ledger and orders), [`inquiry`] (an inquiry's answers), [`dlq`] (dead letters), [`figures`] (agency figures and the monthly ranking), [`bank`] (a reference bank's accounts and
//! freezes); [`layout`] lines text up in columns.

use enforcement_proto::{convert, v1 as pb};
use hub_domain::Money;
use prost_types::Timestamp;
use time::{OffsetDateTime, macros::format_description};

pub use hub_domain::CHINA_STANDARD_TIME;

pub mod bank;
pub mod case;
pub mod dlq;
pub mod event;
pub mod figures;
pub mod inquiry;
pub mod layout;
pub mod measure;

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

/// An instant in China Standard Time to the millisecond, e.g. `2026-11-03 14:05:09.042 +08:00`.
pub fn local_time_ms(at: OffsetDateTime) -> String {
    let format = format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3] [offset_hour sign:mandatory]:[offset_minute]"
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

/// What the tests of the text build from, shared by its modules.
#[cfg(test)]
mod fixtures;

#[cfg(test)]
mod tests {
    use super::*;

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
}
