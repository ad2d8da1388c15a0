//! `hubctl ops …`: what operators watch over the whole hub (no --court). `ops overdue` lists the
//! measures whose agency has not answered by its deadline (督办), longest overdue first; `ops
//! agencies` shows every agency now and `ops ranking` the monthly ranking of agencies and courts,
//! computed by the gateway from its own records.

use clap::Subcommand;
use serde_json::json;

use crate::{
    Context,
    error::Failure,
    format::{self, layout},
    json,
};

/// `hubctl ops …`.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum OpsCommand {
    /// Measures past their answer deadline without the agency's answer (督办), longest overdue
    /// first; the agencies have been reminded.
    Overdue {
        /// At most this many (1 to 1,000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// Every agency in the registry now: connected or not, its queue, what it has not answered,
    /// response times and failure and refusal rates over the last hour and day.
    Agencies,
    /// The monthly ranking notice (月排名通报): per agency, measures sent, on time, late, not
    /// answered, median response time; per court, measures, effective rate, and what its cases
    /// opened that month have secured against their enforcement amounts.
    Ranking {
        /// The month, `YYYY-MM`, in China Standard Time (e.g. 2026-11).
        #[arg(long, value_name = "YYYY-MM")]
        month: String,
    },
}

/// Runs one `ops` subcommand.
pub async fn run(context: &Context, command: OpsCommand) -> Result<(), Failure> {
    match command {
        OpsCommand::Overdue { limit } => overdue(context, limit).await,
        OpsCommand::Agencies => super::agencies::run(context).await,
        OpsCommand::Ranking { month } => super::ranking::run(context, &month).await,
    }
}

/// `hubctl ops overdue`.
async fn overdue(context: &Context, limit: u32) -> Result<(), Failure> {
    let listed = context.ops().await?.list_overdue(limit).await?;
    for o in &listed.overdue {
        let Some(m) = &o.measure else { continue };
        let mut value = json::measure(m);
        value["overdue"] = json!({
            "level": m.overdue_level,
            "due_at": json::time(o.due_at.as_ref()),
            "overdue_ms": o.overdue_ms,
            "deadline_secs": o.deadline_secs,
        });
        context.out.json(&value);
    }
    context.out.text(table(&listed.overdue));
    context.out.text(format!(
        "{} overdue in all{}",
        listed.total,
        if (listed.total as usize) > listed.overdue.len() {
            format!(", {} listed", listed.overdue.len())
        } else {
            String::new()
        }
    ));
    Ok(())
}

/// The overdue measures as a table.
fn table(overdue: &[enforcement_proto::v1::OverdueMeasure]) -> String {
    let header = [
        "MEASURE",
        "KIND",
        "AGENCY",
        "STATE",
        "COURT",
        "CASE",
        "DUE (UTC+08:00)",
        "OVERDUE",
        "LEVEL",
    ];
    let rows = overdue
        .iter()
        .filter_map(|o| {
            let m = o.measure.as_ref()?;
            Some(vec![
                m.measure_id.clone(),
                format::words(&format::kind(m.kind)),
                format::agency(m.agency.as_ref()),
                format::words(&format::state(m.state)),
                m.court_code.clone(),
                m.case_number.clone(),
                format::timestamp(o.due_at.as_ref()),
                late(o.overdue_ms),
                m.overdue_level.to_string(),
            ])
        })
        .collect::<Vec<_>>();
    layout::table(&header, &rows, &[7, 8])
}

/// How long past due, for people: `3 min`, `2 h 05 min`, `4 d 3 h`.
fn late(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match minutes {
        m if m < 60 => format!("{m} min"),
        m if m < 24 * 60 => format!("{} h {:02} min", m / 60, m % 60),
        m => format!("{} d {} h", m / (24 * 60), (m / 60) % 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_reads_in_minutes_hours_and_days() {
        assert_eq!(late(0), "0 min");
        assert_eq!(late(59 * 60_000), "59 min");
        assert_eq!(late(125 * 60_000), "2 h 05 min");
        assert_eq!(late((4 * 24 + 3) * 3_600_000), "4 d 3 h");
    }
}
