//! The bank: freezes within and beyond the balance, top-ups by credits, the waiting line,
//! release, renewal, lapse, deductions, inquiries, idempotency, every refusal and the banks
//! served.

use enforcement_proto::{reference as admin, v1 as pb};
use time::Duration;
use tonic::Code;

use crate::support::{
    BankApp, Options, at, cause, expiry, follow_up, instruction, months, organisation, outcome,
    person, reason, release, renewal, spawn_bank, state,
};

const BANK: &str = "ICBC";
const OTHER_BANK: &str = "CCB";
const COURT: &str = "京0105";
const SECOND_COURT: &str = "京0108";
const THIRD_COURT: &str = "京0106";
const ZHANG: (&str, &str) = ("张伟", "110105198001010016");
const WANG: (&str, &str) = ("王芳", "440304198506150023");

const ACCOUNT: &str = "6222020000000000001";
const WANGS_ACCOUNT: &str = "6222020000000000002";

impl BankApp {
    async fn open(&self, account: &str, holder: (&str, &str), balance_fen: i64) {
        self.admin
            .clone()
            .open_account(admin::OpenAccountRequest {
                bank_code: BANK.into(),
                account_number: account.into(),
                holder_name: holder.0.into(),
                holder_id: holder.1.into(),
                balance_fen,
            })
            .await
            .expect("opening an account");
    }

    async fn credit(&self, account: &str, amount_fen: i64) -> admin::Account {
        self.admin
            .clone()
            .credit(admin::CreditRequest {
                bank_code: BANK.into(),
                account_number: account.into(),
                amount_fen,
            })
            .await
            .expect("crediting an account")
            .into_inner()
    }

    async fn account(&self, account: &str) -> admin::Account {
        self.admin
            .clone()
            .get_account(admin::AccountRequest {
                bank_code: BANK.into(),
                account_number: account.into(),
            })
            .await
            .expect("reading an account")
            .into_inner()
    }

    /// The account's balance and what is frozen on it.
    async fn funds(&self, account: &str) -> (i64, i64) {
        let account = self.account(account).await;
        (account.balance_fen, account.frozen_fen)
    }

    async fn freezes(&self, account: &str) -> Vec<admin::LedgerFreeze> {
        self.admin
            .clone()
            .list_freezes(admin::ListFreezesRequest {
                bank_code: BANK.into(),
                account_number: account.into(),
            })
            .await
            .expect("listing freezes")
            .into_inner()
            .freezes
    }

    /// The ledger's freezes on `account` as (measure, state, frozen, waiting position).
    async fn ledger(&self, account: &str) -> Vec<(String, String, i64, u32)> {
        self.freezes(account)
            .await
            .into_iter()
            .map(|f| (f.measure_id, f.state, f.frozen_fen, f.waiting_position))
            .collect()
    }

    /// Waits for the notice update of `measure_id` with `cause` at `revision`.
    async fn notified(
        &self,
        measure_id: &str,
        cause: pb::UpdateCause,
        revision: u64,
    ) -> pb::MeasureUpdate {
        let found = |notices: &[pb::Notice]| {
            notices
                .iter()
                .flat_map(|n| &n.updates)
                .find(|u| {
                    u.measure_id == measure_id && u.cause == cause as i32 && u.revision == revision
                })
                .cloned()
        };
        let notices = self
            .inbox
            .wait_for(&format!("{cause:?} at revision {revision}"), |n| {
                found(n).is_some()
            })
            .await;
        found(&notices).expect("waited for it")
    }
}

/// A freeze by `court` of `amount_fen` on `account` of `holder` at ICBC, for `period` months.
fn freeze(
    court: &str,
    holder: (&str, &str),
    account: &str,
    amount_fen: i64,
    period: u32,
) -> pb::Instruction {
    instruction(
        pb::AgencyKind::Bank,
        BANK,
        court,
        person(holder.0, holder.1),
        pb::instruction::Action::Freeze(pb::Freeze {
            account_number: account.into(),
            amount_fen,
            period: months(period),
            up_to_open_amount: false,
        }),
    )
}

/// A deduction by the court of `earlier` of `amount_fen` from the same account, from the
/// frozen funds of `from` if given, to the court's account.
fn deduction(
    earlier: &pb::Instruction,
    account: &str,
    amount_fen: i64,
    from: Option<&pb::Instruction>,
) -> pb::Instruction {
    follow_up(
        earlier,
        pb::instruction::Action::Deduction(pb::Deduction {
            account_number: account.into(),
            amount_fen,
            freeze_measure_id: from.map(|f| f.measure_id.clone()).unwrap_or_default(),
            receiving_account: Some(pb::ReceivingAccount {
                bank_name: "中国工商银行北京朝阳支行".into(),
                account_number: "0200001009014412345".into(),
                account_name: "北京市朝阳区人民法院".into(),
            }),
            remainder_measure_id: String::new(),
            remainder_period: None,
            up_to_open_amount: false,
        }),
    )
}

#[tokio::test]
async fn a_freeze_within_the_balance_takes_effect_for_the_amount_ordered() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 2_500_000).await;

    let order = freeze(COURT, ZHANG, ACCOUNT, 1_000_000, 12);
    let response = app.execute(&order).await;

    let frozen = outcome(&response);
    assert_eq!(state(frozen), pb::MeasureState::Effective);
    assert_eq!(cause(frozen), pb::UpdateCause::Executed);
    assert_eq!(frozen.measure_id, order.measure_id);
    assert_eq!(frozen.revision, 1);
    assert_eq!(frozen.held_fen, 1_000_000);
    // The bank's code, DJ and its freeze number in at least eight digits.
    let number = frozen.registration_number.strip_prefix("ICBC-DJ");
    assert!(
        number.is_some_and(|n| n.len() == 8 && n.bytes().all(|b| b.is_ascii_digit())),
        "{}",
        frozen.registration_number
    );
    let effective_at = at(frozen.effective_at.as_ref());
    assert_eq!(at(frozen.expires_at.as_ref()), expiry(effective_at, 12));
    assert!(response.related.is_empty());

    assert_eq!(app.funds(ACCOUNT).await, (2_500_000, 1_000_000));
    let freezes = app.freezes(ACCOUNT).await;
    assert_eq!(freezes.len(), 1);
    assert_eq!(freezes[0].state, "effective");
    assert_eq!(freezes[0].court_code, COURT);
    assert_eq!(
        (freezes[0].amount_fen, freezes[0].frozen_fen),
        (1_000_000, 1_000_000)
    );
    assert_eq!(freezes[0].registration_number, frozen.registration_number);
    assert_eq!(freezes[0].expires_at, frozen.expires_at);
}

#[tokio::test]
async fn a_short_balance_freezes_what_is_there_and_later_credits_top_it_up() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 500_000).await;
    let order = freeze(COURT, ZHANG, ACCOUNT, 1_000_000, 12);

    let response = app.execute(&order).await;

    let partial = outcome(&response);
    assert_eq!(state(partial), pb::MeasureState::Partial);
    assert_eq!(partial.held_fen, 500_000);
    assert!(partial.note.contains("balance short"), "{}", partial.note);

    let account = app.credit(ACCOUNT, 300_000).await;
    assert_eq!(
        (account.balance_fen, account.frozen_fen),
        (800_000, 800_000)
    );
    let topped = app
        .notified(&order.measure_id, pb::UpdateCause::ToppedUp, 2)
        .await;
    assert_eq!(state(&topped), pb::MeasureState::Partial);
    assert_eq!(topped.held_fen, 800_000);
    assert!(topped.note.contains("8,000.00"), "{}", topped.note);

    app.credit(ACCOUNT, 700_000).await;
    let full = app
        .notified(&order.measure_id, pb::UpdateCause::ToppedUp, 3)
        .await;
    assert_eq!(state(&full), pb::MeasureState::Effective);
    assert_eq!(full.held_fen, 1_000_000);
    // The period still runs from when the freeze first took effect.
    assert_eq!(full.effective_at, partial.effective_at);
    assert_eq!(full.expires_at, partial.expires_at);

    // Only what was ordered is frozen; the rest of the credit is free.
    assert_eq!(app.funds(ACCOUNT).await, (1_500_000, 1_000_000));
    assert_eq!(
        app.inbox.notices()[0].agency,
        Some(pb::AgencyRef {
            kind: pb::AgencyKind::Bank as i32,
            code: BANK.into(),
        })
    );
}

#[tokio::test]
async fn a_second_courts_freeze_waits_and_takes_effect_when_the_first_is_released() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 2_500_000).await;
    let first = freeze(COURT, ZHANG, ACCOUNT, 1_000_000, 12);
    let second = freeze(SECOND_COURT, ZHANG, ACCOUNT, 800_000, 6);
    let third = freeze(THIRD_COURT, ZHANG, ACCOUNT, 300_000, 6);
    let frozen = app.execute(&first).await;

    let waiting = app.execute(&second).await;
    let waiting = outcome(&waiting);
    assert_eq!(state(waiting), pb::MeasureState::Waiting);
    assert_eq!(waiting.waiting_position, 1);
    assert_eq!(waiting.held_fen, 0);
    assert_eq!(waiting.effective_at, None);
    assert_eq!(waiting.expires_at, None);
    assert!(waiting.registration_number.starts_with("ICBC-DJ"));
    let behind = app.execute(&third).await;
    assert_eq!(state(outcome(&behind)), pb::MeasureState::Waiting);
    assert_eq!(outcome(&behind).waiting_position, 2);
    assert_eq!(app.funds(ACCOUNT).await, (2_500_000, 1_000_000));

    let released = app
        .execute(&follow_up(&first, release(&first, "debt paid")))
        .await;

    let done = outcome(&released);
    assert_eq!(state(done), pb::MeasureState::Effective);
    assert_eq!(
        done.registration_number,
        outcome(&frozen).registration_number
    );
    // The court is told at once, in the release's answer: released, promoted, moved up.
    let related = &released.related;
    assert_eq!(related.len(), 3, "{related:#?}");
    assert_eq!(related[0].measure_id, first.measure_id);
    assert_eq!(state(&related[0]), pb::MeasureState::Released);
    assert_eq!(cause(&related[0]), pb::UpdateCause::Released);
    assert_eq!((related[0].revision, related[0].held_fen), (2, 0));
    assert_eq!(related[1].measure_id, second.measure_id);
    assert_eq!(state(&related[1]), pb::MeasureState::Effective);
    assert_eq!(cause(&related[1]), pb::UpdateCause::Promoted);
    assert_eq!((related[1].revision, related[1].held_fen), (2, 800_000));
    assert_eq!(related[1].waiting_position, 0);
    assert!(
        related[1].note.contains("took effect"),
        "{}",
        related[1].note
    );
    // The promoted freeze's period runs from its promotion.
    let promoted_at = at(related[1].effective_at.as_ref());
    assert_eq!(at(related[1].expires_at.as_ref()), expiry(promoted_at, 6));
    assert_eq!(related[2].measure_id, third.measure_id);
    assert_eq!(state(&related[2]), pb::MeasureState::Waiting);
    assert_eq!(cause(&related[2]), pb::UpdateCause::PositionChanged);
    assert_eq!(related[2].waiting_position, 1);

    assert_eq!(app.funds(ACCOUNT).await, (2_500_000, 800_000));
    assert_eq!(
        app.ledger(ACCOUNT).await,
        [
            (first.measure_id.clone(), "released".into(), 0, 0),
            (second.measure_id.clone(), "effective".into(), 800_000, 0),
            (third.measure_id.clone(), "waiting".into(), 0, 1),
        ]
    );
}

#[tokio::test]
async fn a_waiting_freeze_promoted_on_a_short_balance_freezes_what_is_there() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 1_000_000).await;
    let first = freeze(COURT, ZHANG, ACCOUNT, 400_000, 12);
    let second = freeze(SECOND_COURT, ZHANG, ACCOUNT, 1_500_000, 12);
    app.execute(&first).await;
    app.execute(&second).await;

    let released = app
        .execute(&follow_up(&first, release(&first, "debt paid")))
        .await;

    let promoted = &released.related[1];
    assert_eq!(promoted.measure_id, second.measure_id);
    assert_eq!(cause(promoted), pb::UpdateCause::Promoted);
    assert_eq!(state(promoted), pb::MeasureState::Partial);
    assert_eq!(promoted.held_fen, 1_000_000);
    assert_eq!(app.funds(ACCOUNT).await, (1_000_000, 1_000_000));
}

#[tokio::test]
async fn a_deduction_takes_the_courts_frozen_funds_first_then_available_funds() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 1_500_000).await;
    let frozen = freeze(COURT, ZHANG, ACCOUNT, 1_000_000, 12);
    let waiting = freeze(SECOND_COURT, ZHANG, ACCOUNT, 300_000, 12);
    app.execute(&frozen).await;
    app.execute(&waiting).await;

    let order = deduction(&frozen, ACCOUNT, 1_200_000, Some(&frozen));
    let response = app.execute(&order).await;

    // 1,000,000 from the court's freeze, 200,000 of the 500,000 nobody froze.
    let deducted = outcome(&response);
    assert_eq!(state(deducted), pb::MeasureState::Effective);
    assert_eq!(deducted.held_fen, 1_200_000);
    assert_eq!(deducted.revision, 1);
    assert!(
        deducted.registration_number.starts_with("ICBC-KH-"),
        "{}",
        deducted.registration_number
    );
    let related = &response.related;
    assert_eq!(related.len(), 2, "{related:#?}");
    assert_eq!(related[0].measure_id, frozen.measure_id);
    assert_eq!(state(&related[0]), pb::MeasureState::Deducted);
    assert_eq!(cause(&related[0]), pb::UpdateCause::Deducted);
    assert_eq!((related[0].revision, related[0].held_fen), (2, 0));
    // The freeze deducted in full ended; the waiting one took effect on what is left.
    assert_eq!(related[1].measure_id, waiting.measure_id);
    assert_eq!(cause(&related[1]), pb::UpdateCause::Promoted);
    assert_eq!(state(&related[1]), pb::MeasureState::Effective);
    assert_eq!(related[1].held_fen, 300_000);

    assert_eq!(app.funds(ACCOUNT).await, (300_000, 300_000));
    assert_eq!(
        app.ledger(ACCOUNT).await,
        [
            (frozen.measure_id.clone(), "deducted".into(), 0, 0),
            (waiting.measure_id.clone(), "effective".into(), 300_000, 0),
        ]
    );
}

#[tokio::test]
async fn a_deduction_of_part_of_a_freeze_leaves_the_rest_frozen_and_one_beyond_the_funds_is_partial()
 {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 1_000_000).await;
    let frozen = freeze(COURT, ZHANG, ACCOUNT, 800_000, 12);
    app.execute(&frozen).await;

    let part = app
        .execute(&deduction(&frozen, ACCOUNT, 300_000, Some(&frozen)))
        .await;

    assert_eq!(state(outcome(&part)), pb::MeasureState::Effective);
    assert_eq!(outcome(&part).held_fen, 300_000);
    assert_eq!(state(&part.related[0]), pb::MeasureState::Effective);
    assert_eq!(part.related[0].held_fen, 500_000);
    assert_eq!(app.funds(ACCOUNT).await, (700_000, 500_000));
    let freezes = app.freezes(ACCOUNT).await;
    assert_eq!(
        (freezes[0].amount_fen, freezes[0].frozen_fen),
        (500_000, 500_000)
    );

    let beyond = app
        .execute(&deduction(&frozen, ACCOUNT, 900_000, Some(&frozen)))
        .await;

    // 500,000 still frozen and the 200,000 nobody froze: 700,000 of 900,000.
    assert_eq!(state(outcome(&beyond)), pb::MeasureState::Partial);
    assert_eq!(outcome(&beyond).held_fen, 700_000);
    assert_eq!(state(&beyond.related[0]), pb::MeasureState::Deducted);
    assert_eq!(beyond.related[0].revision, 3);
    assert_eq!(app.funds(ACCOUNT).await, (0, 0));
}

#[tokio::test]
async fn a_deduction_naming_no_freeze_takes_only_funds_nobody_froze() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 1_000_000).await;
    let frozen = freeze(COURT, ZHANG, ACCOUNT, 800_000, 12);
    app.execute(&frozen).await;
    let second_courts = freeze(SECOND_COURT, ZHANG, ACCOUNT, 1, 12);

    let response = app
        .execute(&deduction(&second_courts, ACCOUNT, 500_000, None))
        .await;

    assert_eq!(state(outcome(&response)), pb::MeasureState::Partial);
    assert_eq!(outcome(&response).held_fen, 200_000);
    assert!(response.related.is_empty());
    assert_eq!(app.funds(ACCOUNT).await, (800_000, 800_000));
}

#[tokio::test]
async fn a_renewal_before_expiry_moves_the_expiry_and_keeps_the_place_in_line() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 2_000_000).await;
    let first = freeze(COURT, ZHANG, ACCOUNT, 1_000_000, 6);
    let second = freeze(SECOND_COURT, ZHANG, ACCOUNT, 800_000, 6);
    let frozen = app.execute(&first).await;
    let expires = at(outcome(&frozen).expires_at.as_ref());
    app.execute(&second).await;
    app.clock
        .advance(expires - app.clock.now() - Duration::days(1));

    let renewed = app.execute(&follow_up(&first, renewal(&first, 6))).await;

    let done = outcome(&renewed);
    assert_eq!(state(done), pb::MeasureState::Effective);
    let new_expiry = expiry(expires, 6);
    assert_eq!(at(done.expires_at.as_ref()), new_expiry);
    assert_eq!(
        done.registration_number,
        outcome(&frozen).registration_number
    );
    assert_eq!(renewed.related.len(), 1);
    assert_eq!(renewed.related[0].measure_id, first.measure_id);
    assert_eq!(cause(&renewed.related[0]), pb::UpdateCause::Renewed);
    assert_eq!(renewed.related[0].revision, 2);
    assert_eq!(renewed.related[0].held_fen, 1_000_000);
    let freezes = app.freezes(ACCOUNT).await;
    assert_eq!(freezes[0].state, "effective");
    assert_eq!(at(freezes[0].expires_at.as_ref()), new_expiry);
    assert_eq!(
        (freezes[1].state.as_str(), freezes[1].waiting_position),
        ("waiting", 1)
    );

    let too_long = app.execute(&follow_up(&first, renewal(&first, 13))).await;
    assert_eq!(
        reason(outcome(&too_long)),
        pb::ReasonCode::PeriodExceedsMaximum
    );
}

#[tokio::test]
async fn a_renewal_after_expiry_is_refused_before_and_after_the_lapse() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 2_000_000).await;
    let first = freeze(COURT, ZHANG, ACCOUNT, 1_000_000, 6);
    let frozen = app.execute(&first).await;
    let expires = at(outcome(&frozen).expires_at.as_ref());
    app.clock
        .advance(expires - app.clock.now() + Duration::days(1));

    let late = app.execute(&follow_up(&first, renewal(&first, 6))).await;
    app.office.lapse_due().await.expect("lapsing");
    let after_lapse = app.execute(&follow_up(&first, renewal(&first, 6))).await;

    assert_eq!(reason(outcome(&late)), pb::ReasonCode::RenewalAfterExpiry);
    assert_eq!(
        reason(outcome(&after_lapse)),
        pb::ReasonCode::RenewalAfterExpiry
    );
}

#[tokio::test]
async fn advancing_past_expiry_lapses_the_freeze_and_promotes_the_waiting_one() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 2_000_000).await;
    let first = freeze(COURT, ZHANG, ACCOUNT, 1_000_000, 6);
    let second = freeze(SECOND_COURT, ZHANG, ACCOUNT, 800_000, 12);
    let frozen = app.execute(&first).await;
    let first_expiry = at(outcome(&frozen).expires_at.as_ref());
    app.execute(&second).await;
    app.clock.advance(Duration::days(6 * 31 + 1));

    let lapsed_now = app.office.lapse_due().await.expect("lapsing");

    assert_eq!(lapsed_now, 1);
    let lapsed = app
        .notified(&first.measure_id, pb::UpdateCause::Lapsed, 2)
        .await;
    let promoted = app
        .notified(&second.measure_id, pb::UpdateCause::Promoted, 2)
        .await;
    assert_eq!(state(&lapsed), pb::MeasureState::Lapsed);
    assert_eq!(lapsed.held_fen, 0);
    assert_eq!(at(lapsed.expires_at.as_ref()), first_expiry);
    assert_eq!(state(&promoted), pb::MeasureState::Effective);
    assert_eq!(promoted.held_fen, 800_000);
    let promoted_at = at(promoted.effective_at.as_ref());
    assert!(promoted_at >= first_expiry);
    assert_eq!(at(promoted.expires_at.as_ref()), expiry(promoted_at, 12));
    // Both changes travel in one notice, lapse first.
    let notices = app.inbox.notices();
    assert_eq!(notices.len(), 1, "{notices:#?}");
    let ids: Vec<_> = notices[0].updates.iter().map(|u| &u.measure_id).collect();
    assert_eq!(ids, [&first.measure_id, &second.measure_id]);
    assert_eq!(
        notices[0].agency,
        Some(pb::AgencyRef {
            kind: pb::AgencyKind::Bank as i32,
            code: BANK.into(),
        })
    );
    assert_eq!(app.funds(ACCOUNT).await, (2_000_000, 800_000));
    let states: Vec<_> = app
        .freezes(ACCOUNT)
        .await
        .into_iter()
        .map(|f| f.state)
        .collect();
    assert_eq!(states, ["lapsed", "effective"]);
}

#[tokio::test]
async fn the_lapse_task_lapses_freezes_on_its_own() {
    let app = spawn_bank(Options {
        lapse_poll_ms: 50,
        ..Options::codes(&[BANK])
    })
    .await;
    app.open(ACCOUNT, ZHANG, 2_000_000).await;
    let order = freeze(COURT, ZHANG, ACCOUNT, 1_000_000, 1);
    app.execute(&order).await;

    app.clock.advance(Duration::days(32));

    let lapsed = app
        .notified(&order.measure_id, pb::UpdateCause::Lapsed, 2)
        .await;
    assert_eq!(state(&lapsed), pb::MeasureState::Lapsed);
    assert_eq!(app.funds(ACCOUNT).await, (2_000_000, 0));
}

#[tokio::test]
async fn a_repeated_instruction_is_answered_the_same_and_carried_out_once() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 2_000_000).await;
    let order = freeze(COURT, ZHANG, ACCOUNT, 1_000_000, 12);
    let answered = app.execute(&order).await;
    let take = deduction(&order, ACCOUNT, 300_000, Some(&order));
    let deducted = app.execute(&take).await;
    let before = app.freezes(ACCOUNT).await;

    app.clock.advance(Duration::hours(1));
    let again = app.execute(&order).await;
    let deducted_again = app.execute(&take).await;

    assert_eq!(again, answered);
    assert_eq!(deducted_again, deducted);
    assert_eq!(app.freezes(ACCOUNT).await, before);
    assert_eq!(app.funds(ACCOUNT).await, (1_700_000, 700_000));
}

#[tokio::test]
async fn concurrent_deliveries_of_one_freeze_freeze_once() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 2_000_000).await;
    let order = freeze(COURT, ZHANG, ACCOUNT, 1_000_000, 12);

    let answers = app.execute_at_once(&order, 8).await;

    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(app.freezes(ACCOUNT).await.len(), 1);
    assert_eq!(app.funds(ACCOUNT).await, (2_000_000, 1_000_000));
}

#[tokio::test]
async fn concurrent_deliveries_of_one_inquiry_get_one_answer() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 2_000_000).await;
    // An inquiry locks nothing: the deliveries meet only on the journal's key.
    let inquiry = instruction(
        pb::AgencyKind::Bank,
        BANK,
        COURT,
        person(ZHANG.0, ZHANG.1),
        pb::instruction::Action::Inquiry(pb::Inquiry {
            classes: vec![pb::AssetClass::Deposits as i32],
        }),
    );

    let answers = app.execute_at_once(&inquiry, 8).await;

    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    let holdings = answers[0].answer.as_ref().map(|a| a.holdings.len());
    assert_eq!(holdings, Some(1));
}

#[tokio::test]
async fn a_freeze_of_an_unknown_closed_or_someone_elses_account_is_refused_with_the_reason() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 1_000_000).await;
    app.open(WANGS_ACCOUNT, WANG, 1_000_000).await;
    let closed = "6222020000000000009";
    app.open(closed, ZHANG, 1_000_000).await;
    app.admin
        .clone()
        .close_account(admin::AccountRequest {
            bank_code: BANK.into(),
            account_number: closed.into(),
        })
        .await
        .expect("closing an account");

    let cases = [
        ("6222020000000000099", ZHANG, pb::ReasonCode::NotFound),
        (closed, ZHANG, pb::ReasonCode::AccountClosed),
        (WANGS_ACCOUNT, ZHANG, pb::ReasonCode::IdentityMismatch),
        (ACCOUNT, ("张卫", ZHANG.1), pb::ReasonCode::NameMismatch),
    ];
    for (account, subject, code) in cases {
        let refused = app
            .execute(&freeze(COURT, subject, account, 100_000, 12))
            .await;
        let refused = outcome(&refused);
        assert_eq!(reason(refused), code, "{account}: {}", refused.note);
        assert_eq!(refused.revision, 1);
        assert_eq!(refused.held_fen, 0);
        assert!(!refused.note.is_empty());
    }
    for account in [ACCOUNT, WANGS_ACCOUNT, closed] {
        assert!(app.freezes(account).await.is_empty(), "{account}");
    }
}

#[tokio::test]
async fn a_freeze_without_a_subject_a_period_or_an_amount_is_a_document_defect() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 1_000_000).await;
    let mut no_subject = freeze(COURT, ZHANG, ACCOUNT, 100_000, 12);
    no_subject.subject = None;
    let no_period = follow_up(
        &freeze(COURT, ZHANG, ACCOUNT, 100_000, 12),
        pb::instruction::Action::Freeze(pb::Freeze {
            account_number: ACCOUNT.into(),
            amount_fen: 100_000,
            period: None,
            up_to_open_amount: false,
        }),
    );
    let zero_period = freeze(COURT, ZHANG, ACCOUNT, 100_000, 0);
    let no_amount = freeze(COURT, ZHANG, ACCOUNT, 0, 12);

    for order in [no_subject, no_period, zero_period, no_amount] {
        let refused = app.execute(&order).await;
        assert_eq!(
            reason(outcome(&refused)),
            pb::ReasonCode::DocumentDefect,
            "{:?}",
            order.action
        );
    }
    assert!(app.freezes(ACCOUNT).await.is_empty());
}

#[tokio::test]
async fn a_freeze_longer_than_twelve_months_exceeds_the_statutory_maximum() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 1_000_000).await;

    let too_long = app
        .execute(&freeze(COURT, ZHANG, ACCOUNT, 100_000, 13))
        .await;
    let longest = app
        .execute(&freeze(COURT, ZHANG, ACCOUNT, 100_000, 12))
        .await;

    let refused = outcome(&too_long);
    assert_eq!(reason(refused), pb::ReasonCode::PeriodExceedsMaximum);
    let message = &refused.reason.as_ref().expect("a reason").message;
    assert!(message.contains("民诉解释 art. 485"), "{message}");
    assert_eq!(state(outcome(&longest)), pb::MeasureState::Effective);
}

#[tokio::test]
async fn only_the_ordering_court_may_release_renew_or_deduct_from_a_freeze() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 1_000_000).await;
    let order = freeze(COURT, ZHANG, ACCOUNT, 800_000, 12);
    app.execute(&order).await;
    let from_second_court = |mut instruction: pb::Instruction| {
        instruction.court_code = SECOND_COURT.into();
        instruction
    };

    let released = app
        .execute(&from_second_court(follow_up(
            &order,
            release(&order, "debt paid"),
        )))
        .await;
    let renewed = app
        .execute(&from_second_court(follow_up(&order, renewal(&order, 6))))
        .await;
    let deducted = app
        .execute(&from_second_court(deduction(
            &order,
            ACCOUNT,
            100_000,
            Some(&order),
        )))
        .await;

    assert_eq!(reason(outcome(&released)), pb::ReasonCode::DocumentDefect);
    assert_eq!(reason(outcome(&renewed)), pb::ReasonCode::DocumentDefect);
    assert_eq!(reason(outcome(&deducted)), pb::ReasonCode::TargetNotActive);
    assert_eq!(
        app.ledger(ACCOUNT).await,
        [(order.measure_id.clone(), "effective".into(), 800_000, 0)]
    );
    assert_eq!(app.funds(ACCOUNT).await, (1_000_000, 800_000));
}

#[tokio::test]
async fn a_release_or_renewal_of_no_freeze_in_force_here_targets_nothing_active() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 1_000_000).await;
    let first = freeze(COURT, ZHANG, ACCOUNT, 500_000, 12);
    let waiting = freeze(COURT, ZHANG, ACCOUNT, 500_000, 12);
    app.execute(&first).await;
    app.execute(&waiting).await;
    app.execute(&follow_up(&first, release(&first, "debt paid")))
        .await;
    let mut nowhere = first.clone();
    nowhere.measure_id = uuid::Uuid::now_v7().to_string();
    let mut not_an_id = first.clone();
    not_an_id.measure_id = "not-a-measure".into();

    let refusals = [
        follow_up(&first, release(&first, "again")),
        follow_up(&first, release(&nowhere, "")),
        follow_up(&first, release(&not_an_id, "")),
        follow_up(&first, renewal(&first, 6)),
    ];
    for order in refusals {
        let refused = app.execute(&order).await;
        assert_eq!(
            reason(outcome(&refused)),
            pb::ReasonCode::TargetNotActive,
            "{:?}",
            order.action
        );
    }
    // A waiting freeze is not in force either, so it cannot be renewed.
    let third = freeze(COURT, ZHANG, ACCOUNT, 100_000, 12);
    app.execute(&third).await;
    let renew_waiting = app.execute(&follow_up(&third, renewal(&third, 6))).await;
    assert_eq!(
        reason(outcome(&renew_waiting)),
        pb::ReasonCode::TargetNotActive
    );
}

#[tokio::test]
async fn a_deduction_with_nothing_to_take_is_refused_as_insufficient_funds() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 0).await;
    let order = freeze(COURT, ZHANG, ACCOUNT, 100_000, 12);

    let response = app
        .execute(&deduction(&order, ACCOUNT, 100_000, None))
        .await;

    assert_eq!(
        reason(outcome(&response)),
        pb::ReasonCode::InsufficientFunds
    );
    assert_eq!(app.funds(ACCOUNT).await, (0, 0));
}

#[tokio::test]
async fn orders_a_bank_does_not_carry_out_are_not_supported() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    let subject = person(ZHANG.0, ZHANG.1);
    let actions = [
        pb::instruction::Action::SealUp(pb::SealUp {
            property_kind: pb::PropertyKind::Unit as i32,
            property_id: "110105003001GB00012F00010101".into(),
            pre_seizure: false,
            period: months(12),
        }),
        pb::instruction::Action::Distraint(pb::Distraint {
            plate: "京A12345".into(),
            vin: "LSVAU2185N2100001".into(),
            period: months(12),
        }),
        pb::instruction::Action::ExitRestriction(pb::ExitRestriction {
            person: Some(pb::NaturalPerson {
                name: ZHANG.0.into(),
                resident_id: ZHANG.1.into(),
            }),
            period: months(12),
            ..Default::default()
        }),
    ];

    for action in actions {
        let order = instruction(pb::AgencyKind::Bank, BANK, COURT, subject.clone(), action);
        let refused = app.execute(&order).await;
        assert_eq!(
            reason(outcome(&refused)),
            pb::ReasonCode::NotSupported,
            "{:?}",
            order.action
        );
    }
    let mut nothing = freeze(COURT, ZHANG, ACCOUNT, 1, 12);
    nothing.action = None;
    assert_eq!(
        reason(outcome(&app.execute(&nothing).await)),
        pb::ReasonCode::NotSupported
    );
}

#[tokio::test]
async fn an_instruction_for_a_bank_not_served_is_an_invalid_argument() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    let mut elsewhere = freeze(COURT, ZHANG, ACCOUNT, 100_000, 12);
    elsewhere.agency = Some(pb::AgencyRef {
        kind: pb::AgencyKind::Bank as i32,
        code: OTHER_BANK.into(),
    });
    let mut wrong_kind = freeze(COURT, ZHANG, ACCOUNT, 100_000, 12);
    wrong_kind.agency = Some(pb::AgencyRef {
        kind: pb::AgencyKind::LandRegistry as i32,
        code: BANK.into(),
    });
    let mut not_an_id = freeze(COURT, ZHANG, ACCOUNT, 100_000, 12);
    not_an_id.instruction_id = "instruction-1".into();

    for order in [elsewhere, wrong_kind, not_an_id] {
        let status = app
            .backend
            .clone()
            .execute(order)
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument);
    }
}

#[tokio::test]
async fn banks_served_by_one_process_keep_their_ledgers_apart() {
    let app = spawn_bank(Options::codes(&[BANK, OTHER_BANK])).await;
    app.admin
        .clone()
        .open_account(admin::OpenAccountRequest {
            bank_code: OTHER_BANK.into(),
            account_number: ACCOUNT.into(),
            holder_name: ZHANG.0.into(),
            holder_id: ZHANG.1.into(),
            balance_fen: 1_000_000,
        })
        .await
        .expect("opening an account at the other bank");

    let here = app
        .execute(&freeze(COURT, ZHANG, ACCOUNT, 100_000, 12))
        .await;
    let mut there = freeze(COURT, ZHANG, ACCOUNT, 100_000, 12);
    there.agency = Some(pb::AgencyRef {
        kind: pb::AgencyKind::Bank as i32,
        code: OTHER_BANK.into(),
    });
    let there = app.execute(&there).await;

    assert_eq!(reason(outcome(&here)), pb::ReasonCode::NotFound);
    assert_eq!(state(outcome(&there)), pb::MeasureState::Effective);
    assert!(outcome(&there).registration_number.starts_with("CCB-DJ"));
    for (bank, code) in [("BOC", Code::NotFound), ("", Code::InvalidArgument)] {
        let status = app
            .admin
            .clone()
            .get_account(admin::AccountRequest {
                bank_code: bank.into(),
                account_number: ACCOUNT.into(),
            })
            .await
            .expect_err("not one bank served");
        assert_eq!(status.code(), code, "{bank:?}: {status:?}");
    }
}

#[tokio::test]
async fn a_deposit_inquiry_lists_the_subjects_open_accounts_with_balance_and_frozen() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    let savings = "6222020000000000011";
    let closed = "6222020000000000012";
    app.open(ACCOUNT, ZHANG, 1_000_000).await;
    app.open(savings, ZHANG, 250_000).await;
    app.open(closed, ZHANG, 5_000).await;
    app.open(WANGS_ACCOUNT, WANG, 9_000_000).await;
    app.admin
        .clone()
        .close_account(admin::AccountRequest {
            bank_code: BANK.into(),
            account_number: closed.into(),
        })
        .await
        .expect("closing an account");
    app.execute(&freeze(COURT, ZHANG, ACCOUNT, 400_000, 12))
        .await;
    let inquiry = instruction(
        pb::AgencyKind::Bank,
        BANK,
        COURT,
        person(ZHANG.0, ZHANG.1),
        pb::instruction::Action::Inquiry(pb::Inquiry {
            classes: vec![pb::AssetClass::Deposits as i32],
        }),
    );

    let response = app.execute(&inquiry).await;

    assert_eq!(state(outcome(&response)), pb::MeasureState::Effective);
    let found: Vec<(String, i64, i64)> = response
        .answer
        .expect("an answer")
        .holdings
        .into_iter()
        .map(|h| match h.asset {
            Some(pb::holding::Asset::Deposit(d)) => (d.account_number, d.balance_fen, d.frozen_fen),
            other => panic!("not a deposit: {other:?}"),
        })
        .collect();
    assert_eq!(
        found,
        [
            (ACCOUNT.to_string(), 1_000_000, 400_000),
            (savings.to_string(), 250_000, 0),
        ]
    );
}

#[tokio::test]
async fn a_bank_down_for_maintenance_answers_unavailable_then_recovers() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 1_000_000).await;
    app.office.faults().fail_next(1);
    let order = freeze(COURT, ZHANG, ACCOUNT, 100_000, 12);

    let status = app
        .backend
        .clone()
        .execute(order.clone())
        .await
        .expect_err("down");
    let retried = app.execute(&order).await;

    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(state(outcome(&retried)), pb::MeasureState::Effective);
}

#[tokio::test]
async fn the_demo_fixture_opens_its_accounts() {
    let app = spawn_bank(Options {
        fixture: Some("demo-banks.json"),
        ..Options::codes(&[BANK])
    })
    .await;

    let account = app.account(ACCOUNT).await;
    assert_eq!(
        (account.holder_name.as_str(), account.holder_id.as_str()),
        ZHANG
    );
    assert_eq!(account.balance_fen, 2_500_000);
    let company = app.account("6222020000000000005").await;
    let order = instruction(
        pb::AgencyKind::Bank,
        BANK,
        COURT,
        organisation(&company.holder_name, &company.holder_id),
        pb::instruction::Action::Freeze(pb::Freeze {
            account_number: company.account_number.clone(),
            amount_fen: 100_000,
            period: months(6),
            up_to_open_amount: false,
        }),
    );
    assert_eq!(
        state(outcome(&app.execute(&order).await)),
        pb::MeasureState::Effective
    );
}

/// A deduction as the hub sends it: naming the id the freeze of any remainder is to have.
fn deduction_freezing_the_rest(
    earlier: &pb::Instruction,
    account: &str,
    amount_fen: i64,
    from: Option<&pb::Instruction>,
) -> (pb::Instruction, String) {
    let mut order = deduction(earlier, account, amount_fen, from);
    let remainder = uuid::Uuid::now_v7().to_string();
    if let Some(pb::instruction::Action::Deduction(d)) = order.action.as_mut() {
        d.remainder_measure_id = remainder.clone();
    }
    (order, remainder)
}

/// A reduction of `target` (same court) to `amount_fen`.
fn reduction(target: &pb::Instruction, amount_fen: i64) -> pb::Instruction {
    follow_up(
        target,
        pb::instruction::Action::Reduction(pb::Reduction {
            target_measure_id: target.measure_id.clone(),
            amount_fen,
            reason: "excess over the enforcement amount".into(),
        }),
    )
}

#[tokio::test]
async fn the_same_courts_second_freeze_in_the_same_case_is_refused_not_put_in_line() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 5_000_000).await;
    let first = freeze(COURT, ZHANG, ACCOUNT, 1_000_000, 12);
    app.execute(&first).await;

    // The same court, the same case, the same account: a duplicate that came another way.
    let again = follow_up(
        &first,
        pb::instruction::Action::Freeze(pb::Freeze {
            account_number: ACCOUNT.into(),
            amount_fen: 1_000_000,
            period: months(12),
            up_to_open_amount: false,
        }),
    );
    let refused = app.execute(&again).await;
    let other_court = app
        .execute(&freeze(SECOND_COURT, ZHANG, ACCOUNT, 500_000, 12))
        .await;

    assert_eq!(reason(outcome(&refused)), pb::ReasonCode::Duplicate);
    let message = &outcome(&refused).reason.as_ref().expect("a reason").message;
    assert!(message.contains(&first.measure_id), "{message}");
    assert_eq!(state(outcome(&other_court)), pb::MeasureState::Waiting);
    let ledger = app.ledger(ACCOUNT).await;
    assert_eq!(ledger.len(), 2, "{ledger:?}");
    assert!(ledger.iter().all(|f| f.0 != again.measure_id));
}

#[tokio::test]
async fn a_reduction_unfreezes_what_is_above_the_new_amount_and_keeps_the_freezes_place() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 5_000_000).await;
    let first = freeze(COURT, ZHANG, ACCOUNT, 3_000_000, 12);
    app.execute(&first).await;
    let behind = freeze(SECOND_COURT, ZHANG, ACCOUNT, 500_000, 12);
    app.execute(&behind).await;

    let response = app.execute(&reduction(&first, 1_000_000)).await;

    assert_eq!(state(outcome(&response)), pb::MeasureState::Effective);
    let reduced = &response.related[0];
    assert_eq!(reduced.measure_id, first.measure_id);
    assert_eq!(
        (state(reduced), reduced.held_fen, reduced.amount_fen),
        (pb::MeasureState::Effective, 1_000_000, 1_000_000)
    );
    assert!(
        reduced.note.contains("20,000.00 yuan unfrozen"),
        "{}",
        reduced.note
    );
    assert_eq!(app.funds(ACCOUNT).await, (5_000_000, 1_000_000));
    assert_eq!(
        app.ledger(ACCOUNT).await,
        [
            (first.measure_id.clone(), "effective".into(), 1_000_000, 0),
            (behind.measure_id.clone(), "waiting".into(), 0, 1),
        ]
    );
    // Reducing to as much or more changes nothing; to nothing is a release, not a reduction.
    let same = app.execute(&reduction(&first, 1_000_000)).await;
    assert!(same.related.is_empty());
    let zero = app.execute(&reduction(&first, 0)).await;
    assert_eq!(reason(outcome(&zero)), pb::ReasonCode::DocumentDefect);
}

#[tokio::test]
async fn a_reduced_partial_freeze_takes_incoming_funds_only_up_to_its_new_amount() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 500_000).await;
    let order = freeze(COURT, ZHANG, ACCOUNT, 3_000_000, 12);
    app.execute(&order).await;

    let response = app.execute(&reduction(&order, 2_000_000)).await;
    let reduced = &response.related[0];
    assert_eq!(
        (state(reduced), reduced.held_fen, reduced.amount_fen),
        (pb::MeasureState::Partial, 500_000, 2_000_000)
    );
    app.credit(ACCOUNT, 3_000_000).await;

    assert_eq!(app.funds(ACCOUNT).await, (3_500_000, 2_000_000));
    let frozen = app.freezes(ACCOUNT).await;
    assert_eq!(
        (frozen[0].state.as_str(), frozen[0].amount_fen),
        ("effective", 2_000_000)
    );
}

#[tokio::test]
async fn a_deduction_beyond_the_balance_takes_what_is_there_and_freezes_the_rest_for_later_credits()
{
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 1_000_000).await;
    let case = freeze(COURT, ZHANG, ACCOUNT, 1, 12);
    let (order, remainder) = deduction_freezing_the_rest(&case, ACCOUNT, 3_000_000, None);

    let response = app.execute(&order).await;

    let deducted = outcome(&response);
    assert_eq!(
        (state(deducted), deducted.held_fen),
        (pb::MeasureState::Partial, 1_000_000)
    );
    assert!(deducted.note.contains(&remainder), "{}", deducted.note);
    let rest = response
        .related
        .iter()
        .find(|u| u.measure_id == remainder)
        .expect("the remainder's freeze");
    assert_eq!(
        (state(rest), rest.held_fen, rest.amount_fen),
        (pb::MeasureState::Partial, 0, 2_000_000)
    );
    assert!(rest.note.contains("民诉解释 art. 484"), "{}", rest.note);
    assert_eq!(app.funds(ACCOUNT).await, (0, 0));

    app.credit(ACCOUNT, 2_500_000).await;
    let filled = app.notified(&remainder, pb::UpdateCause::ToppedUp, 2).await;
    assert_eq!(
        (state(&filled), filled.held_fen),
        (pb::MeasureState::Effective, 2_000_000)
    );
    assert_eq!(app.funds(ACCOUNT).await, (2_500_000, 2_000_000));
}

#[tokio::test]
async fn a_deductions_rest_is_not_frozen_twice_when_the_courts_own_freeze_stays_on_the_account() {
    let app = spawn_bank(Options::codes(&[BANK])).await;
    app.open(ACCOUNT, ZHANG, 1_000_000).await;
    let frozen = freeze(COURT, ZHANG, ACCOUNT, 3_000_000, 12);
    app.execute(&frozen).await;
    let (order, remainder) =
        deduction_freezing_the_rest(&frozen, ACCOUNT, 4_000_000, Some(&frozen));

    let response = app.execute(&order).await;

    assert_eq!(outcome(&response).held_fen, 1_000_000);
    assert!(response.related.iter().all(|u| u.measure_id != remainder));
    let freezes = app.freezes(ACCOUNT).await;
    assert_eq!(freezes.len(), 1);
    assert_eq!(
        (
            freezes[0].state.as_str(),
            freezes[0].amount_fen,
            freezes[0].frozen_fen
        ),
        ("partial", 2_000_000, 0)
    );
}
