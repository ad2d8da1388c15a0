//! Where a latency run's time goes: each hop of its freezes, from the times the hub recorded
//! (the gateway's audit entries, the adapter's signed delivery and answer times), and at either
//! end the court's own: when it called Submit and when its watch stream showed the measure
//! EFFECTIVE (the same clock: the benchmark runs on the hub's machine).

use hub_testkit::TestHub;
use time::OffsetDateTime;

/// One hop's median and 99th percentile, in milliseconds.
pub struct Hop {
    pub name: String,
    pub p50: f64,
    pub p99: f64,
}

/// When the court saw one freeze begin and end: Submit called, EFFECTIVE on its watch stream.
pub struct Ends {
    pub measure_id: String,
    pub called: OffsetDateTime,
    pub seen: OffsetDateTime,
}

/// The hops of the freezes recorded under `keys`, in the order a freeze crosses them, from the
/// court's call to what its watch stream showed (`ends`).
pub async fn of(hub: &TestHub, keys: &[String], ends: &[Ends]) -> anyhow::Result<Vec<Hop>> {
    let rows: Vec<(String, f64, f64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH t AS ( \
             SELECT c.called, c.seen, m.submitted_at AS recorded, \
                 (SELECT min(e.at) FROM {s}.measure_events e \
                     WHERE e.measure_id = m.id AND e.state = 'dispatched') AS dispatched, \
                 r.delivered_at AS delivered, r.answered_at AS answered, \
                 (SELECT min(e.at) FROM {s}.measure_events e \
                     WHERE e.measure_id = m.id AND e.state = 'effective') AS effective \
             FROM {s}.measures m \
             LEFT JOIN {s}.report_measures rm ON rm.measure_id = m.id \
             LEFT JOIN {s}.report_receipts r ON r.report_id = rm.report_id \
             LEFT JOIN UNNEST($2::text[], $3::timestamptz[], $4::timestamptz[]) \
                 AS c(measure_id, called, seen) ON c.measure_id::uuid = m.id \
             WHERE m.idempotency_key = ANY($1)), \
         hops AS ( \
             SELECT 0 AS n, 'Submit called → recorded' AS hop, recorded - called AS took FROM t \
             UNION ALL SELECT 1, 'Submit recorded → instruction confirmed by the broker', \
                 dispatched - recorded FROM t \
             UNION ALL SELECT 2, 'confirmed → at the adapter', delivered - dispatched FROM t \
             UNION ALL SELECT 3, 'at the adapter → the bank''s answer', answered - delivered FROM t \
             UNION ALL SELECT 4, 'answer → applied by the gateway', effective - answered FROM t \
             UNION ALL SELECT 5, 'applied → seen on the court''s watch stream', seen - effective \
                 FROM t) \
         SELECT hop, \
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM took)) * 1000, \
             percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM took)) * 1000 \
         FROM hops WHERE took IS NOT NULL GROUP BY n, hop ORDER BY n",
        s = hub.gateway_schema()
    )))
    .bind(keys)
    .bind(ends.iter().map(|e| e.measure_id.as_str()).collect::<Vec<_>>())
    .bind(ends.iter().map(|e| e.called).collect::<Vec<_>>())
    .bind(ends.iter().map(|e| e.seen).collect::<Vec<_>>())
    .fetch_all(hub.sandbox().pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, p50, p99)| Hop { name, p50, p99 })
        .collect())
}
