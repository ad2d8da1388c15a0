//! The `CourtGateway` gRPC service.

use std::{collections::HashMap, pin::Pin, sync::Arc};

use enforcement_proto::{
    convert::timestamp,
    v1::{self as pb, court_gateway_server::CourtGateway},
};
use hub_domain::{AgencyCode, AgencyId, AgencyKind, CaseNumber, Clock, CourtCode, MeasureKind};
use prost::Message;
use time::Duration;
use tokio::sync::{Notify, broadcast::error::RecvError, mpsc};
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    events::{EventHub, Signal},
    inquiry,
    registry::{self, Known},
    store::{MeasureRow, NewMeasure, Recorded, Store, StoreError},
    validate::{self, Scope, invalid},
};

/// Default and largest page of `List`.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;
/// Events buffered per watch stream before the stream falls back to resynchronising.
const WATCH_BUFFER: usize = 64;

/// The court-facing service.
#[derive(Clone)]
pub struct CourtService {
    store: Store,
    hub: EventHub,
    clock: Clock,
    relay_wake: Arc<Notify>,
    instruction_deadline: Duration,
    shutdown: CancellationToken,
}

impl CourtService {
    /// Builds the service; `shutdown` ends open watch streams.
    pub fn new(
        store: Store,
        hub: EventHub,
        clock: Clock,
        relay_wake: Arc<Notify>,
        instruction_deadline: std::time::Duration,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            store,
            hub,
            clock,
            relay_wake,
            instruction_deadline: Duration::try_from(instruction_deadline).unwrap_or(Duration::DAY),
            shutdown,
        }
    }

    /// Records a measure (or finds the original of a resubmission) and wakes the relay.
    async fn record(&self, measure: NewMeasure) -> Result<Response<pb::SubmitResponse>, Status> {
        match self.store.record(&measure).await {
            Ok(Recorded::New(row)) => {
                self.relay_wake.notify_one();
                tracing::info!(measure = %row.id, kind = %row.kind, court = %row.court_code, agency = %row.agency_code, "measure recorded");
                Ok(Response::new(pb::SubmitResponse {
                    measure: Some(row.to_proto()),
                    duplicate: false,
                }))
            }
            Ok(Recorded::Duplicate(row)) => Ok(Response::new(pb::SubmitResponse {
                measure: Some(row.to_proto()),
                duplicate: true,
            })),
            Err(StoreError::KeyReused(original)) => Err(Status::already_exists(format!(
                "idempotency_key was already used by this court for a different request (measure {original}); choose a new key"
            ))),
            Err(StoreError::Db(e)) => Err(unavailable(e)),
        }
    }

    /// If the court already used `key`, the answer for it: the original measure if the request
    /// is the same, `ALREADY_EXISTS` if not.
    async fn earlier_use_of_key(
        &self,
        court: &CourtCode,
        key: &str,
        request: &[u8],
    ) -> Result<Option<Response<pb::SubmitResponse>>, Status> {
        let found: Option<(Uuid, Vec<u8>)> = sqlx::query_as(
            "SELECT id, request FROM measures WHERE court_code = $1 AND idempotency_key = $2",
        )
        .bind(court.as_str())
        .bind(key)
        .fetch_optional(self.store.pool())
        .await
        .map_err(unavailable)?;
        let Some((id, original)) = found else {
            return Ok(None);
        };
        if original != request {
            return Err(Status::already_exists(format!(
                "idempotency_key was already used by this court for a different request (measure {id}); choose a new key"
            )));
        }
        let row = self.store.get(id).await.map_err(unavailable)?;
        Ok(row.map(|row| {
            Response::new(pb::SubmitResponse {
                measure: Some(row.to_proto()),
                duplicate: true,
            })
        }))
    }

    /// The court's own measure, or `NOT_FOUND` (also for another court's measure: a court must
    /// not learn what others ordered).
    async fn own_measure(&self, court: &CourtCode, id: Uuid) -> Result<MeasureRow, Status> {
        match self.store.get(id).await.map_err(unavailable)? {
            Some(row) if row.court_code == court.as_str() => Ok(row),
            _ => Err(Status::not_found(format!(
                "no measure {id} ordered by court {court}"
            ))),
        }
    }

    /// The case and subject of the original request behind `row`, for follow-up instructions.
    async fn original_request(&self, row: &MeasureRow) -> Result<pb::SubmitRequest, Status> {
        let bytes: Vec<u8> = sqlx::query_scalar("SELECT request FROM measures WHERE id = $1")
            .bind(row.id)
            .fetch_one(self.store.pool())
            .await
            .map_err(unavailable)?;
        pb::SubmitRequest::decode(bytes.as_slice()).map_err(|e| {
            tracing::error!(measure = %row.id, error = %e, "stored request does not decode");
            Status::internal("the measure's stored request is unreadable")
        })
    }

    /// A follow-up measure (release, renewal) on `target`, to the same agency and asset.
    #[allow(clippy::too_many_arguments)]
    fn follow_up(
        &self,
        court: &CourtCode,
        key: String,
        request: Vec<u8>,
        kind: MeasureKind,
        target: &MeasureRow,
        original: &pb::SubmitRequest,
        action: pb::instruction::Action,
    ) -> Result<NewMeasure, Status> {
        let agency = row_agency(target)?;
        let now = self.clock.now();
        let id = Uuid::now_v7();
        let instruction_id = Uuid::now_v7();
        let deadline = now + self.instruction_deadline;
        let instruction = pb::Instruction {
            instruction_id: instruction_id.to_string(),
            measure_id: id.to_string(),
            court_code: court.to_string(),
            case: original.case.clone(),
            subject: original.subject.clone(),
            agency: original.agency.clone(),
            issued_at: Some(timestamp(now)),
            deadline: Some(timestamp(deadline)),
            action: Some(action),
        };
        Ok(NewMeasure {
            id,
            court_code: court.to_string(),
            idempotency_key: key,
            request,
            case_number: target.case_number.clone(),
            kind,
            agency,
            asset_key: target.asset_key.clone(),
            asset_display: target.asset_display.clone(),
            target: Some(target.id),
            requested_fen: 0,
            instruction_id,
            deadline,
            submitted_at: now,
            payload: instruction.encode_to_vec(),
            addressed: 0,
        })
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::MeasureEvent, Status>> + Send>>;
type InquireStream = Pin<Box<dyn Stream<Item = Result<pb::InquiryEvent, Status>> + Send>>;

/// Default and largest horizon of ListExpiring, in days.
const DEFAULT_EXPIRING_DAYS: u32 = 30;
const MAX_EXPIRING_DAYS: u32 = 3660;

#[tonic::async_trait]
impl CourtGateway for CourtService {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let req = request.into_inner();
        let now = self.clock.now();
        let valid = validate::submit(&req, now)?;
        match registry::lookup(
            &self.store,
            valid.agency.kind,
            valid.agency.code.as_str(),
            valid.kind,
        )
        .await
        .map_err(unavailable)?
        {
            Known::Carries => {}
            Known::Unknown => {
                return Err(invalid(
                    "agency.code",
                    format!(
                        "no {} {} is connected to the hub",
                        valid.agency.kind.as_str(),
                        valid.agency.code
                    ),
                ));
            }
            Known::DoesNotCarry => {
                return Err(invalid(
                    "agency.code",
                    format!(
                        "{} {} does not carry out {} measures through the hub",
                        valid.agency.kind.as_str(),
                        valid.agency.code,
                        valid.kind.as_str().replace('_', "-")
                    ),
                ));
            }
        }
        if let Some(freeze_id) = valid.deduct_from {
            let freeze = self.store.get(freeze_id).await.map_err(unavailable)?;
            let usable = freeze.as_ref().is_some_and(|f| {
                f.court_code == valid.court.as_str()
                    && f.kind == MeasureKind::Freeze.as_str()
                    && f.asset_key == valid.asset_key
            });
            if !usable {
                return Err(invalid(
                    "deduction.freeze_measure_id",
                    "must name this court's own freeze on the same account at the same bank",
                ));
            }
        }
        let measure_id = Uuid::now_v7();
        let instruction_id = Uuid::now_v7();
        let deadline = now + self.instruction_deadline;
        let action = match valid.normalised.measure.clone() {
            Some(pb::submit_request::Measure::Freeze(m)) => pb::instruction::Action::Freeze(m),
            Some(pb::submit_request::Measure::Deduction(m)) => {
                pb::instruction::Action::Deduction(m)
            }
            Some(pb::submit_request::Measure::SealUp(m)) => pb::instruction::Action::SealUp(m),
            Some(pb::submit_request::Measure::Distraint(m)) => {
                pb::instruction::Action::Distraint(m)
            }
            Some(pb::submit_request::Measure::ExitRestriction(m)) => {
                pb::instruction::Action::ExitRestriction(m)
            }

            None => return Err(invalid("measure", "exactly one measure is required")),
        };
        let instruction = pb::Instruction {
            instruction_id: instruction_id.to_string(),
            measure_id: measure_id.to_string(),
            court_code: valid.court.to_string(),
            case: valid.normalised.case.clone(),
            subject: valid.normalised.subject.clone(),
            agency: valid.normalised.agency.clone(),
            issued_at: Some(timestamp(now)),
            deadline: Some(timestamp(deadline)),
            action: Some(action),
        };
        self.record(NewMeasure {
            id: measure_id,
            court_code: valid.court.to_string(),
            idempotency_key: valid.idempotency_key.clone(),
            request: valid.normalised.encode_to_vec(),
            case_number: valid.case_number.to_string(),
            kind: valid.kind,
            agency: valid.agency.clone(),
            asset_key: valid.asset_key.clone(),
            asset_display: valid.asset_display.clone(),
            target: None,
            requested_fen: valid.requested_fen,
            instruction_id,
            deadline,
            submitted_at: now,
            payload: instruction.encode_to_vec(),
            addressed: 0,
        })
        .await
    }

    async fn get(&self, request: Request<pb::GetRequest>) -> Result<Response<pb::Measure>, Status> {
        let req = request.into_inner();
        let court = CourtCode::parse(&req.court_code).map_err(|e| invalid("court_code", e))?;
        let id = validate::measure_id(&req.measure_id).map_err(|e| invalid("measure_id", e))?;
        Ok(Response::new(
            self.own_measure(&court, id).await?.to_proto(),
        ))
    }

    async fn list(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let req = request.into_inner();
        let mut v = validate::Violations::default();
        let court = v.check("court_code", CourtCode::parse(&req.court_code));
        let case = v.check("case_number", CaseNumber::parse(&req.case_number));
        let after = if req.page_token.is_empty() {
            Some(None)
        } else {
            v.check(
                "page_token",
                Uuid::parse_str(&req.page_token)
                    .map(Some)
                    .map_err(|_| "is not a token returned by List"),
            )
        };
        if req.page_size > MAX_PAGE {
            v.add("page_size", format!("must be at most {MAX_PAGE}"));
        }
        v.finish()?;
        let (Some(court), Some(case), Some(after)) = (court, case, after) else {
            return Err(Status::internal("validation incomplete"));
        };
        let size = if req.page_size == 0 {
            DEFAULT_PAGE
        } else {
            req.page_size
        };
        // One more than asked, to know whether another page follows.
        let mut rows = self
            .store
            .list_case(court.as_str(), case.as_str(), after, i64::from(size) + 1)
            .await
            .map_err(unavailable)?;
        let more = rows.len() > size as usize;
        rows.truncate(size as usize);
        let next_page_token = if more {
            rows.last().map(|r| r.id.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListResponse {
            measures: rows.iter().map(MeasureRow::to_proto).collect(),
            next_page_token,
        }))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let req = request.into_inner();
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
                return Err(invalid(
                    "target",
                    "name a measure_id or a case_number to watch",
                ));
            }
        };
        // Subscribe before reading the snapshot, so nothing between the two is missed.
        let mut signals = self.hub.subscribe();
        let snapshot = self.snapshot(&court, &target).await?;
        if let WatchTarget::Measure(id) = target
            && snapshot.is_empty()
        {
            return Err(Status::not_found(format!(
                "no measure {id} ordered by court {court}"
            )));
        }

        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let this = self.clone();
        tokio::spawn(async move {
            let mut seen: HashMap<Uuid, i64> = HashMap::new();
            if !send_snapshot(&tx, &mut seen, snapshot).await {
                return;
            }
            loop {
                let signal = tokio::select! {
                    () = this.shutdown.cancelled() => return,
                    () = tx.closed() => return,
                    signal = signals.recv() => signal,
                };
                let event = match signal {
                    Ok(Signal::Event(event)) => event,
                    Ok(Signal::Resync) | Err(RecvError::Lagged(_)) => {
                        match this.snapshot(&court, &target).await {
                            Ok(rows) => {
                                if !send_snapshot(&tx, &mut seen, rows).await {
                                    return;
                                }
                            }
                            Err(status) => {
                                let _ = tx.send(Err(status)).await;
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
                *last = event.version;
                if tx.send(Ok(event.to_proto())).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type InquireStream = InquireStream;

    async fn inquire(
        &self,
        request: Request<pb::InquireRequest>,
    ) -> Result<Response<Self::InquireStream>, Status> {
        let valid = validate::inquire(&request.into_inner())?;
        let codes = match &valid.scope {
            Scope::All => {
                let codes = registry::carriers(&self.store, valid.kind, MeasureKind::Inquiry)
                    .await
                    .map_err(unavailable)?;
                if codes.is_empty() {
                    return Err(Status::failed_precondition(format!(
                        "no {} answering inquiries is connected to the hub",
                        valid.kind.as_str()
                    )));
                }
                codes
            }
            Scope::Listed(listed) => {
                let codes: Vec<String> = listed.iter().map(ToString::to_string).collect();
                let unusable =
                    registry::unusable(&self.store, valid.kind, &codes, MeasureKind::Inquiry)
                        .await
                        .map_err(unavailable)?;
                if !unusable.is_empty() {
                    let single = matches!(request_scope(&valid), ScopeShape::One);
                    let mut v = validate::Violations::default();
                    for (code, known) in unusable {
                        let i = codes.iter().position(|c| *c == code).unwrap_or(0);
                        let field = if single {
                            "agency.code".to_string()
                        } else {
                            format!("agencies.agencies[{i}].code")
                        };
                        let why = match known {
                            Known::DoesNotCarry => "does not answer inquiries through the hub",
                            _ => "is not connected to the hub",
                        };
                        v.add(&field, format!("{} {code} {why}", valid.kind.as_str()));
                    }
                    v.finish()?;
                }
                codes
            }
        };
        let row = match inquiry::record(&self.store, &valid, &codes, self.clock.now()).await {
            Ok(Recorded::New(row)) => {
                self.relay_wake.notify_one();
                tracing::info!(measure = %row.id, agencies = codes.len(), "inquiry recorded");
                row
            }
            Ok(Recorded::Duplicate(row)) => row,
            Err(StoreError::KeyReused(original)) => {
                return Err(Status::already_exists(format!(
                    "idempotency_key was already used by this court for a different request (measure {original}); choose a new key"
                )));
            }
            Err(StoreError::Db(e)) => return Err(unavailable(e)),
        };
        let rx = inquiry::stream(self.store.clone(), &self.hub, row.id, self.shutdown.clone());
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_answers(
        &self,
        request: Request<pb::ListAnswersRequest>,
    ) -> Result<Response<pb::ListAnswersResponse>, Status> {
        let req = request.into_inner();
        let court = CourtCode::parse(&req.court_code).map_err(|e| invalid("court_code", e))?;
        let id = validate::measure_id(&req.measure_id).map_err(|e| invalid("measure_id", e))?;
        let row = self.own_measure(&court, id).await?;
        if row.kind != MeasureKind::Inquiry.as_str() {
            return Err(Status::failed_precondition(format!(
                "measure {id} is a {}, not an inquiry",
                row.kind.replace('_', "-")
            )));
        }
        let answers = inquiry::answers(&self.store, id)
            .await
            .map_err(unavailable)?;
        Ok(Response::new(pb::ListAnswersResponse {
            inquiry: Some(row.to_proto()),
            answers,
        }))
    }

    async fn list_expiring(
        &self,
        request: Request<pb::ListExpiringRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let req = request.into_inner();
        let mut v = validate::Violations::default();
        let court = v.check("court_code", CourtCode::parse(&req.court_code));
        if req.within_days > MAX_EXPIRING_DAYS {
            v.add(
                "within_days",
                format!("must be at most {MAX_EXPIRING_DAYS}"),
            );
        }
        if req.page_size > MAX_PAGE {
            v.add("page_size", format!("must be at most {MAX_PAGE}"));
        }
        let after = if req.page_token.is_empty() {
            Some(None)
        } else {
            v.check("page_token", expiring_token(&req.page_token).map(Some))
        };
        v.finish()?;
        let (Some(court), Some(after)) = (court, after) else {
            return Err(Status::internal("validation incomplete"));
        };
        let days = if req.within_days == 0 {
            DEFAULT_EXPIRING_DAYS
        } else {
            req.within_days
        };
        let size = if req.page_size == 0 {
            DEFAULT_PAGE
        } else {
            req.page_size
        };
        let now = self.clock.now();
        let mut rows = self
            .store
            .expiring(
                court.as_str(),
                now,
                now + Duration::days(i64::from(days)),
                after,
                i64::from(size) + 1,
            )
            .await
            .map_err(unavailable)?;
        let more = rows.len() > size as usize;
        rows.truncate(size as usize);
        let next_page_token = match (more, rows.last()) {
            (true, Some(last)) => last
                .expires_at
                .map(|e| format!("{}_{}", e.unix_timestamp_nanos() / 1_000, last.id))
                .unwrap_or_default(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListResponse {
            measures: rows.iter().map(MeasureRow::to_proto).collect(),
            next_page_token,
        }))
    }

    async fn release(
        &self,
        request: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let req = request.into_inner();
        let valid = validate::release(&req)?;
        let canonical = pb::ReleaseRequest {
            court_code: valid.court.to_string(),
            idempotency_key: valid.idempotency_key.clone(),
            measure_id: valid.target.to_string(),
            reason: valid.reason.clone(),
        }
        .encode_to_vec();
        if let Some(earlier) = self
            .earlier_use_of_key(&valid.court, &valid.idempotency_key, &canonical)
            .await?
        {
            return Ok(earlier);
        }
        let target = self.own_measure(&valid.court, valid.target).await?;
        let kind = target.kind();
        if !matches!(
            kind,
            Some(
                MeasureKind::Freeze
                    | MeasureKind::SealUp
                    | MeasureKind::Distraint
                    | MeasureKind::ExitRestriction
            )
        ) {
            return Err(Status::failed_precondition(format!(
                "a {} cannot be released; only freezes, seal-ups, distraints and exit restrictions can",
                target.kind.replace('_', "-")
            )));
        }
        if target.state().is_final() {
            return Err(Status::failed_precondition(format!(
                "measure {} is {}; only a measure in force, waiting or under way can be released",
                target.id, target.state
            )));
        }
        if let Some(release) = self
            .store
            .live_release_of(target.id)
            .await
            .map_err(unavailable)?
        {
            return Err(Status::failed_precondition(format!(
                "measure {} is already being released by measure {}",
                target.id, release.id
            )));
        }
        let original = self.original_request(&target).await?;
        let measure = self.follow_up(
            &valid.court,
            valid.idempotency_key,
            canonical,
            MeasureKind::Release,
            &target,
            &original,
            pb::instruction::Action::Release(pb::Release {
                target_measure_id: target.id.to_string(),
                reason: valid.reason,
            }),
        )?;
        self.record(measure).await
    }

    async fn renew(
        &self,
        request: Request<pb::RenewRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let req = request.into_inner();
        let valid = validate::renew(&req)?;
        let canonical = pb::RenewRequest {
            court_code: valid.court.to_string(),
            idempotency_key: valid.idempotency_key.clone(),
            measure_id: valid.target.to_string(),
            period: Some(pb::Period {
                months: valid.period.months(),
                days: valid.period.days(),
            }),
        }
        .encode_to_vec();
        if let Some(earlier) = self
            .earlier_use_of_key(&valid.court, &valid.idempotency_key, &canonical)
            .await?
        {
            return Ok(earlier);
        }
        let target = self.own_measure(&valid.court, valid.target).await?;
        let Some(
            kind @ (MeasureKind::Freeze
            | MeasureKind::SealUp
            | MeasureKind::Distraint
            | MeasureKind::ExitRestriction),
        ) = target.kind()
        else {
            return Err(Status::failed_precondition(format!(
                "a {} cannot be renewed; only freezes, seal-ups, distraints and exit restrictions can",
                target.kind.replace('_', "-")
            )));
        };
        let now = self.clock.now();
        if !target.state().is_in_force() {
            return Err(Status::failed_precondition(format!(
                "measure {} is {}; only a measure in force can be renewed",
                target.id, target.state
            )));
        }
        if let Some(expiry) = target.expires_at
            && expiry <= now
        {
            return Err(Status::failed_precondition(format!(
                "renewal must be made before expiry (民诉解释 art. 485): measure {} expired at {expiry}",
                target.id
            )));
        }
        let start = target.expires_at.unwrap_or(now);
        validate::period_for(kind, "period", valid.period, start)?;
        let original = self.original_request(&target).await?;
        let measure = self.follow_up(
            &valid.court,
            valid.idempotency_key,
            canonical,
            MeasureKind::Renewal,
            &target,
            &original,
            pb::instruction::Action::Renewal(pb::Renewal {
                target_measure_id: target.id.to_string(),
                period: Some(pb::Period {
                    months: valid.period.months(),
                    days: valid.period.days(),
                }),
            }),
        )?;
        self.record(measure).await
    }
}

/// Whether an inquiry named one agency or several.
enum ScopeShape {
    One,
    Many,
}

fn request_scope(valid: &validate::ValidInquiry) -> ScopeShape {
    match valid.normalised.scope {
        Some(pb::inquire_request::Scope::Agency(_)) => ScopeShape::One,
        _ => ScopeShape::Many,
    }
}

/// Parses a ListExpiring page token: `<expiry in microseconds>_<measure id>`.
fn expiring_token(token: &str) -> Result<(time::OffsetDateTime, Uuid), &'static str> {
    let bad = "is not a token returned by ListExpiring";
    let (micros, id) = token.split_once('_').ok_or(bad)?;
    let micros: i128 = micros.parse().map_err(|_| bad)?;
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(micros * 1_000).map_err(|_| bad)?;
    Ok((at, Uuid::parse_str(id).map_err(|_| bad)?))
}

/// What a watch stream follows.
#[derive(Clone, Debug)]
enum WatchTarget {
    Measure(Uuid),
    Case(String),
}

impl WatchTarget {
    fn matches(&self, event: &crate::store::EventRow) -> bool {
        match self {
            WatchTarget::Measure(id) => event.measure_id == *id,
            WatchTarget::Case(case) => event.case_number == *case,
        }
    }
}

impl CourtService {
    async fn snapshot(
        &self,
        court: &CourtCode,
        target: &WatchTarget,
    ) -> Result<Vec<MeasureRow>, Status> {
        match target {
            WatchTarget::Measure(id) => Ok(self
                .store
                .get(*id)
                .await
                .map_err(unavailable)?
                .filter(|row| row.court_code == court.as_str())
                .into_iter()
                .collect()),
            WatchTarget::Case(case) => {
                let mut rows = Vec::new();
                loop {
                    let page = self
                        .store
                        .list_case(
                            court.as_str(),
                            case,
                            rows.last().map(|r: &MeasureRow| r.id),
                            i64::from(MAX_PAGE),
                        )
                        .await
                        .map_err(unavailable)?;
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
        };
        if tx.send(Ok(event)).await.is_err() {
            return false;
        }
    }
    true
}

fn row_agency(row: &MeasureRow) -> Result<AgencyId, Status> {
    let kind = AgencyKind::parse(&row.agency_kind);
    let code = AgencyCode::parse(&row.agency_code);
    match (kind, code) {
        (Ok(kind), Ok(code)) => Ok(AgencyId { kind, code }),
        _ => {
            tracing::error!(measure = %row.id, "stored agency does not parse");
            Err(Status::internal(
                "the measure's stored agency is unreadable",
            ))
        }
    }
}

/// Database trouble, logged in full and answered without detail.
fn unavailable(e: sqlx::Error) -> Status {
    tracing::error!(error = %e, "database error");
    Status::unavailable("the hub's database is unavailable; retry shortly")
}
