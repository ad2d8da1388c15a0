//! The operators' dashboard: one page served on the gateway's HTTP port (`/dashboard`) that
//! keeps itself current over server-sent events (`/dashboard/events`). It shows every agency
//! with its queue and whether an adapter consumes it, throughput and response time over the last
//! minutes, the overdue measures, the dead letters (with replay) and the month's ranking.
//!
//! It is a view over the [`Ops`] service, so it says what `hubctl ops` and `hubctl dlq` say. A
//! sampler takes a snapshot every `GATEWAY_DASHBOARD_INTERVAL_MS` while at least one page is
//! open, and none while nobody watches; every page gets the same snapshot. Dead letters are
//! only counted by the sampler (a passive declare), and listed when a page asks, because
//! listing takes them off their queue for a moment.
//!
//! Reading is open to whoever reaches the HTTP port, like `/metrics`: it holds no personal data
//! (assets are masked, subjects not shown). Replaying a dead letter changes the hub, so it
//! needs the operator token `GATEWAY_DASHBOARD_TOKEN` as `Authorization: Bearer …`; without a
//! token configured, replay from the dashboard is off.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{
        Html, IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{get, post},
};
use enforcement_proto::{convert, v1 as pb, v1::ops_server::Ops};
use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use tokio::sync::{Mutex, Notify, watch};
use tokio_util::sync::CancellationToken;
use tonic::Request;

use crate::{ops::OpsService, store::Store};

/// The page: HTML, style and script in one file, no external resource.
const PAGE: &str = include_str!("dashboard.html");

/// Overdue measures shown (the total is always given).
const OVERDUE_SHOWN: u32 = 20;

/// Dead letters listed.
const DEAD_LETTERS_SHOWN: u32 = 50;

/// Samples of throughput kept for the charts.
const HISTORY: usize = 150;

/// The window throughput and response time are counted over.
const WINDOW: time::Duration = time::Duration::MINUTE;

/// What the dashboard needs.
pub struct Dashboard {
    ops: OpsService,
    store: Store,
    clock: hub_domain::Clock,
    token: Option<String>,
    interval: Duration,
    snapshots: watch::Sender<Option<Arc<str>>>,
    /// Poked when a page subscribes, so a sampler idle for want of watchers starts at once.
    watched: Notify,
    history: Mutex<VecDeque<Value>>,
}

impl Dashboard {
    /// A dashboard over `ops`, sampling every `interval`; replay allowed with `token`.
    pub fn new(
        ops: OpsService,
        store: Store,
        clock: hub_domain::Clock,
        token: Option<String>,
        interval: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            ops,
            store,
            clock,
            token: token.filter(|t| !t.trim().is_empty()),
            interval: interval.max(Duration::from_millis(100)),
            snapshots: watch::Sender::new(None),
            watched: Notify::new(),
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
        })
    }

    /// The dashboard's routes, for the gateway's HTTP server.
    pub fn routes(self: &Arc<Self>, shutdown: CancellationToken) -> Router {
        Router::new()
            .route("/dashboard", get(page))
            .route("/dashboard/events", get(events))
            .route("/dashboard/api/dead-letters", get(dead_letters))
            .route(
                "/dashboard/api/dead-letters/{message_id}/replay",
                post(replay),
            )
            .route("/dashboard/api/ranking/{month}", get(ranking))
            .with_state(Served {
                dashboard: self.clone(),
                shutdown,
            })
    }

    /// Takes a snapshot every interval while a page watches, until `shutdown`.
    pub async fn sample(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            if self.snapshots.receiver_count() == 0 {
                tokio::select! {
                    () = self.watched.notified() => continue,
                    () = shutdown.cancelled() => return,
                }
            }
            let snapshot = self.snapshot().await;
            self.snapshots
                .send_replace(Some(snapshot.to_string().into()));
            tokio::select! {
                () = tokio::time::sleep(self.interval) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Everything the page shows but the dead-letter list and the ranking. A part that cannot
    /// be read is left out and named in `errors`, so the rest still shows.
    pub async fn snapshot(&self) -> Value {
        let now = self.clock.now();
        let mut errors = Vec::new();
        let agencies = match self
            .ops
            .agency_figures(Request::new(pb::AgencyFiguresRequest {}))
            .await
        {
            Ok(f) => f.into_inner().agencies.iter().map(agency).collect(),
            Err(e) => {
                errors.push(format!("agencies: {}", e.message()));
                Vec::new()
            }
        };
        let overdue = match self
            .ops
            .list_overdue(Request::new(pb::ListOverdueRequest {
                limit: OVERDUE_SHOWN,
            }))
            .await
        {
            Ok(o) => {
                let o = o.into_inner();
                json!({
                    "total": o.total,
                    "measures": o.overdue.iter().map(overdue).collect::<Vec<_>>(),
                })
            }
            Err(e) => {
                errors.push(format!("overdue: {}", e.message()));
                Value::Null
            }
        };
        let dead_letters = match self.ops.dead_letter_count().await {
            Ok(total) => json!({ "total": total }),
            Err(e) => {
                errors.push(format!("dead letters: {}", e.message()));
                Value::Null
            }
        };
        let throughput = match self.throughput(now).await {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("throughput: {e}"));
                Value::Null
            }
        };
        let history = {
            let mut history = self.history.lock().await;
            if !throughput.is_null() {
                if history.len() == HISTORY {
                    history.pop_front();
                }
                history.push_back(throughput.clone());
            }
            history.iter().cloned().collect::<Vec<_>>()
        };
        json!({
            "at": rfc3339(now),
            "month": month_of(now),
            "agencies": agencies,
            "throughput": throughput,
            "history": history,
            "overdue": overdue,
            "dead_letters": dead_letters,
            "replay": self.token.is_some(),
            "errors": errors,
        })
    }

    /// Measures submitted and agencies' answers over the last minute, with the answers'
    /// response times.
    async fn throughput(&self, now: OffsetDateTime) -> Result<Value, crate::Error> {
        let since = now - WINDOW;
        let submitted = self.store.submitted_since(since).await?;
        let answers = self.store.answers_since(since).await?;
        let mut response_ms: Vec<i64> = answers
            .values()
            .flat_map(|w| w.response_ms.iter().copied())
            .collect();
        let answered: i64 = answers.values().map(|w| w.answered).sum();
        Ok(json!({
            "at": rfc3339(now),
            "window_ms": WINDOW.whole_milliseconds() as i64,
            "submitted": submitted,
            "answered": answered,
            "p50_ms": crate::figures::percentile(&mut response_ms, 50),
            "p95_ms": crate::figures::percentile(&mut response_ms, 95),
        }))
    }

    /// Whether `headers` carry the operator token.
    fn may_replay(&self, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
        let Some(token) = &self.token else {
            return Err((
                StatusCode::FORBIDDEN,
                "replay from the dashboard is off: the gateway has no GATEWAY_DASHBOARD_TOKEN \
                 (use hubctl dlq replay)"
                    .into(),
            ));
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if same(given.trim().as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err((
                StatusCode::UNAUTHORIZED,
                "replay needs the operator token (Authorization: Bearer …)".into(),
            ))
        }
    }
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[derive(Clone)]
struct Served {
    dashboard: Arc<Dashboard>,
    shutdown: CancellationToken,
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src 'self' data:",
            ),
        ],
        Html(PAGE),
    )
}

/// The snapshots as server-sent events (`event: snapshot`), the latest first; the stream ends
/// when the gateway shuts down, so a page never holds its shutdown up.
async fn events(State(served): State<Served>) -> impl IntoResponse {
    let mut receiver = served.dashboard.snapshots.subscribe();
    // The snapshot there is already counts as news, so a page gets it at once.
    receiver.mark_changed();
    served.dashboard.watched.notify_one();
    let state = (receiver, served.shutdown);
    let stream = futures_util::stream::unfold(state, |(mut rx, shutdown)| async move {
        loop {
            tokio::select! {
                changed = rx.changed() => changed.ok()?,
                () = shutdown.cancelled() => return None,
            }
            let latest = rx.borrow_and_update().clone();
            if let Some(snapshot) = latest {
                let event = Event::default().event("snapshot").data(&*snapshot);
                return Some((Ok::<_, std::convert::Infallible>(event), (rx, shutdown)));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /dashboard/api/dead-letters`: the oldest dead letters, with why each is there.
async fn dead_letters(State(served): State<Served>) -> Response {
    let listed = served
        .dashboard
        .ops
        .list_dead_letters(Request::new(pb::ListDeadLettersRequest {
            limit: DEAD_LETTERS_SHOWN,
        }))
        .await;
    match listed {
        Ok(l) => {
            let l = l.into_inner();
            Json(json!({
                "total": l.total,
                "dead_letters": l.dead_letters.iter().map(dead_letter).collect::<Vec<_>>(),
            }))
            .into_response()
        }
        Err(e) => failure(&e),
    }
}

/// `POST /dashboard/api/dead-letters/{id}/replay`: sends it again where it was going.
async fn replay(
    State(served): State<Served>,
    Path(message_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = served.dashboard.may_replay(&headers) {
        return (refused.0, Json(json!({ "error": refused.1 }))).into_response();
    }
    let replayed = served
        .dashboard
        .ops
        .replay_dead_letter(Request::new(pb::DeadLetterRequest {
            message_id: message_id.clone(),
        }))
        .await;
    match replayed {
        Ok(letter) => {
            tracing::warn!(message = %message_id, "dead letter replayed from the dashboard");
            Json(dead_letter(&letter.into_inner())).into_response()
        }
        Err(e) => failure(&e),
    }
}

/// `GET /dashboard/api/ranking/{YYYY-MM}`: the month's ranking.
async fn ranking(State(served): State<Served>, Path(month): Path<String>) -> Response {
    let ranked = served
        .dashboard
        .ops
        .ranking(Request::new(pb::RankingRequest { month }))
        .await;
    match ranked {
        Ok(r) => Json(ranking_json(&r.into_inner())).into_response(),
        Err(e) => failure(&e),
    }
}

/// A refused or failed Ops call as an HTTP answer with its message.
fn failure(status: &tonic::Status) -> Response {
    let code = match status.code() {
        tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        tonic::Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (code, Json(json!({ "error": status.message() }))).into_response()
}

/// The calendar month `at` falls in, in China Standard Time, as `YYYY-MM`: the ranking shown.
fn month_of(at: OffsetDateTime) -> String {
    let local = at.to_offset(hub_domain::CHINA_STANDARD_TIME);
    format!("{:04}-{:02}", local.year(), u8::from(local.month()))
}

fn rfc3339(at: OffsetDateTime) -> Value {
    at.format(&Rfc3339).map_or(Value::Null, Value::String)
}

fn time(at: Option<&prost_types::Timestamp>) -> Value {
    convert::instant_opt(at).map_or(Value::Null, rfc3339)
}

fn agency(a: &pb::AgencyFigures) -> Value {
    let status = match (a.queue_exists, a.connected) {
        (false, _) => "no queue",
        (true, false) => "no consumer",
        (true, true) => "connected",
    };
    let window = |w: Option<&pb::AgencyWindow>| {
        let w = w.cloned().unwrap_or_default();
        json!({
            "answered": w.answered,
            "failed": w.failed,
            "rejected": w.rejected,
            "error_rate_bp": w.error_rate_bp,
            "refusal_rate_bp": w.refusal_rate_bp,
            "p50_ms": w.p50_response_ms,
            "p95_ms": w.p95_response_ms,
        })
    };
    json!({
        "agency": format!("{}.{}", a.agency_kind, a.agency_code),
        "kind": a.agency_kind,
        "code": a.agency_code,
        "status": status,
        "queue_depth": a.queue_depth,
        "consumers": a.consumers,
        "in_flight": a.in_flight,
        "oldest_waiting": time(a.oldest_waiting.as_ref()),
        "last_announced": time(a.last_announced.as_ref()),
        "last_hour": window(a.last_hour.as_ref()),
        "last_day": window(a.last_day.as_ref()),
    })
}

fn overdue(o: &pb::OverdueMeasure) -> Value {
    let m = o.measure.clone().unwrap_or_default();
    let agency = m.agency.as_ref().map_or_else(String::new, |a| {
        let kind = convert::agency_kind_from_proto(a.kind).map_or("unknown", |k| k.as_str());
        format!("{kind}.{}", a.code)
    });
    json!({
        "measure_id": m.measure_id,
        "kind": convert::kind_from_proto(m.kind).map_or("unknown", |k| k.as_str()),
        "state": convert::state_from_proto(m.state).map_or("unknown", |s| s.as_str()),
        "agency": agency,
        "court_code": m.court_code,
        "case_number": m.case_number,
        "level": m.overdue_level,
        "due_at": time(o.due_at.as_ref()),
        "overdue_ms": o.overdue_ms,
    })
}

fn dead_letter(l: &pb::DeadLetter) -> Value {
    json!({
        "message_id": l.message_id,
        "measure_id": l.measure_id,
        "type": l.r#type,
        "reason": l.reason,
        "source_queue": l.source_queue,
        "routing_key": l.routing_key,
        "court": l.court,
        "published_at": time(l.published_at.as_ref()),
        "size_bytes": l.size_bytes,
    })
}

fn ranking_json(r: &pb::RankingResponse) -> Value {
    json!({
        "month": r.month,
        "at": time(r.at.as_ref()),
        "agencies": r.agencies.iter().map(|a| json!({
            "agency": format!("{}.{}", a.agency_kind, a.agency_code),
            "measures": a.measures,
            "on_time": a.on_time,
            "late": a.late,
            "unanswered": a.unanswered,
            "on_time_rate_bp": a.on_time_rate_bp,
            "median_response_ms": a.median_response_ms,
            "rejected": a.rejected,
            "failed": a.failed,
        })).collect::<Vec<_>>(),
        "courts": r.courts.iter().map(|c| json!({
            "court_code": c.court_code,
            "measures": c.measures,
            "effective": c.effective,
            "rejected": c.rejected,
            "effective_rate_bp": c.effective_rate_bp,
            "cases": c.cases,
            "enforcement_fen": c.enforcement_fen,
            "secured_fen": c.secured_fen,
            "secured_rate_bp": c.secured_rate_bp,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_month_shown_is_the_one_in_china_standard_time() {
        use time::macros::datetime;
        assert_eq!(month_of(datetime!(2026-11-30 15:59:59 UTC)), "2026-11");
        assert_eq!(month_of(datetime!(2026-11-30 16:00:00 UTC)), "2026-12");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"s3cret", b"s3cret"));
        assert!(!same(b"s3cret", b"s3creT"));
        assert!(!same(b"s3cret", b"s3cre"));
        assert!(!same(b"", b"x"));
    }

    #[test]
    fn an_agency_reads_as_connected_no_consumer_or_no_queue() {
        let mut a = pb::AgencyFigures {
            agency_kind: "bank".into(),
            agency_code: "ICBC".into(),
            queue_exists: true,
            connected: true,
            queue_depth: 3,
            consumers: 1,
            ..Default::default()
        };
        let v = agency(&a);
        assert_eq!(v["agency"], "bank.ICBC");
        assert_eq!(v["status"], "connected");
        assert_eq!(v["queue_depth"], 3);
        a.connected = false;
        a.consumers = 0;
        assert_eq!(agency(&a)["status"], "no consumer");
        a.queue_exists = false;
        assert_eq!(agency(&a)["status"], "no queue");
    }
}
