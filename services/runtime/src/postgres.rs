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
