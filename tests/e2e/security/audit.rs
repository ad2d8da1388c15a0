//! The tamper-evident audit log: with the triggers out of the way (as the database's owner can
//! do), changing, deleting, swapping or truncating audit entries is caught by the hash chain,
//! which names the first broken entry; untouched, the chain is whole and as long as the log.

use std::time::Duration;

use enforcement_proto::v1 as pb;
use hub_testkit::{
    TestHub, eventually,
    fixtures::{self, Freeze},
};

const COURT: &str = "京0105";

/// The measures' chain as verified now.
async fn measure_chain(hub: &TestHub) -> anyhow::Result<pb::AuditChain> {
    let mut ops = hub.ops().await?;
    let chains = ops
        .verify_audit(pb::VerifyAuditRequest {})
        .await?
        .into_inner()
        .chains;
    chains
        .into_iter()
        .find(|c| c.source == "measure_events")
        .ok_or_else(|| anyhow::anyhow!("no measure_events chain"))
}

/// Runs `sql` (with `{s}` for the gateway's schema) as the superuser, with triggers off.
async fn tamper(hub: &TestHub, sql: &str) -> anyhow::Result<()> {
    let mut tx = hub.sandbox().pool().begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    for statement in sql.replace("{s}", hub.gateway_schema()).split(';') {
        if !statement.trim().is_empty() {
            sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn audit_verify_names_the_first_entry_altered_removed_swapped_or_truncated()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    for n in 1..=3u32 {
        let id = fixtures::resident_id(40 + n);
        let account = fixtures::account_number(40 + n);
        hub.open_account("ICBC", &account, "张三", &id, 2_000_000)
            .await?;
        let m = hub
            .freeze(
                Freeze::of(1_000_000)
                    .at("ICBC", &account)
                    .held_by("张三", &id)
                    .by(COURT)
                    .case(40 + n)
                    .key(&format!("audit-{n}")),
            )
            .await?;
        hub.wait_for_state(COURT, &m.measure_id, pb::MeasureState::Effective)
            .await?;
    }
    let logged = hub.gateway_rows("measure_events").await?;
    assert!(
        logged >= 9,
        "three freezes leave at least three entries each: {logged}"
    );
    let whole = eventually("every entry chained", Duration::from_secs(30), || async {
        let chain = measure_chain(&hub).await?;
        Ok((chain.intact && chain.length == logged).then_some(chain))
    })
    .await?;
    assert_eq!(whole.entries, logged);
    assert_eq!(whole.head.len(), 64);

    let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM {}.measure_events ORDER BY id",
        hub.gateway_schema()
    )))
    .fetch_all(hub.sandbox().pool())
    .await?;

    // One entry changed.
    let altered = ids[1];
    tamper(
        &hub,
        &format!("UPDATE {{s}}.measure_events SET message = message || ' ' WHERE id = {altered}"),
    )
    .await?;
    let chain = measure_chain(&hub).await?;
    assert!(!chain.intact);
    assert_eq!(chain.broken_entry_id, altered);
    assert!(chain.problem.contains("altered"), "{}", chain.problem);
    tamper(
        &hub,
        &format!(
            "UPDATE {{s}}.measure_events SET message = left(message, -1) WHERE id = {altered}"
        ),
    )
    .await?;
    assert!(
        measure_chain(&hub).await?.intact,
        "restored exactly, the chain is whole again"
    );

    // One entry deleted.
    let removed = ids[2];
    tamper(
        &hub,
        &format!(
            "CREATE TABLE {{s}}.kept AS SELECT * FROM {{s}}.measure_events WHERE id = {removed}; \
         DELETE FROM {{s}}.measure_events WHERE id = {removed}"
        ),
    )
    .await?;
    let chain = measure_chain(&hub).await?;
    assert_eq!((chain.intact, chain.broken_entry_id), (false, removed));
    assert!(chain.problem.contains("removed"), "{}", chain.problem);
    tamper(
        &hub,
        "INSERT INTO {s}.measure_events SELECT * FROM {s}.kept",
    )
    .await?;
    assert!(measure_chain(&hub).await?.intact);

    // Two entries swapped.
    let (a, b) = (ids[3], ids[5]);
    let swap = format!(
        "UPDATE {{s}}.measure_events AS e SET message = o.message, snapshot = o.snapshot, \
             state = o.state, version = o.version \
         FROM {{s}}.measure_events AS o WHERE (e.id, o.id) IN (({a}, {b}), ({b}, {a}))"
    );
    tamper(&hub, &swap).await?;
    let chain = measure_chain(&hub).await?;
    assert_eq!((chain.intact, chain.broken_entry_id), (false, a));
    tamper(&hub, &swap).await?;
    assert!(measure_chain(&hub).await?.intact);

    // The triggers dropped, then the whole log truncated.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP TRIGGER measure_events_no_truncate ON {0}.measure_events; ",
        hub.gateway_schema()
    )))
    .execute(hub.sandbox().pool())
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "TRUNCATE {}.measure_events",
        hub.gateway_schema()
    )))
    .execute(hub.sandbox().pool())
    .await?;
    let chain = measure_chain(&hub).await?;
    assert_eq!(
        (chain.intact, chain.broken_seq, chain.broken_entry_id),
        (false, 1, ids[0])
    );
    assert!(chain.problem.contains("removed"), "{}", chain.problem);
    hub.shutdown().await
}
