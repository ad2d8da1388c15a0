//! Tables vacuumed and their planner statistics kept current by the hub itself: this machine's
//! database runs with autovacuum off, and until a table is analyzed every session keeps the
//! plans it made while the table was empty.

use std::time::Duration;

use hub_testkit::Sandbox;
use sqlx::{Executor, PgConnection, PgPool};

/// Rows changed in `table` since its last analysis, once the sessions' counts have arrived.
async fn changed_since_analysis(
    pool: &PgPool,
    schema: &str,
    table: &str,
    at_least: i64,
) -> anyhow::Result<i64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let changed: i64 = sqlx::query_scalar(
            "SELECT n_mod_since_analyze FROM pg_stat_user_tables \
             WHERE schemaname = $1 AND relname = $2",
        )
        .bind(schema)
        .bind(table)
        .fetch_one(pool)
        .await?;
        if changed >= at_least || tokio::time::Instant::now() > deadline {
            return Ok(changed);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Inserts `n` rows of one court into `lookups` and sends the session's counts on.
async fn insert(conn: &mut PgConnection, from: i32, n: i32) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO lookups SELECT 'C1', 'key-' || i, 'case-' || (i % 7) \
         FROM generate_series($1::int, $2::int) i",
    )
    .bind(from)
    .bind(from + n - 1)
    .execute(&mut *conn)
    .await?;
    conn.execute("SELECT pg_stat_force_next_flush()").await?;
    Ok(())
}

#[tokio::test]
async fn a_table_grown_past_its_threshold_is_analyzed_and_one_emptied_vacuumed()
-> anyhow::Result<()> {
    let mut sandbox = Sandbox::database_only().await?;
    let schema = sandbox.schema("statistics");
    let pool =
        hub_runtime::postgres::connect(sandbox.database_url(), &schema, "statistics-test", 2)
            .await?;
    pool.execute(
        "CREATE TABLE lookups (court text NOT NULL, key text NOT NULL, case_number text NOT NULL, \
         UNIQUE (court, key))",
    )
    .await?;
    pool.execute("CREATE INDEX lookups_by_case ON lookups (court, case_number)")
        .await?;
    pool.execute("CREATE TABLE untouched (id int)").await?;
    let mut conn = pool.acquire().await?;

    // 400 rows: below the floor of 500 changes, left alone.
    insert(&mut conn, 1, 400).await?;
    assert_eq!(
        changed_since_analysis(&pool, &schema, "lookups", 400).await?,
        400
    );
    assert!(
        hub_runtime::postgres::maintain(&pool, &schema)
            .await?
            .is_empty()
    );

    // 600 more: past it; only that table is analyzed, and then counts as unchanged.
    insert(&mut conn, 401, 600).await?;
    assert_eq!(
        changed_since_analysis(&pool, &schema, "lookups", 1000).await?,
        1000
    );
    assert_eq!(
        hub_runtime::postgres::maintain(&pool, &schema).await?,
        vec![("lookups".to_string(), "ANALYZE".to_string())]
    );
    let (rows, analyzed): (f32, bool) = sqlx::query_as(
        "SELECT c.reltuples, s.last_analyze IS NOT NULL FROM pg_class c \
         JOIN pg_stat_user_tables s ON s.relid = c.oid \
         WHERE s.schemaname = $1 AND s.relname = 'lookups'",
    )
    .bind(&schema)
    .fetch_one(&pool)
    .await?;
    assert_eq!((rows, analyzed), (1000.0, true));
    assert_eq!(
        changed_since_analysis(&pool, &schema, "lookups", 0).await?,
        0
    );
    assert!(
        hub_runtime::postgres::maintain(&pool, &schema)
            .await?
            .is_empty()
    );

    // The plan made for all values of the key now looks the key up in its unique index.
    conn.execute("SET plan_cache_mode = force_generic_plan")
        .await?;
    conn.execute(
        "PREPARE lookup(text, text) AS SELECT key FROM lookups WHERE court = $1 AND key = $2",
    )
    .await?;
    let plan: Vec<String> = sqlx::query_scalar("EXPLAIN EXECUTE lookup('C1', 'key-7')")
        .fetch_all(&mut *conn)
        .await?;
    let plan = plan.join("\n");
    assert!(plan.contains("lookups_court_key_key"), "{plan}");
    assert!(plan.contains("key = $2"), "{plan}");
    conn.execute("DEALLOCATE lookup").await?;

    // Every row deleted: dead, and changed since the analysis; vacuumed and analyzed at once.
    conn.execute("DELETE FROM lookups").await?;
    conn.execute("SELECT pg_stat_force_next_flush()").await?;
    assert_eq!(
        changed_since_analysis(&pool, &schema, "lookups", 1000).await?,
        1000
    );
    assert_eq!(
        hub_runtime::postgres::maintain(&pool, &schema).await?,
        vec![("lookups".to_string(), "VACUUM (ANALYZE)".to_string())]
    );
    let (dead, vacuumed): (i64, bool) = sqlx::query_as(
        "SELECT n_dead_tup, last_vacuum IS NOT NULL FROM pg_stat_user_tables \
         WHERE schemaname = $1 AND relname = 'lookups'",
    )
    .bind(&schema)
    .fetch_one(&pool)
    .await?;
    assert_eq!((dead, vacuumed), (0, true));
    drop(conn);
    pool.close().await;
    sandbox.remove().await?;
    Ok(())
}
