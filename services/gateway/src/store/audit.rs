//! The audit chain's statements (`audit_chain`): chaining the entries of `measure_events` and
//! `case_events` as [`crate::audit`] defines, and reading the chain back to verify it.

use std::time::Duration;

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Store;
use crate::audit::{Canonical, Source, StoredLink, link};

/// What one chaining round did.
#[derive(Debug, Default)]
pub struct ChainRound {
    /// Entries chained.
    pub chained: usize,
    /// Ids missing from the order and given up on (rolled back, or still to come late).
    pub skipped: Vec<i64>,
    /// Of the skipped ids asked about, those found and chained now.
    pub chained_late: Vec<i64>,
}

/// An entry's id, digest, and whether it was written longer ago than the grace.
type Digested = (i64, Vec<u8>, bool);

/// Reads entries of `source` (`WHERE` clause `filter`, `$1` its argument, `$2` the grace in
/// seconds) with their digests, in id order.
async fn entries(
    conn: &mut PgConnection,
    source: Source,
    filter: &str,
    ids: &[i64],
    after: i64,
    limit: i64,
    grace: Duration,
) -> Result<Vec<Digested>, sqlx::Error> {
    let settled = "(clock_timestamp() - recorded_at) > make_interval(secs => $2)";
    let grace = grace.as_secs_f64();
    match source {
        Source::MeasureEvents => {
            type Row = (
                i64,
                Uuid,
                String,
                String,
                i64,
                i32,
                String,
                String,
                Vec<u8>,
                OffsetDateTime,
                Option<Vec<u8>>,
                OffsetDateTime,
                bool,
            );
            let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, measure_id, court_code, case_number, version, kind, state, message, \
                     snapshot, at, detail, recorded_at, {settled} \
                 FROM measure_events WHERE {filter} ORDER BY id LIMIT $4"
            )))
            .bind(ids)
            .bind(grace)
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows
                .into_iter()
                .map(|r| {
                    let mut c = Canonical::of(source);
                    c.int(r.0)
                        .uuid(r.1)
                        .text(&r.2)
                        .text(&r.3)
                        .int(r.4)
                        .int(i64::from(r.5))
                        .text(&r.6)
                        .text(&r.7)
                        .bytes(&r.8)
                        .time(r.9)
                        .opt(r.10.as_deref(), |c, v| {
                            c.bytes(v);
                        })
                        .time(r.11);
                    (r.0, c.digest(), r.12)
                })
                .collect())
        }
        Source::CaseEvents => {
            type Row = (
                i64,
                String,
                String,
                i64,
                i32,
                String,
                Vec<u8>,
                Option<Vec<u8>>,
                Option<Uuid>,
                Option<String>,
                Option<Vec<u8>>,
                OffsetDateTime,
                OffsetDateTime,
                bool,
            );
            let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, court_code, case_number, version, kind, message, snapshot, \
                     order_snapshot, measure_id, idempotency_key, request, at, recorded_at, \
                     {settled} \
                 FROM case_events WHERE {filter} ORDER BY id LIMIT $4"
            )))
            .bind(ids)
            .bind(grace)
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows
                .into_iter()
                .map(|r| {
                    let mut c = Canonical::of(source);
                    c.int(r.0)
                        .text(&r.1)
                        .text(&r.2)
                        .int(r.3)
                        .int(i64::from(r.4))
                        .text(&r.5)
                        .bytes(&r.6)
                        .opt(r.7.as_deref(), |c, v| {
                            c.bytes(v);
                        })
                        .opt(r.8, |c, v| {
                            c.uuid(v);
                        })
                        .opt(r.9.as_deref(), |c, v| {
                            c.text(v);
                        })
                        .opt(r.10.as_deref(), |c, v| {
                            c.bytes(v);
                        })
                        .time(r.11)
                        .time(r.12);
                    (r.0, c.digest(), r.13)
                })
                .collect())
        }
    }
}

impl Store {
    /// Chains up to `limit` new entries of `source` in id order, and those of `late` (ids
    /// skipped before) that have appeared since. Several gateways may run this: one at a time
    /// chains each table, the others skip the round.
    pub async fn chain_round(
        &self,
        source: Source,
        limit: i64,
        grace: Duration,
        late: Option<&[i64]>,
    ) -> Result<ChainRound, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let locked: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.audit.' || $1))",
        )
        .bind(source.table())
        .fetch_one(&mut *tx)
        .await?;
        let mut round = ChainRound::default();
        if !locked {
            return Ok(round);
        }
        let head: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, link FROM audit_chain WHERE source = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(source.table())
        .fetch_optional(&mut *tx)
        .await?;
        let max_id: i64 = sqlx::query_scalar(
            "SELECT COALESCE(max(entry_id), 0) FROM audit_chain WHERE source = $1",
        )
        .bind(source.table())
        .fetch_one(&mut *tx)
        .await?;
        let mut chosen: Vec<(i64, Vec<u8>)> = Vec::new();
        if let Some(late) = late.filter(|l| !l.is_empty()) {
            let found = entries(
                &mut tx,
                source,
                "id = ANY($1) AND $3::int8 = $3::int8 AND NOT EXISTS (SELECT 1 FROM audit_chain c \
                     WHERE c.source = '{source}' AND c.entry_id = id)"
                    .replace("{source}", source.table())
                    .as_str(),
                late,
                0,
                limit,
                grace,
            )
            .await?;
            for (id, digest, _) in found {
                round.chained_late.push(id);
                chosen.push((id, digest));
            }
        }
        let fresh = entries(
            &mut tx,
            source,
            "cardinality($1::int8[]) >= 0 AND id > $3",
            &[],
            max_id,
            limit,
            grace,
        )
        .await?;
        let mut expected = max_id + 1;
        for (id, digest, settled) in fresh {
            if id > expected {
                // An id missing: a transaction still committing, or one rolled back. Wait for
                // it until a later entry has been written for longer than the grace.
                if !settled {
                    break;
                }
                round.skipped.extend(expected..id.min(expected + 10_000));
            }
            chosen.push((id, digest));
            expected = id + 1;
        }
        if chosen.is_empty() {
            tx.commit().await?;
            return Ok(round);
        }
        let (mut seq, mut prev) = head.map_or((0, None), |(s, l)| (s, Some(l)));
        let mut seqs = Vec::with_capacity(chosen.len());
        let mut ids = Vec::with_capacity(chosen.len());
        let mut digests = Vec::with_capacity(chosen.len());
        let mut links = Vec::with_capacity(chosen.len());
        for (id, digest) in chosen {
            seq += 1;
            let l = link(prev.as_deref(), source, seq, id, &digest);
            seqs.push(seq);
            ids.push(id);
            digests.push(digest);
            links.push(l.clone());
            prev = Some(l);
        }
        sqlx::query(
            "INSERT INTO audit_chain (source, seq, entry_id, entry_digest, link) \
             SELECT $1, * FROM UNNEST($2::int8[], $3::int8[], $4::bytea[], $5::bytea[])",
        )
        .bind(source.table())
        .bind(&seqs)
        .bind(&ids)
        .bind(&digests)
        .bind(&links)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        round.chained = ids.len();
        Ok(round)
    }

    /// Up to `limit` links of `source` after `after_seq`, each with its entry's digest as the
    /// entry stands now.
    pub async fn audit_links(
        &self,
        source: Source,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredLink>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<(i64, i64, Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, entry_id, entry_digest, link FROM audit_chain \
             WHERE source = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(source.table())
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.1).collect();
        let current = entries(
            &mut conn,
            source,
            "id = ANY($1) AND $3::int8 = $3::int8",
            &ids,
            0,
            limit.max(1),
            Duration::ZERO,
        )
        .await?;
        let current: std::collections::HashMap<i64, Vec<u8>> =
            current.into_iter().map(|(id, d, _)| (id, d)).collect();
        Ok(rows
            .into_iter()
            .map(|(seq, entry_id, entry_digest, link)| StoredLink {
                seq,
                entry_id,
                entry_digest,
                link,
                current: current.get(&entry_id).cloned(),
            })
            .collect())
    }

    /// How many entries `source` holds, and the first written longer ago than `grace` that is
    /// not in the chain (added with the triggers off, or the chainer far behind).
    pub async fn audit_unchained(
        &self,
        source: Source,
        grace: Duration,
    ) -> Result<(i64, Option<i64>), sqlx::Error> {
        let table = source.table();
        let (count,): (i64,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&self.pool)
                .await?;
        let first: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT e.id FROM {table} e \
             WHERE (clock_timestamp() - e.recorded_at) > make_interval(secs => $2) \
               AND NOT EXISTS (SELECT 1 FROM audit_chain c \
                   WHERE c.source = $1 AND c.entry_id = e.id) \
             ORDER BY e.id LIMIT 1"
        )))
        .bind(table)
        .bind(grace.as_secs_f64())
        .fetch_optional(&self.pool)
        .await?;
        Ok((count, first))
    }
}
