//! Overdue measures (督办): the deadline by which an agency must answer, per agency kind and
//! measure kind, and the reminder the hub sends the agency when it has not.
//!
//! Banks must act "immediately" on inquiries and freezes (法发〔2000〕21号); published practice
//! is query feedback in minutes and freezes within a working day. The defaults follow it: 30
//! minutes for inquiries, a day for every other measure. A measure still without the agency's
//! answer (submitted, dispatched or delivered) at `submitted_at` + its deadline is overdue at
//! level 1; at twice the deadline, level 2 (escalated). At each level the court's watch stream
//! says so and the agency's queue gets a [`pb::Reminder`] behind the instruction.

use std::{fmt, str::FromStr, time::Duration};

use enforcement_proto::{convert::timestamp, v1 as pb};
use hub_domain::{AgencyKind, MeasureKind};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::MeasureRow;

/// The default rules: inquiries in 30 minutes, everything else in a day.
pub const DEFAULT: &str = "*.inquiry=1800,*.*=86400";

/// The highest level: past twice the deadline.
pub const TOP_LEVEL: i16 = 2;

/// One rule: an agency kind (or any), a measure kind (or any), and the deadline in seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    agency: Option<AgencyKind>,
    measure: Option<MeasureKind>,
    secs: i64,
}

/// The answer deadlines, from `GATEWAY_ANSWER_DEADLINES`: comma-separated
/// `<agency kind|*>.<measure kind|*>=<seconds>` rules; the most specific rule that matches wins
/// (agency and measure named, then only the measure, then only the agency, then `*.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerDeadlines {
    rules: Vec<Rule>,
}

/// A rule that cannot be read, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRule(String);

impl fmt::Display for BadRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GATEWAY_ANSWER_DEADLINES: {} (write rules like bank.freeze=86400,*.inquiry=1800,*.*=86400)",
            self.0
        )
    }
}

impl std::error::Error for BadRule {}

impl FromStr for AnswerDeadlines {
    type Err = BadRule;

    fn from_str(input: &str) -> Result<Self, BadRule> {
        let mut rules = Vec::new();
        for rule in input.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            let (key, secs) = rule
                .split_once('=')
                .ok_or_else(|| BadRule(format!("{rule:?} has no `=<seconds>`")))?;
            let (agency, measure) = key
                .trim()
                .split_once('.')
                .ok_or_else(|| BadRule(format!("{key:?} is not <agency kind>.<measure kind>")))?;
            let agency = match agency {
                "*" => None,
                name => Some(
                    AgencyKind::parse(name)
                        .map_err(|_| BadRule(format!("{name:?} is not an agency kind")))?,
                ),
            };
            let measure = match measure {
                "*" => None,
                name => Some(
                    MeasureKind::parse(name)
                        .map_err(|_| BadRule(format!("{name:?} is not a measure kind")))?,
                ),
            };
            let secs: i64 =
                secs.trim().parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    BadRule(format!("{secs:?} is not a positive number of seconds"))
                })?;
            rules.push(Rule {
                agency,
                measure,
                secs,
            });
        }
        if !rules
            .iter()
            .any(|r| r.agency.is_none() && r.measure.is_none())
        {
            rules.push(Rule {
                agency: None,
                measure: None,
                secs: 86_400,
            });
        }
        Ok(Self { rules })
    }
}

impl Default for AnswerDeadlines {
    fn default() -> Self {
        DEFAULT.parse().unwrap_or(Self { rules: Vec::new() })
    }
}

impl AnswerDeadlines {
    /// The deadline for `measure` at an agency of kind `agency`, in seconds.
    pub fn secs(&self, agency: AgencyKind, measure: MeasureKind) -> i64 {
        let specificity = |r: &Rule| match (r.agency, r.measure) {
            (Some(_), Some(_)) => 3,
            (None, Some(_)) => 2,
            (Some(_), None) => 1,
            (None, None) => 0,
        };
        self.rules
            .iter()
            .filter(|r| r.agency.is_none_or(|a| a == agency))
            .filter(|r| r.measure.is_none_or(|m| m == measure))
            .max_by_key(|r| specificity(r))
            .map_or(86_400, |r| r.secs)
    }

    /// Every (agency kind, measure kind, seconds), as three arrays for SQL's `unnest`.
    pub fn table(&self) -> (Vec<String>, Vec<String>, Vec<i64>) {
        let mut table = (Vec::new(), Vec::new(), Vec::new());
        for agency in AgencyKind::ALL {
            for measure in MeasureKind::ALL {
                table.0.push(agency.as_str().to_string());
                table.1.push(measure.as_str().to_string());
                table.2.push(self.secs(agency, measure));
            }
        }
        table
    }

    /// When `row`'s answer was (or is) due at `level` (1: the deadline, 2: twice it).
    pub fn due_at(&self, row: &MeasureRow, level: i16) -> OffsetDateTime {
        let secs = self.secs(row.agency.kind(), row.kind);
        row.submitted_at + time::Duration::seconds(secs.saturating_mul(i64::from(level.max(1))))
    }
}

/// What the court reads when its measure becomes overdue at `row.overdue_level`.
pub fn told(row: &MeasureRow, deadlines: &AnswerDeadlines) -> String {
    let due = deadlines
        .due_at(row, 1)
        .to_offset(hub_domain::CHINA_STANDARD_TIME);
    let due = format!(
        "{} {:02}:{:02} (UTC+08:00)",
        due.date(),
        due.hour(),
        due.minute()
    );
    let agency = row.agency.code();
    match row.overdue_level {
        level if level >= TOP_LEVEL => format!(
            "overdue (督办, escalated): {agency} has still not answered; its answer was due at {due}; a second reminder was sent"
        ),
        _ => format!(
            "overdue (督办): {agency} has not answered by {due}; a reminder was sent to the agency"
        ),
    }
}

/// The reminder instruction `instruction_id` for `row`, to be carried out by `deadline`.
pub fn reminder(
    row: &MeasureRow,
    deadlines: &AnswerDeadlines,
    instruction_id: Uuid,
    now: OffsetDateTime,
    deadline: Duration,
) -> pb::Instruction {
    let until = now + time::Duration::try_from(deadline).unwrap_or(time::Duration::HOUR);
    pb::Instruction {
        instruction_id: instruction_id.to_string(),
        measure_id: row.id.to_string(),
        court_code: row.court_code.clone(),
        case: Some(pb::CaseInfo {
            case_number: row.case_number.clone(),
            ..Default::default()
        }),
        subject: None,
        agency: Some(row.agency.to_proto()),
        issued_at: Some(timestamp(now)),
        deadline: Some(timestamp(until)),
        action: Some(pb::instruction::Action::Reminder(pb::Reminder {
            instruction_id: row.instruction_id.to_string(),
            level: u32::try_from(row.overdue_level).unwrap_or(1),
            due_at: Some(timestamp(deadlines.due_at(row, row.overdue_level))),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_give_inquiries_half_an_hour_and_the_rest_a_day() {
        let d = AnswerDeadlines::default();
        assert_eq!(d.secs(AgencyKind::Bank, MeasureKind::Inquiry), 1800);
        assert_eq!(d.secs(AgencyKind::Bank, MeasureKind::Freeze), 86_400);
        assert_eq!(
            d.secs(AgencyKind::LandRegistry, MeasureKind::SealUp),
            86_400
        );
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let d: AnswerDeadlines = "*.*=100, bank.*=50, *.freeze=20, bank.freeze=5"
            .parse()
            .expect("rules");
        assert_eq!(d.secs(AgencyKind::Bank, MeasureKind::Freeze), 5);
        assert_eq!(d.secs(AgencyKind::PublicSecurity, MeasureKind::Freeze), 20);
        assert_eq!(d.secs(AgencyKind::Bank, MeasureKind::Release), 50);
        assert_eq!(d.secs(AgencyKind::LandRegistry, MeasureKind::SealUp), 100);
        let (agencies, kinds, secs) = d.table();
        assert_eq!(agencies.len(), 27);
        assert_eq!(kinds.len(), 27);
        assert!(secs.contains(&5) && secs.contains(&100));
    }

    #[test]
    fn without_a_catch_all_the_rest_get_a_day() {
        let d: AnswerDeadlines = "bank.freeze=60".parse().expect("rules");
        assert_eq!(d.secs(AgencyKind::Bank, MeasureKind::Freeze), 60);
        assert_eq!(d.secs(AgencyKind::Bank, MeasureKind::SealUp), 86_400);
    }

    #[test]
    fn bad_rules_are_named() {
        for (rules, named) in [
            ("bank.freeze", "no `=<seconds>`"),
            ("bank=60", "not <agency kind>.<measure kind>"),
            ("ship.freeze=60", "\"ship\" is not an agency kind"),
            ("bank.sink=60", "\"sink\" is not a measure kind"),
            ("bank.freeze=0", "not a positive number"),
            ("bank.freeze=soon", "not a positive number"),
        ] {
            let e = rules.parse::<AnswerDeadlines>().expect_err(rules);
            assert!(e.to_string().contains(named), "{rules}: {e}");
        }
    }
}
