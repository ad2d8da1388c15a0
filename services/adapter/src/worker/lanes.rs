//! Lanes: the deliveries of a session spread by asset.
//!
//! Waiting freezes rank by arrival, so two instructions on one account must reach the agency in
//! the order the hub sent them; instructions on different accounts should not wait for each
//! other. A delivery goes to the lane its queue and `asset` header hash to, and each lane handles
//! its deliveries one after another (retries included), so one asset's instructions keep their
//! order while different assets proceed in parallel. An asset is held at one agency, so its
//! instructions all come from one queue; the queue is part of the key because an inquiry's
//! instructions share one subject as their asset across every agency it asks, and they should
//! not queue behind each other in a single lane.

use std::hash::{DefaultHasher, Hash, Hasher};

use hub_bus::{
    Publisher, header_str,
    trace::{TRACEPARENT, TraceId},
};
use lapin::message::Delivery;
use tokio::{sync::mpsc, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    Incoming, Worker,
    instruction::{Handled, Handling},
};

/// The lanes of one broker session.
pub(super) struct Lanes {
    /// Where each lane takes its deliveries from; dropped to let the lanes finish.
    senders: Vec<mpsc::Sender<Incoming>>,
    /// The lanes themselves.
    running: JoinSet<()>,
}

impl Lanes {
    /// Starts `worker`'s configured number of lanes, publishing on `publisher`. Once `session`
    /// is cancelled a lane leaves what it holds unacknowledged.
    pub(super) fn start(
        worker: &Worker,
        publisher: &Publisher,
        session: &CancellationToken,
    ) -> Self {
        let count = worker.config.lanes.max(1);
        // A lane may hold as much as the whole prefetch, if every delivery is on one asset.
        let capacity = usize::from(worker.config.prefetch.max(1));
        let mut senders = Vec::with_capacity(count);
        let mut running = JoinSet::new();
        for _ in 0..count {
            let (tx, rx) = mpsc::channel::<Incoming>(capacity);
            senders.push(tx);
            running.spawn(lane(worker.clone(), rx, publisher.clone(), session.clone()));
        }
        Self { senders, running }
    }

    /// Hands a delivery to its asset's lane, waiting while that lane is full.
    pub(super) async fn dispatch(&self, incoming: Incoming) -> anyhow::Result<()> {
        let (queue, delivery) = (incoming.0, &incoming.1);
        let asset = header_str(&delivery.properties, "asset");
        let lane = lane_of(queue, asset, &delivery.data, self.senders.len());
        let stopped = || anyhow::anyhow!("lane {lane} stopped");
        let sender = self.senders.get(lane).ok_or_else(stopped)?;
        sender.send(incoming).await.map_err(|_| stopped())
    }

    /// Lets every lane finish what it has begun and waits for them all.
    pub(super) async fn finish(self) {
        let Self {
            senders,
            mut running,
        } = self;
        drop(senders);
        while running.join_next().await.is_some() {}
    }
}

/// Handles one lane's deliveries in order, until its sender is dropped.
async fn lane(
    worker: Worker,
    mut rx: mpsc::Receiver<Incoming>,
    publisher: Publisher,
    session: CancellationToken,
) {
    while let Some((index, delivery)) = rx.recv().await {
        // Once the session ends, what a lane holds is left unacknowledged: the broker returns
        // it when the channel closes (see `leave`).
        if session.is_cancelled() {
            leave(delivery);
            continue;
        }
        let Some(served) = worker.served.get(index) else {
            leave(delivery);
            continue;
        };
        // The measure's trace, as the relay sent it; an instruction without one (or with one
        // malformed) is carried out all the same, untraced.
        let trace = header_str(&delivery.properties, TRACEPARENT)
            .and_then(|value| TraceId::from_traceparent(value).ok());
        let handling = Handling {
            served,
            delivery: &delivery,
            publisher: &publisher,
            received_at: worker.clock.now(),
            trace,
        };
        let span = tracing::info_span!(
            "instruction",
            trace_id = %trace.map(|t| t.to_string()).unwrap_or_default()
        );
        match worker.handle(&handling, &session).instrument(span).await {
            Ok(Handled::Done | Handled::Returned) => {}
            Err(e) => {
                // Broker trouble: the delivery stays unacknowledged and comes back after the
                // reconnect; end the session so that happens promptly.
                tracing::warn!(error = %format!("{e:#}"), "instruction left for redelivery");
                session.cancel();
            }
        }
    }
}

/// The lane of a delivery from the session's `queue`-th queue: by its asset there (by its body
/// when it names none), so one asset's instructions stay in order.
fn lane_of(queue: usize, asset: Option<&str>, body: &[u8], lanes: usize) -> usize {
    let mut hasher = DefaultHasher::new();
    queue.hash(&mut hasher);
    match asset {
        Some(asset) => asset.hash(&mut hasher),
        None => body.hash(&mut hasher),
    }
    (hasher.finish() % lanes.max(1) as u64) as usize
}

/// Leaves a delivery unacknowledged for the broker to return when the channel closes.
///
/// Not requeued one by one: when the connection closes, RabbitMQ returns everything this
/// adapter held in one step, in the order it was delivered, ahead of the rest of the queue, so
/// the instructions on one account reach the next adapter in the order the hub sent them.
fn leave(delivery: Delivery) {
    drop(delivery);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::lane_of;

    #[test]
    fn one_asset_keeps_one_lane_and_one_subject_asked_everywhere_spreads() {
        let lane = lane_of(3, Some("account:ICBC:6222"), b"a", 16);
        for body in [b"b".as_slice(), b"c", b"d"] {
            assert_eq!(lane_of(3, Some("account:ICBC:6222"), body, 16), lane);
        }
        // One inquiry's subject, asked of a thousand banks, each on its own queue.
        let lanes: BTreeSet<usize> = (0..1000)
            .map(|queue| lane_of(queue, Some("subject:110101199001011234"), b"", 16))
            .collect();
        assert_eq!(lanes.len(), 16, "every lane takes part");
        assert!(lane_of(0, None, b"x", 1) == 0 && lane_of(5, None, b"y", 0) == 0);
    }
}
