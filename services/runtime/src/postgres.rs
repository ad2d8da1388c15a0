//! A PostgreSQL pool confined to one schema.
//!
//! Each service keeps its tables in a schema of its own (the gateway's, each reference agency's),
//! created on first start; tests give every run fresh schemas the same way.

use std::{future::Future, pin::Pin, time::Duration};

use anyhow::Context;
use sqlx::{
    Connection, Executor, PgConnection, PgPool,
    pool::PoolConnectionMetadata,
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// How long a connection may have sat idle in the pool and still be handed out untested.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// Tests a connection before use only if it sat idle: the pool tests each one as it comes back
/// (a round trip), so testing a busy one again on the way out would be a second round trip per
/// use, on the request's path; one that waited a while may have lost its server (a restart).
fn ping_if_idle(
    conn: &mut PgConnection,
    meta: PoolConnectionMetadata,
) -> Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        if meta.idle_for >= IDLE_BEFORE_PING {
            conn.ping().await?;
        }
        Ok(true)
    })
}

/// Connects to `url` with `schema` as the search path, creating the schema if needed.
pub async fn connect(
    url: &str,
    schema: &str,
    application: &str,
    max_connections: u32,
) -> anyhow::Result<PgPool> {
    anyhow::ensure!(
        valid_schema(schema),
        "database schema {schema:?} must be 1 to 40 characters of a-z, 0-9 and _, starting with a letter"
    );
    let options: PgConnectOptions = url.parse().context("parsing the database URL")?;
    let options = options
        .options([("search_path", schema)])
        .application_name(application);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections.max(2))
        .test_before_acquire(false)
        .before_acquire(ping_if_idle)
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")?;
    // The name was checked above to be a plain identifier.
    pool.execute(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .await
    .with_context(|| format!("creating schema {schema}"))?;
    Ok(pool)
}

/// Rows a table may change (or leave dead), beyond a tenth (a fifth) of its size, before
/// [`keep_tables`] analyzes (vacuums) it again: autovacuum's rules, with a floor that leaves
/// small tables alone.
const MAINTAIN_AFTER: i64 = 500;

/// Keeps `schema`'s tables vacuumed and their planner statistics current until `shutdown`:
/// every `every`, [`maintain`].
///
/// Autovacuum does the same where it runs, but a database may have it off, and then nothing
/// else does: until a table is first analyzed every session keeps the generic plans it made
/// while the table was empty (a lookup by a unique key then walks an index of the whole court's
/// measures, and each Submit costs more than the last), and every updated or deleted row stays
/// behind in the table and its indexes. An analysis replaces those plans everywhere (it
/// invalidates them); a vacuum makes the space of dead rows reusable.
pub async fn keep_tables(
    pool: PgPool,
    schema: String,
    every: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        match maintain(&pool, &schema).await {
            Ok(done) => {
                for (table, what) in done {
                    tracing::debug!(schema, table, what, "table maintained");
                }
            }
            Err(e) => tracing::warn!(error = %e, schema, "maintaining the tables failed"),
        }
    }
}

/// Vacuums the tables of `schema` with more dead rows than [`MAINTAIN_AFTER`] plus a fifth of
/// their size, and analyzes those changed by more than it plus a tenth since their last
/// analysis; returns each table so treated with what was done (`VACUUM`, `ANALYZE` or
/// `VACUUM (ANALYZE)`), by name.
pub async fn maintain(pool: &PgPool, schema: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    let due: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT relname, format('%I.%I', schemaname, relname), \
             CASE WHEN dead AND changed THEN 'VACUUM (ANALYZE)' \
                  WHEN dead THEN 'VACUUM' ELSE 'ANALYZE' END \
         FROM (SELECT s.relname::text, s.schemaname, \
                   s.n_dead_tup > $2 + 0.2 * GREATEST(c.reltuples, 0) AS dead, \
                   s.n_mod_since_analyze > $2 + 0.1 * GREATEST(c.reltuples, 0) AS changed \
               FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
               WHERE s.schemaname = $1) t \
         WHERE dead OR changed ORDER BY relname",
    )
    .bind(schema)
    .bind(MAINTAIN_AFTER)
    .fetch_all(pool)
    .await?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    // Paced as autovacuum paces itself (its cost delay and limit), so that a large table's turn
    // spreads over seconds instead of taking a core at once from the requests being served.
    let mut conn = pool.acquire().await?;
    conn.execute("SET vacuum_cost_delay = '2ms'; SET vacuum_cost_limit = 200")
        .await?;
    let mut done = Ok(());
    for (_, qualified, what) in &due {
        // The name is the catalog's own, quoted by format('%I'); the command one of three.
        done = conn
            .execute(sqlx::AssertSqlSafe(format!("{what} {qualified}")))
            .await
            .map(drop);
        if done.is_err() {
            break;
        }
    }
    // The pool's next user must not inherit the pacing, whatever happened.
    let reset = conn
        .execute("RESET vacuum_cost_delay; RESET vacuum_cost_limit")
        .await;
    done?;
    reset?;
    Ok(due
        .into_iter()
        .map(|(name, _, what)| (name, what))
        .collect())
}

/// Drops `schema` and everything in it, first ending every other session that holds a lock in
/// it: a drop must not wait forever behind a transaction whose task will never run again (a test
/// runtime blocked in the very destructor that drops the schema, a killed process's session).
pub async fn drop_schema(pool: &PgPool, schema: &str) -> anyhow::Result<()> {
    anyhow::ensure!(valid_schema(schema), "refusing to drop {schema:?}");
    sqlx::query(
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
         JOIN pg_class c ON c.oid = l.relation \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND l.pid <> pg_backend_pid() \
         GROUP BY l.pid",
    )
    .bind(schema)
    .execute(pool)
    .await
    .with_context(|| format!("ending sessions in schema {schema}"))?;
    // The name was checked above to be a plain identifier.
    pool.execute(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .await
    .with_context(|| format!("dropping schema {schema}"))?;
    Ok(())
}

/// Whether `schema` is a plain lower-case identifier (safe to splice into DDL).
pub fn valid_schema(schema: &str) -> bool {
    !schema.is_empty()
        && schema.len() <= 40
        && schema.starts_with(|c: char| c.is_ascii_lowercase())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_identifiers_are_schemas() {
        assert!(valid_schema("gateway"));
        assert!(valid_schema("t_1700000000_ab12"));
        assert!(!valid_schema(""));
        assert!(!valid_schema("1abc"));
        assert!(!valid_schema("gw; DROP TABLE x"));
        assert!(!valid_schema("Gateway"));
    }
}
