//! Fan-out of audit entries to watch streams.
//!
//! Each change is committed with a `pg_notify` carrying its audit-entry id. One listener per
//! gateway process reads the entries and broadcasts them in-process; each watch stream filters
//! what concerns it. If the listener loses its connection it cannot know what it missed, so it
//! tells every stream to resynchronise from the database. Case-level audit entries
//! (`case_events`: the ledger, orders, excess released, closing) travel the same way on a channel
//! of their own.

use std::{sync::Arc, time::Duration};

use sqlx::postgres::PgListener;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::store::{EventRow, Store, cases::CaseEventRow};

/// What a watch stream receives.
#[derive(Clone, Debug)]
pub enum Signal {
    /// A measure changed.
    Event(Arc<EventRow>),
    /// A case changed (its ledger, an order, an excess released, its closing).
    Case(Arc<CaseEventRow>),
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
    let cases = store.case_channel();
    loop {
        match store.listen().await {
            Ok(mut listener) => {
                backoff.reset();
                readiness.set("database", true);
                // Whatever happened while not listening: catch up.
                hub.send(Signal::Resync);
                relay_wake.notify_one();
                let channels = Channels {
                    outbox: &outbox,
                    cases: &cases,
                };
                if serve(
                    &mut listener,
                    &store,
                    &hub,
                    &relay_wake,
                    channels,
                    &shutdown,
                )
                .await
                {
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

/// The channels other than the measures' audit entries'.
#[derive(Clone, Copy)]
struct Channels<'a> {
    /// Outbox activity: wakes the relay.
    outbox: &'a str,
    /// Case-level audit entries.
    cases: &'a str,
}

/// Ids announced on a channel: of measures' audit entries, or of cases'.
enum Announced {
    Measures(Vec<i64>),
    Cases(Vec<i64>),
}

fn ids(payload: &str) -> Vec<i64> {
    payload
        .split(',')
        .filter_map(|id| id.parse().ok())
        .collect()
}

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
    channels: Channels<'_>,
    shutdown: &CancellationToken,
) -> bool {
    let (ids_tx, ids_rx) = mpsc::unbounded_channel::<Announced>();
    let reader = tokio::spawn(read_entries(store.clone(), hub.clone(), ids_rx));
    let shut_down = loop {
        let notification = tokio::select! {
            () = shutdown.cancelled() => break true,
            n = listener.try_recv() => n,
        };
        match notification {
            Ok(Some(n)) if n.channel() == channels.outbox => relay_wake.notify_one(),
            Ok(Some(n)) => {
                let ids = ids(n.payload());
                let announced = if n.channel() == channels.cases {
                    Announced::Cases(ids)
                } else {
                    Announced::Measures(ids)
                };
                if ids_tx.send(announced).is_err() {
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

/// Reads announced audit entries in batches and broadcasts them, in id order per batch
/// (a case's entries after the measures' entries announced with them).
async fn read_entries(store: Store, hub: EventHub, mut ids_rx: mpsc::UnboundedReceiver<Announced>) {
    while let Some(first) = ids_rx.recv().await {
        let (mut ids, mut cases) = (Vec::new(), Vec::new());
        let mut next = Some(first);
        while let Some(announced) = next.take() {
            match announced {
                Announced::Measures(more) => ids.extend(more),
                Announced::Cases(more) => cases.extend(more),
            }
            if ids.len() + cases.len() < FETCH_BATCH {
                next = ids_rx.try_recv().ok();
            }
        }
        let mut attempt = 0;
        loop {
            let read = async {
                let rows = if ids.is_empty() {
                    Vec::new()
                } else {
                    store.events(&ids).await?
                };
                let case_rows = if cases.is_empty() {
                    Vec::new()
                } else {
                    store.case_events(&cases).await?
                };
                Ok::<_, crate::Error>((rows, case_rows))
            };
            match read.await {
                Ok((rows, case_rows)) => {
                    for row in rows {
                        hub.send(Signal::Event(Arc::new(row)));
                    }
                    for row in case_rows {
                        hub.send(Signal::Case(Arc::new(row)));
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
