//! Agency and court figures for operators (`Ops.AgencyFigures`, `Ops.Ranking`): the month a
//! ranking covers, percentiles and rates — pure, tested here — and the gathering of the figures
//! from the SQL that selects and counts ([`crate::store::figures`]) and from the broker, which
//! counts each agency's queue.

use enforcement_proto::{convert::timestamp, v1 as pb};
use hub_domain::CHINA_STANDARD_TIME;
use lapin::{options::QueueDeclareOptions, types::FieldTable};
use time::{Date, Month, OffsetDateTime, Time};
use tonic::Status;

use crate::{
    case::ledger::Ledger,
    overdue::AnswerDeadlines,
    store::{
        Store,
        figures::{AgencyMonth, CourtMonth, Window},
    },
};

/// A calendar month in China Standard Time, and its bounds in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankingMonth {
    pub year: i32,
    pub month: Month,
    /// The 1st at 00:00 +08:00, inclusive.
    pub from: OffsetDateTime,
    /// The 1st of the next month at 00:00 +08:00, exclusive.
    pub until: OffsetDateTime,
}

impl RankingMonth {
    /// Parses `YYYY-MM` (a four-digit year from 2000, a two-digit month 01 to 12).
    pub fn parse(text: &str) -> Result<Self, String> {
        let rule = || format!("{text:?} is not a month: write YYYY-MM, e.g. 2026-11");
        let (year, month) = text.trim().split_once('-').ok_or_else(rule)?;
        if year.len() != 4
            || month.len() != 2
            || !year
                .bytes()
                .chain(month.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(rule());
        }
        let year: i32 = year.parse().map_err(|_| rule())?;
        let month: u8 = month.parse().map_err(|_| rule())?;
        if !(2000..=9998).contains(&year) {
            return Err(format!("{text:?}: the year must be from 2000 to 9998"));
        }
        let month = Month::try_from(month)
            .map_err(|_| format!("{text:?}: the month must be from 01 to 12"))?;
        let first = |year: i32, month: Month| {
            Date::from_calendar_date(year, month, 1)
                .map(|d| {
                    d.with_time(Time::MIDNIGHT)
                        .assume_offset(CHINA_STANDARD_TIME)
                })
                .map_err(|_| rule())
        };
        let (next_year, next_month) = match month {
            Month::December => (year + 1, Month::January),
            m => (year, m.next()),
        };
        Ok(Self {
            year,
            month,
            from: first(year, month)?.to_offset(time::UtcOffset::UTC),
            until: first(next_year, next_month)?.to_offset(time::UtcOffset::UTC),
        })
    }

    /// `YYYY-MM`.
    pub fn name(&self) -> String {
        format!("{:04}-{:02}", self.year, u8::from(self.month))
    }
}

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of `values`: the ⌈p·n/100⌉-th smallest, or
/// 0 of nothing. Sorts `values`.
pub fn percentile(values: &mut [i64], p: u32) -> i64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let n = values.len();
    let rank = (usize::try_from(p).unwrap_or(100) * n)
        .div_ceil(100)
        .clamp(1, n);
    values[rank - 1]
}

/// `part / whole` in basis points, rounded down; 0 over nothing.
pub fn basis_points(part: i64, whole: i64) -> i32 {
    if whole <= 0 {
        return 0;
    }
    i32::try_from(i128::from(part) * 10_000 / i128::from(whole)).unwrap_or(i32::MAX)
}

/// One window of an agency's answers.
pub fn window(window_ms: i64, mut w: Window) -> pb::AgencyWindow {
    pb::AgencyWindow {
        window_ms,
        answered: w.answered,
        failed: w.failed,
        rejected: w.rejected,
        error_rate_bp: basis_points(w.failed, w.answered),
        refusal_rate_bp: basis_points(w.rejected, w.answered),
        p50_response_ms: percentile(&mut w.response_ms, 50),
        p95_response_ms: percentile(&mut w.response_ms, 95),
    }
}

/// Every agency in the registry as it stands at `now`, its queue counted at the broker.
pub async fn agencies(
    store: &Store,
    amqp_url: &str,
    now: OffsetDateTime,
) -> Result<pb::AgencyFiguresResponse, Status> {
    let agencies = store.agencies_now().await?;
    let hour = store.answers_since(now - time::Duration::HOUR).await?;
    let day = store.answers_since(now - time::Duration::DAY).await?;
    let names: Vec<(String, String)> = agencies
        .iter()
        .map(|a| (a.kind.clone(), a.code.clone()))
        .collect();
    let queues = queues(amqp_url, &names).await?;
    let agencies = agencies
        .into_iter()
        .zip(queues)
        .map(|(a, queue)| {
            let key = (a.kind.clone(), a.code.clone());
            let (depth, consumers) = queue.unwrap_or((0, 0));
            pb::AgencyFigures {
                connected: consumers > 0,
                queue_exists: queue.is_some(),
                queue_depth: depth,
                consumers,
                last_announced: Some(timestamp(a.last_seen)),
                in_flight: a.in_flight,
                oldest_waiting: a.oldest_waiting.map(timestamp),
                last_hour: Some(window(
                    3_600_000,
                    hour.get(&key).cloned().unwrap_or_default(),
                )),
                last_day: Some(window(
                    86_400_000,
                    day.get(&key).cloned().unwrap_or_default(),
                )),
                agency_kind: a.kind,
                agency_code: a.code,
            }
        })
        .collect();
    Ok(pb::AgencyFiguresResponse {
        agencies,
        at: Some(timestamp(now)),
    })
}

/// Each agency's queue at the broker: whether it exists, messages ready and consumers. A
/// passive declare of a queue that does not exist closes its channel, so each agency is
/// asked on a channel of its own.
async fn queues(
    amqp_url: &str,
    agencies: &[(String, String)],
) -> Result<Vec<Option<(u32, u32)>>, Status> {
    let connection = hub_bus::connect(amqp_url, "enforcement-ops")
        .await
        .map_err(|e| Status::from(crate::Error::Broker(e)))?;
    let mut counts = Vec::with_capacity(agencies.len());
    let asked = async {
        for (kind, code) in agencies {
            let queue = hub_bus::topology::AgencyQueue::new(kind, code).queue;
            let channel = hub_bus::reply::within("opening a channel", connection.create_channel())
                .await
                .map_err(|e| Status::from(crate::Error::Broker(e)))?;
            let declared = hub_bus::reply::within(
                "counting an agency's queue",
                channel.queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions {
                        // Only ask: never create a queue an adapter has not declared.
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                ),
            )
            .await;
            match declared {
                Ok(q) => {
                    counts.push(Some((q.message_count(), q.consumer_count())));
                    let _ = hub_bus::reply::within("closing", channel.close(200, "counted".into()))
                        .await;
                }
                // A channel error (NOT_FOUND): no adapter has declared the queue.
                Err(e) if e.is_amqp_soft_error() => counts.push(None),
                Err(e) => return Err(crate::Error::Broker(e).into()),
            }
        }
        Ok::<_, Status>(())
    }
    .await;
    let _ = hub_bus::reply::within("closing", connection.close(200, "done".into())).await;
    asked.map(|()| counts)
}

/// The ranking of `month` as the gateway's records stand at `now`.
pub async fn ranking(
    store: &Store,
    deadlines: &AnswerDeadlines,
    month: RankingMonth,
    now: OffsetDateTime,
) -> Result<pb::RankingResponse, crate::Error> {
    let mut agencies: Vec<pb::AgencyRanking> = store
        .agency_month(month.from, month.until, deadlines)
        .await?
        .into_iter()
        .map(agency_ranking)
        .collect();
    agencies.sort_by(|a, b| {
        b.on_time_rate_bp
            .cmp(&a.on_time_rate_bp)
            .then(b.measures.cmp(&a.measures))
            .then_with(|| a.agency_kind.cmp(&b.agency_kind))
            .then_with(|| a.agency_code.cmp(&b.agency_code))
    });
    let (courts, cases) = store.court_month(month.from, month.until).await?;
    let mut courts: Vec<pb::CourtRanking> = courts
        .into_iter()
        .map(|c| court_ranking(c, &cases))
        .collect();
    courts.sort_by(|a, b| {
        b.effective_rate_bp
            .cmp(&a.effective_rate_bp)
            .then(b.measures.cmp(&a.measures))
            .then_with(|| a.court_code.cmp(&b.court_code))
    });
    Ok(pb::RankingResponse {
        month: month.name(),
        from: Some(timestamp(month.from)),
        until: Some(timestamp(month.until)),
        agencies,
        courts,
        at: Some(timestamp(now)),
    })
}

fn agency_ranking(mut a: AgencyMonth) -> pb::AgencyRanking {
    pb::AgencyRanking {
        on_time_rate_bp: basis_points(a.on_time, a.measures),
        median_response_ms: percentile(&mut a.response_ms, 50),
        agency_kind: a.agency_kind,
        agency_code: a.agency_code,
        measures: a.measures,
        on_time: a.on_time,
        late: a.late,
        unanswered: a.unanswered,
        rejected: a.rejected,
        failed: a.failed,
    }
}

/// A court's figures, with the ledgers of its cases opened in the month.
fn court_ranking(c: CourtMonth, cases: &[crate::store::figures::CaseMonth]) -> pb::CourtRanking {
    let mut ranking = pb::CourtRanking {
        effective_rate_bp: basis_points(c.effective, c.measures),
        court_code: c.court_code,
        measures: c.measures,
        effective: c.effective,
        rejected: c.rejected,
        ..pb::CourtRanking::default()
    };
    for case in cases.iter().filter(|k| k.court_code == ranking.court_code) {
        let ledger = Ledger::of(case.enforcement_fen, &case.measures);
        ranking.cases += 1;
        ranking.enforcement_fen += case.enforcement_fen;
        ranking.frozen_fen += ledger.totals.frozen;
        ranking.deducted_fen += ledger.totals.deducted;
    }
    ranking.secured_fen = ranking.frozen_fen + ranking.deducted_fen;
    ranking.secured_rate_bp = basis_points(ranking.secured_fen, ranking.enforcement_fen);
    ranking
}

/// Refuses a month that is not one, naming the field and the rule.
pub fn month(raw: &str) -> Result<RankingMonth, Status> {
    RankingMonth::parse(raw).map_err(|rule| crate::validate::invalid("month", rule))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_month_runs_from_midnight_in_china_which_is_four_pm_utc_the_day_before()
    -> Result<(), String> {
        let m = RankingMonth::parse("2026-11")?;
        assert_eq!(m.from, datetime!(2026-10-31 16:00 UTC));
        assert_eq!(m.until, datetime!(2026-11-30 16:00 UTC));
        assert_eq!(m.name(), "2026-11");
        Ok(())
    }

    #[test]
    fn december_ends_in_the_next_year_and_february_knows_leap_years() -> Result<(), String> {
        let d = RankingMonth::parse("2026-12")?;
        assert_eq!(d.until, datetime!(2026-12-31 16:00 UTC));
        let f = RankingMonth::parse("2028-02")?;
        assert_eq!(f.until - f.from, time::Duration::days(29));
        Ok(())
    }

    #[test]
    fn a_month_not_written_yyyy_mm_is_refused_with_the_rule() {
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-11",
            "2026/11",
            "",
            "2026-11-01",
            "１９９９-01",
        ] {
            assert!(RankingMonth::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(
            RankingMonth::parse("2026-13")
                .unwrap_err()
                .contains("01 to 12")
        );
        assert!(RankingMonth::parse("1999-01").unwrap_err().contains("2000"));
        assert!(RankingMonth::parse("nov").unwrap_err().contains("YYYY-MM"));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&mut [], 50), 0);
        assert_eq!(percentile(&mut [7], 95), 7);
        assert_eq!(percentile(&mut [40, 10, 30, 20], 50), 20);
        assert_eq!(percentile(&mut [50, 10, 40, 30, 20], 50), 30);
        let mut hundred: Vec<i64> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut hundred, 95), 95);
        assert_eq!(percentile(&mut hundred, 50), 50);
        let mut twenty: Vec<i64> = (1..=20).collect();
        assert_eq!(percentile(&mut twenty, 95), 19);
        assert_eq!(percentile(&mut twenty, 100), 20);
    }

    #[test]
    fn rates_are_basis_points_rounded_down_and_zero_over_nothing() {
        assert_eq!(basis_points(2, 3), 6666);
        assert_eq!(basis_points(3, 3), 10_000);
        assert_eq!(basis_points(0, 0), 0);
        assert_eq!(basis_points(5, 4), 12_500);
    }
}
