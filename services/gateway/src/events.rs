//! Fan-out of audit entries to watch streams.
//!
//! The gateway that commits a change tells its own watch streams at once: the transaction hands
//! the audit entries it wrote to [`EventHub::committed`], which broadcasts them in-process. Other
//! gateway instances learn of them by a doorbell: one `pg_notify` per batch of committed entries,
//! carrying their ids and the origin's name, sent by [`EventHub::ring`] after the commits and
//! without waiting for its own flush. No hot transaction notifies: PostgreSQL holds one lock from
//! a notifying transaction's commit until its commit record is flushed, so notifying commits are
//! never flushed together.
//!
//! One listener per gateway process reads the entries other instances announce and broadcasts
//! them in-process; each watch stream filters what concerns it. If the listener loses its
//! connection it cannot know what it missed, so it tells every stream to resynchronise from the
//! database. Case-level audit entries (`case_events`: the ledger, orders, excess released,
//! closing) travel the same way on a channel of their own. A doorbell lost (the process stopping
//! after a commit, the database unreachable) delays nothing for good: the relay also finds its
//! rows by polling, and a watch stream that receives a later version of a measure reads the
//! versions it missed.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use sqlx::postgres::PgListener;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::store::{EventRow, Store, cases::CaseEventRow};

/// Signals buffered per slow subscriber before it lags (and resynchronises).
pub const EVENT_BUFFER: usize = 4096;

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

/// The in-process broadcast of audit entries, and the doorbell that tells other instances.
#[derive(Clone)]
pub struct EventHub {
    tx: broadcast::Sender<Signal>,
    /// This process, as its doorbells name it: its own listener skips them.
    origin: Arc<str>,
    doorbell: Arc<Doorbell>,
    /// Wakes this process's relay (which publishes if this instance leads).
    relay: Arc<Notify>,
}

/// What committed since the doorbell last rang.
#[derive(Default, Debug, PartialEq, Eq)]
pub struct Due {
    /// Ids of measures' audit entries.
    pub measures: Vec<i64>,
    /// Ids of cases' audit entries.
    pub cases: Vec<i64>,
    /// Instructions were added to the outbox (the relay of whichever instance leads).
    pub outbox: bool,
}

impl Due {
    fn is_empty(&self) -> bool {
        self.measures.is_empty() && self.cases.is_empty() && !self.outbox
    }
}

#[derive(Default)]
struct Doorbell {
    due: Mutex<Due>,
    ring: Notify,
}

impl EventHub {
    /// A hub buffering `capacity` signals per slow subscriber before it lags.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Self {
            tx,
            origin: uuid::Uuid::now_v7().to_string().into(),
            doorbell: Arc::default(),
            relay: Arc::default(),
        }
    }

    /// What wakes this process's relay: instructions were added to the outbox.
    pub fn relay_wake(&self) -> Arc<Notify> {
        self.relay.clone()
    }

    /// A new subscriber.
    pub fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.tx.subscribe()
    }

    /// This process's name in its doorbells.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn send(&self, signal: Signal) {
        // No subscribers is fine: nobody is watching.
        let _ = self.tx.send(signal);
    }

    /// Tells of audit entries just committed together: to this process's watchers at once, in
    /// id order (a case's entries after its measures'), and to other instances at the next
    /// ring of the doorbell; if `outbox` rows were added, wakes the relay here and in them.
    pub fn committed(
        &self,
        mut measures: Vec<EventRow>,
        mut cases: Vec<CaseEventRow>,
        outbox: bool,
    ) {
        if measures.is_empty() && cases.is_empty() && !outbox {
            return;
        }
        measures.sort_by_key(|e| e.id);
        cases.sort_by_key(|e| e.id);
        {
            let mut due = self
                .doorbell
                .due
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            due.measures.extend(measures.iter().map(|e| e.id));
            due.cases.extend(cases.iter().map(|e| e.id));
            due.outbox |= outbox;
        }
        self.doorbell.ring.notify_one();
        if outbox {
            self.relay.notify_one();
        }
        for entry in measures {
            self.send(Signal::Event(Arc::new(entry)));
        }
        for entry in cases {
            self.send(Signal::Case(Arc::new(entry)));
        }
    }

    /// Rings the doorbell for what committed, until `stop` (and once more then): one
    /// notification per channel and batch, so that under load one announces many commits.
    pub async fn ring(self, store: Store, stop: CancellationToken) {
        loop {
            let stopping = tokio::select! {
                () = stop.cancelled() => true,
                () = self.doorbell.ring.notified() => false,
            };
            let due = std::mem::take(
                &mut *self
                    .doorbell
                    .due
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            if !due.is_empty()
                && let Err(e) = store.ring(&self.origin, &due).await
            {
                tracing::warn!(error = %e, "ringing other instances failed; their watch streams catch up at the next change");
            }
            if stopping {
                return;
            }
        }
    }
}

/// Listens for audit entries and outbox activity until `shutdown`, reconnecting with back-off.
pub async fn listen(
    store: Store,
    readiness: hub_runtime::health::Readiness,
    mut backoff: hub_runtime::Backoff,
    shutdown: CancellationToken,
) {
    let hub = store.hub().clone();
    let outbox = store.outbox_channel();
    let cases = store.case_channel();
    loop {
        match store.listen().await {
            Ok(mut listener) => {
                backoff.reset();
                readiness.set("database", true);
                // Whatever happened while not listening: catch up.
                hub.send(Signal::Resync);
                hub.relay.notify_one();
                let channels = Channels {
                    outbox: &outbox,
                    cases: &cases,
                };
                if serve(&mut listener, &store, &hub, channels, &shutdown).await {
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

/// The ids a doorbell carries, `None` if this process rang it (its watchers have them already).
fn ids<'a>(payload: &'a str, origin: &str) -> Option<impl Iterator<Item = i64> + 'a> {
    let ids = match payload.split_once(' ') {
        Some((from, _)) if from == origin => return None,
        Some((_, ids)) => ids,
        None => payload,
    };
    Some(ids.split(',').filter_map(|id| id.parse().ok()))
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
            Ok(Some(n)) if n.channel() == channels.outbox => {
                // This process's own relay was woken in-process already.
                if n.payload() != hub.origin() {
                    hub.relay.notify_one();
                }
            }
            Ok(Some(n)) => {
                let Some(ids) = ids(n.payload(), hub.origin()) else {
                    continue;
                };
                let ids = ids.collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64) -> EventRow {
        EventRow {
            id,
            measure_id: uuid::Uuid::now_v7(),
            court_code: "京0105".into(),
            case_number: "（2024）京0105执1号".into(),
            version: 1,
            kind: 1,
            message: format!("entry {id}"),
            snapshot: Vec::new(),
            at: time::OffsetDateTime::UNIX_EPOCH,
            detail: None,
            row: None,
        }
    }

    #[test]
    fn a_doorbell_is_read_unless_this_process_rang_it() {
        let from = |payload: &str| ids(payload, "me").map(Iterator::collect::<Vec<_>>);
        assert_eq!(from("other 3,4,5"), Some(vec![3, 4, 5]));
        assert_eq!(from("me 3,4,5"), None);
        // A bare list, as an instance without origins sends it, is read.
        assert_eq!(from("7,8"), Some(vec![7, 8]));
        assert_eq!(from("other 9,x,10"), Some(vec![9, 10]));
    }

    #[tokio::test]
    async fn committed_entries_reach_watchers_at_once_in_id_order_and_wait_for_the_doorbell() {
        let hub = EventHub::new(16);
        let mut watcher = hub.subscribe();
        let case = CaseEventRow {
            id: 1,
            court_code: "京0105".into(),
            case_number: "（2024）京0105执1号".into(),
            version: 1,
            kind: 1,
            message: "ledger".into(),
            snapshot: Vec::new(),
            order_snapshot: None,
            measure_id: None,
            at: time::OffsetDateTime::UNIX_EPOCH,
        };
        hub.committed(vec![entry(12), entry(11)], vec![case], true);
        let mut seen = Vec::new();
        while let Ok(signal) = watcher.try_recv() {
            seen.push(match signal {
                Signal::Event(e) => format!("measure {}", e.id),
                Signal::Case(e) => format!("case {}", e.id),
                Signal::Resync => "resync".into(),
            });
        }
        assert_eq!(seen, ["measure 11", "measure 12", "case 1"]);
        // The relay here is woken at once; other instances' at the next ring.
        tokio::time::timeout(Duration::from_secs(1), hub.relay_wake().notified())
            .await
            .expect("the relay is woken");
        let due = std::mem::take(&mut *hub.doorbell.due.lock().expect("not poisoned"));
        assert_eq!(
            due,
            Due {
                measures: vec![11, 12],
                cases: vec![1],
                outbox: true
            }
        );
        // Nothing committed, nothing to ring.
        hub.committed(Vec::new(), Vec::new(), false);
        assert!(hub.doorbell.due.lock().expect("not poisoned").is_empty());
    }
}
