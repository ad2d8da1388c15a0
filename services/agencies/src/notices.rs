//! The reference agencies' outbox of notices to the hub.
//!
//! A change nobody asked for at that moment (funds arriving on a partial freeze, a lapse, a
//! promotion) is written as a notice in the same transaction as the change, then delivered to
//! the adapter's `AgencyInbox` in order, and deleted only once the inbox has accepted it. A notice
//! is therefore never lost, and a repeat is harmless because every update carries its revision.

use std::{sync::Arc, time::Duration};

use enforcement_proto::v1::{self as pb, agency_inbox_client::AgencyInboxClient};
use hub_runtime::Backoff;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use uuid::Uuid;

/// Most notices delivered per round.
const BATCH: i64 = 100;

/// Writes a notice in the caller's transaction.
pub async fn record(
    conn: &mut PgConnection,
    agency: &pb::AgencyRef,
    updates: Vec<pb::MeasureUpdate>,
    message: &str,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    if updates.is_empty() {
        return Ok(());
    }
    let id = Uuid::now_v7();
    let notice = pb::Notice {
        notice_id: id.to_string(),
        agency: Some(agency.clone()),
        updates,
        message: message.to_string(),
    };
    sqlx::query("INSERT INTO notices (id, payload, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(notice.encode_to_vec())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Delivers recorded notices to the adapter's inbox.
pub struct NoticeSender {
    pool: PgPool,
    inbox: AgencyInboxClient<Channel>,
    wake: Arc<Notify>,
    poll: Duration,
}

impl NoticeSender {
    /// A sender to the inbox at `inbox_url` (over `transport`), woken by `wake` and every `poll`.
    pub fn new(
        pool: PgPool,
        inbox_url: &str,
        transport: &hub_trust::Transport,
        wake: Arc<Notify>,
        poll: Duration,
    ) -> anyhow::Result<Self> {
        let endpoint = transport
            .endpoint(inbox_url, None)?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10));
        Ok(Self {
            pool,
            inbox: AgencyInboxClient::new(endpoint.connect_lazy()),
            wake,
            poll,
        })
    }

    /// Delivers until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        loop {
            let delay = match self.deliver().await {
                Ok(()) => {
                    backoff.reset();
                    self.poll
                }
                Err(e) => {
                    tracing::warn!(error = %e, "notice delivery failed; will retry");
                    backoff.next_delay()
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Delivers everything pending, oldest first. An outage stops delivery (to keep order) until
    /// the next round; a notice the inbox refuses for good is set aside with the reason, so it
    /// cannot block the ones behind it.
    async fn deliver(&mut self) -> anyhow::Result<()> {
        loop {
            let pending: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(
                "SELECT id, payload FROM notices WHERE failed_at IS NULL ORDER BY id LIMIT $1",
            )
            .bind(BATCH)
            .fetch_all(&self.pool)
            .await?;
            if pending.is_empty() {
                return Ok(());
            }
            let n = pending.len();
            for (id, payload) in pending {
                let refused = match pb::Notice::decode(payload.as_slice()) {
                    Ok(notice) => match self.inbox.notify(notice).await {
                        Ok(_) => None,
                        Err(status) if passing(status.code()) => return Err(status.into()),
                        Err(status) => Some(format!("{:?}: {}", status.code(), status.message())),
                    },
                    Err(e) => Some(format!("stored notice does not decode: {e}")),
                };
                match refused {
                    None => {
                        sqlx::query("DELETE FROM notices WHERE id = $1")
                            .bind(id)
                            .execute(&self.pool)
                            .await?;
                    }
                    Some(failure) => {
                        tracing::error!(%id, %failure, "notice refused for good; set aside");
                        sqlx::query(
                            "UPDATE notices SET failed_at = now(), failure = $2 WHERE id = $1",
                        )
                        .bind(id)
                        .bind(&failure)
                        .execute(&self.pool)
                        .await?;
                    }
                }
            }
            if n < BATCH as usize {
                return Ok(());
            }
        }
    }
}

/// Failures that pass: the inbox or the hub behind it is down or busy, or the connection failed.
fn passing(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::ResourceExhausted
            | tonic::Code::Aborted
            | tonic::Code::Unknown
            | tonic::Code::Cancelled
    )
}
