//! A hold-keeping agency's office: the land registry and public security differ in what they
//! hold and how they answer inquiries ([`Trade`]), and share everything else here — the codes
//! served, addressing, once-only execution through the journal, release, renewal, lapse and the
//! `AgencyBackend` service.
//!
//! One process serves several codes (registry regions, public security units) from one
//! PostgreSQL schema, every row tagged with its code: an instruction's `agency.code` chooses the
//! code, and an instruction for a code not served is refused with `INVALID_ARGUMENT` before
//! anything is read.

use std::{future::Future, marker::PhantomData, sync::Arc};

use enforcement_proto::v1::{
    self as pb, agency_backend_server::AgencyBackend, instruction::Action,
};
use hub_domain::{AgencyCode, Clock};
use sqlx::PgPool;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    faults::Faults,
    holds::{self, Changes, Holds, Refusal, journal},
    notices,
};

/// Most holds lapsed per code and round, so one round's transaction stays short.
const LAPSE_BATCH: i64 = 500;

/// What one kind of hold-keeping agency carries out itself.
pub trait Trade: Send + Sync + 'static {
    /// The kind of agency, as instructions address it.
    const KIND: pb::AgencyKind;
    /// What one code served is called ("registry region").
    const UNIT: &'static str;
    /// What the system is called in logs and errors ("land registry").
    const NAME: &'static str;
    /// The refusal of an order the agency does not carry out, naming what it does.
    const SCOPE: &'static str;

    /// Carries out the orders particular to the trade (holds, inquiries), with the name the
    /// journal records; `None` for an order the trade does not carry out. Release and renewal
    /// are common to every trade and never reach it.
    fn carry_out(
        holds: &mut Holds<'_>,
        instruction: &pb::Instruction,
        action: &Action,
    ) -> impl Future<Output = Result<Option<Carried>, sqlx::Error>> + Send;
}

/// What carrying out an order changed and answered, and the action name the journal records.
pub type Carried = (Changes, Option<pb::InquiryAnswer>, &'static str);

/// The state of a hold-keeping agency shared by its services and background tasks.
pub struct Office<T> {
    pub(crate) pool: PgPool,
    /// The codes served; nothing else is answered.
    codes: Arc<[AgencyCode]>,
    pub(crate) clock: Clock,
    pub(crate) notices_wake: Arc<Notify>,
    faults: Arc<Faults>,
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
            trade: PhantomData,
        }
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
    /// is empty (as the bank's administration does, so that one-code deployments need not
    /// repeat it). A code not served is `NOT_FOUND`.
    pub(crate) fn served_code(&self, code: &str) -> Result<&AgencyCode, Status> {
        let code = code.trim();
        if code.is_empty() {
            return match &*self.codes {
                [only] => Ok(only),
                _ => Err(Status::invalid_argument(format!(
                    "agency_code is required: this process serves several {}s",
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

    /// The codes served, for messages.
    pub fn served(&self) -> String {
        self.codes
            .iter()
            .map(AgencyCode::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Lapses holds past expiry under every code served, promotes what waited behind them and
    /// notifies the courts. Returns how many lapsed.
    pub async fn lapse_due(&self) -> Result<usize, sqlx::Error> {
        let mut lapsed = 0;
        for code in self.codes.iter() {
            let now = holds::now(&self.clock);
            let mut tx = self.pool.begin().await?;
            let lapses = Holds {
                conn: &mut tx,
                agency_code: code.as_str(),
                now,
            }
            .lapse_due(LAPSE_BATCH)
            .await?;
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

    /// Executes an instruction once; a repeat gets the stored answer.
    async fn execute_once(
        &self,
        code: &AgencyCode,
        instruction: &pb::Instruction,
    ) -> Result<pb::ExecuteResponse, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if let Some(earlier) =
            journal::recall(&mut tx, code.as_str(), &instruction.instruction_id).await?
        {
            tx.commit().await?;
            return Ok(earlier);
        }
        let now = holds::now(&self.clock);
        let mut holds = Holds {
            conn: &mut tx,
            agency_code: code.as_str(),
            now,
        };
        let carried = match &instruction.action {
            Some(Action::Release(order)) => {
                Some((holds.release(instruction, order).await?, None, "release"))
            }
            Some(Action::Renewal(order)) => {
                Some((holds.renew(instruction, order).await?, None, "renewal"))
            }
            Some(action) => T::carry_out(&mut holds, instruction, action).await?,
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
            seal: Vec::new(),
        };
        journal::remember(&mut tx, code.as_str(), instruction, action, &response, now).await?;
        tx.commit().await?;
        Ok(response)
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
            Ok(response) => {
                tracing::info!(
                    agency = %code,
                    instruction = %instruction.instruction_id,
                    state = response.outcome.as_ref().map(|o| o.state).unwrap_or_default(),
                    "instruction executed"
                );
                Ok(Response::new(response))
            }
            Err(e) => Err(unavailable::<T>(e)),
        }
    }
}

/// A database failure, logged in full and answered without internals: the adapter retries
/// `UNAVAILABLE`.
pub(crate) fn unavailable<T: Trade>(e: sqlx::Error) -> Status {
    tracing::error!(error = %e, "{} database error", T::NAME);
    Status::unavailable(format!("the {} is unavailable; retry", T::NAME))
}
