//! The `CourtGateway` gRPC service: one file per RPC or group of RPCs.
//!
//! | RPC | file |
//! |---|---|
//! | `Submit` | [`submit`]: parse, registry, deduction check, instruction, record |
//! | `Release`, `Renew` | [`follow_up`] |
//! | `Get`, `List`, `ListExpiring` | [`read`] |
//! | `Watch` | [`watch`] |
//! | `Inquire`, `ListAnswers` | [`inquire`] |
//! | `GetCase`, `AmendCase`, `CloseCase` | [`case`] |
//! | `FreezeDeposits` (a case-level order) | [`case_order`] |
//!
//! Every RPC first checks that the caller's certificate is the court the request names
//! ([`Caller::may_act_for`]); the handlers then only ever read and write that court's measures.
//! Each handler returns the gateway's [`Error`]; what the court is told of it is decided once,
//! in `impl From<Error> for Status`.

mod case;
mod case_order;
mod follow_up;
mod inquire;
mod read;
mod submit;
mod watch;

use std::pin::Pin;

use enforcement_proto::{
    convert::timestamp,
    v1::{self as pb, court_gateway_server::CourtGateway},
};
use hub_bus::trace::{TRACEPARENT, TraceId};
use hub_domain::{Clock, CourtCode};
use time::{Duration, OffsetDateTime};
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    Error,
    caller::Caller,
    metrics::GatewayMetrics,
    store::{MeasureRow, NewMeasure, Recorded, Store},
};

/// Default and largest page of `List` and `ListExpiring`.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

/// The court-facing service.
#[derive(Clone)]
pub struct CourtService {
    store: Store,
    clock: Clock,
    instruction_deadline: Duration,
    shutdown: CancellationToken,
    metrics: GatewayMetrics,
    /// Plain-text mode: no certificates, the court each request names is believed.
    plaintext: bool,
}

impl CourtService {
    /// Builds the service; `shutdown` ends open watch streams.
    pub fn new(
        store: Store,
        clock: Clock,
        instruction_deadline: std::time::Duration,
        shutdown: CancellationToken,
        metrics: GatewayMetrics,
    ) -> Self {
        Self {
            store,
            clock,
            instruction_deadline: Duration::try_from(instruction_deadline).unwrap_or(Duration::DAY),
            shutdown,
            metrics,
            plaintext: false,
        }
    }

    /// Believes the court each request names (the plain-text mode, without certificates).
    pub fn believing_requests(mut self, plaintext: bool) -> Self {
        self.plaintext = plaintext;
        self
    }

    /// The request, if the caller's certificate is the court it names (see [`Caller`]).
    fn authorised<T>(
        &self,
        request: Request<T>,
        court_code: impl Fn(&T) -> &str,
    ) -> Result<T, Status> {
        let caller = Caller::of(&request, self.plaintext);
        let request = request.into_inner();
        caller.may_act_for(court_code(&request))?;
        Ok(request)
    }

    /// Records a measure (or finds the original of a resubmission); the relay is woken.
    async fn record(&self, measure: NewMeasure) -> Result<pb::SubmitResponse, Error> {
        let recorded = self.store.record(&measure).await?;
        if let Recorded::New(row) = &recorded {
            tracing::info!(measure = %row.id, kind = %row.kind, court = %row.court_code, agency = %row.agency.code(), "measure recorded");
        }
        Ok(submitted(recorded))
    }

    /// The court's own measure, or `NOT_FOUND` (also for another court's measure: a court must
    /// not learn what others ordered).
    async fn own_measure(&self, court: &CourtCode, id: Uuid) -> Result<MeasureRow, Error> {
        match self.store.get(id).await? {
            Some(row) if row.is_of(court) => Ok(row),
            _ => Err(Status::not_found(format!("no measure {id} ordered by court {court}")).into()),
        }
    }
}

/// The answer to an order: the measure, and whether it was recorded before.
fn submitted(recorded: Recorded) -> pb::SubmitResponse {
    let (row, duplicate) = match recorded {
        Recorded::New(row) => (row, false),
        Recorded::Duplicate(row) => (row, true),
    };
    pb::SubmitResponse {
        measure: Some(row.to_proto()),
        duplicate,
    }
}

/// What every instruction of one measure carries, whatever it orders: the measure, the court,
/// the case and subject, when it was issued and until when it may be carried out.
pub(crate) struct Envelope<'a> {
    pub(crate) measure_id: Uuid,
    pub(crate) court: &'a CourtCode,
    pub(crate) case: Option<pb::CaseInfo>,
    pub(crate) subject: Option<pb::Subject>,
    pub(crate) issued_at: OffsetDateTime,
    pub(crate) deadline: OffsetDateTime,
}

impl Envelope<'_> {
    /// The instruction `instruction_id` to `agency` carrying `action`.
    pub(crate) fn instruction(
        &self,
        instruction_id: Uuid,
        agency: pb::AgencyRef,
        action: pb::instruction::Action,
    ) -> pb::Instruction {
        pb::Instruction {
            instruction_id: instruction_id.to_string(),
            measure_id: self.measure_id.to_string(),
            court_code: self.court.to_string(),
            case: self.case.clone(),
            subject: self.subject.clone(),
            agency: Some(agency),
            issued_at: Some(timestamp(self.issued_at)),
            deadline: Some(timestamp(self.deadline)),
            action: Some(action),
        }
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::MeasureEvent, Status>> + Send>>;
type InquireStream = Pin<Box<dyn Stream<Item = Result<pb::InquiryEvent, Status>> + Send>>;

/// A handler's result as gRPC answers it.
fn answer<T>(result: Result<T, Error>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl CourtGateway for CourtService {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let started = std::time::Instant::now();
        let trace = trace_of(request.metadata());
        let submitted = self
            .submit_measure(self.authorised(request, |r| &r.court_code)?, trace)
            .await;
        let result = match &submitted {
            Ok(response) if response.duplicate => "duplicate",
            Ok(response) => {
                if let Some(m) = &response.measure {
                    let kind = enforcement_proto::convert::kind_from_proto(m.kind)
                        .map_or("unknown", |k| k.as_str());
                    let agency = m.agency.as_ref().map_or("", |a| a.code.as_str());
                    self.metrics.submitted(kind, agency);
                }
                "accepted"
            }
            Err(Error::Refused(_) | Error::KeyReused(_)) => "refused",
            Err(_) => "error",
        };
        self.metrics.submit_took(result, started.elapsed());
        answer(submitted)
    }

    async fn get(&self, request: Request<pb::GetRequest>) -> Result<Response<pb::Measure>, Status> {
        answer(
            self.get_measure(self.authorised(request, |r| &r.court_code)?)
                .await,
        )
    }

    async fn list(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        answer(
            self.list_case(self.authorised(request, |r| &r.court_code)?)
                .await,
        )
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        answer(
            self.watch_measures(self.authorised(request, |r| &r.court_code)?)
                .await,
        )
    }

    type InquireStream = InquireStream;

    async fn inquire(
        &self,
        request: Request<pb::InquireRequest>,
    ) -> Result<Response<Self::InquireStream>, Status> {
        answer(
            self.inquire_agencies(self.authorised(request, |r| &r.court_code)?)
                .await,
        )
    }

    async fn list_answers(
        &self,
        request: Request<pb::ListAnswersRequest>,
    ) -> Result<Response<pb::ListAnswersResponse>, Status> {
        answer(
            self.inquiry_answers(self.authorised(request, |r| &r.court_code)?)
                .await,
        )
    }

    async fn list_expiring(
        &self,
        request: Request<pb::ListExpiringRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        answer(
            self.list_expiring_measures(self.authorised(request, |r| &r.court_code)?)
                .await,
        )
    }

    async fn release(
        &self,
        request: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        answer(
            self.release_measure(self.authorised(request, |r| &r.court_code)?)
                .await,
        )
    }

    async fn renew(
        &self,
        request: Request<pb::RenewRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        answer(
            self.renew_measure(self.authorised(request, |r| &r.court_code)?)
                .await,
        )
    }

    async fn get_case(
        &self,
        request: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        answer(
            self.read_case(self.authorised(request, |r| &r.court_code)?)
                .await,
        )
    }

    async fn freeze_deposits(
        &self,
        request: Request<pb::FreezeDepositsRequest>,
    ) -> Result<Response<pb::CaseOrder>, Status> {
        answer(
            self.place_order(self.authorised(request, |r| &r.court_code)?)
                .await,
        )
    }

    async fn amend_case(
        &self,
        request: Request<pb::AmendCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        answer(
            self.amend_amount(self.authorised(request, |r| &r.court_code)?)
                .await,
        )
    }

    async fn close_case(
        &self,
        request: Request<pb::CloseCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        answer(
            self.close_down(self.authorised(request, |r| &r.court_code)?)
                .await,
        )
    }
}

/// The trace a court's call belongs to: the trace id of its `traceparent` metadata when that is
/// well formed, else a new one. A malformed one is not refused: tracing is the hub's aid, not a
/// condition of an order.
pub(crate) fn trace_of(metadata: &tonic::metadata::MetadataMap) -> TraceId {
    metadata
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| TraceId::from_traceparent(v).ok())
        .unwrap_or_else(TraceId::generate)
}
