//! A case as a whole: its ledger (what is frozen, pending and deducted against the enforcement
//! amount), its case-level orders and their freezes, and case events as one line each.

use enforcement_proto::v1 as pb;

use super::{agency, enum_name, layout, measure, money, short_id, state, timestamp, words};

/// A case state, e.g. `closing`.
pub fn case_state(value: i32) -> String {
    enum_name(
        pb::CaseState::try_from(value).ok().map(|s| s.as_str_name()),
        "CASE_STATE_",
        value,
    )
}

/// An order state, e.g. `secured`.
pub fn order_state(value: i32) -> String {
    enum_name(
        pb::CaseOrderState::try_from(value)
            .ok()
            .map(|s| s.as_str_name()),
        "CASE_ORDER_STATE_",
        value,
    )
}

/// The ledger: amounts against the enforcement amount, state, what is still live.
pub fn ledger(c: &pb::Case) -> String {
    let mut rows = vec![
        ("case", c.case_number.clone()),
        ("court", c.court_code.clone()),
        ("state", case_state(c.state)),
        ("enforcement amount", money(c.enforcement_amount_fen)),
        ("frozen", money(c.frozen_fen)),
        ("pending", money(c.pending_fen)),
        ("deducted", money(c.deducted_fen)),
        ("open", money(c.open_fen)),
    ];
    if c.excess_fen > 0 {
        rows.push(("excess", money(c.excess_fen)));
    }
    rows.push(("live measures", c.live_measures.to_string()));
    if !c.close_reason.is_empty() {
        rows.push(("closed because", c.close_reason.clone()));
    }
    rows.push(("updated", timestamp(c.updated_at.as_ref())));
    layout::labelled(&rows)
}

/// The ledger, then the measures and each order, for `hubctl case show`.
pub fn details(c: &pb::Case) -> String {
    let mut out = ledger(c);
    if !c.measures.is_empty() {
        out.push_str("\n\n");
        out.push_str(&measure::table(&c.measures));
    }
    for order in &c.orders {
        out.push_str("\n\n");
        out.push_str(&order_details(order));
    }
    out
}

/// An order: what it asks, where it stands, and its freezes.
pub fn order_details(o: &pb::CaseOrder) -> String {
    let mut out = layout::labelled(&[
        ("order", o.order_id.clone()),
        ("state", order_state(o.state)),
        ("up to", money(o.amount_fen)),
        ("frozen", money(o.frozen_fen)),
        ("pending", money(o.pending_fen)),
        ("inquiry", o.inquiry_measure_id.clone()),
        ("accounts left", o.accounts_left.to_string()),
        ("last", layout::dash_if_empty(&o.message)),
    ]);
    if !o.parts.is_empty() {
        let rows: Vec<Vec<String>> = o
            .parts
            .iter()
            .map(|p| {
                vec![
                    agency(p.agency.as_ref()),
                    layout::dash_if_empty(&p.account),
                    money(p.available_fen),
                    short_id(&p.measure_id),
                    state(p.state),
                    money(p.amount_fen),
                    money(p.held_fen),
                ]
            })
            .collect();
        out.push_str("\n\n");
        out.push_str(&layout::table(
            &[
                "BANK",
                "ACCOUNT",
                "AVAILABLE",
                "FREEZE",
                "STATE",
                "FOR",
                "HELD",
            ],
            &rows,
            &[2, 5, 6],
        ));
    }
    out
}

/// A case-level watch event as one line: time, why, the ledger or the order, the message.
pub fn event_line(e: &pb::MeasureEvent) -> String {
    let mut line = format!(
        "{}  {:<15}",
        timestamp(e.at.as_ref()),
        words(&super::event_kind(e.kind))
    );
    if let Some(o) = e.order.as_ref() {
        line.push_str(&format!(
            "  order {}  {:<9}  frozen {} of {}",
            short_id(&o.order_id),
            order_state(o.state),
            money(o.frozen_fen),
            money(o.amount_fen)
        ));
    } else if let Some(c) = e.case.as_ref() {
        line.push_str(&format!(
            "  case {}  {:<7}  frozen {}  pending {}  deducted {}  open {} of {}",
            c.case_number,
            case_state(c.state),
            money(c.frozen_fen),
            money(c.pending_fen),
            money(c.deducted_fen),
            money(c.open_fen),
            money(c.enforcement_amount_fen)
        ));
    }
    if !e.message.is_empty() {
        line.push_str(&format!("  — {}", e.message));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::fixtures::ts;

    fn case() -> pb::Case {
        pb::Case {
            court_code: "京0105".into(),
            case_number: "（2024）京0105执1号".into(),
            enforcement_amount_fen: 6_000_000,
            frozen_fen: 5_000_000,
            pending_fen: 1_000_000,
            state: pb::CaseState::Open as i32,
            live_measures: 2,
            updated_at: Some(ts("2026-11-03T06:05:10Z")),
            ..Default::default()
        }
    }

    #[test]
    fn the_ledger_shows_every_amount_against_the_enforcement_amount() {
        let text = ledger(&case());
        for expected in [
            "enforcement amount  60,000.00",
            "frozen              50,000.00",
            "pending             10,000.00",
            "open                0.00",
            "live measures       2",
        ] {
            assert!(text.contains(expected), "{expected}\n{text}");
        }
        assert!(!text.contains("excess"), "{text}");
    }

    #[test]
    fn a_case_event_line_shows_the_ledger_and_the_message() {
        let event = pb::MeasureEvent {
            kind: pb::EventKind::CaseLedger as i32,
            measure: None,
            at: Some(ts("2026-11-03T06:05:10Z")),
            message: "frozen 50,000.00".into(),
            case: Some(case()),
            order: None,
        };
        let line = event_line(&event);
        assert!(
            line.starts_with("2026-11-03 14:05:10 +08:00  case ledger"),
            "{line}"
        );
        assert!(line.contains("open 0.00 of 60,000.00"), "{line}");
        assert!(line.ends_with("— frozen 50,000.00"), "{line}");
    }
}
