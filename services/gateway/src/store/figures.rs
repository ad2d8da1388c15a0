//! What operators' figures are counted from: the measures sent to each agency with when they
//! were published and first answered, the courts' measures of a month, and the cases a month
//! opened with their measures for the ledger.
//!
//! A measure's publication is its audit entry that made it `dispatched` (the broker confirmed
//! the instruction), or its submission when it has none (the answer was applied before the
//! confirm); its first answer is its first audit entry in an answered state. An inquiry counts
//! once per agency asked (`inquiry_answers`). Measures the hub refused as addressed to no
//! connected agency (`UNKNOWN_AGENCY`) were never sent and are left out everywhere.

use std::{collections::BTreeMap, sync::LazyLock};

use enforcement_proto::v1 as pb;
use hub_domain::{MeasureKind, MeasureState};
use time::OffsetDateTime;

use super::{MeasureRow, Store, states_where};
use crate::{Error, overdue::AnswerDeadlines};

/// The states an agency's answer puts a measure in (its first such audit entry is its answer).
fn is_answer(state: MeasureState) -> bool {
    use MeasureState::*;
    matches!(
        state,
        Effective | Partial | Waiting | Rejected | Failed | Released | Deducted
    )
}

static ANSWERED: LazyLock<String> = LazyLock::new(|| states_where(is_answer));

/// The states of measures sent and not answered yet.
static IN_FLIGHT: LazyLock<String> = LazyLock::new(|| {
    states_where(|s| matches!(s, MeasureState::Dispatched | MeasureState::Delivered))
});

/// The measures sent to agencies that pass `measures_where` (on `m`, a measure, and `a`, its
/// first answer) and the inquiries' agencies asked that pass `inquiries_where` (on `m` and `q`,
/// the agency's row of `inquiry_answers`), with their publication and first answer: a `FROM`
/// fragment named `sent`, columns `agency_kind, agency_code, kind, published_at, answered_at,
/// answer` (the state of the first answer; for an inquiry, `rejected` for a refusal and
/// `effective` for an answer).
fn sent(measures_where: &str, inquiries_where: &str) -> String {
    let published = format!(
        "LEFT JOIN LATERAL (SELECT e.at FROM measure_events e \
             WHERE e.measure_id = m.id AND e.state = '{}' ORDER BY e.id LIMIT 1) p ON true",
        MeasureState::Dispatched.as_str()
    );
    format!(
        "(SELECT m.agency_kind, m.agency_code, m.kind, \
             COALESCE(p.at, m.submitted_at) AS published_at, a.at AS answered_at, a.state AS answer \
         FROM measures m {published} \
         LEFT JOIN LATERAL (SELECT e.at, e.state FROM measure_events e \
             WHERE e.measure_id = m.id AND e.state IN ({answered}) ORDER BY e.id LIMIT 1) a ON true \
         WHERE m.kind <> '{inquiry}' AND m.reason_code <> {unknown} AND {measures_where} \
         UNION ALL \
         SELECT m.agency_kind, q.agency_code, m.kind, COALESCE(p.at, m.submitted_at), \
             q.answered_at, \
             CASE q.state WHEN 'refused' THEN '{rejected}' WHEN 'answered' THEN '{effective}' END \
         FROM measures m JOIN inquiry_answers q ON q.measure_id = m.id {published} \
         WHERE m.kind = '{inquiry}' AND {inquiries_where}) sent",
        answered = *ANSWERED,
        inquiry = MeasureKind::Inquiry.as_str(),
        unknown = pb::ReasonCode::UnknownAgency as i32,
        rejected = MeasureState::Rejected.as_str(),
        effective = MeasureState::Effective.as_str(),
    )
}

/// What was submitted in `[$1, $2)`.
static SENT_IN_MONTH: LazyLock<String> = LazyLock::new(|| {
    sent(
        "m.submitted_at >= $1 AND m.submitted_at < $2",
        "m.submitted_at >= $1 AND m.submitted_at < $2",
    )
});

/// What is sent and not answered yet.
static SENT_IN_FLIGHT: LazyLock<String> = LazyLock::new(|| {
    sent(
        &format!("m.state IN ({})", *IN_FLIGHT),
        &format!("q.state = 'pending' AND m.state IN ({})", *IN_FLIGHT),
    )
});

/// What was first answered since `$1` (the measures with an answer since then, of which the
/// first answer is since then).
static ANSWERED_SINCE: LazyLock<String> = LazyLock::new(|| {
    sent(
        &format!(
            "m.id IN (SELECT e.measure_id FROM measure_events e \
                 WHERE e.at >= $1 AND e.state IN ({})) AND a.at >= $1",
            *ANSWERED
        ),
        "q.answered_at >= $1 AND q.state <> 'pending'",
    )
});

/// One agency's measures of a month.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, Eq)]
pub struct AgencyMonth {
    pub agency_kind: String,
    pub agency_code: String,
    /// Sent in the month (submitted in it).
    pub measures: i64,
    /// Answered within the response deadline, after it, not at all yet.
    pub on_time: i64,
    pub late: i64,
    pub unanswered: i64,
    /// First answers that were refusals and failures.
    pub rejected: i64,
    pub failed: i64,
    /// Every answered measure's response time, in milliseconds.
    pub response_ms: Vec<i64>,
}

/// One court's measures of a month.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, Eq)]
pub struct CourtMonth {
    pub court_code: String,
    pub measures: i64,
    /// Ever effective or partial.
    pub effective: i64,
    /// Rejected now.
    pub rejected: i64,
}

/// A case opened in the month, with its measures.
#[derive(Debug, Clone)]
pub struct CaseMonth {
    pub court_code: String,
    pub case_number: String,
    pub enforcement_fen: i64,
    pub measures: Vec<MeasureRow>,
}

/// An agency's answers in a window ending now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    pub answered: i64,
    pub failed: i64,
    pub rejected: i64,
    pub response_ms: Vec<i64>,
}

/// An agency in the registry, with what it has not answered.
#[derive(sqlx::FromRow, Debug, Clone, PartialEq, Eq)]
pub struct AgencyNow {
    pub kind: String,
    pub code: String,
    pub last_seen: OffsetDateTime,
    pub in_flight: i64,
    pub oldest_waiting: Option<OffsetDateTime>,
}

/// The response time of a sent row, in milliseconds.
const RESPONSE_MS: &str = "(EXTRACT(EPOCH FROM (answered_at - published_at)) * 1000)::bigint";

impl Store {
    /// Per agency, the measures submitted in `[from, until)` and how they were answered against
    /// `deadlines`.
    pub async fn agency_month(
        &self,
        from: OffsetDateTime,
        until: OffsetDateTime,
        deadlines: &AnswerDeadlines,
    ) -> Result<Vec<AgencyMonth>, Error> {
        let (agencies, kinds, secs) = deadlines.table();
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT agency_kind, agency_code, count(*) AS measures, \
                 count(*) FILTER (WHERE answered_at IS NOT NULL AND {RESPONSE_MS} <= d.secs * 1000) AS on_time, \
                 count(*) FILTER (WHERE answered_at IS NOT NULL AND {RESPONSE_MS} > d.secs * 1000) AS late, \
                 count(*) FILTER (WHERE answered_at IS NULL) AS unanswered, \
                 count(*) FILTER (WHERE answer = '{rejected}') AS rejected, \
                 count(*) FILTER (WHERE answer = '{failed}') AS failed, \
                 COALESCE(array_agg({RESPONSE_MS}) FILTER (WHERE answered_at IS NOT NULL), '{{}}') \
                     AS response_ms \
             FROM {sent} \
             LEFT JOIN UNNEST($3::text[], $4::text[], $5::int8[]) AS d(agency, kind, secs) \
                 ON d.agency = sent.agency_kind AND d.kind = sent.kind \
             GROUP BY agency_kind, agency_code ORDER BY agency_kind, agency_code",
                sent = *SENT_IN_MONTH,
                rejected = MeasureState::Rejected.as_str(),
                failed = MeasureState::Failed.as_str(),
            )
        });
        Ok(sqlx::query_as(SQL.as_str())
            .bind(from)
            .bind(until)
            .bind(&agencies)
            .bind(&kinds)
            .bind(&secs)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Per court, the measures submitted in `[from, until)`; and the cases opened then, with
    /// their measures.
    pub async fn court_month(
        &self,
        from: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(Vec<CourtMonth>, Vec<CaseMonth>), Error> {
        static COURTS: LazyLock<String> = LazyLock::new(|| {
            format!(
                "WITH month AS ( \
                     SELECT m.court_code, m.state, EXISTS (SELECT 1 FROM measure_events e \
                         WHERE e.measure_id = m.id AND e.state IN ({in_force})) AS took_effect \
                     FROM measures m \
                     WHERE m.submitted_at >= $1 AND m.submitted_at < $2 AND m.reason_code <> {unknown}), \
                 opened AS (SELECT DISTINCT court_code FROM cases WHERE opened_at >= $1 AND opened_at < $2) \
                 SELECT c.court_code, count(month.court_code) AS measures, \
                     count(*) FILTER (WHERE month.took_effect) AS effective, \
                     count(*) FILTER (WHERE month.state = '{rejected}') AS rejected \
                 FROM (SELECT court_code FROM month UNION SELECT court_code FROM opened) c \
                 LEFT JOIN month ON month.court_code = c.court_code \
                 GROUP BY c.court_code ORDER BY c.court_code",
                in_force = *super::IN_FORCE,
                unknown = pb::ReasonCode::UnknownAgency as i32,
                rejected = MeasureState::Rejected.as_str(),
            )
        });
        let courts = sqlx::query_as(COURTS.as_str())
            .bind(from)
            .bind(until)
            .fetch_all(&self.pool)
            .await?;
        let opened: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT court_code, case_number, enforcement_amount_fen FROM cases \
             WHERE opened_at >= $1 AND opened_at < $2 ORDER BY court_code, case_number",
        )
        .bind(from)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        let rows: Vec<MeasureRow> = sqlx::query_as(concat!(
            "SELECT ",
            measure_columns!(),
            " FROM measures WHERE (court_code, case_number) IN (SELECT court_code, case_number \
                 FROM cases WHERE opened_at >= $1 AND opened_at < $2) ORDER BY id"
        ))
        .bind(from)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        let mut by_case: BTreeMap<(String, String), Vec<MeasureRow>> = BTreeMap::new();
        for row in rows {
            by_case
                .entry((row.court_code.clone(), row.case_number.clone()))
                .or_default()
                .push(row);
        }
        let cases = opened
            .into_iter()
            .map(|(court_code, case_number, enforcement_fen)| CaseMonth {
                measures: by_case
                    .remove(&(court_code.clone(), case_number.clone()))
                    .unwrap_or_default(),
                court_code,
                case_number,
                enforcement_fen,
            })
            .collect();
        Ok((courts, cases))
    }

    /// Every agency in the registry with what it has been sent and not answered.
    pub async fn agencies_now(&self) -> Result<Vec<AgencyNow>, Error> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT a.kind, a.code, a.last_seen, count(sent.agency_code) AS in_flight, \
                 min(sent.published_at) AS oldest_waiting \
             FROM agencies a LEFT JOIN {sent} \
                 ON sent.agency_kind = a.kind AND sent.agency_code = a.code \
             GROUP BY a.kind, a.code, a.last_seen ORDER BY a.kind, a.code",
                sent = *SENT_IN_FLIGHT,
            )
        });
        Ok(sqlx::query_as(SQL.as_str()).fetch_all(&self.pool).await?)
    }

    /// How many measures were submitted since `since` (by `measures_by_submission`).
    pub async fn submitted_since(&self, since: OffsetDateTime) -> Result<i64, Error> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM measures WHERE submitted_at >= $1")
                .bind(since)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Per agency (kind, code), the first answers given since `since`.
    pub async fn answers_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<BTreeMap<(String, String), Window>, Error> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT agency_kind, agency_code, count(*), \
                 count(*) FILTER (WHERE answer = '{failed}'), \
                 count(*) FILTER (WHERE answer = '{rejected}'), \
                 array_agg({RESPONSE_MS}) \
             FROM {sent} GROUP BY agency_kind, agency_code",
                sent = *ANSWERED_SINCE,
                rejected = MeasureState::Rejected.as_str(),
                failed = MeasureState::Failed.as_str(),
            )
        });
        let rows: Vec<(String, String, i64, i64, i64, Vec<i64>)> = sqlx::query_as(SQL.as_str())
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(kind, code, answered, failed, rejected, response_ms)| {
                (
                    (kind, code),
                    Window {
                        answered,
                        failed,
                        rejected,
                        response_ms,
                    },
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_what_an_agency_says_not_what_the_hub_decides() {
        assert_eq!(
            *ANSWERED,
            "'effective', 'partial', 'waiting', 'rejected', 'failed', 'released', 'deducted'"
        );
        assert_eq!(*IN_FLIGHT, "'dispatched', 'delivered'");
    }

    #[test]
    fn the_partial_indexes_match_the_lists_in_the_queries() {
        let migration = include_str!("../../migrations/0024_figures.sql");
        assert!(migration.contains(&format!("WHERE state IN ({})", *ANSWERED)));
        assert!(migration.contains(&format!("WHERE state IN ({})", *IN_FLIGHT)));
    }
}
