//! Freezing deposits (冻结): an order states an amount (限额冻结). With enough balance the freeze
//! is EFFECTIVE; with less, the balance is frozen and it is PARTIAL, topped up as funds arrive.
//! An account already frozen takes later freezes as WAITING (轮候), ranked by receipt — but never
//! the same court's second freeze in the same case: one debt is secured once on one account, and
//! a duplicate that came by another channel is refused naming the freeze already there.

use enforcement_proto::v1 as pb;
use hub_domain::StatutoryMaximum;

use super::ledger::{Account, FreezeRow, FreezeState, Ledger, check_holder, money, no_account};
use crate::{
    checks::checked_period,
    outcome::{Changes, Refusal, date},
    stored::parse_id,
};

/// The refusal of a court's second freeze in the same case on an account where `first`, its
/// freeze, is in force or waiting.
fn duplicate(first: &FreezeRow) -> Refusal {
    Refusal::new(
        pb::ReasonCode::Duplicate,
        format!(
            "the court already has freeze {} ({}, measure {}) on this account in this case; a second would freeze the same debt twice",
            first.registration_number,
            first.state.as_str(),
            first.measure_id
        ),
    )
}

impl Ledger<'_> {
    /// Freezes `amount` on an account for the instruction's court.
    pub async fn freeze_funds(
        &mut self,
        instruction: &pb::Instruction,
        order: &pb::Freeze,
    ) -> Result<Changes, sqlx::Error> {
        let measure_id = &instruction.measure_id;
        let now = self.now;
        let refused = |refusal| Ok(Changes::refused(measure_id, refusal, now));
        let Some(account) = self.lock_account(&order.account_number).await? else {
            return refused(no_account(&order.account_number));
        };
        if let Err(refusal) = check_holder(&account, instruction.subject.as_ref()) {
            return refused(refusal);
        }
        let period = match checked_period(
            order.period.as_ref(),
            StatutoryMaximum::Deposits,
            self.now,
            "freeze",
        ) {
            Ok(p) => p,
            Err(refusal) => return refused(refusal),
        };
        if order.amount_fen <= 0 {
            return refused(Refusal::new(
                pb::ReasonCode::DocumentDefect,
                "the freeze states no amount",
            ));
        }
        let case_number = instruction
            .case
            .as_ref()
            .map(|c| c.case_number.clone())
            .unwrap_or_default();
        let live = self.live_freezes(&account.account_number).await?;
        if let Some(first) = live
            .iter()
            .find(|f| f.court_code == instruction.court_code && f.case_number == case_number)
        {
            return refused(duplicate(first));
        }
        let mut freeze = FreezeRow {
            measure_id: parse_id(measure_id),
            instruction_id: parse_id(&instruction.instruction_id),
            // Drawn by the insert.
            seq: 0,
            account_number: account.account_number.clone(),
            court_code: instruction.court_code.clone(),
            case_number,
            state: FreezeState::Waiting,
            amount_fen: order.amount_fen,
            frozen_fen: 0,
            waiting_position: 0,
            period_months: i32::try_from(period.months()).unwrap_or(i32::MAX),
            period_days: i32::try_from(period.days()).unwrap_or(i32::MAX),
            registration_number: String::new(),
            revision: 1,
            received_at: self.now,
            effective_at: None,
            expires_at: None,
        };
        let note = if live.is_empty() {
            let frozen = order.amount_fen.min(account.balance_fen);
            freeze.take_effect(frozen, self.now);
            if freeze.state == FreezeState::Effective {
                format!("{} frozen until {}", money(frozen), date(freeze.expires_at))
            } else {
                format!(
                    "balance short: {} frozen of {} ordered; incoming funds will be frozen until the amount is reached",
                    money(frozen),
                    money(order.amount_fen)
                )
            }
        } else {
            let waiting = live
                .iter()
                .filter(|f| f.state == FreezeState::Waiting)
                .count();
            freeze.waiting_position = i32::try_from(waiting + 1).unwrap_or(i32::MAX);
            format!(
                "account already frozen by an earlier order; registered as waiting at position {}",
                freeze.waiting_position
            )
        };
        self.insert(&mut freeze).await?;
        Ok(Changes::outcome(freeze.update(
            pb::UpdateCause::Executed,
            note,
            self.now,
        )))
    }

    /// Registers the freeze of a deduction's remainder (民诉解释 art. 484) under the id the hub
    /// minted for it, for `amount_fen`, with the deduction's court and case: in line behind
    /// freezes already on the account, or in force for what the balance allows (usually nothing,
    /// since the deduction took it) and topped up by later credits. Returns its first update.
    pub async fn freeze_remainder(
        &mut self,
        instruction: &pb::Instruction,
        order: &pb::Deduction,
        amount_fen: i64,
        balance_fen: i64,
    ) -> Result<Option<pb::MeasureUpdate>, sqlx::Error> {
        let Ok(measure_id) = uuid::Uuid::parse_str(&order.remainder_measure_id) else {
            return Ok(None);
        };
        // A period the hub did not check is taken as the statutory maximum, never refused: the
        // deduction itself has been carried out already.
        let twelve_months = pb::Period {
            months: 12,
            days: 0,
        };
        let period = checked_period(
            order.remainder_period.as_ref().or(Some(&twelve_months)),
            StatutoryMaximum::Deposits,
            self.now,
            "remainder freeze",
        )
        .or_else(|_| {
            checked_period(
                Some(&twelve_months),
                StatutoryMaximum::Deposits,
                self.now,
                "remainder freeze",
            )
        });
        let Ok(period) = period else {
            return Ok(None);
        };
        let live = self.live_freezes(&order.account_number).await?;
        let mut freeze = FreezeRow {
            measure_id,
            // The deduction's instruction: no freeze row carries it otherwise.
            instruction_id: parse_id(&instruction.instruction_id),
            // Drawn by the insert.
            seq: 0,
            account_number: order.account_number.clone(),
            court_code: instruction.court_code.clone(),
            case_number: instruction
                .case
                .as_ref()
                .map(|c| c.case_number.clone())
                .unwrap_or_default(),
            state: FreezeState::Waiting,
            amount_fen,
            frozen_fen: 0,
            waiting_position: 0,
            period_months: i32::try_from(period.months()).unwrap_or(i32::MAX),
            period_days: i32::try_from(period.days()).unwrap_or(i32::MAX),
            registration_number: String::new(),
            revision: 1,
            received_at: self.now,
            effective_at: None,
            expires_at: None,
        };
        let note = if live.is_empty() {
            freeze.take_effect(amount_fen.min(balance_fen), self.now);
            format!(
                "the deduction could not take {}: it stays frozen (民诉解释 art. 484); {} frozen now, incoming funds will be frozen until it is reached",
                money(amount_fen),
                money(freeze.frozen_fen)
            )
        } else {
            let waiting = live
                .iter()
                .filter(|f| f.state == FreezeState::Waiting)
                .count();
            freeze.waiting_position = i32::try_from(waiting + 1).unwrap_or(i32::MAX);
            format!(
                "the deduction could not take {}: it is frozen behind the freezes already on the account, waiting at position {} (民诉解释 art. 484)",
                money(amount_fen),
                freeze.waiting_position
            )
        };
        self.insert(&mut freeze).await?;
        Ok(Some(freeze.update(
            pb::UpdateCause::Executed,
            note,
            self.now,
        )))
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
            .filter(|f| f.state.in_force())
            .map(|f| f.frozen_fen)
            .sum();
        let mut updates = Vec::new();
        for f in live.iter_mut().filter(|f| f.state == FreezeState::Partial) {
            let add = (f.amount_fen - f.frozen_fen).min(balance - frozen);
            if add <= 0 {
                break;
            }
            f.frozen_fen += add;
            frozen += add;
            f.state = FreezeState::holding(f.frozen_fen, f.amount_fen);
            f.revision += 1;
            self.save(f).await?;
            let note = if f.state == FreezeState::Effective {
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
}
