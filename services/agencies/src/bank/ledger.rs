//! The bank's rules, applied to its ledger in PostgreSQL.
//!
//! - A freeze states an amount (限额冻结). With enough balance it is EFFECTIVE; with less, the
//!   balance is frozen and it is PARTIAL, topped up as funds arrive.
//! - An account already frozen takes later freezes as WAITING (轮候), ranked by receipt. When the
//!   freeze in force ends (released, lapsed, fully deducted), the earliest waiting freeze takes
//!   effect on its own and the court is told.
//! - A deduction takes the court's frozen funds first, then available funds.
//! - A renewal before expiry moves the expiry and keeps the freeze's place.
//!
//! Every operation locks the account row first, then freezes on it, so concurrent instructions,
//! credits and lapses on one account serialise and cannot deadlock.

use enforcement_proto::{
    convert::{timestamp, timestamp_opt},
    v1 as pb,
};
use hub_domain::{Money, Period, StatutoryMaximum};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// An account row, locked for the current transaction.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct Account {
    pub account_number: String,
    pub holder_name: String,
    pub holder_id: String,
    pub balance_fen: i64,
    pub closed: bool,
}

/// A freeze row.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct FreezeRow {
    pub measure_id: Uuid,
    pub instruction_id: Uuid,
    pub seq: i64,
    pub account_number: String,
    pub court_code: String,
    pub case_number: String,
    pub state: String,
    pub amount_fen: i64,
    pub frozen_fen: i64,
    pub waiting_position: i32,
    pub period_months: i32,
    pub period_days: i32,
    pub registration_number: String,
    pub revision: i64,
    pub received_at: OffsetDateTime,
    pub effective_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
}

macro_rules! freeze_columns {
    () => {
        "measure_id, instruction_id, seq, account_number, court_code, case_number, state, \
         amount_fen, frozen_fen, waiting_position, period_months, period_days, \
         registration_number, revision, received_at, effective_at, expires_at"
    };
}

impl FreezeRow {
    fn in_force(&self) -> bool {
        matches!(self.state.as_str(), "effective" | "partial")
    }

    /// The stored period (always one checked before it was stored).
    fn period(&self) -> Option<Period> {
        Period::new(
            u32::try_from(self.period_months).ok()?,
            u32::try_from(self.period_days).ok()?,
        )
        .ok()
    }

    /// The update the hub is told for this freeze as it now stands.
    pub fn update(
        &self,
        cause: pb::UpdateCause,
        note: String,
        at: OffsetDateTime,
    ) -> pb::MeasureUpdate {
        let state = match self.state.as_str() {
            "effective" => pb::MeasureState::Effective,
            "partial" => pb::MeasureState::Partial,
            "waiting" => pb::MeasureState::Waiting,
            "released" => pb::MeasureState::Released,
            "lapsed" => pb::MeasureState::Lapsed,
            _ => pb::MeasureState::Deducted,
        };
        pb::MeasureUpdate {
            measure_id: self.measure_id.to_string(),
            revision: u64::try_from(self.revision).unwrap_or(0),
            state: state as i32,
            held_fen: self.frozen_fen,
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
}

/// A refusal: the outcome is REJECTED with this code and sentence.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: pb::ReasonCode,
    pub message: String,
}

impl Refusal {
    fn new(code: pb::ReasonCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The REJECTED outcome for `measure_id`.
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

/// What an operation changed: the instruction's own outcome and updates to other measures.
#[derive(Debug, Default)]
pub struct Changes {
    pub outcome: Option<pb::MeasureUpdate>,
    pub related: Vec<pb::MeasureUpdate>,
}

/// The bank's ledger operations, each run inside the caller's transaction.
pub struct Ledger<'a> {
    pub conn: &'a mut PgConnection,
    pub bank_code: &'a str,
    pub now: OffsetDateTime,
}

impl Ledger<'_> {
    /// Locks an account.
    pub async fn lock_account(&mut self, number: &str) -> Result<Option<Account>, sqlx::Error> {
        sqlx::query_as(
            "SELECT account_number, holder_name, holder_id, balance_fen, closed \
             FROM accounts WHERE bank_code = $1 AND account_number = $2 FOR UPDATE",
        )
        .bind(self.bank_code)
        .bind(number)
        .fetch_optional(&mut *self.conn)
        .await
    }

    /// The freezes on an account that are in force or waiting, in order of receipt, locked.
    async fn live_freezes(&mut self, account: &str) -> Result<Vec<FreezeRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            freeze_columns!(),
            " FROM freezes WHERE bank_code = $1 AND account_number = $2 \
              AND state IN ('effective', 'partial', 'waiting') ORDER BY seq FOR UPDATE"
        ))
        .bind(self.bank_code)
        .bind(account)
        .fetch_all(&mut *self.conn)
        .await
    }

    /// One freeze, locked.
    async fn freeze(&mut self, measure_id: Uuid) -> Result<Option<FreezeRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            freeze_columns!(),
            " FROM freezes WHERE measure_id = $1 AND bank_code = $2 FOR UPDATE"
        ))
        .bind(measure_id)
        .bind(self.bank_code)
        .fetch_optional(&mut *self.conn)
        .await
    }

    /// The account a freeze is on, without locking (to lock the account first).
    async fn account_of(&mut self, measure_id: Uuid) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT account_number FROM freezes WHERE measure_id = $1 AND bank_code = $2",
        )
        .bind(measure_id)
        .bind(self.bank_code)
        .fetch_optional(&mut *self.conn)
        .await
    }

    async fn save(&mut self, f: &FreezeRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE freezes SET state = $2, amount_fen = $3, frozen_fen = $4, \
                 waiting_position = $5, revision = $6, effective_at = $7, expires_at = $8, \
                 ended_at = CASE WHEN $2 IN ('released', 'lapsed', 'deducted') THEN $9 ELSE NULL END \
             WHERE measure_id = $1",
        )
        .bind(f.measure_id)
        .bind(&f.state)
        .bind(f.amount_fen)
        .bind(f.frozen_fen)
        .bind(f.waiting_position)
        .bind(f.revision)
        .bind(f.effective_at)
        .bind(f.expires_at)
        .bind(self.now)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn set_balance(&mut self, account: &str, balance_fen: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE accounts SET balance_fen = $3 WHERE bank_code = $1 AND account_number = $2",
        )
        .bind(self.bank_code)
        .bind(account)
        .bind(balance_fen)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Freezes `amount` on an account for the instruction's court.
    pub async fn freeze_funds(
        &mut self,
        instruction: &pb::Instruction,
        order: &pb::Freeze,
    ) -> Result<Changes, sqlx::Error> {
        let measure_id = &instruction.measure_id;
        let Some(account) = self.lock_account(&order.account_number).await? else {
            return Ok(refused(
                measure_id,
                no_account(&order.account_number),
                self.now,
            ));
        };
        if let Err(refusal) = check_holder(&account, instruction.subject.as_ref()) {
            return Ok(refused(measure_id, refusal, self.now));
        }
        let period = match order.period.as_ref().map(|p| Period::new(p.months, p.days)) {
            Some(Ok(p)) => p,
            _ => {
                return Ok(refused(
                    measure_id,
                    Refusal::new(
                        pb::ReasonCode::DocumentDefect,
                        "the freeze states no valid period",
                    ),
                    self.now,
                ));
            }
        };
        if let Err(e) = period.check_within(StatutoryMaximum::Deposits, self.now) {
            return Ok(refused(
                measure_id,
                Refusal::new(pb::ReasonCode::PeriodExceedsMaximum, e.to_string()),
                self.now,
            ));
        }
        if order.amount_fen <= 0 {
            return Ok(refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::DocumentDefect,
                    "the freeze states no amount",
                ),
                self.now,
            ));
        }
        let live = self.live_freezes(&account.account_number).await?;
        let seq: i64 = sqlx::query_scalar("SELECT nextval('freeze_seq')")
            .fetch_one(&mut *self.conn)
            .await?;
        let mut freeze = FreezeRow {
            measure_id: parse_id(measure_id),
            instruction_id: parse_id(&instruction.instruction_id),
            seq,
            account_number: account.account_number.clone(),
            court_code: instruction.court_code.clone(),
            case_number: instruction
                .case
                .as_ref()
                .map(|c| c.case_number.clone())
                .unwrap_or_default(),
            state: "waiting".into(),
            amount_fen: order.amount_fen,
            frozen_fen: 0,
            waiting_position: 0,
            period_months: i32::try_from(period.months()).unwrap_or(i32::MAX),
            period_days: i32::try_from(period.days()).unwrap_or(i32::MAX),
            registration_number: format!("{}-DJ{seq:08}", self.bank_code),
            revision: 1,
            received_at: self.now,
            effective_at: None,
            expires_at: None,
        };
        let note = if live.is_empty() {
            let frozen = order.amount_fen.min(account.balance_fen);
            self.take_effect(&mut freeze, frozen);
            if freeze.state == "effective" {
                format!("{} frozen until {}", money(frozen), date(freeze.expires_at))
            } else {
                format!(
                    "balance short: {} frozen of {} ordered; incoming funds will be frozen until the amount is reached",
                    money(frozen),
                    money(order.amount_fen)
                )
            }
        } else {
            let waiting = live.iter().filter(|f| f.state == "waiting").count();
            freeze.waiting_position = i32::try_from(waiting + 1).unwrap_or(i32::MAX);
            format!(
                "account already frozen by an earlier order; registered as waiting at position {}",
                freeze.waiting_position
            )
        };
        sqlx::query(concat!(
            "INSERT INTO freezes (bank_code, ",
            freeze_columns!(),
            ") VALUES ($18, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        ))
        .bind(freeze.measure_id)
        .bind(freeze.instruction_id)
        .bind(freeze.seq)
        .bind(&freeze.account_number)
        .bind(&freeze.court_code)
        .bind(&freeze.case_number)
        .bind(&freeze.state)
        .bind(freeze.amount_fen)
        .bind(freeze.frozen_fen)
        .bind(freeze.waiting_position)
        .bind(freeze.period_months)
        .bind(freeze.period_days)
        .bind(&freeze.registration_number)
        .bind(freeze.revision)
        .bind(freeze.received_at)
        .bind(freeze.effective_at)
        .bind(freeze.expires_at)
        .bind(self.bank_code)
        .execute(&mut *self.conn)
        .await?;
        Ok(Changes {
            outcome: Some(freeze.update(pb::UpdateCause::Executed, note, self.now)),
            related: Vec::new(),
        })
    }

    /// Makes a freeze effective (or partial) now with `frozen` fen, its period starting today.
    fn take_effect(&self, freeze: &mut FreezeRow, frozen: i64) {
        freeze.frozen_fen = frozen.clamp(0, freeze.amount_fen);
        freeze.state = if freeze.frozen_fen == freeze.amount_fen {
            "effective".into()
        } else {
            "partial".into()
        };
        freeze.waiting_position = 0;
        freeze.effective_at = Some(self.now);
        freeze.expires_at = freeze.period().map(|p| p.end_from(self.now));
    }

    /// Releases a freeze of the instruction's court, and promotes the next waiting one.
    pub async fn release(
        &mut self,
        instruction: &pb::Instruction,
        order: &pb::Release,
    ) -> Result<Changes, sqlx::Error> {
        let measure_id = &instruction.measure_id;
        let Ok(target_id) = Uuid::parse_str(&order.target_measure_id) else {
            return Ok(refused(
                measure_id,
                not_here(&order.target_measure_id),
                self.now,
            ));
        };
        let Some(account) = self.account_of(target_id).await? else {
            return Ok(refused(
                measure_id,
                not_here(&order.target_measure_id),
                self.now,
            ));
        };
        self.lock_account(&account).await?;
        let Some(mut target) = self.freeze(target_id).await? else {
            return Ok(refused(
                measure_id,
                not_here(&order.target_measure_id),
                self.now,
            ));
        };
        if target.court_code != instruction.court_code {
            return Ok(refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::DocumentDefect,
                    "only the court that ordered the freeze may release it",
                ),
                self.now,
            ));
        }
        if !matches!(target.state.as_str(), "effective" | "partial" | "waiting") {
            return Ok(refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::TargetNotActive,
                    format!(
                        "freeze {} is already {}",
                        target.registration_number, target.state
                    ),
                ),
                self.now,
            ));
        }
        let unfrozen = target.frozen_fen;
        target.state = "released".into();
        target.frozen_fen = 0;
        target.waiting_position = 0;
        target.revision += 1;
        self.save(&target).await?;
        let mut related = vec![target.update(
            pb::UpdateCause::Released,
            format!("released by order; {} unfrozen", money(unfrozen)),
            self.now,
        )];
        related.extend(self.settle(&account).await?);
        let outcome = pb::MeasureUpdate {
            measure_id: measure_id.clone(),
            revision: 1,
            state: pb::MeasureState::Effective as i32,
            held_fen: 0,
            registration_number: target.registration_number.clone(),
            effective_at: Some(timestamp(self.now)),
            at: Some(timestamp(self.now)),
            cause: pb::UpdateCause::Executed as i32,
            note: format!(
                "freeze {} released; {} unfrozen",
                target.registration_number,
                money(unfrozen)
            ),
            ..Default::default()
        };
        Ok(Changes {
            outcome: Some(outcome),
            related,
        })
    }

    /// After a freeze ended: promotes the earliest waiting freeze if none is in force, and
    /// renumbers the waiting line. Returns the updates for the freezes that changed.
    async fn settle(&mut self, account: &str) -> Result<Vec<pb::MeasureUpdate>, sqlx::Error> {
        let Some(acct) = self.lock_account(account).await? else {
            return Ok(Vec::new());
        };
        let mut live = self.live_freezes(account).await?;
        let mut updates = Vec::new();
        if !live.iter().any(FreezeRow::in_force)
            && let Some(next) = live.iter_mut().find(|f| f.state == "waiting")
        {
            let frozen = next.amount_fen.min(acct.balance_fen);
            self.take_effect(next, frozen);
            next.revision += 1;
            self.save(next).await?;
            let note = if next.state == "effective" {
                format!(
                    "the earlier freeze ended; this waiting freeze took effect: {} frozen until {}",
                    money(next.frozen_fen),
                    date(next.expires_at)
                )
            } else {
                format!(
                    "the earlier freeze ended; this waiting freeze took effect for {} of {} (balance short)",
                    money(next.frozen_fen),
                    money(next.amount_fen)
                )
            };
            updates.push(next.update(pb::UpdateCause::Promoted, note, self.now));
        }
        let mut position = 0;
        for f in live.iter_mut().filter(|f| f.state == "waiting") {
            position += 1;
            if f.waiting_position != position {
                f.waiting_position = position;
                f.revision += 1;
                self.save(f).await?;
                updates.push(f.update(
                    pb::UpdateCause::PositionChanged,
                    format!("now waiting at position {position}"),
                    self.now,
                ));
            }
        }
        Ok(updates)
    }

    /// Renews a freeze in force before it expires: the expiry moves, the place in line stays.
    pub async fn renew(
        &mut self,
        instruction: &pb::Instruction,
        order: &pb::Renewal,
    ) -> Result<Changes, sqlx::Error> {
        let measure_id = &instruction.measure_id;
        let Ok(target_id) = Uuid::parse_str(&order.target_measure_id) else {
            return Ok(refused(
                measure_id,
                not_here(&order.target_measure_id),
                self.now,
            ));
        };
        let Some(account) = self.account_of(target_id).await? else {
            return Ok(refused(
                measure_id,
                not_here(&order.target_measure_id),
                self.now,
            ));
        };
        self.lock_account(&account).await?;
        let Some(mut target) = self.freeze(target_id).await? else {
            return Ok(refused(
                measure_id,
                not_here(&order.target_measure_id),
                self.now,
            ));
        };
        if target.court_code != instruction.court_code {
            return Ok(refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::DocumentDefect,
                    "only the court that ordered the freeze may renew it",
                ),
                self.now,
            ));
        }
        let expiry = target.expires_at.unwrap_or(self.now);
        // A freeze past its expiry is refused as late whether or not the lapse has run yet.
        if target.state == "lapsed" || (target.in_force() && expiry <= self.now) {
            return Ok(refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::RenewalAfterExpiry,
                    format!(
                        "freeze {} expired on {}; a renewal must arrive before expiry",
                        target.registration_number,
                        date(Some(expiry))
                    ),
                ),
                self.now,
            ));
        }
        if !target.in_force() {
            return Ok(refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::TargetNotActive,
                    format!(
                        "freeze {} is {}; only a freeze in force can be renewed",
                        target.registration_number, target.state
                    ),
                ),
                self.now,
            ));
        }
        let period = match order.period.as_ref().map(|p| Period::new(p.months, p.days)) {
            Some(Ok(p)) => p,
            _ => {
                return Ok(refused(
                    measure_id,
                    Refusal::new(
                        pb::ReasonCode::DocumentDefect,
                        "the renewal states no valid period",
                    ),
                    self.now,
                ));
            }
        };
        if let Err(e) = period.check_within(StatutoryMaximum::Deposits, expiry) {
            return Ok(refused(
                measure_id,
                Refusal::new(pb::ReasonCode::PeriodExceedsMaximum, e.to_string()),
                self.now,
            ));
        }
        target.expires_at = Some(period.end_from(expiry));
        target.revision += 1;
        self.save(&target).await?;
        let note = format!("renewed until {}", date(target.expires_at));
        let related = vec![target.update(pb::UpdateCause::Renewed, note.clone(), self.now)];
        Ok(Changes {
            outcome: Some(pb::MeasureUpdate {
                measure_id: measure_id.clone(),
                revision: 1,
                state: pb::MeasureState::Effective as i32,
                effective_at: Some(timestamp(self.now)),
                expires_at: timestamp_opt(target.expires_at),
                registration_number: target.registration_number.clone(),
                at: Some(timestamp(self.now)),
                cause: pb::UpdateCause::Executed as i32,
                note,
                ..Default::default()
            }),
            related,
        })
    }

    /// Deducts funds to the court: from its freeze first, then from available funds.
    pub async fn deduct(
        &mut self,
        instruction: &pb::Instruction,
        order: &pb::Deduction,
    ) -> Result<Changes, sqlx::Error> {
        let measure_id = &instruction.measure_id;
        let Some(account) = self.lock_account(&order.account_number).await? else {
            return Ok(refused(
                measure_id,
                no_account(&order.account_number),
                self.now,
            ));
        };
        if let Err(refusal) = check_holder(&account, instruction.subject.as_ref()) {
            return Ok(refused(measure_id, refusal, self.now));
        }
        let live = self.live_freezes(&account.account_number).await?;
        let mut source = None;
        if !order.freeze_measure_id.is_empty() {
            let id = Uuid::parse_str(&order.freeze_measure_id).ok();
            match live.iter().find(|f| Some(f.measure_id) == id) {
                Some(f) if f.in_force() && f.court_code == instruction.court_code => {
                    source = Some(f.clone());
                }
                _ => {
                    return Ok(refused(
                        measure_id,
                        Refusal::new(
                            pb::ReasonCode::TargetNotActive,
                            "the freeze named for deduction is not this court's freeze in force on this account",
                        ),
                        self.now,
                    ));
                }
            }
        }
        let total_frozen: i64 = live
            .iter()
            .filter(|f| f.in_force())
            .map(|f| f.frozen_fen)
            .sum();
        let from_freeze = source
            .as_ref()
            .map_or(0, |f| f.frozen_fen.min(order.amount_fen));
        let available = (account.balance_fen - total_frozen).max(0);
        let from_available = (order.amount_fen - from_freeze).min(available).max(0);
        let deducted = from_freeze + from_available;
        if deducted == 0 {
            return Ok(refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::InsufficientFunds,
                    "nothing to deduct: no frozen or available funds",
                ),
                self.now,
            ));
        }
        self.set_balance(&account.account_number, account.balance_fen - deducted)
            .await?;
        let mut related = Vec::new();
        if let Some(mut freeze) = source.clone() {
            freeze.frozen_fen -= from_freeze;
            freeze.amount_fen -= from_freeze;
            freeze.revision += 1;
            let ended = freeze.amount_fen == 0;
            freeze.state = if ended {
                "deducted".into()
            } else if freeze.frozen_fen == freeze.amount_fen {
                "effective".into()
            } else {
                "partial".into()
            };
            self.save(&freeze).await?;
            related.push(freeze.update(
                pb::UpdateCause::Deducted,
                format!(
                    "{} of the frozen funds deducted to the court",
                    money(from_freeze)
                ),
                self.now,
            ));
            if ended {
                related.extend(self.settle(&account.account_number).await?);
            }
        }
        let receiving = order.receiving_account.clone().unwrap_or_default();
        sqlx::query(
            "INSERT INTO deductions (measure_id, account_number, court_code, amount_fen, \
                 deducted_fen, from_freeze, receiving_bank, receiving_account, receiving_name, \
                 executed_at, bank_code) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(parse_id(measure_id))
        .bind(&account.account_number)
        .bind(&instruction.court_code)
        .bind(order.amount_fen)
        .bind(deducted)
        .bind(source.as_ref().map(|f| f.measure_id))
        .bind(&receiving.bank_name)
        .bind(&receiving.account_number)
        .bind(&receiving.account_name)
        .bind(self.now)
        .bind(self.bank_code)
        .execute(&mut *self.conn)
        .await?;
        let state = if deducted == order.amount_fen {
            pb::MeasureState::Effective
        } else {
            pb::MeasureState::Partial
        };
        Ok(Changes {
            outcome: Some(pb::MeasureUpdate {
                measure_id: measure_id.clone(),
                revision: 1,
                state: state as i32,
                held_fen: deducted,
                effective_at: Some(timestamp(self.now)),
                registration_number: format!(
                    "{}-KH-{}",
                    self.bank_code,
                    &measure_id[..8.min(measure_id.len())]
                ),
                at: Some(timestamp(self.now)),
                cause: pb::UpdateCause::Executed as i32,
                note: format!(
                    "{} of {} deducted to {} {}",
                    money(deducted),
                    money(order.amount_fen),
                    receiving.bank_name,
                    receiving.account_number
                ),
                ..Default::default()
            }),
            related,
        })
    }

    /// Credits funds and tops up partial freezes, oldest first. Returns their updates.
    pub async fn credit(
        &mut self,
        account: &Account,
        amount_fen: i64,
    ) -> Result<Vec<pb::MeasureUpdate>, sqlx::Error> {
        let balance = account.balance_fen + amount_fen;
        self.set_balance(&account.account_number, balance).await?;
        let mut live = self.live_freezes(&account.account_number).await?;
        let mut frozen: i64 = live
            .iter()
            .filter(|f| f.in_force())
            .map(|f| f.frozen_fen)
            .sum();
        let mut updates = Vec::new();
        for f in live.iter_mut().filter(|f| f.state == "partial") {
            let add = (f.amount_fen - f.frozen_fen).min(balance - frozen);
            if add <= 0 {
                break;
            }
            f.frozen_fen += add;
            frozen += add;
            if f.frozen_fen == f.amount_fen {
                f.state = "effective".into();
            }
            f.revision += 1;
            self.save(f).await?;
            let note = if f.state == "effective" {
                format!(
                    "incoming funds frozen: {} now frozen in full",
                    money(f.frozen_fen)
                )
            } else {
                format!(
                    "incoming funds frozen: {} now frozen of {} ordered",
                    money(f.frozen_fen),
                    money(f.amount_fen)
                )
            };
            updates.push(f.update(pb::UpdateCause::ToppedUp, note, self.now));
        }
        Ok(updates)
    }

    /// Lapses this bank's freezes whose expiry has passed and promotes what waits behind them.
    pub async fn lapse_due(&mut self, limit: i64) -> Result<Vec<pb::MeasureUpdate>, sqlx::Error> {
        let due: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT measure_id, account_number FROM freezes \
             WHERE bank_code = $1 AND state IN ('effective', 'partial') AND expires_at <= $2 \
             ORDER BY expires_at LIMIT $3",
        )
        .bind(self.bank_code)
        .bind(self.now)
        .bind(limit)
        .fetch_all(&mut *self.conn)
        .await?;
        let mut updates = Vec::new();
        for (measure_id, account) in due {
            self.lock_account(&account).await?;
            let Some(mut freeze) = self.freeze(measure_id).await? else {
                continue;
            };
            if !freeze.in_force() || freeze.expires_at.is_none_or(|e| e > self.now) {
                continue;
            }
            let unfrozen = freeze.frozen_fen;
            freeze.state = "lapsed".into();
            freeze.frozen_fen = 0;
            freeze.revision += 1;
            self.save(&freeze).await?;
            updates.push(freeze.update(
                pb::UpdateCause::Lapsed,
                format!(
                    "lapsed at expiry without renewal; {} unfrozen",
                    money(unfrozen)
                ),
                self.now,
            ));
            updates.extend(self.settle(&account).await?);
        }
        Ok(updates)
    }

    /// Answers an inquiry for deposits: every account of the subject, with balance and frozen.
    pub async fn inquire(
        &mut self,
        instruction: &pb::Instruction,
    ) -> Result<(Changes, pb::InquiryAnswer), sqlx::Error> {
        let holder_id = subject_id(instruction.subject.as_ref()).unwrap_or_default();
        let holdings: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT a.account_number, a.balance_fen, \
                 COALESCE(SUM(f.frozen_fen) FILTER (WHERE f.state IN ('effective', 'partial')), 0)::int8 \
             FROM accounts a LEFT JOIN freezes f \
                 ON f.bank_code = a.bank_code AND f.account_number = a.account_number \
             WHERE a.bank_code = $1 AND a.holder_id = $2 AND NOT a.closed \
             GROUP BY a.account_number, a.balance_fen ORDER BY a.account_number",
        )
        .bind(self.bank_code)
        .bind(&holder_id)
        .fetch_all(&mut *self.conn)
        .await?;
        let note = if holdings.is_empty() {
            "no accounts held by the subject".to_string()
        } else {
            format!("{} account(s) found", holdings.len())
        };
        let answer = pb::InquiryAnswer {
            holdings: holdings
                .into_iter()
                .map(|(account_number, balance_fen, frozen_fen)| pb::Holding {
                    asset: Some(pb::holding::Asset::Deposit(pb::DepositHolding {
                        account_number,
                        balance_fen,
                        frozen_fen,
                    })),
                })
                .collect(),
        };
        let changes = Changes {
            outcome: Some(pb::MeasureUpdate {
                measure_id: instruction.measure_id.clone(),
                revision: 1,
                state: pb::MeasureState::Effective as i32,
                effective_at: Some(timestamp(self.now)),
                at: Some(timestamp(self.now)),
                cause: pb::UpdateCause::Executed as i32,
                note,
                ..Default::default()
            }),
            related: Vec::new(),
        };
        Ok((changes, answer))
    }
}

/// Whether the account's holder is the subject: identity first, then name.
pub fn check_holder(account: &Account, subject: Option<&pb::Subject>) -> Result<(), Refusal> {
    if account.closed {
        return Err(Refusal::new(
            pb::ReasonCode::AccountClosed,
            format!("account {} is closed", mask(&account.account_number)),
        ));
    }
    let (name, id) = match subject.and_then(|s| s.party.as_ref()) {
        Some(pb::subject::Party::Person(p)) => (p.name.as_str(), p.resident_id.as_str()),
        Some(pb::subject::Party::Organisation(o)) => (o.name.as_str(), o.credit_code.as_str()),
        None => {
            return Err(Refusal::new(
                pb::ReasonCode::DocumentDefect,
                "the order names no subject",
            ));
        }
    };
    if account.holder_id != id {
        return Err(Refusal::new(
            pb::ReasonCode::IdentityMismatch,
            format!(
                "account {} is not held by the subject's identity number or credit code",
                mask(&account.account_number)
            ),
        ));
    }
    if account.holder_name != name {
        return Err(Refusal::new(
            pb::ReasonCode::NameMismatch,
            format!(
                "account {} is held under another name than {name}",
                mask(&account.account_number)
            ),
        ));
    }
    Ok(())
}

fn subject_id(subject: Option<&pb::Subject>) -> Option<String> {
    match subject.and_then(|s| s.party.as_ref())? {
        pb::subject::Party::Person(p) => Some(p.resident_id.clone()),
        pb::subject::Party::Organisation(o) => Some(o.credit_code.clone()),
    }
}

fn refused(measure_id: &str, refusal: Refusal, at: OffsetDateTime) -> Changes {
    Changes {
        outcome: Some(rejected(measure_id, refusal, at)),
        related: Vec::new(),
    }
}

fn no_account(number: &str) -> Refusal {
    Refusal::new(
        pb::ReasonCode::NotFound,
        format!("no account {} at this bank", mask(number)),
    )
}

fn not_here(measure_id: &str) -> Refusal {
    Refusal::new(
        pb::ReasonCode::TargetNotActive,
        format!("no freeze {measure_id} at this bank"),
    )
}

fn parse_id(id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap_or(Uuid::nil())
}

fn mask(account: &str) -> String {
    hub_domain::AccountNumber::parse(account)
        .map(|a| a.masked())
        .unwrap_or_else(|_| "****".into())
}

fn money(fen: i64) -> String {
    Money::from_fen(fen).map_or_else(|_| format!("{fen} fen"), |m| format!("{m} yuan"))
}

fn date(at: Option<OffsetDateTime>) -> String {
    at.map(|t| {
        let local = t.to_offset(hub_domain::CHINA_STANDARD_TIME);
        format!("{} (UTC+08:00)", local.date())
    })
    .unwrap_or_else(|| "-".into())
}
