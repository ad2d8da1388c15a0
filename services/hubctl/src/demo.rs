//! `hubctl demo`: a scripted walk-through against a running hub and reference bank.
//!
//! It opens two fresh accounts and shows, step by step, the rules that make enforcement through
//! the hub different from a plain message queue: a freeze within the balance takes effect in
//! full; one beyond it is partial and catches incoming funds; a second court's freeze on an
//! account already frozen waits in line (轮候) and takes effect by itself when the first is
//! released; a renewal moves the expiry. Each step waits on the hub's watch stream for what the
//! court should see, and stops the demo with a clear message (and exit code 5 or 6) if it does
//! not come.

use std::time::Duration;

use clap::Args;
use enforcement_proto::{convert, reference as admin, v1 as pb};
use hub_domain::{CourtCode, MeasureState, Period, ResidentId};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    Context, Output,
    cli::{BankUrl, parse},
    cmd::{bank::Bank, submit},
    court::Court,
    error::Failure,
    format, json,
    wait::{self, Waited},
};

/// `hubctl demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    #[command(flatten)]
    pub bank_url: BankUrl,

    /// The bank's code at the hub.
    #[arg(long, value_name = "CODE", default_value = "ICBC")]
    pub bank: String,

    /// How long each step waits for the expected state, in seconds.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse::seconds)]
    pub step_timeout: Duration,
}

/// The court that freezes first, then releases.
const FIRST_COURT: &str = "京0105";
/// The court whose freeze waits in line, is promoted and renewed.
const SECOND_COURT: &str = "粤03";
/// Every case's enforcement amount: more than any single freeze of the demo.
const ENFORCEMENT_AMOUNT_FEN: i64 = 5_000_000;
/// Months every freeze of the demo lasts.
const FREEZE_MONTHS: u32 = 12;
/// Months the renewal adds.
const RENEWAL_MONTHS: u32 = 6;

/// Runs the walk-through; exit code 0 only if every step came out as expected.
pub async fn run(context: &Context, args: DemoArgs) -> Result<(), Failure> {
    let first = court_code(FIRST_COURT)?;
    let second = court_code(SECOND_COURT)?;
    let first_court = Court::connect(context.hub.clone(), first).await?;
    let second_court = first_court.acting_for(second);
    let bank = Bank::connect(&args.bank_url.url, &args.bank).await?;
    let mut walk = Walk {
        first: first_court,
        second: second_court,
        bank,
        bank_code: args.bank.trim().to_owned(),
        timeout: args.step_timeout,
        out: context.out,
        cast: Cast::at(OffsetDateTime::now_utc()),
    };
    walk.out.text(format!(
        "hubctl demo: the enforcement hub, step by step\n  hub   {}\n  bank  {} (administered at {})",
        context.hub.url, walk.bank_code, args.bank_url.url
    ));
    walk.all().await
}

fn court_code(code: &str) -> Result<CourtCode, Failure> {
    CourtCode::parse(code).map_err(|e| Failure::Unexpected(format!("demo court {code}: {e}")))
}

/// The demo's state: its two courts, the bank, and the names it made up for this run.
struct Walk {
    first: Court,
    second: Court,
    bank: Bank,
    bank_code: String,
    timeout: Duration,
    out: Output,
    cast: Cast,
}

/// The accounts the demo opened.
struct Accounts {
    /// 张三's account, holding 25,000.00: frozen by both courts in turn.
    zhang: Account,
    /// 李四's account, holding 5,000.00: frozen partially, then topped up.
    li: Account,
}

/// One account and its holder.
struct Account {
    number: String,
    holder: String,
    holder_id: String,
}

impl Account {
    fn subject(&self) -> pb::Subject {
        pb::Subject {
            party: Some(pb::subject::Party::Person(pb::NaturalPerson {
                name: self.holder.clone(),
                resident_id: self.holder_id.clone(),
            })),
        }
    }
}

impl Walk {
    async fn all(&mut self) -> Result<(), Failure> {
        let accounts = self.open_accounts().await?;
        let first_freeze = self.step(1, self.freeze_in_full(&accounts)).await?;
        self.step(2, self.freeze_partially_then_top_up(&accounts))
            .await?;
        let waiting = self.step(3, self.second_court_waits(&accounts)).await?;
        let promoted = self
            .step(4, self.release_promotes(&first_freeze, &waiting))
            .await?;
        self.step(5, self.renew(&promoted)).await?;
        self.out
            .text("\nAll 5 steps came out as the rules say. The demo is done.");
        self.out.json(&json!({ "result": "matched", "steps": 5 }));
        Ok(())
    }

    /// Runs a step; if it fails, says which step stopped the demo before the error is printed.
    async fn step<T>(
        &self,
        number: u8,
        step: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        step.await.inspect_err(|_| {
            self.out.note(format!(
                "the demo stopped at step {number}: it did not come out as expected"
            ));
        })
    }

    async fn open_accounts(&mut self) -> Result<Accounts, Failure> {
        let zhang = Account {
            number: self.cast.account_number(1),
            holder: "张三".into(),
            holder_id: self.cast.resident_id(0)?,
        };
        let li = Account {
            number: self.cast.account_number(2),
            holder: "李四".into(),
            holder_id: self.cast.resident_id(1)?,
        };
        self.out.text(format!(
            "\nSetting up: {} opens two accounts for this run.",
            self.bank_code
        ));
        let mut opened = Vec::new();
        for (account, balance) in [(&zhang, 2_500_000), (&li, 500_000)] {
            let a = self
                .bank
                .open(
                    &account.number,
                    &account.holder,
                    &account.holder_id,
                    balance,
                )
                .await?;
            self.out.text(format!(
                "  {} of {} (resident id {}), balance {}",
                a.account_number,
                a.holder_name,
                a.holder_id,
                format::money(a.balance_fen)
            ));
            opened.push(json::account(&a));
        }
        self.out
            .json(&json!({ "step": 0, "title": "open two accounts", "accounts": opened }));
        Ok(Accounts { zhang, li })
    }

    /// Step 1: a freeze within the balance is effective for the full amount.
    async fn freeze_in_full(&self, accounts: &Accounts) -> Result<pb::Measure, Failure> {
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
    async fn freeze_partially_then_top_up(&self, accounts: &Accounts) -> Result<(), Failure> {
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
    async fn second_court_waits(&self, accounts: &Accounts) -> Result<pb::Measure, Failure> {
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

    /// Step 4: releasing the freeze in force promotes the waiting one, with no new request.
    async fn release_promotes(
        &self,
        released: &pb::Measure,
        waiting: &pb::Measure,
    ) -> Result<pb::Measure, Failure> {
        let title = format!(
            "Court {FIRST_COURT} releases its freeze; {SECOND_COURT}'s freeze, next in line, takes effect by itself."
        );
        self.heading(4, &title);
        let mut first = self.first.clone();
        let release = first
            .release(
                &Uuid::now_v7().to_string(),
                &released.measure_id,
                "debt paid in full",
            )
            .await?
            .measure;
        self.say(&format!(
            "{FIRST_COURT} ordered release {} of freeze {}",
            release.measure_id,
            format::short_id(&released.measure_id)
        ));
        let release = self
            .expect(
                &mut first,
                &release,
                MeasureState::Effective,
                "be carried out by the bank",
                |_| true,
            )
            .await?
            .measure;
        let gone = self
            .expect(
                &mut first,
                released,
                MeasureState::Released,
                "become released",
                |_| true,
            )
            .await?;
        self.say(&format!(
            "{SECOND_COURT} sends nothing; it only watches its freeze {}",
            format::short_id(&waiting.measure_id)
        ));
        let mut second = self.second.clone();
        let promoted = self
            .expect(
                &mut second,
                waiting,
                MeasureState::Effective,
                "take effect holding 8,000.00 after the release",
                |m| m.held_fen == 800_000,
            )
            .await?;
        self.record(
            4,
            &title,
            &[&release, &gone.measure, &promoted.measure],
            &[],
        );
        Ok(promoted.measure)
    }

    /// Step 5: a renewal moves the expiry of the promoted freeze by six months.
    async fn renew(&self, freeze: &pb::Measure) -> Result<(), Failure> {
        let title = format!("Court {SECOND_COURT} renews its freeze by {RENEWAL_MONTHS} months.");
        self.heading(5, &title);
        let Some(old_expiry) = convert::instant_opt(freeze.expires_at.as_ref()) else {
            return Err(Failure::Outcome(format!(
                "freeze {} is effective but the hub shows no expiry to renew from",
                freeze.measure_id
            )));
        };
        let expected = Period::new(RENEWAL_MONTHS, 0)
            .map_err(|e| Failure::Unexpected(format!("renewal period: {e}")))?
            .end_from(old_expiry);
        self.say(&format!(
            "it now expires {}; {RENEWAL_MONTHS} more months, counted from then, end {}",
            format::local_time(old_expiry),
            format::local_time(expected)
        ));
        let mut court = self.second.clone();
        let renewal = court
            .renew(
                &Uuid::now_v7().to_string(),
                &freeze.measure_id,
                RENEWAL_MONTHS,
                0,
            )
            .await?
            .measure;
        self.say(&format!("ordered renewal {}", renewal.measure_id));
        let renewal = self
            .expect(
                &mut court,
                &renewal,
                MeasureState::Effective,
                "be carried out by the bank",
                |_| true,
            )
            .await?
            .measure;
        let renewed = self
            .expect(
                &mut court,
                freeze,
                MeasureState::Effective,
                "show the new expiry",
                |m| {
                    convert::instant_opt(m.expires_at.as_ref())
                        .is_some_and(|expiry| expiry > old_expiry)
                },
            )
            .await?;
        let new_expiry = convert::instant_opt(renewed.measure.expires_at.as_ref());
        match new_expiry {
            Some(new) if (new - expected).abs() < time::Duration::SECOND => self.ok(&format!(
                "expiry moved from {} to {}",
                format::local_time(old_expiry),
                format::local_time(new)
            )),
            other => {
                return Err(Failure::Outcome(format!(
                    "freeze {} now expires {}, expected {}",
                    freeze.measure_id,
                    other.map_or_else(|| "never".into(), format::local_time),
                    format::local_time(expected)
                )));
            }
        }
        self.record(5, &title, &[&renewal, &renewed.measure], &[]);
        Ok(())
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

    /// Waits until `measure` is in `state` and `also` holds, then says so.
    async fn expect(
        &self,
        court: &mut Court,
        measure: &pb::Measure,
        state: MeasureState,
        expecting: &str,
        also: impl Fn(&pb::Measure) -> bool,
    ) -> Result<Waited, Failure> {
        let waited = court
            .wait_for(
                &measure.measure_id,
                expecting,
                self.timeout,
                wait::reaches(state, also),
            )
            .await?;
        let mut line = format!(
            "{} {}: {}",
            format::words(&format::kind(waited.measure.kind)),
            format::short_id(&waited.measure.measure_id),
            format::summary(&waited.measure)
        );
        if !waited.message.is_empty() {
            line.push_str(&format!(" — {}", waited.message));
        }
        self.ok(&line);
        Ok(waited)
    }

    /// Reads the account from the bank's own ledger and checks its frozen amount.
    async fn ledger_shows(
        &self,
        account: &Account,
        frozen_fen: i64,
        what: &str,
    ) -> Result<admin::Account, Failure> {
        let ledger = self.bank.clone().account(&account.number).await?;
        if ledger.frozen_fen != frozen_fen {
            return Err(Failure::Outcome(format!(
                "{}'s ledger shows {} frozen on account {}, expected {what}",
                self.bank_code,
                format::money(ledger.frozen_fen),
                account.number
            )));
        }
        self.ok(&format!(
            "{}'s own ledger agrees: balance {}, frozen {}",
            self.bank_code,
            format::money(ledger.balance_fen),
            format::money(ledger.frozen_fen)
        ));
        Ok(ledger)
    }

    fn heading(&self, number: u8, title: &str) {
        self.out.text(format!("\nStep {number}. {title}"));
    }

    fn say(&self, text: &str) {
        self.out.text(format!("  {text}"));
    }

    fn ok(&self, text: &str) {
        self.out.text(format!("  ok: {text}"));
    }

    /// With `--json`, one object for the finished step.
    fn record(
        &self,
        number: u8,
        title: &str,
        measures: &[&pb::Measure],
        accounts: &[&admin::Account],
    ) {
        let measures: Vec<Value> = measures.iter().map(|m| json::measure(m)).collect();
        let accounts: Vec<Value> = accounts.iter().map(|a| json::account(a)).collect();
        self.out.json(&json!({
            "step": number,
            "title": title,
            "matched": true,
            "measures": measures,
            "accounts": accounts,
        }));
    }
}

/// Account numbers, identities and case numbers made up for one run from the time it started,
/// so that reruns against the same hub and bank never collide.
struct Cast {
    /// Milliseconds since the epoch, last 13 digits.
    stamp: u64,
    /// The current year in China Standard Time, for case numbers.
    year: i32,
}

impl Cast {
    fn at(now: OffsetDateTime) -> Self {
        let millis = now.unix_timestamp_nanos() / 1_000_000;
        Self {
            stamp: u64::try_from(millis.rem_euclid(10_000_000_000_000)).unwrap_or(0),
            year: now.to_offset(format::CHINA_STANDARD_TIME).year(),
        }
    }

    /// A 19-digit card number with a valid Luhn check digit.
    fn account_number(&self, n: u8) -> String {
        let body = format!("6230{:013}{}", self.stamp, n % 10);
        format!("{body}{}", luhn_check_digit(&body))
    }

    /// A valid resident identity number: born in Dongcheng, Beijing, on a date between 1960 and
    /// 1987 taken from the stamp, with `n` in the sequence number.
    fn resident_id(&self, n: u16) -> Result<String, Failure> {
        let birth = time::Date::from_calendar_date(1960, time::Month::January, 1)
            .ok()
            .and_then(|d| {
                d.checked_add(time::Duration::days(
                    i64::try_from(self.stamp / 1000 % 10_000).unwrap_or(0),
                ))
            })
            .ok_or_else(|| Failure::Unexpected("no birth date for the demo's holders".into()))?;
        let sequence = (self.stamp % 500) * 2 + u64::from(n % 2);
        let body = format!(
            "110105{:04}{:02}{:02}{sequence:03}",
            birth.year(),
            u8::from(birth.month()),
            birth.day()
        );
        let check = ResidentId::check_character_for(&body).ok_or_else(|| {
            Failure::Unexpected(format!("{body} is not 17 digits of a resident id"))
        })?;
        Ok(format!("{body}{check}"))
    }

    /// A case number of `court` for this run, e.g. `（2026）京0105执4567891号`.
    fn case_number(&self, court: &CourtCode, n: u32) -> String {
        let serial = 1_000_000 + (self.stamp / 10 % 8_000_000) + u64::from(n);
        format!("（{}）{court}执{serial}号", self.year)
    }
}

/// The Luhn check digit (ISO/IEC 7812) that makes `body` followed by it a valid card number.
fn luhn_check_digit(body: &str) -> u32 {
    let sum: u32 = body
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_domain::{AccountNumber, CaseNumber};

    fn cast() -> Cast {
        Cast::at(OffsetDateTime::from_unix_timestamp(1_793_685_909).expect("in range"))
    }

    #[test]
    fn the_luhn_digit_matches_a_known_card_number() {
        // 4539 1488 0343 6467 is a standard Luhn test number.
        assert_eq!(luhn_check_digit("453914880343646"), 7);
        assert_eq!(luhn_check_digit("7992739871"), 3);
    }

    #[test]
    fn made_up_accounts_are_valid_card_numbers_and_differ() {
        let cast = cast();
        let first = AccountNumber::parse(&cast.account_number(1)).expect("valid");
        let second = AccountNumber::parse(&cast.account_number(2)).expect("valid");
        assert!(first.luhn_ok() && second.luhn_ok());
        assert_ne!(first, second);
        assert_eq!(first.as_str().len(), 19);
    }

    #[test]
    fn made_up_identities_are_valid_and_differ() {
        let cast = cast();
        let zhang = cast.resident_id(0).expect("generated");
        let li = cast.resident_id(1).expect("generated");
        assert!(ResidentId::parse(&zhang).is_ok(), "{zhang}");
        assert!(ResidentId::parse(&li).is_ok(), "{li}");
        assert_ne!(zhang, li);
    }

    #[test]
    fn made_up_case_numbers_are_enforcement_cases_of_the_court() {
        let cast = cast();
        for code in [FIRST_COURT, SECOND_COURT] {
            let court = court_code(code).expect("valid court");
            let case = CaseNumber::parse(&cast.case_number(&court, 3)).expect("valid case");
            assert_eq!(case.court(), &court);
            assert_eq!(case.year(), 2026);
        }
    }
}
