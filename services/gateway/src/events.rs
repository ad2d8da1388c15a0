//! Fan-out of audit entries to watch streams.
//!
//! Each change is committed with a `pg_notify` carrying its audit-entry id. One listener per
//! gateway process reads the entries and broadcasts them in-process; each watch stream filters
//! what concerns it. If the listener loses its connection it cannot know what it missed, so it
//! tells every stream to resynchronise from the database.

use std::{sync::Arc, time::Duration};

use sqlx::postgres::PgListener;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::store::{EventRow, Store};

/// What a watch stream receives.
#[derive(Clone, Debug)]
pub enum Signal {
    /// A measure changed.
    Event(Arc<EventRow>),
    /// Events may have been missed: reload the watched measures.
    Resync,
}

/// The in-process broadcast of audit entries.
#[derive(Clone)]
pub struct EventHub {
    tx: broadcast::Sender<Signal>,
}

impl EventHub {
    /// A hub buffering `capacity` signals per slow subscriber before it lags.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Self { tx }
    }

    /// A new subscriber.
    pub fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.tx.subscribe()
    }

    fn send(&self, signal: Signal) {
        // No subscribers is fine: nobody is watching.
        let _ = self.tx.send(signal);
    }
}

/// Listens for audit entries and outbox activity until `shutdown`, reconnecting with back-off.
pub async fn listen(
    store: Store,
    hub: EventHub,
    relay_wake: Arc<Notify>,
    readiness: hub_runtime::health::Readiness,
    mut backoff: hub_runtime::Backoff,
    shutdown: CancellationToken,
) {
    let outbox = store.outbox_channel();
    loop {
        match store.listen().await {
            Ok(mut listener) => {
                backoff.reset();
                readiness.set("database", true);
                // Whatever happened while not listening: catch up.
                hub.send(Signal::Resync);
                relay_wake.notify_one();
                if serve(&mut listener, &store, &hub, &relay_wake, &outbox, &shutdown).await {
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "event listener cannot connect or LISTEN"),
        }
        readiness.set("database", false);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

/// Most audit entries read in one query.
const FETCH_BATCH: usize = 2000;

/// Forwards notifications; returns `true` on shutdown, `false` when the connection was lost.
///
/// Receiving and reading are separate tasks: while one batch of entries is read, notifications
/// keep arriving and queue up, and the next read takes all of them at once. Under load the
/// listener therefore reads in large batches instead of falling behind one query per commit.
async fn serve(
    listener: &mut PgListener,
    store: &Store,
    hub: &EventHub,
    relay_wake: &Notify,
    outbox: &str,
    shutdown: &CancellationToken,
) -> bool {
    let (ids_tx, ids_rx) = mpsc::unbounded_channel::<Vec<i64>>();
    let reader = tokio::spawn(read_entries(store.clone(), hub.clone(), ids_rx));
    let shut_down = loop {
        let notification = tokio::select! {
            () = shutdown.cancelled() => break true,
            n = listener.try_recv() => n,
        };
        match notification {
            Ok(Some(n)) if n.channel() == outbox => relay_wake.notify_one(),
            Ok(Some(n)) => {
                let ids: Vec<i64> = n
                    .payload()
                    .split(',')
                    .filter_map(|id| id.parse().ok())
                    .collect();
                if !ids.is_empty() && ids_tx.send(ids).is_err() {
                    break false;
                }
            }
            Ok(None) => {
                tracing::warn!("event listener lost its connection; resynchronising watchers");
                hub.send(Signal::Resync);
            }
            Err(e) => {
                tracing::warn!(error = %e, "event listener failed");
                break false;
            }
        }
    };
    drop(ids_tx);
    let _ = reader.await;
    shut_down
}

/// Reads announced audit entries in batches and broadcasts them, in id order per batch.
async fn read_entries(store: Store, hub: EventHub, mut ids_rx: mpsc::UnboundedReceiver<Vec<i64>>) {
    while let Some(first) = ids_rx.recv().await {
        let mut ids = first;
        while ids.len() < FETCH_BATCH {
            match ids_rx.try_recv() {
                Ok(more) => ids.extend(more),
                Err(_) => break,
            }
        }
        let mut attempt = 0;
        loop {
            match store.events(&ids).await {
                Ok(rows) => {
                    for row in rows {
                        hub.send(Signal::Event(Arc::new(row)));
                    }
                    break;
                }
                Err(e) if attempt < 3 => {
                    attempt += 1;
                    tracing::warn!(error = %e, "reading audit entries failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading audit entries failed; resynchronising watchers");
                    hub.send(Signal::Resync);
                    break;
                }
            }
        }
    }
}
