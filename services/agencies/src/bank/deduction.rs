//! Deductions (扣划): funds paid from an account to the court's receiving account. A deduction
//! naming the court's freeze on the account takes its frozen funds first, then what is available
//! (the balance not frozen for anyone); a freeze deducted in full ends, and the next waiting
//! freeze takes effect.
//!
//! A deduction also has the effect of a freeze (民诉解释 art. 484): when the hub names a measure
//! id for the remainder, what the account could not give is frozen under it, and later credits
//! fill it as they fill a partial freeze ([`Ledger::freeze_remainder`]). Not when the court's own
//! freeze in the same case stays on the account: that freeze already holds for the debt.

use enforcement_proto::v1 as pb;
use uuid::Uuid;

use super::ledger::{FreezeState, Ledger, check_holder, money, no_account};
use crate::{
    outcome::{Changes, Refusal, done},
    stored::parse_id,
};

impl Ledger<'_> {
    /// Deducts funds to the court: from its freeze first, then from available funds.
    pub async fn deduct(
        &mut self,
        instruction: &pb::Instruction,
        order: &pb::Deduction,
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
        let live = self.live_freezes(&account.account_number).await?;
        let mut source = None;
        if !order.freeze_measure_id.is_empty() {
            let id = Uuid::parse_str(&order.freeze_measure_id).ok();
            match live.iter().find(|f| Some(f.measure_id) == id) {
                Some(f) if f.state.in_force() && f.court_code == instruction.court_code => {
                    source = Some(f.clone());
                }
                _ => {
                    return refused(Refusal::new(
                        pb::ReasonCode::TargetNotActive,
                        "the freeze named for deduction is not this court's freeze in force on this account",
                    ));
                }
            }
        }
        let total_frozen: i64 = live
            .iter()
            .filter(|f| f.state.in_force())
            .map(|f| f.frozen_fen)
            .sum();
        let from_freeze = source
            .as_ref()
            .map_or(0, |f| f.frozen_fen.min(order.amount_fen));
        let available = (account.balance_fen - total_frozen).max(0);
        let from_available = (order.amount_fen - from_freeze).min(available).max(0);
        let deducted = from_freeze + from_available;
        let case_number = instruction
            .case
            .as_ref()
            .map(|c| c.case_number.as_str())
            .unwrap_or_default();
        // The court's freeze in this case that stays on the account after the deduction: it holds
        // for what the deduction cannot take, so no second freeze is made for it.
        let own_freeze_stays = live.iter().any(|f| {
            f.court_code == instruction.court_code
                && f.case_number == case_number
                && match &source {
                    Some(s) if s.measure_id == f.measure_id => s.amount_fen > from_freeze,
                    _ => true,
                }
        });
        let remainder = order.amount_fen - deducted;
        let freeze_rest =
            remainder > 0 && !order.remainder_measure_id.is_empty() && !own_freeze_stays;
        if deducted == 0 && !freeze_rest {
            return refused(Refusal::new(
                pb::ReasonCode::InsufficientFunds,
                "nothing to deduct: no frozen or available funds",
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
                FreezeState::Deducted
            } else {
                FreezeState::holding(freeze.frozen_fen, freeze.amount_fen)
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
        if freeze_rest {
            let balance = account.balance_fen - deducted;
            related.extend(
                self.freeze_remainder(instruction, order, remainder, balance)
                    .await?,
            );
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
        let registration_number = format!(
            "{}-KH-{}",
            self.bank_code,
            &measure_id[..8.min(measure_id.len())]
        );
        let mut note = format!(
            "{} of {} deducted to {} {}",
            money(deducted),
            money(order.amount_fen),
            receiving.bank_name,
            receiving.account_number
        );
        if freeze_rest {
            note.push_str(&format!(
                "; the remaining {} stays frozen under measure {}",
                money(remainder),
                order.remainder_measure_id
            ));
        } else if remainder > 0 && own_freeze_stays {
            note.push_str("; the court's freeze on the account holds for the rest");
        }
        Ok(Changes {
            outcome: Some(pb::MeasureUpdate {
                state: state as i32,
                held_fen: deducted,
                ..done(measure_id, &registration_number, None, note, self.now)
            }),
            related,
        })
    }
}
