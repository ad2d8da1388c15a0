//! What the gateway does because time passed: ending instructions nobody took by their
//! deadline, closing inquiries whose deadline has come, lapsing measures past their expiry
//! without renewal (on the gateway's own clock, even if the agency's notice is late, so that the
//! case ledger stops counting them on time), and warning courts of measures about to
//! expire (保全规定 art. 18: the court must tell the applicant the expiry date, and renewal must be
//! asked for before it). Time comes from the [`Clock`], so tests can move it; the statements
//! are in [`crate::store::timers`].

use std::time::Duration;

use hub_domain::Clock;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::store::{MeasureRow, Store};

/// What the court reads when an instruction expires undelivered.
const EXPIRED_UNDELIVERED: &str =
    "no agency answered the instruction before its deadline; it will not be carried out";

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
        match store
            .expire_undelivered(now - grace, EXPIRED_UNDELIVERED)
            .await
        {
            Ok(expired) if !expired.is_empty() => {
                tracing::warn!(measures = expired.len(), "instructions expired undelivered");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "expiring undelivered instructions failed"),
        }
        if let Err(e) = store.close_overdue_inquiries(now, inquiry_closed).await {
            tracing::warn!(error = %e, "closing overdue inquiries failed");
        }
        match store.lapse_expired(now, lapsed).await {
            Ok(lapsed) if !lapsed.is_empty() => {
                tracing::info!(measures = lapsed.len(), "measures lapsed at expiry");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "lapsing expired measures failed"),
        }
        for horizon in &horizons {
            if let Err(e) = store
                .warn_expiring(now, *horizon, |row| warning(row, now))
                .await
            {
                tracing::warn!(error = %e, "expiry warnings failed");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// What the court reads when its inquiry's deadline passes.
fn inquiry_closed(row: &MeasureRow) -> String {
    format!(
        "deadline passed: {} of {} agencies answered, {} did not",
        row.inquiry_answered, row.inquiry_addressed, row.inquiry_unanswered
    )
}

/// What the court reads when its measure lapses at the gateway.
fn lapsed(row: &MeasureRow) -> String {
    let date = row
        .expires_at
        .map(|e| {
            e.to_offset(hub_domain::CHINA_STANDARD_TIME)
                .date()
                .to_string()
        })
        .unwrap_or_default();
    format!(
        "lapsed at its expiry on {date} (UTC+08:00) without renewal (查扣冻规定 art. 27); the hub no longer counts it for the case, whether or not the agency has reported it yet"
    )
}

/// What the court reads when its measure comes within a warning horizon of expiry.
fn warning(row: &MeasureRow, now: OffsetDateTime) -> String {
    let Some(expiry) = row.expires_at else {
        return String::new();
    };
    // Days left, counting a part day as a day: "in 7 days" a week before, not "in 6".
    let left = ((expiry - now).whole_seconds() + 86_399) / 86_400;
    let date = expiry.to_offset(hub_domain::CHINA_STANDARD_TIME).date();
    let what = match row.registration_number.as_str() {
        "" => row.kind.label().to_string(),
        number => format!("{} {number}", row.kind.label()),
    };
    format!(
        "{what} expires on {date} (UTC+08:00), in {left} day{}: renew before then or it lapses",
        if left == 1 { "" } else { "s" }
    )
}
