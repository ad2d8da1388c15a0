//! Text for inquiries: each agency's answer and what it found, and the count of answers.

use enforcement_proto::{convert, v1 as pb};
use hub_domain::MeasureState;

use super::{agency, layout::table, money, reason, state, timestamp};

/// What one agency's answer amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered and found something.
    Found,
    /// Answered that the subject holds nothing there.
    FoundNothing,
    /// Refused to answer (see the reason).
    Refused,
}

impl Outcome {
    /// How the hub counts `answer`: EFFECTIVE or PARTIAL is an answer, anything else a refusal.
    pub fn of(answer: &pb::InquiryAnswerEvent) -> Self {
        match convert::state_from_proto(answer.state) {
            Some(MeasureState::Effective | MeasureState::Partial) if answer.holdings.is_empty() => {
                Self::FoundNothing
            }
            Some(MeasureState::Effective | MeasureState::Partial) => Self::Found,
            _ => Self::Refused,
        }
    }

    /// As a snake-case word for programs: `found`, `found_nothing`, `refused`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Found => "found",
            Self::FoundNothing => "found_nothing",
            Self::Refused => "refused",
        }
    }
}

/// Whether the inquiry is still waiting for answers.
pub fn is_open(m: &pb::Measure) -> bool {
    matches!(
        convert::state_from_proto(m.state),
        Some(MeasureState::Submitted | MeasureState::Dispatched | MeasureState::Delivered) | None
    )
}

/// `n` agencies of the kind of `agency`, e.g. `20 banks`, `1 land registry`.
pub fn agencies(agency: Option<&pb::AgencyRef>, n: u32) -> String {
    let kind = agency.and_then(|a| pb::AgencyKind::try_from(a.kind).ok());
    let (one, many) = match kind {
        Some(pb::AgencyKind::Bank) => ("bank", "banks"),
        Some(pb::AgencyKind::LandRegistry) => ("land registry", "land registries"),
        Some(pb::AgencyKind::PublicSecurity) => ("public security unit", "public security units"),
        _ => ("agency", "agencies"),
    };
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One asset found, e.g. `account 6222020200000000001`, `unit 110105-0001, 北京市东城区… (sealed
/// up)`, `vehicle 京A12345, VIN LSV… (distrained)`, `seen at 北京西站 on 2026-11-03 14:05:09
/// +08:00`. A deposit's balance and frozen amount go in their own columns.
pub fn holding(h: &pb::Holding) -> String {
    use pb::holding::Asset;
    match &h.asset {
        Some(Asset::Deposit(d)) => format!("account {}", d.account_number),
        Some(Asset::Property(p)) => {
            let kind = match pb::PropertyKind::try_from(p.property_kind) {
                Ok(pb::PropertyKind::Parcel) => "parcel",
                _ => "unit",
            };
            let mut text = format!("{kind} {}", p.property_id);
            if !p.address.is_empty() {
                text.push_str(&format!(", {}", p.address));
            }
            if p.sealed {
                text.push_str(" (sealed up)");
            }
            text
        }
        Some(Asset::Vehicle(v)) => {
            let mut text = match (v.plate.is_empty(), v.vin.is_empty()) {
                (false, false) => format!("vehicle {}, VIN {}", v.plate, v.vin),
                (false, true) => format!("vehicle {}", v.plate),
                (true, _) => format!("vehicle VIN {}", v.vin),
            };
            if v.distrained {
                text.push_str(" (distrained)");
            }
            text
        }
        Some(Asset::Whereabouts(w)) => {
            format!("seen at {} on {}", w.place, timestamp(w.seen_at.as_ref()))
        }
        None => "(an asset of a kind this hubctl does not know)".into(),
    }
}

/// The answers as a table, one row per asset found (the agency named on its first row), agencies
/// in order of kind and code. Balance and frozen columns appear when a deposit was found.
pub fn table_of(answers: &[pb::InquiryAnswerEvent]) -> String {
    let mut sorted: Vec<&pb::InquiryAnswerEvent> = answers.iter().collect();
    sorted.sort_by_key(|a| {
        a.agency
            .as_ref()
            .map(|a| (a.kind, a.code.clone()))
            .unwrap_or_default()
    });
    let deposits = answers
        .iter()
        .flat_map(|a| &a.holdings)
        .any(|h| matches!(h.asset, Some(pb::holding::Asset::Deposit(_))));
    let mut header = vec!["AGENCY", "ANSWER", "FOUND"];
    if deposits {
        header.extend(["BALANCE", "FROZEN"]);
    }
    let mut rows = Vec::new();
    for answer in sorted {
        let name = agency(answer.agency.as_ref());
        let mut row = |first: bool, found: String, amounts: Option<(i64, i64)>| {
            let mut cells = if first {
                vec![name.clone(), answer_word(answer).to_owned()]
            } else {
                vec![String::new(), String::new()]
            };
            cells.push(found);
            if deposits {
                match amounts {
                    Some((balance, frozen)) => cells.extend([money(balance), money(frozen)]),
                    None => cells.extend(["-".to_owned(), "-".to_owned()]),
                }
            }
            rows.push(cells);
        };
        match Outcome::of(answer) {
            Outcome::Refused => row(
                true,
                reason(answer.reason.as_ref()).unwrap_or_else(|| state(answer.state)),
                None,
            ),
            Outcome::FoundNothing => row(true, "none".into(), None),
            Outcome::Found => {
                for (i, h) in answer.holdings.iter().enumerate() {
                    let amounts = match &h.asset {
                        Some(pb::holding::Asset::Deposit(d)) => Some((d.balance_fen, d.frozen_fen)),
                        _ => None,
                    };
                    row(i == 0, holding(h), amounts);
                }
            }
        }
    }
    table(&header, &rows, &[3, 4])
}

/// `answered` or `refused`.
fn answer_word(answer: &pb::InquiryAnswerEvent) -> &'static str {
    match Outcome::of(answer) {
        Outcome::Refused => "refused",
        Outcome::Found | Outcome::FoundNothing => "answered",
    }
}

/// The count of answers, e.g. `addressed 20, answered 18, found 3, found nothing 14, refused 1,
/// unanswered 2: 2 agencies did not answer by the deadline (2026-11-03 14:06:09 +08:00)`.
pub fn summary(m: &pb::Measure) -> String {
    let p = m.inquiry.unwrap_or_default();
    let mut text = format!(
        "addressed {}, answered {}, found {}, found nothing {}, refused {}, unanswered {}",
        p.addressed, p.answered, p.found, p.found_nothing, p.refused, p.unanswered
    );
    let deadline = timestamp(p.deadline.as_ref());
    if is_open(m) {
        text.push_str(&format!(
            ": still open, waiting for {} more until {deadline}",
            p.addressed.saturating_sub(p.answered)
        ));
    } else if p.unanswered > 0 {
        text.push_str(&format!(
            ": {} did not answer by the deadline ({deadline})",
            agencies(m.agency.as_ref(), p.unanswered)
        ));
    }
    text
}

/// What a court reads at the end of an inquiry, or when it asks for the answers so far: the
/// table (or that nobody answered) and the summary.
pub fn report(m: &pb::Measure, answers: &[pb::InquiryAnswerEvent]) -> String {
    let mut text = if answers.is_empty() {
        "no agency has answered".to_owned()
    } else {
        table_of(answers)
    };
    text.push_str(&format!("\nsummary: {}", summary(m)));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bank(code: &str) -> Option<pb::AgencyRef> {
        Some(pb::AgencyRef {
            kind: pb::AgencyKind::Bank as i32,
            code: code.into(),
        })
    }

    fn deposit(account: &str, balance_fen: i64, frozen_fen: i64) -> pb::Holding {
        pb::Holding {
            asset: Some(pb::holding::Asset::Deposit(pb::DepositHolding {
                account_number: account.into(),
                balance_fen,
                frozen_fen,
            })),
        }
    }

    fn answer(
        code: &str,
        state: pb::MeasureState,
        holdings: Vec<pb::Holding>,
    ) -> pb::InquiryAnswerEvent {
        pb::InquiryAnswerEvent {
            agency: bank(code),
            state: state as i32,
            holdings,
            ..Default::default()
        }
    }

    #[test]
    fn a_table_lists_each_account_under_its_bank_with_balance_and_frozen() {
        let refused = pb::InquiryAnswerEvent {
            reason: Some(pb::Reason {
                code: pb::ReasonCode::AgencyError as i32,
                message: "core banking offline".into(),
            }),
            ..answer("B002", pb::MeasureState::Rejected, vec![])
        };
        let text = table_of(&[
            answer("B003", pb::MeasureState::Effective, vec![]),
            answer(
                "B001",
                pb::MeasureState::Effective,
                vec![
                    deposit("6222020200000000001", 1_234_567, 0),
                    deposit("6222020200000000002", 100, 100),
                ],
            ),
            refused,
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].starts_with("AGENCY     ANSWER    FOUND"), "{text}");
        assert!(
            lines[1].starts_with("bank B001  answered  account 6222020200000000001")
                && lines[1].ends_with("12,345.67    0.00"),
            "{text}"
        );
        assert!(lines[2].starts_with("                     account 6222020200000000002"));
        assert!(lines[2].ends_with("     1.00    1.00"), "{text}");
        assert!(
            lines[3].starts_with("bank B002  refused   agency error: core banking offline"),
            "{text}"
        );
        assert!(lines[4].starts_with("bank B003  answered  none"), "{text}");
    }

    #[test]
    fn properties_vehicles_and_whereabouts_read_as_words() {
        let property = pb::Holding {
            asset: Some(pb::holding::Asset::Property(pb::PropertyHolding {
                property_kind: pb::PropertyKind::Unit as i32,
                property_id: "110105-0001".into(),
                address: "北京市朝阳区某路1号".into(),
                sealed: true,
            })),
        };
        assert_eq!(
            holding(&property),
            "unit 110105-0001, 北京市朝阳区某路1号 (sealed up)"
        );
        let vehicle = pb::Holding {
            asset: Some(pb::holding::Asset::Vehicle(pb::VehicleHolding {
                plate: "京A12345".into(),
                vin: String::new(),
                distrained: false,
            })),
        };
        assert_eq!(holding(&vehicle), "vehicle 京A12345");
        let text = table_of(&[answer("X", pb::MeasureState::Effective, vec![property])]);
        assert!(!text.contains("BALANCE"), "{text}");
    }

    #[test]
    fn the_summary_counts_and_says_who_did_not_answer() {
        let m = pb::Measure {
            kind: pb::MeasureKind::Inquiry as i32,
            state: pb::MeasureState::Partial as i32,
            agency: bank(""),
            inquiry: Some(pb::InquiryProgress {
                addressed: 20,
                answered: 18,
                found: 3,
                found_nothing: 14,
                refused: 1,
                unanswered: 2,
                deadline: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            summary(&m),
            "addressed 20, answered 18, found 3, found nothing 14, refused 1, unanswered 2: \
             2 banks did not answer by the deadline (-)"
        );
        let open = pb::Measure {
            state: pb::MeasureState::Dispatched as i32,
            ..m
        };
        assert!(summary(&open).ends_with("still open, waiting for 2 more until -"));
    }
}
