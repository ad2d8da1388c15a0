//! `hubctl demo`: a scripted walk-through against a running hub and reference bank.
//!
//! It opens two fresh accounts and shows, step by step, the rules that make enforcement through
//! the hub different from a plain message queue: a freeze within the balance takes effect in
//! full; one beyond it is partial and catches incoming funds; a second court's freeze on an
//! account already frozen waits in line (轮候) and takes effect by itself when the first is
//! released; a renewal moves the expiry. Each step waits on the hub's watch stream for what the
//! court should see, and stops the demo with a clear message (and exit code 5 or 6) if it does
//! not come.
//!
//! This module holds the plumbing: the options, the two courts and the bank the walk acts through,
//! the order of the steps, waiting for what a step expects and the narration. The steps themselves
//! are in [`freezes`] (1 to 3), [`release`] (4) and [`renew`] (5); the accounts they act on in
//! [`accounts`], and the names made up for each run in [`cast`].

mod accounts;
mod cast;
mod freezes;
mod release;
mod renew;

use std::time::Duration;

use clap::Args;
use enforcement_proto::{reference as admin, v1 as pb};
use hub_domain::{CourtCode, MeasureState};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{
    Context, Output,
    cli::{BankUrl, parse},
    cmd::bank::Bank,
    court::Court,
    error::Failure,
    format, json,
    wait::{self, Waited},
};

use self::cast::Cast;

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
    let second_court = first_court.acting_for(second).await?;
    let bank = Bank::connect(&args.bank_url.url, &args.bank, &context.hub.credentials).await?;
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
    /// The court that freezes first, then releases ([`FIRST_COURT`]).
    first: Court,
    /// The court whose freeze waits in line ([`SECOND_COURT`]), on the same connection.
    second: Court,
    /// The reference bank's administration service, to open and credit accounts and read its
    /// ledger.
    bank: Bank,
    /// The bank's code at the hub, where the freezes are sent.
    bank_code: String,
    /// How long each step waits for what it expects (`--step-timeout`).
    timeout: Duration,
    /// Narration as text, or one JSON object per step with `--json`.
    out: Output,
    /// The names made up for this run.
    cast: Cast,
}

impl Walk {
    /// The steps in order, each needing what the one before it left: the released freeze of step
    /// 1 promotes the waiting one of step 3, which step 5 renews.
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
            format::measure::summary(&waited.measure)
        );
        if !waited.message.is_empty() {
            line.push_str(&format!(" — {}", waited.message));
        }
        self.ok(&line);
        Ok(waited)
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
