//! Text for dead letters: the table of those waiting, one dead letter in full, and what a replay
//! or discard did.

use enforcement_proto::{convert, v1 as pb};
use time::macros::format_description;

use super::{
    CHINA_STANDARD_TIME,
    layout::{dash_if_empty, labelled, table},
    short_id, timestamp,
};

/// The wire type of instructions.
const INSTRUCTION_TYPE: &str = "enforcement.v1.Instruction";
/// The wire type of agency reports.
const REPORT_TYPE: &str = "enforcement.v1.AgencyReport";

/// What a dead letter is: `instruction`, `report`, or its wire type when it is neither
/// (`unknown` when it has none).
pub fn kind(wire_type: &str) -> &str {
    match wire_type {
        INSTRUCTION_TYPE => "instruction",
        REPORT_TYPE => "report",
        "" => "unknown",
        other => other,
    }
}

/// Whether the dead letter is an instruction to an agency (else a report, or unknown).
pub fn is_instruction(letter: &pb::DeadLetter) -> bool {
    letter.r#type == INSTRUCTION_TYPE
}

/// Whether the dead letter is an agency's report to the gateway.
pub fn is_report(letter: &pb::DeadLetter) -> bool {
    letter.r#type == REPORT_TYPE
}

/// When a dead letter was first published, in China Standard Time without the zone (the column
/// header names it), e.g. `2026-11-03 14:05:09`.
fn published(letter: &pb::DeadLetter) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    convert::instant_opt(letter.published_at.as_ref()).map_or_else(
        || "-".into(),
        |at| {
            at.to_offset(CHINA_STANDARD_TIME)
                .format(&format)
                .unwrap_or_else(|_| at.to_string())
        },
    )
}

/// `1 dead letter waiting`, `3 dead letters waiting`, with how many of them are shown when the
/// limit left some out.
pub fn waiting(total: u32, listed: usize) -> String {
    let mut text = match total {
        1 => "1 dead letter waiting".to_owned(),
        n => format!("{n} dead letters waiting"),
    };
    if usize::try_from(total).is_ok_and(|total| listed < total) {
        text.push_str(&format!(
            "; the oldest {listed} shown (raise --limit for more)"
        ));
    }
    text
}

/// Dead letters as a table, oldest first, with the full message ids a replay or discard needs.
pub fn letter_table(letters: &[pb::DeadLetter]) -> String {
    let header = [
        "MESSAGE",
        "TYPE",
        "MEASURE",
        "AGENCY",
        "COURT",
        "PUBLISHED (UTC+08:00)",
        "REASON",
    ];
    let rows = letters
        .iter()
        .map(|l| {
            vec![
                dash_if_empty(&l.message_id),
                kind(&l.r#type).to_owned(),
                if l.measure_id.is_empty() {
                    "-".into()
                } else {
                    short_id(&l.measure_id)
                },
                dash_if_empty(&l.routing_key),
                dash_if_empty(&l.court),
                published(l),
                dash_if_empty(&one_line(&l.reason)),
            ]
        })
        .collect::<Vec<_>>();
    table(&header, &rows, &[])
}

/// One dead letter as labelled lines: every field, and the decoded summary when inspected.
pub fn letter(l: &pb::DeadLetter) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("message", dash_if_empty(&l.message_id)),
        (
            "type",
            if l.r#type.is_empty() || kind(&l.r#type) == l.r#type {
                kind(&l.r#type).to_owned()
            } else {
                format!("{} ({})", kind(&l.r#type), l.r#type)
            },
        ),
        ("measure", dash_if_empty(&l.measure_id)),
        ("court", dash_if_empty(&l.court)),
        ("routing key", dash_if_empty(&l.routing_key)),
        ("from queue", dash_if_empty(&l.source_queue)),
        ("published", timestamp(l.published_at.as_ref())),
        (
            "size",
            match l.size_bytes {
                1 => "1 byte".into(),
                n => format!("{n} bytes"),
            },
        ),
        ("reason", dash_if_empty(&l.reason)),
    ];
    if !l.summary.is_empty() {
        rows.push(("summary", l.summary.clone()));
    }
    labelled(&rows)
}

/// What a replay did: what was sent again, and where.
pub fn replayed(l: &pb::DeadLetter) -> String {
    let what = describe(l);
    let to = dash_if_empty(&l.routing_key);
    if is_instruction(l) {
        format!(
            "replayed {what}: sent again to {to}, whose adapter takes it from its queue; an \
             instruction the agency carried out already is answered, not carried out again"
        )
    } else if is_report(l) {
        format!("replayed {what}: sent again to the gateway as a report from {to}")
    } else {
        format!("replayed {what}: sent again with routing key {to}")
    }
}

/// What a discard did.
pub fn discarded(l: &pb::DeadLetter) -> String {
    format!(
        "discarded {}: it is gone for good and will not be carried out",
        describe(l)
    )
}

/// `instruction 0190… (measure 0190…, court 京0105)`: a dead letter named in a sentence.
pub fn describe(l: &pb::DeadLetter) -> String {
    let mut text = format!("{} {}", kind(&l.r#type), dash_if_empty(&l.message_id));
    let mut about = Vec::new();
    if !l.measure_id.is_empty() {
        about.push(format!("measure {}", l.measure_id));
    }
    if !l.court.is_empty() {
        about.push(format!("court {}", l.court));
    }
    if !about.is_empty() {
        text.push_str(&format!(" ({})", about.join(", ")));
    }
    text
}

/// The command that follows the measure a replayed dead letter concerns, when court and measure
/// are known.
pub fn follow(l: &pb::DeadLetter) -> Option<String> {
    (!l.court.is_empty() && !l.measure_id.is_empty())
        .then(|| format!("hubctl --court {} watch {}", l.court, l.measure_id))
}

/// A reason on one line, so a table row stays one row.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter_of(kind: &str) -> pb::DeadLetter {
        pb::DeadLetter {
            message_id: "0190f0e4-8c4b-7d6e-9a51-000000000001".into(),
            measure_id: "0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70".into(),
            r#type: kind.into(),
            reason: "agency error: ICBC is down for maintenance\n(retries exhausted)".into(),
            source_queue: "agency.bank.ICBC".into(),
            routing_key: "bank.ICBC".into(),
            court: "京0105".into(),
            published_at: Some(prost_types::Timestamp {
                seconds: 1_793_685_909,
                nanos: 0,
            }),
            size_bytes: 412,
            summary: String::new(),
        }
    }

    #[test]
    fn wire_types_read_as_instruction_or_report() {
        assert_eq!(kind(INSTRUCTION_TYPE), "instruction");
        assert_eq!(kind(REPORT_TYPE), "report");
        assert_eq!(kind(""), "unknown");
        assert_eq!(kind("x.Other"), "x.Other");
    }

    #[test]
    fn the_count_says_how_many_wait_and_how_many_are_shown() {
        assert_eq!(waiting(0, 0), "0 dead letters waiting");
        assert_eq!(waiting(1, 1), "1 dead letter waiting");
        assert_eq!(
            waiting(5, 2),
            "5 dead letters waiting; the oldest 2 shown (raise --limit for more)"
        );
    }

    #[test]
    fn the_table_has_full_message_ids_and_times_in_china_standard_time() {
        let text = letter_table(&[letter_of(INSTRUCTION_TYPE)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("MESSAGE "), "{text}");
        assert!(lines[0].contains("PUBLISHED (UTC+08:00)"), "{text}");
        assert!(
            lines[1].starts_with(
                "0190f0e4-8c4b-7d6e-9a51-000000000001  instruction  …2b3c4d5e6f70  bank.ICBC"
            ),
            "{text}"
        );
        assert!(lines[1].contains("2026-11-03 14:05:09"), "{text}");
        assert!(
            lines[1].ends_with("down for maintenance (retries exhausted)"),
            "{text}"
        );
    }

    #[test]
    fn an_inspected_letter_shows_every_field_and_the_summary() {
        let mut l = letter_of(INSTRUCTION_TYPE);
        l.summary = "freeze of 10,000.00 yuan on account 6222****0030 at ICBC".into();
        let text = letter(&l);
        assert!(text.contains("type         instruction (enforcement.v1.Instruction)"));
        assert!(text.contains("from queue   agency.bank.ICBC"));
        assert!(text.contains("published    2026-11-03 14:05:09 +08:00"));
        assert!(text.contains("size         412 bytes"));
        assert!(text.contains("summary      freeze of 10,000.00 yuan"));
    }

    #[test]
    fn a_replay_says_what_went_where() {
        let text = replayed(&letter_of(INSTRUCTION_TYPE));
        assert!(
            text.starts_with(
                "replayed instruction 0190f0e4-8c4b-7d6e-9a51-000000000001 (measure \
                 0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70, court 京0105): sent again to bank.ICBC"
            ),
            "{text}"
        );
        assert!(
            replayed(&letter_of(REPORT_TYPE)).contains("to the gateway as a report from bank.ICBC")
        );
        assert_eq!(
            follow(&letter_of(INSTRUCTION_TYPE)).as_deref(),
            Some("hubctl --court 京0105 watch 0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70")
        );
    }
}
