//! The `Ops` gRPC service: dead letters listed, inspected, replayed, discarded; agency keys,
//! overdue measures, the audit chain, agency and court figures ([`crate::figures`]) and a
//! measure's trace ([`crate::trace`]).
//!
//! Each call opens its own broker connection (operators act rarely) and takes messages off the
//! dead-letter queue with manual acknowledgement: the ones it was not asked to remove are
//! returned to the queue before the call ends, and a connection lost midway returns them too.

use enforcement_proto::v1::{self as pb, ops_server::Ops};
use hub_bus::{
    MessageMeta, Published, Publisher, header_str,
    signing::HEADER_SIGNATURE,
    topology::{DEAD_LETTER_QUEUE, INSTRUCTIONS_EXCHANGE, OUTCOMES_EXCHANGE},
};
use lapin::{
    Channel, Connection,
    message::Delivery,
    options::{BasicGetOptions, QueueDeclareOptions},
    types::FieldTable,
};
use tonic::{Request, Response, Status};

use crate::dead_letters::{describe, message_id_of};

/// Default and largest number of dead letters listed.
const DEFAULT_LIST: u32 = 100;
const MAX_LIST: u32 = 1000;
/// The AMQP `type` of instructions and reports.
pub(crate) const INSTRUCTION_TYPE: &str = "enforcement.v1.Instruction";
pub(crate) const REPORT_TYPE: &str = "enforcement.v1.AgencyReport";

/// Dead-letter operations on the hub's broker, and the registry of agency keys.
#[derive(Clone)]
pub struct OpsService {
    amqp_url: String,
    /// The registry of agency keys.
    store: crate::store::Store,
    clock: hub_domain::Clock,
    /// When agencies must have answered, for the overdue list.
    deadlines: crate::overdue::AnswerDeadlines,
    /// The public key instructions are signed with (hex), for evidence.
    gateway_key: Option<String>,
}

impl OpsService {
    /// Operations on the broker at `amqp_url` and on the keys and measures in `store`.
    pub fn new(amqp_url: String, store: crate::store::Store, clock: hub_domain::Clock) -> Self {
        Self {
            amqp_url,
            store,
            clock,
            deadlines: crate::overdue::AnswerDeadlines::default(),
            gateway_key: None,
        }
    }

    /// The gateway's instruction-signing public key (hex), given with evidence.
    pub fn with_gateway_key(mut self, key: Option<String>) -> Self {
        self.gateway_key = key;
        self
    }

    /// The answer deadlines overdue measures are listed by, and the ranking counts on time against.
    pub fn with_deadlines(mut self, deadlines: crate::overdue::AnswerDeadlines) -> Self {
        self.deadlines = deadlines;
        self
    }

    /// How many dead letters wait, counted without taking any (a passive declare).
    pub async fn dead_letter_count(&self) -> Result<u32, Status> {
        let session = self.session().await?;
        let total = session.total().await;
        session.close().await;
        total
    }

    async fn session(&self) -> Result<Session, Status> {
        let connection = hub_bus::connect(&self.amqp_url, "enforcement-ops")
            .await
            .map_err(broker)?;
        let channel = hub_bus::reply::within("opening a channel", connection.create_channel())
            .await
            .map_err(broker)?;
        Ok(Session {
            connection,
            channel,
            taken: Vec::new(),
        })
    }
}

/// A broker session of one call, holding the dead letters it has taken.
struct Session {
    connection: Connection,
    channel: Channel,
    taken: Vec<Delivery>,
}

impl Session {
    /// How many dead letters wait.
    async fn total(&self) -> Result<u32, Status> {
        let queue = hub_bus::reply::within(
            "counting dead letters",
            self.channel.queue_declare(
                DEAD_LETTER_QUEUE.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            ),
        )
        .await
        .map_err(broker)?;
        Ok(queue.message_count())
    }

    /// Takes the next dead letter, if any.
    async fn take(&mut self) -> Result<Option<&Delivery>, Status> {
        let got = hub_bus::reply::within(
            "taking a dead letter",
            self.channel
                .basic_get(DEAD_LETTER_QUEUE.into(), BasicGetOptions { no_ack: false }),
        )
        .await
        .map_err(broker)?;
        Ok(got.map(|message| {
            self.taken.push(message.delivery);
            &self.taken[self.taken.len() - 1]
        }))
    }

    /// Takes dead letters until one has `message_id`, or none is left to take.
    async fn find(&mut self, message_id: &str) -> Result<Option<usize>, Status> {
        if message_id.trim().is_empty() {
            return Err(crate::validate::invalid("message_id", "is required"));
        }
        while let Some(d) = self.take().await? {
            if message_id_of(&d.properties) == message_id {
                return Ok(Some(self.taken.len() - 1));
            }
        }
        Ok(None)
    }

    /// Removes the taken dead letter at `index` for good.
    async fn remove(&mut self, index: usize) -> Result<(), Status> {
        let delivery = self.taken.remove(index);
        hub_bus::reply::ack(&delivery).await.map_err(broker)?;
        Ok(())
    }

    /// Returns every other taken dead letter to the queue and closes.
    async fn close(self) {
        for delivery in &self.taken {
            let _ = hub_bus::reply::requeue(delivery).await;
        }
        let _ = hub_bus::reply::within("closing", self.connection.close(200, "done".into())).await;
    }
}

#[tonic::async_trait]
impl Ops for OpsService {
    async fn add_agency_key(
        &self,
        request: Request<pb::AgencyKey>,
    ) -> Result<Response<pb::AgencyKey>, Status> {
        crate::keys::add(&self.store, &self.clock, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn enrol_agency(
        &self,
        request: Request<pb::EnrolAgencyRequest>,
    ) -> Result<Response<pb::AgencyEnrolment>, Status> {
        crate::keys::enrol(&self.store, &self.clock, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn set_agency_suspended(
        &self,
        request: Request<pb::SetAgencySuspendedRequest>,
    ) -> Result<Response<pb::AgencyEnrolment>, Status> {
        crate::keys::set_suspended(&self.store, &self.clock, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_agency_keys(
        &self,
        request: Request<pb::ListAgencyKeysRequest>,
    ) -> Result<Response<pb::ListAgencyKeysResponse>, Status> {
        crate::keys::list(&self.store, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_overdue(
        &self,
        request: Request<pb::ListOverdueRequest>,
    ) -> Result<Response<pb::ListOverdueResponse>, Status> {
        let limit = list_limit(request.into_inner().limit)?;
        let (rows, total) = self
            .store
            .list_overdue(i64::from(limit))
            .await
            .map_err(crate::Error::from)?;
        let now = self.clock.now();
        let overdue = rows
            .iter()
            .map(|row| {
                let due = self.deadlines.due_at(row, 1);
                pb::OverdueMeasure {
                    measure: Some(row.to_proto()),
                    due_at: Some(enforcement_proto::convert::timestamp(due)),
                    overdue_ms: i64::try_from((now - due).whole_milliseconds().max(0))
                        .unwrap_or(i64::MAX),
                    deadline_secs: self.deadlines.secs(row.agency.kind(), row.kind),
                }
            })
            .collect();
        Ok(Response::new(pb::ListOverdueResponse {
            overdue,
            total: u32::try_from(total).unwrap_or(u32::MAX),
        }))
    }

    async fn evidence(
        &self,
        request: Request<pb::EvidenceRequest>,
    ) -> Result<Response<pb::EvidenceResponse>, Status> {
        crate::evidence::gather(
            &self.store,
            &request.into_inner().measure_id,
            self.gateway_key.as_deref(),
            self.clock.now(),
        )
        .await
        .map(Response::new)
    }

    async fn trace(
        &self,
        request: Request<pb::TraceRequest>,
    ) -> Result<Response<pb::TraceResponse>, Status> {
        crate::trace::trace(&self.store, &request.into_inner().measure_id)
            .await
            .map(Response::new)
    }

    async fn verify_audit(
        &self,
        _request: Request<pb::VerifyAuditRequest>,
    ) -> Result<Response<pb::VerifyAuditResponse>, Status> {
        let chains = crate::audit::verify(&self.store)
            .await
            .map_err(crate::Error::from)?;
        Ok(Response::new(pb::VerifyAuditResponse { chains }))
    }

    async fn agency_figures(
        &self,
        _request: Request<pb::AgencyFiguresRequest>,
    ) -> Result<Response<pb::AgencyFiguresResponse>, Status> {
        crate::figures::agencies(&self.store, &self.amqp_url, self.clock.now())
            .await
            .map(Response::new)
    }

    async fn ranking(
        &self,
        request: Request<pb::RankingRequest>,
    ) -> Result<Response<pb::RankingResponse>, Status> {
        let month = crate::figures::month(&request.into_inner().month)?;
        let now = self.clock.now();
        crate::figures::ranking(&self.store, &self.deadlines, month, now)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn retire_agency_key(
        &self,
        request: Request<pb::RetireAgencyKeyRequest>,
    ) -> Result<Response<pb::AgencyKey>, Status> {
        crate::keys::retire(&self.store, &self.clock, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        let limit = list_limit(request.into_inner().limit)?;
        let mut session = self.session().await?;
        let total = session.total().await;
        let mut letters = Vec::new();
        let listed = async {
            for _ in 0..limit.min(total.clone()?) {
                match session.take().await? {
                    Some(d) => letters.push(describe(d, false)),
                    None => break,
                }
            }
            Ok::<_, Status>(())
        }
        .await;
        session.close().await;
        listed?;
        Ok(Response::new(pb::ListDeadLettersResponse {
            dead_letters: letters,
            total: total?,
        }))
    }

    async fn inspect_dead_letter(
        &self,
        request: Request<pb::DeadLetterRequest>,
    ) -> Result<Response<pb::DeadLetter>, Status> {
        let id = request.into_inner().message_id;
        let mut session = self.session().await?;
        let found = session.find(&id).await;
        let letter = match &found {
            Ok(Some(i)) => Some(describe(&session.taken[*i], true)),
            _ => None,
        };
        session.close().await;
        found?;
        letter.map(Response::new).ok_or_else(|| not_found(&id))
    }

    async fn replay_dead_letter(
        &self,
        request: Request<pb::DeadLetterRequest>,
    ) -> Result<Response<pb::DeadLetter>, Status> {
        let id = request.into_inner().message_id;
        let mut session = self.session().await?;
        let replayed = replay(&mut session, &id).await;
        session.close().await;
        replayed.map(Response::new)
    }

    async fn discard_dead_letter(
        &self,
        request: Request<pb::DeadLetterRequest>,
    ) -> Result<Response<pb::DeadLetter>, Status> {
        let id = request.into_inner().message_id;
        let mut session = self.session().await?;
        let discarded = async {
            let index = session.find(&id).await?.ok_or_else(|| not_found(&id))?;
            let letter = describe(&session.taken[index], false);
            session.remove(index).await?;
            tracing::warn!(message = %id, reason = %letter.reason, "dead letter discarded by an operator");
            Ok(letter)
        }
        .await;
        session.close().await;
        discarded.map(Response::new)
    }
}

/// Publishes the dead letter `id` again where it was going, confirmed, then removes it.
async fn replay(session: &mut Session, id: &str) -> Result<pb::DeadLetter, Status> {
    let index = session.find(id).await?.ok_or_else(|| not_found(id))?;
    let delivery = &session.taken[index];
    let letter = describe(delivery, false);
    let exchange = match letter.r#type.as_str() {
        INSTRUCTION_TYPE => INSTRUCTIONS_EXCHANGE,
        REPORT_TYPE => OUTCOMES_EXCHANGE,
        other => {
            return Err(Status::failed_precondition(format!(
                "dead letter {id} is of type {other:?}: there is no telling where it was going"
            )));
        }
    };
    let props = &delivery.properties;
    let headers = ["court", "asset", "deadline", HEADER_SIGNATURE]
        .into_iter()
        .filter_map(|k| header_str(props, k).map(|v| (k.to_string(), v.to_string())))
        .collect();
    let meta = MessageMeta {
        message_id: letter.message_id.clone(),
        correlation_id: props.correlation_id().as_ref().map(|c| c.to_string()),
        kind: letter.r#type.clone(),
        timestamp: props.timestamp().unwrap_or(0),
        headers,
    };
    let payload = delivery.data.clone();
    // Back to the one agency it was taken from, even if it first went to all agencies of a kind.
    let routing_key = letter
        .source_queue
        .strip_prefix("agency.")
        .map_or_else(|| letter.routing_key.clone(), str::to_string);
    let publisher = Publisher::open(&session.connection).await.map_err(broker)?;
    let published = publisher
        .publish(exchange, &routing_key, &payload, &meta)
        .await;
    let _ =
        hub_bus::reply::within("closing", publisher.channel().close(200, "replayed".into())).await;
    match published.map_err(|e| {
        tracing::error!(error = %e, "replaying a dead letter failed");
        Status::unavailable("the broker did not take the replayed message; retry")
    })? {
        Published::Confirmed => {}
        Published::Returned { .. } => {
            return Err(Status::failed_precondition(format!(
                "nothing is bound to {exchange} {routing_key}: the agency is not connected; the dead letter stays"
            )));
        }
    }
    session.remove(index).await?;
    tracing::info!(message = %id, routing_key = %letter.routing_key, "dead letter replayed by an operator");
    Ok(letter)
}

fn not_found(id: &str) -> Status {
    Status::not_found(format!(
        "no dead letter {id} is waiting (replayed or discarded already, or being looked at by another operator?)"
    ))
}

fn broker(e: lapin::Error) -> Status {
    crate::Error::Broker(e).into()
}

/// How many to list for a requested `limit`: 0 means the default; more than the most is refused.
fn list_limit(limit: u32) -> Result<u32, Status> {
    match limit {
        0 => Ok(DEFAULT_LIST),
        n if n > MAX_LIST => Err(crate::validate::invalid(
            "limit",
            format!("must be at most {MAX_LIST}"),
        )),
        n => Ok(n),
    }
}
