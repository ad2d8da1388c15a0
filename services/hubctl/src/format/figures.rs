//! Text for operators' figures: the table of agencies now (`hubctl ops agencies`) and the
//! monthly ranking (`hubctl ops ranking`). Rates as percentages with two decimals (the gateway
//! sends basis points), response times in words (`850 ms`, `12.4 s`, `25 min`, `26 h 10 min`),
//! amounts as on rulings.

use enforcement_proto::v1 as pb;

use super::{layout::table, money, timestamp};

/// Basis points as a percentage, e.g. `66.66%`.
pub fn rate(bp: i32) -> String {
    format!("{}.{:02}%", bp / 100, bp % 100)
}

/// Milliseconds in words: `850 ms`, `12.4 s`, `25 min`, `26 h 10 min`.
pub fn duration_ms(ms: i64) -> String {
    match ms {
        ..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{}.{} s", ms / 1_000, ms % 1_000 / 100),
        60_000..3_600_000 => format!("{} min", ms / 60_000),
        _ => format!("{} h {:02} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// A response time, or `-` when nothing was answered.
fn response(ms: i64, answered: i64) -> String {
    if answered == 0 {
        "-".into()
    } else {
        duration_ms(ms)
    }
}

/// One row per agency: connection, queue, in flight, oldest waiting, then per window (1 h, 24 h)
/// answers, p50, p95, error and refusal rates.
pub fn agencies(figures: &pb::AgencyFiguresResponse) -> String {
    if figures.agencies.is_empty() {
        return "no agency has announced itself yet".into();
    }
    let header = [
        "AGENCY",
        "CONNECTED",
        "QUEUE",
        "CONSUMERS",
        "IN FLIGHT",
        "OLDEST WAITING (CST)",
        "1H ANSWERED",
        "1H P50",
        "1H P95",
        "1H ERRORS",
        "1H REFUSALS",
        "24H ANSWERED",
        "24H P50",
        "24H P95",
        "24H ERRORS",
        "24H REFUSALS",
    ];
    let rows: Vec<Vec<String>> = figures
        .agencies
        .iter()
        .map(|a| {
            let mut row = vec![
                format!("{}.{}", a.agency_kind, a.agency_code),
                match (a.connected, a.queue_exists) {
                    (true, _) => "yes".into(),
                    (false, true) => "no".into(),
                    (false, false) => "no (no queue)".into(),
                },
                a.queue_depth.to_string(),
                a.consumers.to_string(),
                a.in_flight.to_string(),
                timestamp(a.oldest_waiting.as_ref()),
            ];
            for w in [&a.last_hour, &a.last_day] {
                let w = (*w).unwrap_or_default();
                row.extend([
                    w.answered.to_string(),
                    response(w.p50_response_ms, w.answered),
                    response(w.p95_response_ms, w.answered),
                    rate(w.error_rate_bp),
                    rate(w.refusal_rate_bp),
                ]);
            }
            row
        })
        .collect();
    table(
        &header,
        &rows,
        &[2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    )
}

/// The month's ranking: a heading, the agencies' table, the courts' table.
pub fn ranking(r: &pb::RankingResponse) -> String {
    let mut out = vec![format!(
        "ranking of {} (China Standard Time: {} to {}), as of {}",
        r.month,
        timestamp(r.from.as_ref()),
        timestamp(r.until.as_ref()),
        timestamp(r.at.as_ref()),
    )];
    out.push(String::new());
    if r.agencies.is_empty() {
        out.push("agencies: no measure was sent in the month".into());
    } else {
        let rows: Vec<Vec<String>> = r
            .agencies
            .iter()
            .enumerate()
            .map(|(i, a)| {
                vec![
                    (i + 1).to_string(),
                    format!("{}.{}", a.agency_kind, a.agency_code),
                    a.measures.to_string(),
                    a.on_time.to_string(),
                    a.late.to_string(),
                    a.unanswered.to_string(),
                    rate(a.on_time_rate_bp),
                    response(a.median_response_ms, a.on_time + a.late),
                    a.rejected.to_string(),
                    a.failed.to_string(),
                ]
            })
            .collect();
        out.push(table(
            &[
                "#",
                "AGENCY",
                "MEASURES",
                "ON TIME",
                "LATE",
                "UNANSWERED",
                "ON-TIME RATE",
                "MEDIAN RESPONSE",
                "REJECTED",
                "FAILED",
            ],
            &rows,
            &[0, 2, 3, 4, 5, 6, 7, 8, 9],
        ));
    }
    out.push(String::new());
    if r.courts.is_empty() {
        out.push("courts: no measure was submitted and no case opened in the month".into());
    } else {
        let rows: Vec<Vec<String>> = r
            .courts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                vec![
                    (i + 1).to_string(),
                    c.court_code.clone(),
                    c.measures.to_string(),
                    c.effective.to_string(),
                    c.rejected.to_string(),
                    rate(c.effective_rate_bp),
                    c.cases.to_string(),
                    money(c.enforcement_fen),
                    money(c.secured_fen),
                    rate(c.secured_rate_bp),
                ]
            })
            .collect();
        out.push(table(
            &[
                "#",
                "COURT",
                "MEASURES",
                "EFFECTIVE",
                "REJECTED",
                "EFFECTIVE RATE",
                "CASES",
                "ENFORCEMENT",
                "SECURED",
                "SECURED RATE",
            ],
            &rows,
            &[0, 2, 3, 4, 5, 6, 7, 8, 9],
        ));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_percentages_with_two_decimals() {
        assert_eq!(rate(6666), "66.66%");
        assert_eq!(rate(10_000), "100.00%");
        assert_eq!(rate(5), "0.05%");
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(12_450), "12.4 s");
        assert_eq!(duration_ms(25 * 60_000 + 5), "25 min");
        assert_eq!(duration_ms(26 * 3_600_000 + 10 * 60_000), "26 h 10 min");
    }
}
