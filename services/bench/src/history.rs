//! (g) Flat as history grows: throughput and latency on a hub whose tables already hold many
//! finished measures, against the same runs on empty tables, both with the audit chain off (the
//! chain would otherwise spend the run linking the history; its cost is (d)'s).
//!
//! The history is made from the warm-up: its freezes, each in a case of its own, are copied
//! under new ids, keys and case numbers as released measures with their audit entries, as many
//! times as it takes, the n-th copy n days earlier (so that the history lies in the past, as
//! the figures of the last hour, day and month find it), in one transaction; then the tables
//! are analyzed, as a database that vacuums would have them.

use std::time::Instant;

use anyhow::Context;

use crate::{
    Args,
    stack::{Latency, Stack},
};

/// What one side of the comparison measured.
pub struct Side {
    pub throughput: f64,
    pub latency: Latency,
}

/// Both sides: on empty tables, and with `history` finished measures recorded before.
pub struct Flatness {
    pub history: u32,
    pub empty: Side,
    pub grown: Side,
}

/// What the issue asks: within a tenth of the empty tables' figures.
const TARGET_DRIFT: f64 = 0.10;

impl Flatness {
    pub fn print(&self, freezes: u32) {
        println!(
            "(g) flat as history grows: {freezes} freezes and the latency run, audit chain off, on empty tables and on {} finished measures:",
            self.history
        );
        let (empty, grown) = (&self.empty, &self.grown);
        println!(
            "      empty    {:>7.0} freezes/s   p99 {:>7.1} ms",
            empty.throughput, empty.latency.p99
        );
        println!(
            "      history  {:>7.0} freezes/s   p99 {:>7.1} ms",
            grown.throughput, grown.latency.p99
        );
        for hop in &grown.latency.hops {
            println!(
                "        {:<54} p50 {:>7.1} ms   p99 {:>7.1} ms",
                hop.name, hop.p50, hop.p99
            );
        }
        println!(
            "      history / empty: throughput {:.3}, p99 {:.3} (target within {:.0} %: both in [{:.2}, {:.2}])",
            grown.throughput / empty.throughput,
            grown.latency.p99 / empty.latency.p99,
            TARGET_DRIFT * 100.0,
            1.0 - TARGET_DRIFT,
            1.0 + TARGET_DRIFT
        );
    }
}

/// A UUID of version 7's layout made in SQL: the time in milliseconds, then random bits.
const NEW_ID: &str = "(lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::int8), 12, '0') \
     || '7' || substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid";

/// Runs both sides at `rate` freezes per second for the latency runs.
pub async fn compare(args: &Args, history: u32, rate: f64) -> anyhow::Result<Flatness> {
    let empty = side(args, 0, rate).await?;
    let grown = side(args, history, rate).await?;
    Ok(Flatness {
        history,
        empty,
        grown,
    })
}

async fn side(args: &Args, history: u32, rate: f64) -> anyhow::Result<Side> {
    let mut stack = Stack::start(args, false).await?;
    stack.run(args, args.warmup, "warm").await?;
    if history > 0 {
        let started = Instant::now();
        seed(&stack, history).await?;
        eprintln!(
            "history of {history} finished measures recorded in {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    let throughput = stack.run(args, args.freezes, "tp").await?;
    let latency = stack.latency_at(rate, args.latency_seconds).await?;
    stack.shutdown().await?;
    eprintln!(
        "history {history}: {throughput:.0} freezes/s, p99 {:.1} ms",
        latency.p99
    );
    Ok(Side {
        throughput,
        latency,
    })
}

/// Records `n` finished measures (rounded up to whole copies of the warm-up) with their cases
/// and audit entries.
async fn seed(stack: &Stack, n: u32) -> anyhow::Result<()> {
    let schema = stack.hub.gateway_schema();
    let mut tx = stack.hub.sandbox().pool().begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL search_path = {schema}"
    )))
    .execute(&mut *tx)
    .await?;
    let templates: i64 =
        sqlx::query_scalar("SELECT count(*) FROM measures WHERE state = 'effective'")
            .fetch_one(&mut *tx)
            .await?;
    anyhow::ensure!(templates > 0, "no warm-up freezes to copy");
    let copies = (i64::from(n) + templates - 1) / templates;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TEMP TABLE history ON COMMIT DROP AS \
         SELECT m.id AS template, g, {NEW_ID} AS id, {NEW_ID} AS instruction_id \
         FROM measures m, generate_series(1, $1::int8) g WHERE m.state = 'effective' \
         LIMIT $2"
    )))
    .bind(copies)
    .bind(i64::from(n))
    .execute(&mut *tx)
    .await?;
    let statements = [
        "INSERT INTO cases SELECT (jsonb_populate_record(c, jsonb_build_object( \
             'case_number', 'H' || h.g || '-' || c.case_number, \
             'opened_at', c.opened_at - h.g * interval '1 day', \
             'updated_at', c.updated_at - h.g * interval '1 day'))).* \
         FROM cases c JOIN (SELECT DISTINCT m.court_code, m.case_number, h.g FROM history h \
             JOIN measures m ON m.id = h.template) h \
           ON h.court_code = c.court_code AND h.case_number = c.case_number",
        "INSERT INTO measures SELECT (jsonb_populate_record(m, jsonb_build_object( \
             'id', h.id, 'instruction_id', h.instruction_id, \
             'idempotency_key', 'h' || h.g || '-' || m.idempotency_key, \
             'case_number', 'H' || h.g || '-' || m.case_number, 'state', 'released', \
             'submitted_at', m.submitted_at - h.g * interval '1 day', \
             'updated_at', m.updated_at - h.g * interval '1 day', \
             'deadline', m.deadline - h.g * interval '1 day', \
             'effective_at', m.effective_at - h.g * interval '1 day', \
             'expires_at', m.expires_at - h.g * interval '1 day'))).* \
         FROM history h JOIN measures m ON m.id = h.template",
        "INSERT INTO measure_events SELECT (jsonb_populate_record(e, jsonb_build_object( \
             'id', nextval(pg_get_serial_sequence('measure_events', 'id')), \
             'measure_id', h.id, 'case_number', 'H' || h.g || '-' || e.case_number, \
             'at', e.at - h.g * interval '1 day', \
             'recorded_at', e.recorded_at - h.g * interval '1 day'))).* \
         FROM history h JOIN measure_events e ON e.measure_id = h.template",
    ];
    for statement in statements {
        sqlx::query(statement)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("recording the history: {statement}"))?;
    }
    tx.commit().await?;
    for table in ["cases", "measures", "measure_events"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {schema}.{table}")))
            .execute(stack.hub.sandbox().pool())
            .await?;
    }
    Ok(())
}
