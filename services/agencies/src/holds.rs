//! What the hold-keeping agencies (the land registry and public security) share: a register of
//! holds on assets, with a waiting line for the exclusive ones, and a journal of answered
//! instructions.
//!
//! A *hold* is a court's measure that binds one asset for a period: a seal-up (查封) or
//! pre-seizure (预查封) of a property, a distraint (扣押) of a vehicle, an exit restriction (限制出境)
//! on a person. The rules, the same at every such agency:
//!
//! - An exclusive hold binds its asset alone (民诉法 art. 106): a later court's hold on an asset
//!   with a hold in force or waiting is registered as WAITING (轮候), ranked by receipt
//!   (查扣冻规定 2020 art. 26). Exit restrictions are not exclusive: every court's is EFFECTIVE.
//! - When the hold in force ends (released, lapsed), the earliest waiting one takes effect on its
//!   own, its period counted from that moment, and the positions behind it move up.
//! - A renewal before expiry moves the expiry by the period (counted from the current expiry, at
//!   most the statutory maximum again) and keeps the hold's place; after expiry it is refused.
//! - Only the ordering court may release or renew its hold.
//!
//! Every change increments the hold's `revision` and becomes a `MeasureUpdate`; the caller puts it
//! in the instruction's answer or, for changes nobody asked for (lapse, promotion after a lapse,
//! pre-seizure conversion), in a notice written in the same transaction.
//!
//! Locking: the asset's row first (property, vehicle, person), then its holds. Concurrent
//! instructions, lapses and title registrations on one asset therefore serialise, and cannot
//! deadlock because every path takes the locks in that order.

use enforcement_proto::{
    convert::{timestamp, timestamp_opt},
    v1 as pb,
};
use hub_domain::{
    CHINA_STANDARD_TIME, Clock, CreditCode, OrganisationName, Period, PersonName, ResidentId,
    StatutoryMaximum,
};
use prost::Message;
use sqlx::PgConnection;
use time::OffsetDateTime;
use tonic::Status;
use uuid::Uuid;

/// A stored word (kind, state) that this version does not know: the row was written by a newer
/// version or by hand.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {found:?} in the register")]
pub struct UnknownWord {
    what: &'static str,
    found: String,
}

impl UnknownWord {
    /// `found` is not a `what` this version knows.
    pub fn new(what: &'static str, found: String) -> Self {
        Self { what, found }
    }
}

/// What a hold is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldKind {
    /// Seal-up (查封) or pre-seizure (预查封) of a property; exclusive; at most 36 months.
    SealUp,
    /// Distraint (扣押) of a vehicle; exclusive; at most 24 months.
    Distraint,
    /// Exit restriction (限制出境) on a person; not exclusive; no statutory maximum.
    ExitRestriction,
}

impl HoldKind {
    /// The word stored in `holds.kind`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SealUp => "seal_up",
            Self::Distraint => "distraint",
            Self::ExitRestriction => "exit_restriction",
        }
    }

    /// Whether a second hold on the same asset must wait (民诉法 art. 106). Several courts may
    /// each bar one person from leaving, so exit restrictions never wait.
    pub const fn exclusive(self) -> bool {
        !matches!(self, Self::ExitRestriction)
    }

    /// The longest period one order or one renewal may set (民诉解释 art. 485).
    pub const fn maximum(self) -> StatutoryMaximum {
        match self {
            Self::SealUp => StatutoryMaximum::RealEstate,
            Self::Distraint => StatutoryMaximum::Movables,
            Self::ExitRestriction => StatutoryMaximum::None,
        }
    }

    /// The letters of the registration number after the agency code: `CF` (查封), `YCF` (预查封),
    /// `KY` (扣押), `XZCJ` (限制出境), as registries and vehicle administrations write them.
    pub const fn registration_mark(self, pre_seizure: bool) -> &'static str {
        match (self, pre_seizure) {
            (Self::SealUp, false) => "CF",
            (Self::SealUp, true) => "YCF",
            (Self::Distraint, _) => "KY",
            (Self::ExitRestriction, _) => "XZCJ",
        }
    }

    /// The measure in words, for notes to the court.
    const fn words(self) -> &'static str {
        match self {
            Self::SealUp => "seal-up",
            Self::Distraint => "distraint",
            Self::ExitRestriction => "exit restriction",
        }
    }

    /// The asset in words.
    const fn asset_words(self) -> &'static str {
        match self {
            Self::SealUp => "property",
            Self::Distraint => "vehicle",
            Self::ExitRestriction => "person",
        }
    }

    /// Locks the asset's row. Static SQL per kind, so that the lock order (asset, then holds) is
    /// written down in one place.
    const fn lock_asset_sql(self) -> &'static str {
        match self {
            Self::SealUp => {
                "SELECT property_id FROM properties WHERE agency_code = $1 AND property_id = $2 FOR UPDATE"
            }
            Self::Distraint => {
                "SELECT vin FROM vehicles WHERE agency_code = $1 AND vin = $2 FOR UPDATE"
            }
            Self::ExitRestriction => {
                "SELECT resident_id FROM persons WHERE agency_code = $1 AND resident_id = $2 FOR UPDATE"
            }
        }
    }
}

impl TryFrom<String> for HoldKind {
    type Error = UnknownWord;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        match word.as_str() {
            "seal_up" => Ok(Self::SealUp),
            "distraint" => Ok(Self::Distraint),
            "exit_restriction" => Ok(Self::ExitRestriction),
            _ => Err(UnknownWord {
                what: "hold kind",
                found: word,
            }),
        }
    }
}

/// Where a hold stands at the agency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldState {
    /// In force.
    Effective,
    /// Registered behind the hold in force (轮候).
    Waiting,
    /// Lifted by a release order. Final.
    Released,
    /// Reached its expiry without renewal (失效). Final.
    Lapsed,
}

impl HoldState {
    /// The word stored in `holds.state`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Effective => "effective",
            Self::Waiting => "waiting",
            Self::Released => "released",
            Self::Lapsed => "lapsed",
        }
    }

    /// The wire state.
    pub const fn to_proto(self) -> pb::MeasureState {
        match self {
            Self::Effective => pb::MeasureState::Effective,
            Self::Waiting => pb::MeasureState::Waiting,
            Self::Released => pb::MeasureState::Released,
            Self::Lapsed => pb::MeasureState::Lapsed,
        }
    }

    /// In force or waiting: what a release may still end.
    pub const fn is_live(self) -> bool {
        matches!(self, Self::Effective | Self::Waiting)
    }
}

impl TryFrom<String> for HoldState {
    type Error = UnknownWord;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        match word.as_str() {
            "effective" => Ok(Self::Effective),
            "waiting" => Ok(Self::Waiting),
            "released" => Ok(Self::Released),
            "lapsed" => Ok(Self::Lapsed),
            _ => Err(UnknownWord {
                what: "hold state",
                found: word,
            }),
        }
    }
}

/// One row of `holds`.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct HoldRow {
    /// The agency (registry region, public security unit) that holds it.
    pub agency_code: String,
    /// The hub's measure id.
    pub measure_id: Uuid,
    /// The instruction that created it.
    pub instruction_id: Uuid,
    /// Order of receipt; ranks the waiting line.
    pub seq: i64,
    /// What is held: property id, VIN, resident identity number.
    pub asset_id: String,
    /// The ordering court: the only one that may release or renew.
    pub court_code: String,
    /// The case number.
    pub case_number: String,
    /// The subject's identity number or credit code, as the order named it.
    pub subject_id: String,
    /// The subject's name, as the order named it.
    pub subject_name: String,
    /// What the hold is.
    #[sqlx(try_from = "String")]
    pub kind: HoldKind,
    /// Whether later holds on the asset wait behind it.
    pub exclusive: bool,
    /// A pre-seizure (预查封) not yet converted.
    pub pre_seizure: bool,
    /// Where it stands.
    #[sqlx(try_from = "String")]
    pub state: HoldState,
    /// 1 for the first in line while waiting; 0 otherwise.
    pub waiting_position: i32,
    /// The period ordered (months), counted from when it took effect.
    pub period_months: i32,
    /// The period ordered (days after the months).
    pub period_days: i32,
    /// The agency's registration number.
    pub registration_number: String,
    /// Numbers every change reported to the hub.
    pub revision: i64,
    /// When the agency received the order.
    pub received_at: OffsetDateTime,
    /// When it took effect; `None` while waiting.
    pub effective_at: Option<OffsetDateTime>,
    /// When it lapses unless renewed; `None` while waiting.
    pub expires_at: Option<OffsetDateTime>,
    /// When it was released or lapsed.
    pub ended_at: Option<OffsetDateTime>,
}

/// The columns of `holds`, in [`HoldRow`] order, for `SELECT` and `INSERT`.
macro_rules! hold_columns {
    () => {
        "agency_code, measure_id, instruction_id, seq, asset_id, court_code, case_number, \
         subject_id, subject_name, kind, exclusive, pre_seizure, state, waiting_position, \
         period_months, period_days, registration_number, revision, received_at, effective_at, \
         expires_at, ended_at"
    };
}

impl HoldRow {
    /// The stored period (always one checked before it was stored).
    pub fn period(&self) -> Option<Period> {
        Period::new(
            u32::try_from(self.period_months).ok()?,
            u32::try_from(self.period_days).ok()?,
        )
        .ok()
    }

    /// The measure in words: `pre-seizure`, `seal-up`, `distraint`, `exit restriction`.
    pub fn label(&self) -> &'static str {
        if self.pre_seizure {
            "pre-seizure"
        } else {
            self.kind.words()
        }
    }

    /// The update the hub is told for this hold as it now stands.
    pub fn update(
        &self,
        cause: pb::UpdateCause,
        note: String,
        at: OffsetDateTime,
    ) -> pb::MeasureUpdate {
        pb::MeasureUpdate {
            measure_id: self.measure_id.to_string(),
            revision: u64::try_from(self.revision).unwrap_or(0),
            state: self.state.to_proto() as i32,
            held_fen: 0,
            waiting_position: u32::try_from(self.waiting_position).unwrap_or(0),
            effective_at: timestamp_opt(self.effective_at),
            expires_at: timestamp_opt(self.expires_at),
            registration_number: self.registration_number.clone(),
            reason: None,
            at: Some(timestamp(at)),
            cause: cause as i32,
            note,
        }
    }

    /// Takes effect at `now`: its period starts now, whenever it was received.
    fn take_effect(&mut self, now: OffsetDateTime) {
        self.state = HoldState::Effective;
        self.waiting_position = 0;
        self.effective_at = Some(now);
        self.expires_at = self.period().map(|p| p.end_from(now));
    }
}

/// A refusal: the outcome is REJECTED with this code and sentence.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The coded reason.
    pub code: pb::ReasonCode,
    /// A sentence for the enforcement officer.
    pub message: String,
}

impl Refusal {
    /// A refusal with `code` and a sentence.
    pub fn new(code: pb::ReasonCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// What an instruction changed: its own outcome and updates to other measures.
#[derive(Debug, Default)]
pub struct Changes {
    /// The instruction's own measure.
    pub outcome: Option<pb::MeasureUpdate>,
    /// The target of a release or renewal, a promoted hold, positions that moved up.
    pub related: Vec<pb::MeasureUpdate>,
}

impl Changes {
    /// Only an outcome.
    pub fn outcome(update: pb::MeasureUpdate) -> Self {
        Self {
            outcome: Some(update),
            related: Vec::new(),
        }
    }

    /// A REJECTED outcome.
    pub fn refused(measure_id: &str, refusal: Refusal, at: OffsetDateTime) -> Self {
        Self::outcome(rejected(measure_id, refusal, at))
    }
}

/// The REJECTED outcome for `measure_id`. A refused measure has no row, so its only revision is 1.
pub fn rejected(measure_id: &str, refusal: Refusal, at: OffsetDateTime) -> pb::MeasureUpdate {
    pb::MeasureUpdate {
        measure_id: measure_id.to_string(),
        revision: 1,
        state: pb::MeasureState::Rejected as i32,
        reason: Some(pb::Reason {
            code: refusal.code as i32,
            message: refusal.message.clone(),
        }),
        at: Some(timestamp(at)),
        cause: pb::UpdateCause::Executed as i32,
        note: refusal.message,
        ..Default::default()
    }
}

/// The outcome of an order carried out at once that leaves no hold of its own (a release, a
/// renewal, an inquiry): EFFECTIVE, revision 1.
pub fn done(
    measure_id: &str,
    registration_number: &str,
    expires_at: Option<OffsetDateTime>,
    note: String,
    at: OffsetDateTime,
) -> pb::MeasureUpdate {
    pb::MeasureUpdate {
        measure_id: measure_id.to_string(),
        revision: 1,
        state: pb::MeasureState::Effective as i32,
        effective_at: Some(timestamp(at)),
        expires_at: timestamp_opt(expires_at),
        registration_number: registration_number.to_string(),
        at: Some(timestamp(at)),
        cause: pb::UpdateCause::Executed as i32,
        note,
        ..Default::default()
    }
}

/// "Now" as the register stores it. PostgreSQL keeps microseconds; truncating here makes what an
/// outcome reports equal to what a later update or listing reports for the same instant.
pub fn now(clock: &Clock) -> OffsetDateTime {
    let at = clock.now();
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .unwrap_or(at)
}

/// A date as courts read it: the calendar day in China Standard Time.
pub fn date(at: Option<OffsetDateTime>) -> String {
    at.map(|t| format!("{} (UTC+08:00)", t.to_offset(CHINA_STANDARD_TIME).date()))
        .unwrap_or_else(|| "-".into())
}

/// The subject of an order: identity number or credit code (normalised), and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// Resident identity number or unified social credit code.
    pub id: String,
    /// Name.
    pub name: String,
}

impl Party {
    /// The instruction's subject; `None` if it names none.
    pub fn of(subject: Option<&pb::Subject>) -> Option<Self> {
        let (id, name) = match subject?.party.as_ref()? {
            pb::subject::Party::Person(p) => (p.resident_id.as_str(), p.name.as_str()),
            pb::subject::Party::Organisation(o) => (o.credit_code.as_str(), o.name.as_str()),
        };
        Some(Self {
            id: normalise_id(id),
            name: name.trim().to_string(),
        })
    }

    /// Whether the asset's recorded holder is this party. A different identity number means the
    /// asset is someone else's; the same number under another name is a name mismatch (a typing
    /// error or a changed name), which the court must clear up before the agency acts.
    pub fn check_holds(
        &self,
        holder_id: &str,
        holder_name: &str,
        what: &str,
    ) -> Result<(), Refusal> {
        if holder_id != self.id {
            return Err(Refusal::new(
                pb::ReasonCode::NotOwnedBySubject,
                format!("{what} is not held by the subject"),
            ));
        }
        if holder_name != self.name {
            return Err(Refusal::new(
                pb::ReasonCode::NameMismatch,
                format!(
                    "{what} is held under the subject's identity number but another name than {}",
                    self.name
                ),
            ));
        }
        Ok(())
    }
}

/// An identity number or credit code in its stored form (upper-case check character), or the
/// trimmed input if it is neither: comparing stored and ordered ids must not fail on an `x`.
pub fn normalise_id(id: &str) -> String {
    ResidentId::parse(id)
        .map(|r| r.to_string())
        .or_else(|_| CreditCode::parse(id).map(|c| c.to_string()))
        .unwrap_or_else(|_| id.trim().to_string())
}

/// Parses a holder at the administration edge: an identity number or credit code, and a person's
/// or organisation's name.
pub fn parse_holder(id: &str, name: &str) -> Result<(String, String), Status> {
    let id = ResidentId::parse(id)
        .map(|r| r.to_string())
        .or_else(|_| CreditCode::parse(id).map(|c| c.to_string()))
        .map_err(|e| {
            Status::invalid_argument(format!(
                "holder_id: neither a resident identity number nor a credit code ({e})"
            ))
        })?;
    let name = PersonName::parse(name)
        .map(|n| n.to_string())
        .or_else(|_| OrganisationName::parse(name).map(|n| n.to_string()))
        .map_err(|e| Status::invalid_argument(format!("holder_name: {e}")))?;
    Ok((id, name))
}

/// The checked period of an order: DOCUMENT_DEFECT without a valid one, PERIOD_EXCEEDS_MAXIMUM
/// (with the rule in the message) if, counted from `start`, it ends after the statutory maximum.
pub fn checked_period(
    period: Option<&pb::Period>,
    maximum: StatutoryMaximum,
    start: OffsetDateTime,
    what: &str,
) -> Result<Period, Refusal> {
    let period = match period.map(|p| Period::new(p.months, p.days)) {
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            return Err(Refusal::new(
                pb::ReasonCode::DocumentDefect,
                format!("the {what} states no valid period: {e}"),
            ));
        }
        None => {
            return Err(Refusal::new(
                pb::ReasonCode::DocumentDefect,
                format!("the {what} states no period; one is required"),
            ));
        }
    };
    period
        .check_within(maximum, start)
        .map_err(|e| Refusal::new(pb::ReasonCode::PeriodExceedsMaximum, e.to_string()))?;
    Ok(period)
}

/// A hold to register, checked by the caller (asset found and locked, holder and period valid).
#[derive(Debug, Clone)]
pub struct NewHold {
    /// What it is.
    pub kind: HoldKind,
    /// The asset (property id, VIN, resident identity number), already locked.
    pub asset_id: String,
    /// A pre-seizure rather than a seal-up.
    pub pre_seizure: bool,
    /// The checked period.
    pub period: Period,
    /// Whom the order names.
    pub subject: Party,
}

/// How the holds of one agency are kept, inside the caller's transaction.
pub struct Holds<'a> {
    /// The caller's transaction.
    pub conn: &'a mut PgConnection,
    /// The agency whose holds these are; no query sees another agency's rows.
    pub agency_code: &'a str,
    /// The transaction's "now", from the clock (see [`now`]).
    pub now: OffsetDateTime,
}

impl Holds<'_> {
    /// Locks an asset's row; `false` if the agency has no such asset.
    pub async fn lock_asset(
        &mut self,
        kind: HoldKind,
        asset_id: &str,
    ) -> Result<bool, sqlx::Error> {
        let found: Option<String> = sqlx::query_scalar(kind.lock_asset_sql())
            .bind(self.agency_code)
            .bind(asset_id)
            .fetch_optional(&mut *self.conn)
            .await?;
        Ok(found.is_some())
    }

    /// The holds of `kind` on an asset that are in force or waiting, in order of receipt, locked.
    /// The asset must be locked first.
    pub async fn live(
        &mut self,
        kind: HoldKind,
        asset_id: &str,
    ) -> Result<Vec<HoldRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            hold_columns!(),
            " FROM holds WHERE agency_code = $1 AND kind = $2 AND asset_id = $3 \
              AND state IN ('effective', 'waiting') ORDER BY seq FOR UPDATE"
        ))
        .bind(self.agency_code)
        .bind(kind.as_str())
        .bind(asset_id)
        .fetch_all(&mut *self.conn)
        .await
    }

    /// One hold of the agency, locked.
    async fn hold(&mut self, measure_id: Uuid) -> Result<Option<HoldRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            hold_columns!(),
            " FROM holds WHERE agency_code = $1 AND measure_id = $2 FOR UPDATE"
        ))
        .bind(self.agency_code)
        .bind(measure_id)
        .fetch_optional(&mut *self.conn)
        .await
    }

    /// What a hold is on, without locking it (so that its asset can be locked first).
    async fn asset_of(
        &mut self,
        measure_id: Uuid,
    ) -> Result<Option<(HoldKind, String)>, sqlx::Error> {
        let found: Option<(String, String)> = sqlx::query_as(
            "SELECT kind, asset_id FROM holds WHERE agency_code = $1 AND measure_id = $2",
        )
        .bind(self.agency_code)
        .bind(measure_id)
        .fetch_optional(&mut *self.conn)
        .await?;
        found
            .map(|(kind, asset)| {
                HoldKind::try_from(kind)
                    .map(|k| (k, asset))
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))
            })
            .transpose()
    }

    /// A hold already registered for `measure_id` (by this or any agency of the process): the hub
    /// sent the measure again under a new instruction id. Answered with the hold as it stands
    /// rather than registered twice.
    pub async fn already_held(
        &mut self,
        measure_id: &str,
    ) -> Result<Option<pb::MeasureUpdate>, sqlx::Error> {
        let row: Option<HoldRow> = sqlx::query_as(concat!(
            "SELECT ",
            hold_columns!(),
            " FROM holds WHERE measure_id = $1"
        ))
        .bind(parse_id(measure_id))
        .fetch_optional(&mut *self.conn)
        .await?;
        Ok(row.map(|h| {
            h.update(
                pb::UpdateCause::Executed,
                format!(
                    "this measure was registered earlier as {} {}; it is {} now",
                    h.label(),
                    h.registration_number,
                    h.state.as_str()
                ),
                self.now,
            )
        }))
    }

    /// Writes a hold's changed fields.
    pub async fn save(&mut self, h: &HoldRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE holds SET state = $3, pre_seizure = $4, waiting_position = $5, \
                 registration_number = $6, revision = $7, effective_at = $8, expires_at = $9, \
                 ended_at = $10 \
             WHERE agency_code = $1 AND measure_id = $2",
        )
        .bind(&h.agency_code)
        .bind(h.measure_id)
        .bind(h.state.as_str())
        .bind(h.pre_seizure)
        .bind(h.waiting_position)
        .bind(&h.registration_number)
        .bind(h.revision)
        .bind(h.effective_at)
        .bind(h.expires_at)
        .bind(h.ended_at)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Registers a hold for the instruction: EFFECTIVE if the asset is free (or the hold is not
    /// exclusive), else WAITING behind what is there. The asset must be locked first.
    pub async fn place(
        &mut self,
        instruction: &pb::Instruction,
        new: NewHold,
    ) -> Result<pb::MeasureUpdate, sqlx::Error> {
        let live = if new.kind.exclusive() {
            self.live(new.kind, &new.asset_id).await?
        } else {
            Vec::new()
        };
        // Drawn under the asset's lock, so on one asset the order of `seq` is the order of receipt.
        let seq: i64 = sqlx::query_scalar("SELECT nextval('hold_seq')")
            .fetch_one(&mut *self.conn)
            .await?;
        let mut hold = HoldRow {
            agency_code: self.agency_code.to_string(),
            measure_id: parse_id(&instruction.measure_id),
            instruction_id: parse_id(&instruction.instruction_id),
            seq,
            asset_id: new.asset_id,
            court_code: instruction.court_code.clone(),
            case_number: instruction
                .case
                .as_ref()
                .map(|c| c.case_number.clone())
                .unwrap_or_default(),
            subject_id: new.subject.id,
            subject_name: new.subject.name,
            kind: new.kind,
            exclusive: new.kind.exclusive(),
            pre_seizure: new.pre_seizure,
            state: HoldState::Waiting,
            waiting_position: 0,
            period_months: i32::try_from(new.period.months()).unwrap_or(i32::MAX),
            period_days: i32::try_from(new.period.days()).unwrap_or(i32::MAX),
            registration_number: registration_number(
                self.agency_code,
                new.kind,
                new.pre_seizure,
                seq,
            ),
            revision: 1,
            received_at: self.now,
            effective_at: None,
            expires_at: None,
            ended_at: None,
        };
        let note = if live.is_empty() {
            hold.take_effect(self.now);
            format!(
                "{} registered as {}, in force until {}",
                hold.label(),
                hold.registration_number,
                date(hold.expires_at)
            )
        } else {
            let waiting = live
                .iter()
                .filter(|h| h.state == HoldState::Waiting)
                .count();
            hold.waiting_position = i32::try_from(waiting + 1).unwrap_or(i32::MAX);
            format!(
                "{} already bound by an earlier court's {}; {} registered as waiting (轮候) at position {}",
                new.kind.asset_words(),
                new.kind.words(),
                hold.registration_number,
                hold.waiting_position
            )
        };
        sqlx::query(concat!(
            "INSERT INTO holds (",
            hold_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 $17, $18, $19, $20, $21, $22)"
        ))
        .bind(&hold.agency_code)
        .bind(hold.measure_id)
        .bind(hold.instruction_id)
        .bind(hold.seq)
        .bind(&hold.asset_id)
        .bind(&hold.court_code)
        .bind(&hold.case_number)
        .bind(&hold.subject_id)
        .bind(&hold.subject_name)
        .bind(hold.kind.as_str())
        .bind(hold.exclusive)
        .bind(hold.pre_seizure)
        .bind(hold.state.as_str())
        .bind(hold.waiting_position)
        .bind(hold.period_months)
        .bind(hold.period_days)
        .bind(&hold.registration_number)
        .bind(hold.revision)
        .bind(hold.received_at)
        .bind(hold.effective_at)
        .bind(hold.expires_at)
        .bind(hold.ended_at)
        .execute(&mut *self.conn)
        .await?;
        Ok(hold.update(pb::UpdateCause::Executed, note, self.now))
    }

    /// Finds and locks the target of a release or renewal (asset first), refusing what this
    /// agency does not hold and what another court ordered.
    async fn target(
        &mut self,
        instruction: &pb::Instruction,
        target_measure_id: &str,
        verb: &str,
    ) -> Result<Result<HoldRow, Refusal>, sqlx::Error> {
        let not_here = || {
            Refusal::new(
                pb::ReasonCode::TargetNotActive,
                format!("no measure {target_measure_id} is registered here"),
            )
        };
        let Ok(target_id) = Uuid::parse_str(target_measure_id) else {
            return Ok(Err(not_here()));
        };
        let Some((kind, asset)) = self.asset_of(target_id).await? else {
            return Ok(Err(not_here()));
        };
        self.lock_asset(kind, &asset).await?;
        let Some(target) = self.hold(target_id).await? else {
            return Ok(Err(not_here()));
        };
        if target.court_code != instruction.court_code {
            return Ok(Err(Refusal::new(
                pb::ReasonCode::DocumentDefect,
                format!(
                    "only the court that ordered {} {} ({}) may {verb} it",
                    target.label(),
                    target.registration_number,
                    target.court_code
                ),
            )));
        }
        Ok(Ok(target))
    }

    /// Releases a hold of the instruction's court (in force or waiting); if it was in force, the
    /// earliest waiting hold takes effect and the line moves up.
    pub async fn release(
        &mut self,
        instruction: &pb::Instruction,
        order: &pb::Release,
    ) -> Result<Changes, sqlx::Error> {
        let measure_id = &instruction.measure_id;
        let mut target = match self
            .target(instruction, &order.target_measure_id, "release")
            .await?
        {
            Ok(t) => t,
            Err(refusal) => return Ok(Changes::refused(measure_id, refusal, self.now)),
        };
        if !target.state.is_live() {
            return Ok(Changes::refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::TargetNotActive,
                    format!(
                        "{} {} is already {}",
                        target.label(),
                        target.registration_number,
                        target.state.as_str()
                    ),
                ),
                self.now,
            ));
        }
        target.state = HoldState::Released;
        target.waiting_position = 0;
        target.ended_at = Some(self.now);
        target.revision += 1;
        self.save(&target).await?;
        let note = release_note(&target, &order.reason);
        let mut related = vec![target.update(pb::UpdateCause::Released, note.clone(), self.now)];
        related.extend(self.settle(target.kind, &target.asset_id).await?);
        Ok(Changes {
            outcome: Some(done(
                measure_id,
                &target.registration_number,
                None,
                note,
                self.now,
            )),
            related,
        })
    }

    /// Renews a hold in force before its expiry: the expiry moves by the period, counted from the
    /// current expiry and at most the statutory maximum again; the place in line is kept.
    pub async fn renew(
        &mut self,
        instruction: &pb::Instruction,
        order: &pb::Renewal,
    ) -> Result<Changes, sqlx::Error> {
        let measure_id = &instruction.measure_id;
        let mut target = match self
            .target(instruction, &order.target_measure_id, "renew")
            .await?
        {
            Ok(t) => t,
            Err(refusal) => return Ok(Changes::refused(measure_id, refusal, self.now)),
        };
        let after_expiry = |t: &HoldRow| {
            Refusal::new(
                pb::ReasonCode::RenewalAfterExpiry,
                format!(
                    "{} {} expired on {}; a renewal must arrive before expiry (查扣冻规定 art. 27)",
                    t.label(),
                    t.registration_number,
                    date(t.expires_at)
                ),
            )
        };
        match target.state {
            HoldState::Effective => {}
            // Lapsed means it reached expiry: the court is told that, not merely "not active".
            HoldState::Lapsed => {
                return Ok(Changes::refused(
                    measure_id,
                    after_expiry(&target),
                    self.now,
                ));
            }
            HoldState::Waiting | HoldState::Released => {
                return Ok(Changes::refused(
                    measure_id,
                    Refusal::new(
                        pb::ReasonCode::TargetNotActive,
                        format!(
                            "{} {} is {}; only a measure in force can be renewed",
                            target.label(),
                            target.registration_number,
                            target.state.as_str()
                        ),
                    ),
                    self.now,
                ));
            }
        }
        let expiry = target.expires_at.unwrap_or(self.now);
        if expiry <= self.now {
            return Ok(Changes::refused(
                measure_id,
                after_expiry(&target),
                self.now,
            ));
        }
        let period = match checked_period(
            order.period.as_ref(),
            target.kind.maximum(),
            expiry,
            "renewal",
        ) {
            Ok(p) => p,
            Err(refusal) => return Ok(Changes::refused(measure_id, refusal, self.now)),
        };
        target.expires_at = Some(period.end_from(expiry));
        target.revision += 1;
        self.save(&target).await?;
        let note = format!(
            "{} {} renewed by {period} until {}; its place is kept",
            target.label(),
            target.registration_number,
            date(target.expires_at)
        );
        Ok(Changes {
            outcome: Some(done(
                measure_id,
                &target.registration_number,
                target.expires_at,
                note.clone(),
                self.now,
            )),
            related: vec![target.update(pb::UpdateCause::Renewed, note, self.now)],
        })
    }

    /// After a hold on the asset ended: promotes the earliest waiting hold if none is in force, and
    /// renumbers the line. Returns the updates of the holds that changed.
    pub async fn settle(
        &mut self,
        kind: HoldKind,
        asset_id: &str,
    ) -> Result<Vec<pb::MeasureUpdate>, sqlx::Error> {
        if !kind.exclusive() {
            return Ok(Vec::new());
        }
        let mut live = self.live(kind, asset_id).await?;
        let mut updates = Vec::new();
        if !live.iter().any(|h| h.state == HoldState::Effective)
            && let Some(next) = live.iter_mut().find(|h| h.state == HoldState::Waiting)
        {
            next.take_effect(self.now);
            next.revision += 1;
            self.save(next).await?;
            let note = format!(
                "the earlier {} ended; this waiting {} {} took effect, in force until {}",
                kind.words(),
                next.label(),
                next.registration_number,
                date(next.expires_at)
            );
            updates.push(next.update(pb::UpdateCause::Promoted, note, self.now));
        }
        let mut position = 0;
        for h in live.iter_mut().filter(|h| h.state == HoldState::Waiting) {
            position += 1;
            if h.waiting_position != position {
                h.waiting_position = position;
                h.revision += 1;
                self.save(h).await?;
                updates.push(h.update(
                    pb::UpdateCause::PositionChanged,
                    format!("now waiting at position {position}"),
                    self.now,
                ));
            }
        }
        Ok(updates)
    }

    /// Lapses up to `limit` holds past their expiry, each with what its end caused (promotion,
    /// positions). Returns one batch of updates per lapsed hold, with a message for its notice.
    pub async fn lapse_due(&mut self, limit: i64) -> Result<Vec<Lapse>, sqlx::Error> {
        let due: Vec<(Uuid, String, String)> = sqlx::query_as(
            "SELECT measure_id, kind, asset_id FROM holds \
             WHERE agency_code = $1 AND state = 'effective' AND expires_at <= $2 \
             ORDER BY expires_at, seq LIMIT $3",
        )
        .bind(self.agency_code)
        .bind(self.now)
        .bind(limit)
        .fetch_all(&mut *self.conn)
        .await?;
        let mut lapses = Vec::new();
        for (measure_id, kind, asset_id) in due {
            let kind = HoldKind::try_from(kind).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            self.lock_asset(kind, &asset_id).await?;
            let Some(mut hold) = self.hold(measure_id).await? else {
                continue;
            };
            // Renewed or released between the scan and the lock.
            if hold.state != HoldState::Effective || hold.expires_at.is_none_or(|e| e > self.now) {
                continue;
            }
            hold.state = HoldState::Lapsed;
            hold.ended_at = Some(self.now);
            hold.revision += 1;
            self.save(&hold).await?;
            let mut note = format!(
                "{} {} lapsed at expiry on {} without renewal",
                hold.label(),
                hold.registration_number,
                date(hold.expires_at)
            );
            if kind == HoldKind::ExitRestriction {
                note.push_str(BORDER_INSPECTION_NOTIFIED);
            }
            let mut updates = vec![hold.update(pb::UpdateCause::Lapsed, note.clone(), self.now)];
            let promoted = self.settle(kind, &asset_id).await?;
            if promoted
                .iter()
                .any(|u| u.cause == pb::UpdateCause::Promoted as i32)
            {
                note.push_str(&format!(
                    "; the earliest waiting {} took effect",
                    kind.words()
                ));
            }
            updates.extend(promoted);
            lapses.push(Lapse {
                updates,
                message: note,
            });
        }
        Ok(lapses)
    }

    /// Every hold of the agency, optionally of one kind and one asset, in order of receipt.
    pub async fn list(
        &mut self,
        kind: Option<HoldKind>,
        asset_id: Option<&str>,
    ) -> Result<Vec<HoldRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            hold_columns!(),
            " FROM holds WHERE agency_code = $1 AND ($2::text IS NULL OR kind = $2) \
              AND ($3::text IS NULL OR asset_id = $3) ORDER BY seq"
        ))
        .bind(self.agency_code)
        .bind(kind.map(HoldKind::as_str))
        .bind(asset_id)
        .fetch_all(&mut *self.conn)
        .await
    }
}

/// One lapsed hold and what its end caused, for one notice.
#[derive(Debug)]
pub struct Lapse {
    /// The lapse, then any promotion and position changes.
    pub updates: Vec<pb::MeasureUpdate>,
    /// The notice's sentence for the court.
    pub message: String,
}

/// Appended to every note on the end of an exit restriction: the deciding court must have border
/// inspection lift the control (执行程序解释 art. 25), and the agency confirms it did.
pub const BORDER_INSPECTION_NOTIFIED: &str =
    "; border inspection (出入境边防检查机关) has been notified to lift the exit control";

fn release_note(target: &HoldRow, reason: &str) -> String {
    let mut note = format!(
        "{} {} released by order",
        target.label(),
        target.registration_number
    );
    if !reason.trim().is_empty() {
        note.push_str(&format!(" ({})", reason.trim()));
    }
    if target.kind == HoldKind::ExitRestriction {
        note.push_str(BORDER_INSPECTION_NOTIFIED);
    }
    note
}

/// `<agency>-<mark><seq>`, e.g. `110105-CF00000012`.
pub fn registration_number(
    agency_code: &str,
    kind: HoldKind,
    pre_seizure: bool,
    seq: i64,
) -> String {
    format!(
        "{agency_code}-{}{seq:08}",
        kind.registration_mark(pre_seizure)
    )
}

/// A UUID the caller has already checked; nil otherwise (never stored: execution refuses
/// instructions whose ids are not UUIDs).
pub fn parse_id(id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap_or(Uuid::nil())
}

/// The journal of answered instructions: what makes `Execute` idempotent on
/// (agency code, instruction id).
pub mod journal {
    use super::*;

    /// Serialises deliveries of one instruction and returns the answer given to an earlier one.
    ///
    /// Two deliveries of one instruction at once: the second waits on the advisory lock until the
    /// first commits, then finds its answer here.
    pub async fn recall(
        conn: &mut PgConnection,
        agency_code: &str,
        instruction_id: &str,
    ) -> Result<Option<pb::ExecuteResponse>, sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))")
            .bind(agency_code)
            .bind(instruction_id)
            .execute(&mut *conn)
            .await?;
        let earlier: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT response FROM executions WHERE agency_code = $1 AND instruction_id = $2",
        )
        .bind(agency_code)
        .bind(parse_id(instruction_id))
        .fetch_optional(&mut *conn)
        .await?;
        earlier
            .map(|bytes| {
                pb::ExecuteResponse::decode(bytes.as_slice())
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))
            })
            .transpose()
    }

    /// Records the answer, to be returned as is to a repeated delivery.
    pub async fn remember(
        conn: &mut PgConnection,
        agency_code: &str,
        instruction: &pb::Instruction,
        action: &str,
        response: &pb::ExecuteResponse,
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO executions (agency_code, instruction_id, measure_id, action, response, \
                 executed_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(agency_code)
        .bind(parse_id(&instruction.instruction_id))
        .bind(parse_id(&instruction.measure_id))
        .bind(action)
        .bind(response.encode_to_vec())
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_numbers_carry_the_agency_and_the_measure() {
        assert_eq!(
            registration_number("110105", HoldKind::SealUp, false, 12),
            "110105-CF00000012"
        );
        assert_eq!(
            registration_number("110105", HoldKind::SealUp, true, 12),
            "110105-YCF00000012"
        );
        assert_eq!(
            registration_number("BJ-PSB", HoldKind::Distraint, false, 3),
            "BJ-PSB-KY00000003"
        );
        assert_eq!(
            registration_number("BJ-PSB", HoldKind::ExitRestriction, false, 4),
            "BJ-PSB-XZCJ00000004"
        );
    }

    #[test]
    fn only_exit_restrictions_are_not_exclusive() {
        assert!(HoldKind::SealUp.exclusive());
        assert!(HoldKind::Distraint.exclusive());
        assert!(!HoldKind::ExitRestriction.exclusive());
        assert_eq!(HoldKind::SealUp.maximum().months(), Some(36));
        assert_eq!(HoldKind::Distraint.maximum().months(), Some(24));
        assert_eq!(HoldKind::ExitRestriction.maximum().months(), None);
    }

    #[test]
    fn stored_words_round_trip() {
        for kind in [
            HoldKind::SealUp,
            HoldKind::Distraint,
            HoldKind::ExitRestriction,
        ] {
            assert_eq!(
                HoldKind::try_from(kind.as_str().to_string()).ok(),
                Some(kind)
            );
        }
        for state in [
            HoldState::Effective,
            HoldState::Waiting,
            HoldState::Released,
            HoldState::Lapsed,
        ] {
            assert_eq!(
                HoldState::try_from(state.as_str().to_string()).ok(),
                Some(state)
            );
        }
        assert!(HoldState::try_from("deducted".to_string()).is_err());
    }

    #[test]
    fn a_holder_under_another_id_does_not_own_and_under_another_name_mismatches() {
        let party = Party {
            id: "110105198001010016".into(),
            name: "张伟".into(),
        };
        assert!(party.check_holds("110105198001010016", "张伟", "x").is_ok());
        assert_eq!(
            party
                .check_holds("440304198506150023", "王芳", "x")
                .map_err(|r| r.code),
            Err(pb::ReasonCode::NotOwnedBySubject)
        );
        assert_eq!(
            party
                .check_holds("110105198001010016", "张卫", "x")
                .map_err(|r| r.code),
            Err(pb::ReasonCode::NameMismatch)
        );
    }

    #[test]
    fn periods_beyond_the_maximum_are_refused_with_the_rule() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let p = |months| pb::Period { months, days: 0 };
        assert!(checked_period(Some(&p(36)), StatutoryMaximum::RealEstate, start, "x").is_ok());
        let refusal = checked_period(Some(&p(37)), StatutoryMaximum::RealEstate, start, "x")
            .expect_err("37 months exceed 36");
        assert_eq!(refusal.code, pb::ReasonCode::PeriodExceedsMaximum);
        assert!(refusal.message.contains("民诉解释 art. 485"));
        assert_eq!(
            checked_period(None, StatutoryMaximum::None, start, "x")
                .map_err(|r| r.code)
                .err(),
            Some(pb::ReasonCode::DocumentDefect)
        );
    }
}
