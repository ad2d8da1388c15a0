//! What the gateway does because time passed: closing inquiries whose deadline has come, and
//! warning courts of measures about to expire (保全规定 art. 18: the court must tell the applicant
//! the expiry date, and renewal must be asked for before it). Time comes from the [`Clock`], so
//! tests can move it.

use std::time::Duration;

use enforcement_proto::v1 as pb;
use hub_domain::Clock;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::{
    measure_columns,
    store::{MeasureRow, NewEvent, Store, record_events},
};

/// Runs the timers every `every` until `shutdown`. `horizons` are the warning horizons in days;
/// `grace` is how long past its deadline an instruction may still be answered.
pub async fn run(
    store: Store,
    clock: Clock,
    mut horizons: Vec<u32>,
    grace: Duration,
    every: Duration,
    shutdown: CancellationToken,
) {
    let grace = time::Duration::try_from(grace).unwrap_or(time::Duration::MINUTE);
    // Nearest first: a measure already within 7 days gets the 7-day warning, not the 30-day one.
    horizons.sort_unstable();
    horizons.dedup();
    loop {
        let now = clock.now();
        if let Err(e) = expire_undelivered(&store, now - grace).await {
            tracing::warn!(error = %e, "expiring undelivered instructions failed");
        }
        if let Err(e) = close_overdue_inquiries(&store, now).await {
            tracing::warn!(error = %e, "closing overdue inquiries failed");
        }
        for horizon in &horizons {
            if let Err(e) = warn_expiring(&store, now, *horizon).await {
                tracing::warn!(error = %e, "expiry warnings failed");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Ends EXPIRED the measures whose instruction no agency answered by `cutoff` (deadline plus
/// grace), and withdraws instructions still in the outbox, so they are never carried out late.
pub async fn expire_undelivered(
    store: &Store,
    cutoff: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    let mut tx = store.pool().begin().await?;
    let expired: Vec<MeasureRow> = sqlx::query_as(concat!(
        "UPDATE measures SET state = 'expired', reason_code = $2, reason_message = $3, \
             version = version + 1, updated_at = now() \
         WHERE id IN (SELECT id FROM measures \
             WHERE kind <> 'inquiry' AND state IN ('submitted', 'dispatched') AND deadline <= $1 \
             ORDER BY id FOR UPDATE) \
         AND kind <> 'inquiry' AND state IN ('submitted', 'dispatched') \
         RETURNING ",
        measure_columns!()
    ))
    .bind(cutoff)
    .bind(pb::ReasonCode::DeadlinePassed as i32)
    .bind("no agency answered the instruction before its deadline; it will not be carried out")
    .fetch_all(&mut *tx)
    .await?;
    if expired.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    let ids: Vec<uuid::Uuid> = expired.iter().map(|r| r.id).collect();
    sqlx::query("DELETE FROM outbox WHERE measure_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    let events: Vec<NewEvent<'_>> = expired
        .iter()
        .map(|row| NewEvent {
            row,
            kind: pb::EventKind::StateChanged,
            message: row.reason_message.clone(),
            detail: None,
        })
        .collect();
    record_events(&mut tx, store.channel(), &events).await?;
    tx.commit().await?;
    tracing::warn!(measures = expired.len(), "instructions expired undelivered");
    Ok(expired.len())
}

/// Ends inquiries whose deadline has passed: PARTIAL, counting who did not answer (EFFECTIVE if
/// every agency did, which the answer path normally sees first).
pub async fn close_overdue_inquiries(
    store: &Store,
    now: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    let mut tx = store.pool().begin().await?;
    let closed: Vec<MeasureRow> = sqlx::query_as(concat!(
        "UPDATE measures SET \
             state = CASE WHEN inquiry_answered >= inquiry_addressed THEN 'effective' ELSE 'partial' END, \
             inquiry_unanswered = GREATEST(inquiry_addressed - inquiry_answered, 0), \
             effective_at = $1, version = version + 1, updated_at = $1 \
         WHERE id IN (SELECT id FROM measures \
             WHERE kind = 'inquiry' AND state IN ('submitted', 'dispatched') AND deadline <= $1 \
             ORDER BY id FOR UPDATE) \
         AND state IN ('submitted', 'dispatched') \
         RETURNING ",
        measure_columns!()
    ))
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let events: Vec<NewEvent<'_>> = closed
        .iter()
        .map(|row| NewEvent {
            row,
            kind: pb::EventKind::StateChanged,
            message: format!(
                "deadline passed: {} of {} agencies answered, {} did not",
                row.inquiry_answered, row.inquiry_addressed, row.inquiry_unanswered
            ),
            detail: None,
        })
        .collect();
    record_events(&mut tx, store.channel(), &events).await?;
    tx.commit().await?;
    Ok(closed.len())
}

/// Warns of measures in force expiring within `days` that have not had a warning this near.
pub async fn warn_expiring(
    store: &Store,
    now: OffsetDateTime,
    days: u32,
) -> Result<usize, sqlx::Error> {
    let horizon = now + time::Duration::days(i64::from(days));
    let days = i32::try_from(days).unwrap_or(i32::MAX);
    let mut tx = store.pool().begin().await?;
    let warned: Vec<MeasureRow> = sqlx::query_as(concat!(
        "UPDATE measures SET warned_within_days = $3, version = version + 1, updated_at = $1 \
         WHERE id IN (SELECT id FROM measures \
             WHERE state IN ('effective', 'partial') AND expires_at IS NOT NULL \
               AND kind IN ('freeze', 'seal_up', 'distraint', 'exit_restriction') \
               AND expires_at > $1 AND expires_at <= $2 \
               AND (warned_within_days IS NULL OR warned_within_days > $3) \
             ORDER BY id FOR UPDATE) \
         RETURNING ",
        measure_columns!()
    ))
    .bind(now)
    .bind(horizon)
    .bind(days)
    .fetch_all(&mut *tx)
    .await?;
    let events: Vec<NewEvent<'_>> = warned
        .iter()
        .map(|row| NewEvent {
            row,
            kind: pb::EventKind::ExpiryWarning,
            message: warning(row, now),
            detail: None,
        })
        .collect();
    record_events(&mut tx, store.channel(), &events).await?;
    tx.commit().await?;
    Ok(warned.len())
}

fn warning(row: &MeasureRow, now: OffsetDateTime) -> String {
    let Some(expiry) = row.expires_at else {
        return String::new();
    };
    // Days left, counting a part day as a day: "in 7 days" a week before, not "in 6".
    let left = ((expiry - now).whole_seconds() + 86_399) / 86_400;
    let date = expiry.to_offset(hub_domain::CHINA_STANDARD_TIME).date();
    let what = match row.registration_number.as_str() {
        "" => row.kind.replace('_', "-"),
        number => format!("{} {number}", row.kind.replace('_', "-")),
    };
    format!(
        "{what} expires on {date} (UTC+08:00), in {left} day{}: renew before then or it lapses",
        if left == 1 { "" } else { "s" }
    )
}
