//! The bank's ledger in PostgreSQL: accounts, the freezes on them and their states, and the SQL
//! that finds, locks and writes them. The rules that change them are in the modules beside this
//! one (`freeze`, `line`, `deduction`, `inquiry`).
//!
//! Every operation locks the account row first, then freezes on it, so concurrent instructions,
//! credits and lapses on one account serialise and cannot deadlock.

use enforcement_proto::{
    convert::{timestamp, timestamp_opt},
    v1 as pb,
};
use hub_domain::{AccountNumber, Money, Period};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{office::Desk, outcome::Refusal, stored::UnknownWord};

/// An account row, locked for the current transaction.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct Account {
    /// The account number, as courts name it.
    pub account_number: String,
    /// The holder's name, in its stored form.
    pub holder_name: String,
    /// The holder's resident identity number or credit code, in its stored form.
    pub holder_id: String,
    /// The balance, frozen funds included.
    pub balance_fen: i64,
    /// A closed account takes no freezes or deductions.
    pub closed: bool,
}

/// Where a freeze stands at the bank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreezeState {
    /// In force for the whole amount ordered.
    Effective,
    /// In force for less than the amount ordered (限额冻结 with a short balance); later credits
    /// top it up.
    Partial,
    /// Registered behind the freeze in force (轮候).
    Waiting,
    /// Lifted by a release order. Final.
    Released,
    /// Reached its expiry without renewal (失效). Final.
    Lapsed,
    /// Its whole amount was deducted to the court. Final.
    Deducted,
}

impl FreezeState {
    /// The word stored in `freezes.state`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Effective => "effective",
            Self::Partial => "partial",
            Self::Waiting => "waiting",
            Self::Released => "released",
            Self::Lapsed => "lapsed",
            Self::Deducted => "deducted",
        }
    }

    /// The wire state.
    pub const fn to_proto(self) -> pb::MeasureState {
        match self {
            Self::Effective => pb::MeasureState::Effective,
            Self::Partial => pb::MeasureState::Partial,
            Self::Waiting => pb::MeasureState::Waiting,
            Self::Released => pb::MeasureState::Released,
            Self::Lapsed => pb::MeasureState::Lapsed,
            Self::Deducted => pb::MeasureState::Deducted,
        }
    }

    /// Holding funds: effective or partial.
    pub const fn in_force(self) -> bool {
        matches!(self, Self::Effective | Self::Partial)
    }

    /// In force or waiting: what a release may still end.
    pub const fn is_live(self) -> bool {
        matches!(self, Self::Effective | Self::Partial | Self::Waiting)
    }

    /// Effective if `frozen` is the whole `amount`, else partial.
    pub const fn holding(frozen: i64, amount: i64) -> Self {
        if frozen == amount {
            Self::Effective
        } else {
            Self::Partial
        }
    }
}

impl TryFrom<String> for FreezeState {
    type Error = UnknownWord;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        match word.as_str() {
            "effective" => Ok(Self::Effective),
            "partial" => Ok(Self::Partial),
            "waiting" => Ok(Self::Waiting),
            "released" => Ok(Self::Released),
            "lapsed" => Ok(Self::Lapsed),
            "deducted" => Ok(Self::Deducted),
            _ => Err(UnknownWord::new("freeze state", word)),
        }
    }
}

/// One row of `freezes`.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct FreezeRow {
    /// The hub's measure id.
    pub measure_id: Uuid,
    /// The instruction that created it.
    pub instruction_id: Uuid,
    /// Order of receipt; ranks the waiting line.
    pub seq: i64,
    /// The account frozen.
    pub account_number: String,
    /// The ordering court: the only one that may release, renew or deduct from it.
    pub court_code: String,
    /// The case number.
    pub case_number: String,
    /// Where it stands.
    #[sqlx(try_from = "String")]
    pub state: FreezeState,
    /// The amount ordered, less what was deducted from it.
    pub amount_fen: i64,
    /// The amount frozen now; below `amount_fen` while partial, 0 while waiting or ended.
    pub frozen_fen: i64,
    /// 1 for the first in line while waiting; 0 otherwise.
    pub waiting_position: i32,
    /// The period ordered (months), counted from when it took effect.
    pub period_months: i32,
    /// The period ordered (days after the months).
    pub period_days: i32,
    /// The bank's registration number.
    pub registration_number: String,
    /// Numbers every change reported to the hub.
    pub revision: i64,
    /// When the bank received the order.
    pub received_at: OffsetDateTime,
    /// When it took effect; `None` while waiting.
    pub effective_at: Option<OffsetDateTime>,
    /// When it lapses unless renewed; `None` while waiting.
    pub expires_at: Option<OffsetDateTime>,
}

impl FreezeRow {
    /// The stored period (always one checked before it was stored).
    pub fn period(&self) -> Option<Period> {
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
        pb::MeasureUpdate {
            measure_id: self.measure_id.to_string(),
            revision: u64::try_from(self.revision).unwrap_or(0),
            state: self.state.to_proto() as i32,
            held_fen: self.frozen_fen,
            waiting_position: u32::try_from(self.waiting_position).unwrap_or(0),
            effective_at: timestamp_opt(self.effective_at),
            expires_at: timestamp_opt(self.expires_at),
            registration_number: self.registration_number.clone(),
            reason: None,
            at: Some(timestamp(at)),
            cause: cause as i32,
            note,
            amount_fen: self.amount_fen,
        }
    }

    /// Takes effect at `now` with `frozen` fen (effective, or partial if short), its period
    /// starting now, whenever it was received.
    pub fn take_effect(&mut self, frozen: i64, now: OffsetDateTime) {
        self.frozen_fen = frozen.clamp(0, self.amount_fen);
        self.state = FreezeState::holding(self.frozen_fen, self.amount_fen);
        self.waiting_position = 0;
        self.effective_at = Some(now);
        self.expires_at = self.period().map(|p| p.end_from(now));
    }
}

/// The bank's ledger of one bank served, inside the caller's transaction.
pub struct Ledger<'a> {
    /// The caller's transaction.
    pub conn: &'a mut PgConnection,
    /// The bank whose ledger this is; no query sees another bank's rows.
    pub bank_code: &'a str,
    /// The transaction's "now", from the clock (see [`crate::stored::now`]).
    pub now: OffsetDateTime,
}

impl<'a> From<Desk<'a>> for Ledger<'a> {
    fn from(desk: Desk<'a>) -> Self {
        Self {
            conn: desk.conn,
            bank_code: desk.agency_code,
            now: desk.now,
        }
    }
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
    /// The account must be locked first.
    pub async fn live_freezes(&mut self, account: &str) -> Result<Vec<FreezeRow>, sqlx::Error> {
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
    pub async fn freeze(&mut self, measure_id: Uuid) -> Result<Option<FreezeRow>, sqlx::Error> {
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
    pub async fn account_of(&mut self, measure_id: Uuid) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT account_number FROM freezes WHERE measure_id = $1 AND bank_code = $2",
        )
        .bind(measure_id)
        .bind(self.bank_code)
        .fetch_optional(&mut *self.conn)
        .await
    }

    /// Registers a new freeze, drawing its `seq` and with it its registration number in the
    /// insert itself: under the account's lock, so that on one account the order of `seq` is the
    /// order of receipt. `freeze` is given both.
    pub async fn insert(&mut self, freeze: &mut FreezeRow) -> Result<(), sqlx::Error> {
        let (seq, registration_number) = sqlx::query_as(concat!(
            "INSERT INTO freezes (bank_code, ",
            freeze_columns!(),
            ") SELECT $16, $1, $2, s.seq, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
                 $16 || '-DJ' || lpad(s.seq::text, greatest(8, length(s.seq::text)), '0'), \
                 $12, $13, $14, $15 \
               FROM (SELECT nextval('freeze_seq') AS seq) s \
             RETURNING seq, registration_number"
        ))
        .bind(freeze.measure_id)
        .bind(freeze.instruction_id)
        .bind(&freeze.account_number)
        .bind(&freeze.court_code)
        .bind(&freeze.case_number)
        .bind(freeze.state.as_str())
        .bind(freeze.amount_fen)
        .bind(freeze.frozen_fen)
        .bind(freeze.waiting_position)
        .bind(freeze.period_months)
        .bind(freeze.period_days)
        .bind(freeze.revision)
        .bind(freeze.received_at)
        .bind(freeze.effective_at)
        .bind(freeze.expires_at)
        .bind(self.bank_code)
        .fetch_one(&mut *self.conn)
        .await?;
        freeze.seq = seq;
        freeze.registration_number = registration_number;
        Ok(())
    }

    /// Writes a freeze's changed fields; an ended freeze (released, lapsed, deducted) gets its
    /// end time.
    pub async fn save(&mut self, f: &FreezeRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE freezes SET state = $2, amount_fen = $3, frozen_fen = $4, \
                 waiting_position = $5, revision = $6, effective_at = $7, expires_at = $8, \
                 ended_at = CASE WHEN $2 IN ('released', 'lapsed', 'deducted') THEN $9 ELSE NULL END \
             WHERE measure_id = $1",
        )
        .bind(f.measure_id)
        .bind(f.state.as_str())
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

    /// Sets an account's balance.
    pub async fn set_balance(
        &mut self,
        account: &str,
        balance_fen: i64,
    ) -> Result<(), sqlx::Error> {
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
}

/// Whether the account's holder is the subject: open first, then identity, then name.
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

/// The refusal of an order on an account this bank does not keep.
pub fn no_account(number: &str) -> Refusal {
    Refusal::new(
        pb::ReasonCode::NotFound,
        format!("no account {} at this bank", mask(number)),
    )
}

/// An account number as the bank writes it to courts: masked.
pub fn mask(account: &str) -> String {
    AccountNumber::parse(account)
        .map(|a| a.masked())
        .unwrap_or_else(|_| "****".into())
}

/// An amount in words for notes: `8,000.00 yuan`.
pub fn money(fen: i64) -> String {
    Money::from_fen(fen).map_or_else(|_| format!("{fen} fen"), |m| format!("{m} yuan"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freeze_states_round_trip_through_their_stored_words() {
        for state in [
            FreezeState::Effective,
            FreezeState::Partial,
            FreezeState::Waiting,
            FreezeState::Released,
            FreezeState::Lapsed,
            FreezeState::Deducted,
        ] {
            assert_eq!(
                FreezeState::try_from(state.as_str().to_string()).ok(),
                Some(state)
            );
        }
        assert!(FreezeState::try_from("sealed".to_string()).is_err());
    }

    #[test]
    fn only_effective_and_partial_freezes_hold_funds() {
        assert!(FreezeState::Effective.in_force());
        assert!(FreezeState::Partial.in_force());
        assert!(!FreezeState::Waiting.in_force());
        assert!(FreezeState::Waiting.is_live());
        assert!(!FreezeState::Deducted.is_live());
        assert_eq!(FreezeState::holding(5, 10), FreezeState::Partial);
        assert_eq!(FreezeState::holding(10, 10), FreezeState::Effective);
    }
}
