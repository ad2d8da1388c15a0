//! An agency's office: what every reference agency does the same way whatever its trade — the
//! codes served, addressing, once-only execution through the [journal](crate::journal), the
//! periodic lapse of measures past expiry with its notices, and the `AgencyBackend` service. The
//! bank, the land registry and public security differ only in what they carry out ([`Trade`]).
//!
//! One process serves several codes (banks of a processing centre, registry regions, public
//! security units) from one PostgreSQL schema, every row tagged with its code: an instruction's
//! `agency.code` chooses the code, and an instruction for a code not served is refused with
//! `INVALID_ARGUMENT` before anything is read.

use std::{future::Future, marker::PhantomData, sync::Arc};

use enforcement_proto::v1::{
    self as pb, agency_backend_server::AgencyBackend, instruction::Action,
};
use hub_bus::signing::KeyedSigner;
use hub_domain::{AgencyCode, Clock};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    faults::Faults,
    journal, notices,
    outcome::{Changes, Lapse, Refusal},
    stored,
};

/// Most measures lapsed per code and round, so one round's transaction stays short.
const LAPSE_BATCH: i64 = 500;

/// What one kind of agency carries out itself.
pub trait Trade: Send + Sync + 'static {
    /// The kind of agency, as instructions address it.
    const KIND: pb::AgencyKind;
    /// What one code served is called ("bank", "registry region").
    const UNIT: &'static str;
    /// What the system is called in logs and errors ("land registry").
    const NAME: &'static str;
    /// The field naming the code in the administration service's requests (`bank_code`).
    const CODE_FIELD: &'static str;
    /// The refusal of an order the agency does not carry out, naming what it does.
    const SCOPE: &'static str;
    /// The codes with a measure in force whose expiry is at or before `$1`: one statement over
    /// the expiry index, so that a round of lapses with nothing due costs one round trip however
    /// many codes the system serves.
    const DUE_CODES: &'static str;

    /// Carries out an order at `desk`, with the name the journal records; `None` for an order
    /// the trade does not carry out.
    fn carry_out(
        desk: Desk<'_>,
        instruction: &pb::Instruction,
        action: &Action,
    ) -> impl Future<Output = Result<Option<Carried>, sqlx::Error>> + Send;

    /// Lapses up to `limit` measures past their expiry at `desk`, each with what its end caused
    /// (promotion, positions), for one notice each.
    fn lapse_due(
        desk: Desk<'_>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Lapse>, sqlx::Error>> + Send;
}

/// What carrying out an order changed and answered, and the action name the journal records.
pub type Carried = (Changes, Option<pb::InquiryAnswer>, &'static str);

/// Where one instruction, or one round of lapses, is worked on: the transaction, the code it is
/// for, and its "now". A trade turns it into its own register (holds, a ledger).
pub struct Desk<'a> {
    /// The caller's transaction.
    pub conn: &'a mut PgConnection,
    /// The code served that the work is for; no query sees another code's rows.
    pub agency_code: &'a str,
    /// The transaction's "now", from the clock (see [`stored::now`]).
    pub now: OffsetDateTime,
}

/// The state of an agency shared by its services and background tasks.
pub struct Office<T> {
    /// The register's schema, migrated; every code served keeps its rows here.
    pub(crate) pool: PgPool,
    /// The codes served; nothing else is answered.
    codes: Arc<[AgencyCode]>,
    /// Where "now" comes from; tests advance it to reach expiries.
    pub(crate) clock: Clock,
    /// Wakes the notice sender as soon as a notice is recorded, rather than at its next poll.
    pub(crate) notices_wake: Arc<Notify>,
    /// Trouble to have on `Execute`, for tests and demonstrations.
    faults: Arc<Faults>,
    /// The key answers are sealed with; none: unsealed.
    sealer: Option<Arc<KeyedSigner>>,
    /// The trade, in the type only: an office holds no state of its trade.
    trade: PhantomData<fn() -> T>,
}

impl<T> Clone for Office<T> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            codes: self.codes.clone(),
            clock: self.clock.clone(),
            notices_wake: self.notices_wake.clone(),
            faults: self.faults.clone(),
            sealer: self.sealer.clone(),
            trade: PhantomData,
        }
    }
}

impl<T: Trade> Office<T> {
    /// An office over a migrated pool, serving `codes`.
    pub fn new(pool: PgPool, codes: Vec<AgencyCode>, clock: Clock) -> Self {
        Self {
            pool,
            codes: codes.into(),
            clock,
            notices_wake: Arc::new(Notify::new()),
            faults: Arc::default(),
            sealer: None,
            trade: PhantomData,
        }
    }

    /// The office sealing every answer with `sealer`.
    pub fn with_sealer(mut self, sealer: Option<KeyedSigner>) -> Self {
        self.sealer = sealer.map(Arc::new);
        self
    }

    /// Seals `response`, the answer to `instruction` of agency `code` (see `Seal` in
    /// `agency.proto`). Ed25519 is deterministic: a repeated answer carries the same seal.
    fn seal(
        &self,
        code: &AgencyCode,
        instruction: &pb::Instruction,
        response: &mut pb::ExecuteResponse,
    ) {
        let Some(sealer) = &self.sealer else {
            return;
        };
        let mut updates = Vec::with_capacity(1 + response.related.len());
        if let Some(outcome) = &response.outcome {
            let mut outcome = outcome.clone();
            // The hub takes the outcome as the instruction's measure's: sealed so.
            outcome.measure_id.clone_from(&instruction.measure_id);
            updates.push(outcome);
        }
        updates.extend(response.related.iter().cloned());
        let bytes = enforcement_proto::seal::canonical_outcome(
            &sealer.key_id,
            Some(&Self::agency_ref(code)),
            &instruction.instruction_id,
            &updates,
            response.answer.as_ref(),
        );
        response.seal = Some(pb::Seal {
            key_id: sealer.key_id.clone(),
            signature: sealer.signer.sign_raw(&bytes),
        });
    }

    /// Faults to inject into `Execute` (slowness, outages), for demonstrating and testing how
    /// the hub copes with an agency in trouble.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The codes served.
    pub fn codes(&self) -> &[AgencyCode] {
        &self.codes
    }

    pub(crate) fn agency_ref(code: &AgencyCode) -> pb::AgencyRef {
        pb::AgencyRef {
            kind: T::KIND as i32,
            code: code.to_string(),
        }
    }

    /// The served code an administration request names: `code`, or the only one served if it
    /// is empty, so that one-code deployments need not repeat it. A code not served is
    /// `NOT_FOUND`.
    pub(crate) fn served_code(&self, code: &str) -> Result<&AgencyCode, Status> {
        let code = code.trim();
        if code.is_empty() {
            return match &*self.codes {
                [only] => Ok(only),
                _ => Err(Status::invalid_argument(format!(
                    "{} is required: this process serves several {}s",
                    T::CODE_FIELD,
                    T::UNIT
                ))),
            };
        }
        self.codes
            .iter()
            .find(|c| c.as_str() == code)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "this process serves {} {}, not {code}",
                    T::UNIT,
                    self.served()
                ))
            })
    }

    /// The served code an instruction is addressed to.
    fn addressed(&self, agency: Option<&pb::AgencyRef>) -> Result<&AgencyCode, Status> {
        let served = agency.and_then(|a| {
            (a.kind == T::KIND as i32)
                .then(|| self.codes.iter().find(|c| c.as_str() == a.code))
                .flatten()
        });
        served.ok_or_else(|| {
            Status::invalid_argument(format!(
                "this {} serves {} {}; the instruction is addressed elsewhere",
                T::NAME,
                T::UNIT,
                self.served()
            ))
        })
    }

    /// A database failure, logged in full and answered without internals: the adapter retries
    /// `UNAVAILABLE`.
    pub(crate) fn unavailable(e: sqlx::Error) -> Status {
        tracing::error!(error = %e, "{} database error", T::NAME);
        Status::unavailable(format!("the {} is unavailable; retry", T::NAME))
    }

    /// The codes served, for messages.
    pub fn served(&self) -> String {
        self.codes
            .iter()
            .map(AgencyCode::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Lapses measures past expiry under every code served, promotes what waited behind them and
    /// notifies the courts, one notice per measure lapsed. Returns how many lapsed.
    pub async fn lapse_due(&self) -> Result<usize, sqlx::Error> {
        let due: Vec<String> = sqlx::query_scalar(T::DUE_CODES)
            .bind(stored::now(&self.clock))
            .fetch_all(&self.pool)
            .await?;
        let mut lapsed = 0;
        for code in self
            .codes
            .iter()
            .filter(|c| due.iter().any(|d| d == c.as_str()))
        {
            let now = stored::now(&self.clock);
            let mut tx = self.pool.begin().await?;
            let desk = Desk {
                conn: &mut tx,
                agency_code: code.as_str(),
                now,
            };
            let lapses = T::lapse_due(desk, LAPSE_BATCH).await?;
            for lapse in &lapses {
                notices::record(
                    &mut tx,
                    &Self::agency_ref(code),
                    lapse.updates.clone(),
                    &lapse.message,
                    now,
                )
                .await?;
            }
            tx.commit().await?;
            lapsed += lapses.len();
        }
        if lapsed > 0 {
            self.notices_wake.notify_one();
        }
        Ok(lapsed)
    }

    /// Executes an instruction once; a repeat gets the stored answer. `None` only for a reminder
    /// of an instruction that never reached the agency.
    async fn execute_once(
        &self,
        code: &AgencyCode,
        instruction: &pb::Instruction,
    ) -> Result<Option<pb::ExecuteResponse>, sqlx::Error> {
        match self.try_execute(code, instruction).await {
            // A delivery at the same time may have answered first; this one's work was rolled
            // back.
            Err(e) if journal::may_be_answered(&e) => {
                let mut conn = self.pool.acquire().await?;
                match journal::recall(&mut conn, code.as_str(), &instruction.instruction_id).await?
                {
                    Some(answer) => Ok(Some(answer)),
                    None => Err(e),
                }
            }
            done => done,
        }
    }

    /// [`Self::execute_once`] in one transaction, which fails as [`journal::may_be_answered`] if
    /// another delivery of the instruction committed first.
    async fn try_execute(
        &self,
        code: &AgencyCode,
        instruction: &pb::Instruction,
    ) -> Result<Option<pb::ExecuteResponse>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if let Some(earlier) =
            journal::recall(&mut tx, code.as_str(), &instruction.instruction_id).await?
        {
            tx.commit().await?;
            return Ok(Some(earlier));
        }
        let now = stored::now(&self.clock);
        if let Some(pb::instruction::Action::Reminder(reminder)) = &instruction.action {
            // A reminder (督办) is answered with what was done about the instruction it reminds
            // of: that answer again, or nothing if the instruction never arrived.
            let Some(answer) =
                journal::recall(&mut tx, code.as_str(), &reminder.instruction_id).await?
            else {
                tx.commit().await?;
                return Ok(None);
            };
            journal::remember(
                &mut tx,
                code.as_str(),
                instruction,
                "reminder",
                &answer,
                now,
            )
            .await?;
            tx.commit().await?;
            return Ok(Some(answer));
        }
        let carried = match &instruction.action {
            Some(action) => {
                let desk = Desk {
                    conn: &mut tx,
                    agency_code: code.as_str(),
                    now,
                };
                T::carry_out(desk, instruction, action).await?
            }
            None => None,
        };
        let (changes, answer, action) = carried.unwrap_or_else(|| {
            (
                Changes::refused(
                    &instruction.measure_id,
                    Refusal::new(pb::ReasonCode::NotSupported, T::SCOPE),
                    now,
                ),
                None,
                "unsupported",
            )
        });
        let response = pb::ExecuteResponse {
            outcome: changes.outcome,
            related: changes.related,
            answer,
            seal: None,
        };
        journal::remember(&mut tx, code.as_str(), instruction, action, &response, now).await?;
        tx.commit().await?;
        Ok(Some(response))
    }
}

#[tonic::async_trait]
impl<T: Trade> AgencyBackend for Office<T> {
    async fn execute(
        &self,
        request: Request<pb::Instruction>,
    ) -> Result<Response<pb::ExecuteResponse>, Status> {
        let instruction = request.into_inner();
        if Uuid::parse_str(&instruction.instruction_id).is_err()
            || Uuid::parse_str(&instruction.measure_id).is_err()
        {
            return Err(Status::invalid_argument(
                "instruction_id and measure_id must be UUIDs",
            ));
        }
        self.faults.before_call().await?;
        let code = self.addressed(instruction.agency.as_ref())?;
        match self.execute_once(code, &instruction).await {
            Ok(None) => Err(Status::not_found(format!(
                "the reminded instruction has not reached {} {code}",
                T::UNIT
            ))),
            Ok(Some(mut response)) => {
                self.seal(code, &instruction, &mut response);
                tracing::info!(
                    agency = %code,
                    instruction = %instruction.instruction_id,
                    state = response.outcome.as_ref().map(|o| o.state).unwrap_or_default(),
                    "instruction executed"
                );
                Ok(Response::new(response))
            }
            Err(e) => Err(Self::unavailable(e)),
        }
    }
}
