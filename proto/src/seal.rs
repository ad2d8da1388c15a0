//! The canonical encoding of an agency's answer that its seal signs, as defined on the `Seal`
//! message in `agency.proto`. Agencies build it to seal; the gateway and `hubctl evidence`
//! rebuild it from a report to verify. It depends only on field values, never on how protobuf
//! happened to encode them, so an agency written in any language can produce the same bytes.

use std::fmt::Write as _;

use crate::v1 as pb;

/// The first line: what the bytes are, and the version of the encoding.
const HEADER: &str = "enforcement.v1.seal/1";

/// The bytes sealed for the answer to `instruction_id` of `agency`, under key `key_id`: the
/// updates in order (the outcome first), then the inquiry answer if there is one.
pub fn canonical_outcome(
    key_id: &str,
    agency: Option<&pb::AgencyRef>,
    instruction_id: &str,
    updates: &[pb::MeasureUpdate],
    answer: Option<&pb::InquiryAnswer>,
) -> Vec<u8> {
    let mut out = String::with_capacity(256 + 160 * updates.len());
    line(&mut out, HEADER);
    line(&mut out, &format!("key:{}", text(key_id)));
    let (kind, code) = agency.map_or((0, ""), |a| (a.kind, a.code.as_str()));
    line(&mut out, &format!("agency:{kind}|{}", text(code)));
    line(&mut out, &format!("instruction:{}", text(instruction_id)));
    for u in updates {
        let (reason_code, reason_message) = u
            .reason
            .as_ref()
            .map_or((0, ""), |r| (r.code, r.message.as_str()));
        line(
            &mut out,
            &format!(
                "update:{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
                text(&u.measure_id),
                u.revision,
                u.state,
                u.held_fen,
                u.amount_fen,
                u.waiting_position,
                instant(u.effective_at.as_ref()),
                instant(u.expires_at.as_ref()),
                text(&u.registration_number),
                reason_code,
                text(reason_message),
                instant(u.at.as_ref()),
                u.cause,
                text(&u.note),
            ),
        );
    }
    if let Some(answer) = answer {
        line(&mut out, "answer:");
        for holding in &answer.holdings {
            use pb::holding::Asset;
            let encoded = match &holding.asset {
                Some(Asset::Deposit(d)) => format!(
                    "holding:deposit|{}|{}|{}",
                    text(&d.account_number),
                    d.balance_fen,
                    d.frozen_fen
                ),
                Some(Asset::Property(p)) => format!(
                    "holding:property|{}|{}|{}|{}",
                    p.property_kind,
                    text(&p.property_id),
                    text(&p.address),
                    u8::from(p.sealed)
                ),
                Some(Asset::Vehicle(v)) => format!(
                    "holding:vehicle|{}|{}|{}",
                    text(&v.plate),
                    text(&v.vin),
                    u8::from(v.distrained)
                ),
                Some(Asset::Whereabouts(w)) => format!(
                    "holding:whereabouts|{}|{}",
                    text(&w.place),
                    instant(w.seen_at.as_ref())
                ),
                None => "holding:".to_string(),
            };
            line(&mut out, &encoded);
        }
    }
    out.into_bytes()
}

fn line(out: &mut String, content: &str) {
    out.push_str(content);
    out.push('\n');
}

/// Text with the separators escaped, so no value can forge a field or a line.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '%' => out.push_str("%25"),
            '|' => out.push_str("%7C"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            c => out.push(c),
        }
    }
    out
}

fn instant(t: Option<&prost_types::Timestamp>) -> String {
    let mut out = String::new();
    if let Some(t) = t {
        let _ = write!(out, "{}.{:09}", t.seconds, t.nanos);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn freeze_outcome() -> pb::MeasureUpdate {
        pb::MeasureUpdate {
            measure_id: "0190a000-0000-7000-8000-000000000001".into(),
            revision: 2,
            state: pb::MeasureState::Partial as i32,
            held_fen: 500_000,
            amount_fen: 1_000_000,
            at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 5,
            }),
            note: "balance 5,000.00 frozen | of 10,000.00\nordered".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_encoding_is_the_documented_text() {
        let agency = pb::AgencyRef {
            kind: pb::AgencyKind::Bank as i32,
            code: "ICBC".into(),
        };
        let bytes = canonical_outcome("icbc-2026", Some(&agency), "i-1", &[freeze_outcome()], None);
        let text = String::from_utf8(bytes).expect("utf-8");
        let state = pb::MeasureState::Partial as i32;
        assert_eq!(
            text,
            format!(
                "enforcement.v1.seal/1\nkey:icbc-2026\nagency:1|ICBC\ninstruction:i-1\n\
                 update:0190a000-0000-7000-8000-000000000001|2|{state}|500000|1000000|0||||0||\
                 1700000000.000000005|0|balance 5,000.00 frozen %7C of 10,000.00%0Aordered\n"
            )
        );
    }

    #[test]
    fn any_changed_field_changes_the_bytes() {
        let base = canonical_outcome("k", None, "i", &[freeze_outcome()], None);
        let mut held = freeze_outcome();
        held.held_fen += 1;
        assert_ne!(base, canonical_outcome("k", None, "i", &[held], None));
        assert_ne!(
            base,
            canonical_outcome("k2", None, "i", &[freeze_outcome()], None)
        );
        let empty = pb::InquiryAnswer::default();
        assert_ne!(
            base,
            canonical_outcome("k", None, "i", &[freeze_outcome()], Some(&empty))
        );
    }
}
