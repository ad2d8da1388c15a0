//! `Watch`: every change of one measure, or of every measure of a case, as it happens.
//!
//! The stream starts with a snapshot of what is watched, then forwards the audit entries the
//! [`EventHub`](crate::events::EventHub) broadcasts. It subscribes before reading the snapshot,
//! so nothing between the two is missed, and skips what the client has already seen by
//! version. When events may have been missed (the listener reconnected, or this stream lagged)
//! it reads the snapshot again.
//!
//! A case watch also carries the case's own events: a snapshot of its ledger and of each of its
//! orders after the measures', then every case-level audit entry (ledger, excess released, order
//! progress, amendment). It ends after the entry that reports the case closed, when nothing is
//! held any more — at once, after the snapshot, for a case closed already.

use std::collections::HashMap;

use enforcement_proto::{convert::timestamp, v1 as pb};
use hub_domain::{CaseNumber, CourtCode};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use uuid::Uuid;

use super::{CourtService, MAX_PAGE, WatchStream};
use crate::{
    Error,
    events::Signal,
    store::{EventRow, MeasureRow, cases::CaseEventRow},
    validate::{self, invalid},
};

/// Events buffered per watch stream before the stream falls back to resynchronising.
const WATCH_BUFFER: usize = 64;

/// What a watch stream follows.
#[derive(Clone, Debug)]
enum WatchTarget {
    Measure(Uuid),
    Case(String),
}

impl WatchTarget {
    fn matches(&self, event: &EventRow) -> bool {
        match self {
            WatchTarget::Measure(id) => event.measure_id == *id,
            WatchTarget::Case(case) => event.case_number == *case,
        }
    }

    fn matches_case(&self, court: &CourtCode, event: &CaseEventRow) -> bool {
        matches!(self, WatchTarget::Case(case) if event.case_number == *case)
            && event.court_code == court.as_str()
    }
}

/// The case part of a case watch's snapshot: its ledger, then each order; and whether the case
/// is closed (the stream then ends).
struct CaseSnapshot {
    events: Vec<pb::MeasureEvent>,
    closed: bool,
}

impl CourtService {
    pub(super) async fn watch_measures(&self, req: pb::WatchRequest) -> Result<WatchStream, Error> {
        let court = CourtCode::parse(&req.court_code).map_err(|e| invalid("court_code", e))?;
        let target = match req.target {
            Some(pb::watch_request::Target::MeasureId(id)) => WatchTarget::Measure(
                validate::measure_id(&id).map_err(|e| invalid("measure_id", e))?,
            ),
            Some(pb::watch_request::Target::CaseNumber(case)) => WatchTarget::Case(
                CaseNumber::parse(&case)
                    .map_err(|e| invalid("case_number", e))?
                    .to_string(),
            ),
            None => {
                return Err(
                    invalid("target", "name a measure_id or a case_number to watch").into(),
                );
            }
        };
        // Subscribe before reading the snapshot, so nothing between the two is missed.
        let mut signals = self.store.hub().subscribe();
        let snapshot = self.snapshot(&court, &target).await?;
        let case_snapshot = self.case_snapshot(&court, &target).await?;
        if let WatchTarget::Measure(id) = target
            && snapshot.is_empty()
        {
            return Err(
                Status::not_found(format!("no measure {id} ordered by court {court}")).into(),
            );
        }

        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let this = self.clone();
        let watching = self.metrics.watching();
        tokio::spawn(async move {
            // Counted as a watcher until this task ends with the stream.
            let _watching = watching;
            let mut seen: HashMap<Uuid, i64> = HashMap::new();
            if !send_snapshot(&tx, &mut seen, snapshot).await {
                return;
            }
            match send_case_snapshot(&tx, case_snapshot).await {
                Some(false) => {}
                Some(true) | None => return,
            }
            let mut last_case_event = 0;
            loop {
                let signal = tokio::select! {
                    () = this.shutdown.cancelled() => return,
                    () = tx.closed() => return,
                    signal = signals.recv() => signal,
                };
                let event = match signal {
                    Ok(Signal::Event(event)) => event,
                    Ok(Signal::Case(event)) => {
                        if !target.matches_case(&court, &event) || event.id <= last_case_event {
                            continue;
                        }
                        last_case_event = event.id;
                        let measure = match event.measure_id {
                            Some(id) => this
                                .store
                                .get(id)
                                .await
                                .ok()
                                .flatten()
                                .map(|m| m.to_proto()),
                            None => None,
                        };
                        if tx.send(Ok(event.to_proto(measure))).await.is_err()
                            || event.kind == pb::EventKind::CaseClosed as i32
                        {
                            return;
                        }
                        continue;
                    }
                    Ok(Signal::Resync) | Err(RecvError::Lagged(_)) => {
                        let again = async {
                            Ok::<_, Error>((
                                this.snapshot(&court, &target).await?,
                                this.case_snapshot(&court, &target).await?,
                            ))
                        };
                        match again.await {
                            Ok((rows, case)) => {
                                if !send_snapshot(&tx, &mut seen, rows).await {
                                    return;
                                }
                                match send_case_snapshot(&tx, case).await {
                                    Some(false) => {}
                                    Some(true) | None => return,
                                }
                            }
                            Err(e) => {
                                let _ = tx.send(Err(Status::from(e))).await;
                                return;
                            }
                        }
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                if event.court_code != court.as_str() || !target.matches(&event) {
                    continue;
                }
                let last = seen.entry(event.measure_id).or_insert(0);
                if event.version <= *last {
                    continue;
                }
                // Announced out of order or not at all (see `crate::events`): the versions
                // missed first, from the audit trail; a version arriving after is then skipped.
                let missed = if event.version > *last + 1 {
                    this.store
                        .events_between(event.measure_id, *last, event.version)
                        .await
                        .unwrap_or_else(|e| {
                            tracing::warn!(error = %e, measure = %event.measure_id, "reading missed audit entries failed");
                            Vec::new()
                        })
                } else {
                    Vec::new()
                };
                *last = event.version;
                for event in missed.iter().chain([&*event]) {
                    if tx.send(Ok(event.to_proto())).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Box::pin(ReceiverStream::new(rx)))
    }

    /// What is watched, as it stands: the measure, or every measure of the case.
    async fn snapshot(
        &self,
        court: &CourtCode,
        target: &WatchTarget,
    ) -> Result<Vec<MeasureRow>, Error> {
        match target {
            WatchTarget::Measure(id) => Ok(self
                .store
                .get(*id)
                .await?
                .filter(|row| row.is_of(court))
                .into_iter()
                .collect()),
            WatchTarget::Case(case) => {
                let mut rows = Vec::new();
                loop {
                    let page = self
                        .store
                        .list_case(
                            court,
                            case,
                            rows.last().map(|r: &MeasureRow| r.id),
                            i64::from(MAX_PAGE),
                        )
                        .await?;
                    let last_page = page.len() < MAX_PAGE as usize;
                    rows.extend(page);
                    if last_page {
                        return Ok(rows);
                    }
                }
            }
        }
    }
}

impl CourtService {
    /// For a case watch: the case's ledger and orders as they stand, if the court has the case.
    async fn case_snapshot(
        &self,
        court: &CourtCode,
        target: &WatchTarget,
    ) -> Result<Option<CaseSnapshot>, Error> {
        let WatchTarget::Case(case_number) = target else {
            return Ok(None);
        };
        let mut case = match self.case_view(court.as_str(), case_number).await {
            Ok(case) => case,
            Err(Error::Refused(status)) if status.code() == tonic::Code::NotFound => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let orders = std::mem::take(&mut case.orders);
        case.measures.clear();
        let closed = case.state == pb::CaseState::Closed as i32;
        let at = case.updated_at;
        let mut events = vec![pb::MeasureEvent {
            kind: pb::EventKind::Snapshot as i32,
            measure: None,
            at,
            message: String::new(),
            case: Some(case.clone()),
            order: None,
        }];
        events.extend(orders.into_iter().map(|order| pb::MeasureEvent {
            kind: pb::EventKind::Snapshot as i32,
            measure: None,
            at: order.updated_at,
            message: order.message.clone(),
            case: Some(case.clone()),
            order: Some(order),
        }));
        Ok(Some(CaseSnapshot { events, closed }))
    }
}

/// Sends a case watch's case snapshot: `Some(true)` if the case is closed (the stream ends),
/// `Some(false)` to go on, `None` once the client is gone.
async fn send_case_snapshot(
    tx: &mpsc::Sender<Result<pb::MeasureEvent, Status>>,
    snapshot: Option<CaseSnapshot>,
) -> Option<bool> {
    let Some(snapshot) = snapshot else {
        return Some(false);
    };
    for event in snapshot.events {
        if tx.send(Ok(event)).await.is_err() {
            return None;
        }
    }
    Some(snapshot.closed)
}

/// Sends the rows the client has not seen at their version; `false` once the client is gone.
async fn send_snapshot(
    tx: &mpsc::Sender<Result<pb::MeasureEvent, Status>>,
    seen: &mut HashMap<Uuid, i64>,
    rows: Vec<MeasureRow>,
) -> bool {
    for row in rows {
        let last = seen.entry(row.id).or_insert(0);
        if row.version <= *last {
            continue;
        }
        *last = row.version;
        let event = pb::MeasureEvent {
            kind: pb::EventKind::Snapshot as i32,
            at: Some(timestamp(row.updated_at)),
            message: String::new(),
            measure: Some(row.to_proto()),
            case: None,
            order: None,
        };
        if tx.send(Ok(event)).await.is_err() {
            return false;
        }
    }
    true
}
