//! Steps 1 to 3: freezes. One within the balance takes effect in full; one beyond it is partial
//! and catches incoming funds; a second court's freeze on an account already frozen waits in line
//! (轮候).

use enforcement_proto::v1 as pb;
use hub_domain::MeasureState;
use uuid::Uuid;

use super::{
    ENFORCEMENT_AMOUNT_FEN, FIRST_COURT, FREEZE_MONTHS, SECOND_COURT, Walk,
    accounts::{Account, Accounts},
};
use crate::{cmd::submit, court::Court, error::Failure, format};

impl Walk {
    /// Step 1: a freeze within the balance is effective for the full amount.
    pub(super) async fn freeze_in_full(&self, accounts: &Accounts) -> Result<pb::Measure, Failure> {
        let title = format!(
            "Court {FIRST_COURT} freezes 10,000.00 on {}'s account, which holds 25,000.00.",
            accounts.zhang.holder
        );
        self.heading(1, &title);
        let mut court = self.first.clone();
        let freeze = self
            .freeze(&mut court, 1, &accounts.zhang, 1_000_000)
            .await?;
        let done = self
            .expect(
                &mut court,
                &freeze,
                MeasureState::Effective,
                "become effective holding 10,000.00",
                |m| m.held_fen == 1_000_000,
            )
            .await?;
        let ledger = self
            .ledger_shows(&accounts.zhang, 1_000_000, "10,000.00 frozen")
            .await?;
        self.record(1, &title, &[&done.measure], &[&ledger]);
        Ok(done.measure)
    }

    /// Step 2: a freeze beyond the balance is partial; incoming funds are frozen towards it.
    pub(super) async fn freeze_partially_then_top_up(
        &self,
        accounts: &Accounts,
    ) -> Result<(), Failure> {
        let title = format!(
            "Court {FIRST_COURT} freezes 30,000.00 on {}'s account, which holds only 5,000.00.",
            accounts.li.holder
        );
        self.heading(2, &title);
        let mut court = self.first.clone();
        let freeze = self.freeze(&mut court, 2, &accounts.li, 3_000_000).await?;
        self.expect(
            &mut court,
            &freeze,
            MeasureState::Partial,
            "become partial holding 5,000.00",
            |m| m.held_fen == 500_000,
        )
        .await?;
        self.say(&format!(
            "{} receives 20,000.00: the bank freezes incoming funds towards the order and tells the court.",
            accounts.li.holder
        ));
        let credited = self
            .bank
            .clone()
            .credit(&accounts.li.number, 2_000_000)
            .await?;
        self.say(&format!(
            "credited; {}'s balance is now {}",
            accounts.li.holder,
            format::money(credited.balance_fen)
        ));
        let topped_up = self
            .expect(
                &mut court,
                &freeze,
                MeasureState::Partial,
                "show 25,000.00 frozen after the credit",
                |m| m.held_fen == 2_500_000,
            )
            .await?;
        let ledger = self
            .ledger_shows(&accounts.li, 2_500_000, "25,000.00 frozen")
            .await?;
        self.record(2, &title, &[&topped_up.measure], &[&ledger]);
        Ok(())
    }

    /// Step 3: a second court's freeze on an account already frozen waits in line.
    pub(super) async fn second_court_waits(
        &self,
        accounts: &Accounts,
    ) -> Result<pb::Measure, Failure> {
        let title = format!(
            "Court {SECOND_COURT} freezes 8,000.00 on {}'s account, already frozen by {FIRST_COURT}.",
            accounts.zhang.holder
        );
        self.heading(3, &title);
        let mut court = self.second.clone();
        let freeze = self.freeze(&mut court, 3, &accounts.zhang, 800_000).await?;
        let done = self
            .expect(
                &mut court,
                &freeze,
                MeasureState::Waiting,
                "wait in line at position 1",
                |m| m.waiting_position == 1,
            )
            .await?;
        self.record(3, &title, &[&done.measure], &[]);
        Ok(done.measure)
    }
    /// Submits a freeze of `amount_fen` for 12 months on `account`, in the case numbered
    /// `case` of `court`.
    async fn freeze(
        &self,
        court: &mut Court,
        case: u32,
        account: &Account,
        amount_fen: i64,
    ) -> Result<pb::Measure, Failure> {
        let case_number = self.cast.case_number(court.code(), case);
        let submitted = court
            .submit(
                &Uuid::now_v7().to_string(),
                pb::CaseInfo {
                    case_number: case_number.clone(),
                    enforcement_amount_fen: ENFORCEMENT_AMOUNT_FEN,
                    ruling_number: format!("{case_number}之一"),
                    notice_number: format!("{case_number}协助执行通知书"),
                    officer: "王执行".into(),
                },
                account.subject(),
                submit::bank(&self.bank_code),
                pb::submit_request::Measure::Freeze(pb::Freeze {
                    account_number: account.number.clone(),
                    amount_fen,
                    period: Some(pb::Period {
                        months: FREEZE_MONTHS,
                        days: 0,
                    }),
                    up_to_open_amount: false,
                }),
            )
            .await?;
        self.say(&format!(
            "{} submitted freeze {} in case {}",
            court.code(),
            submitted.measure.measure_id,
            submitted.measure.case_number
        ));
        Ok(submitted.measure)
    }
}
