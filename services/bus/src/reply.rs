//! Bounds on waiting for the broker.
//!
//! A connection that dies can leave an answer pending for ever: a publisher confirm, an
//! acknowledgement, a channel being opened or closed. A service waiting on it would hold what it
//! holds (an outbox transaction, a delivery, a worker) and never rebuild its session. Every wait
//! on the broker goes through this module, so past a limit the operation counts as failed and the
//! caller reconnects; redelivery and idempotency make a retry harmless.

use std::{future::Future, time::Duration};

use lapin::{
    message::Delivery,
    options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions},
};

/// How long the broker may take to answer a publish, a confirm or a channel operation.
/// Generous: a quorum queue confirms in milliseconds even under load.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an acknowledgement, requeue or rejection may take to leave. It waits for no answer
/// from the broker, only for the connection to write it, so it is quick unless the connection is
/// gone (lapin can leave one pending on a connection that was reset).
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// `op`, failing with a timed-out I/O error if the broker has not answered within
/// [`REPLY_TIMEOUT`].
pub async fn within<T>(
    what: &str,
    op: impl Future<Output = Result<T, lapin::Error>>,
) -> Result<T, lapin::Error> {
    bounded(REPLY_TIMEOUT, what, op).await
}

async fn bounded<T>(
    limit: Duration,
    what: &str,
    op: impl Future<Output = Result<T, lapin::Error>>,
) -> Result<T, lapin::Error> {
    tokio::time::timeout(limit, op).await.unwrap_or_else(|_| {
        Err(timed_out(&format!(
            "the broker did not answer {what} in time"
        )))
    })
}

/// A timed-out I/O error, as lapin reports a connection failure.
pub(crate) fn timed_out(message: &str) -> lapin::Error {
    lapin::Error::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        message.to_string(),
    ))
}

/// Acknowledges `delivery`. `Ok(false)` or an error means the broker may not have taken it (the
/// channel was replaced or failed): it will redeliver, and the caller must rely on idempotency.
pub async fn ack(delivery: &Delivery) -> Result<bool, lapin::Error> {
    let ack = delivery.acker.ack(BasicAckOptions::default());
    bounded(SETTLE_TIMEOUT, "an acknowledgement", ack).await
}

/// Returns `delivery` to its queue for another attempt.
pub async fn requeue(delivery: &Delivery) -> Result<bool, lapin::Error> {
    let options = BasicNackOptions {
        multiple: false,
        requeue: true,
    };
    bounded(SETTLE_TIMEOUT, "a requeue", delivery.acker.nack(options)).await
}

/// Rejects `delivery` without requeueing: the queue's dead-letter exchange takes it.
pub async fn reject(delivery: &Delivery) -> Result<bool, lapin::Error> {
    let options = BasicRejectOptions { requeue: false };
    bounded(
        SETTLE_TIMEOUT,
        "a rejection",
        delivery.acker.reject(options),
    )
    .await
}
