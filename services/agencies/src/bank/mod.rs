//! The reference bank: deposits, court freezes with real ledger rules, deductions.
//!
//! It serves the partner contract (`AgencyBackend`) its adapter calls and an administration API
//! (`BankAdmin`) for opening accounts and moving money. Unprompted changes (incoming funds frozen,
//! a lapse, the next freeze taking effect) go to the adapter's inbox through [`crate::notices`].
//! One process may serve several banks (a processing centre), every row tagged with its bank.
//!
//! The rules:
//!
//! - A freeze states an amount (限额冻结). With enough balance it is EFFECTIVE; with less, the
//!   balance is frozen and it is PARTIAL, topped up as funds arrive ([`freeze`]).
//! - An account already frozen takes later freezes as WAITING (轮候), ranked by receipt. When the
//!   freeze in force ends (released, lapsed, fully deducted), the earliest waiting freeze takes
//!   effect on its own and the court is told ([`line`]).
//! - A deduction takes the court's frozen funds first, then available funds ([`deduction`]).
//! - A renewal before expiry moves the expiry and keeps the freeze's place ([`line`]).
//! - A reduction lowers a freeze's amount and unfreezes what it held above it; the freeze keeps
//!   its place and period ([`reduction`]).
//! - A deduction of more than the account holds takes what is there and freezes the remainder,
//!   topped up by later credits like a partial freeze (民诉解释 art. 484, [`deduction`]).
//! - A court's second freeze in the same case on an account where it already has one in force or
//!   waiting is refused, never put in line behind its own ([`freeze`]).
//!
//! What the bank shares with the land registry and public security is the office around its
//! ledger ([`crate::office`]: addressing, once-only execution through the journal, the lapse
//! round and its notices), the outcome builders and the period check. Its ledger stays its own:
//! amounts, partial freezes, top-ups and deductions shape every step of its waiting line, which
//! the registers of holds (no money) do not have.

/// The columns of `freezes` (but `bank_code`), in [`ledger::FreezeRow`] order, for `SELECT` and
/// `INSERT`.
macro_rules! freeze_columns {
    () => {
        "measure_id, instruction_id, seq, account_number, court_code, case_number, state, \
         amount_fen, frozen_fen, waiting_position, period_months, period_days, \
         registration_number, revision, received_at, effective_at, expires_at"
    };
}

mod admin;
pub mod deduction;
pub mod freeze;
pub mod inquiry;
pub mod ledger;
pub mod line;
pub mod reduction;

use std::path::Path;

use enforcement_proto::{
    reference::bank_admin_server::BankAdminServer,
    v1::{self as pb, instruction::Action},
};
use hub_domain::AgencyCode;
use sqlx::{PgPool, migrate::Migrator};
use time::OffsetDateTime;
use tonic::service::Routes;

use self::ledger::Ledger;
use crate::{
    application::{Application, System},
    config::{AgencyConfig, Settings},
    office::{Carried, Desk, Office, Trade},
    outcome::Lapse,
};

/// The bank's trade: freezes, deductions and inquiries of deposits.
#[derive(Clone, Copy, Debug)]
pub struct Banking;

/// A reference bank's configuration (`BANK_*` environment variables or flags).
pub type BankConfig = AgencyConfig<Banking>;

/// The banks' state shared by their services and background tasks.
pub type Bank = Office<Banking>;

/// A reference bank ready to serve.
pub type BankApplication = Application<Banking>;

impl Trade for Banking {
    const KIND: pb::AgencyKind = pb::AgencyKind::Bank;
    const UNIT: &'static str = "bank";
    const NAME: &'static str = "bank";
    const CODE_FIELD: &'static str = "bank_code";
    const SCOPE: &'static str =
        "a bank carries out freezes, deductions, reductions and inquiries of deposits only";
    const DUE_CODES: &'static str = "SELECT DISTINCT bank_code FROM freezes \
                                     WHERE state IN ('effective', 'partial') AND expires_at <= $1";

    async fn carry_out(
        desk: Desk<'_>,
        instruction: &pb::Instruction,
        action: &Action,
    ) -> Result<Option<Carried>, sqlx::Error> {
        let mut ledger = Ledger::from(desk);
        Ok(Some(match action {
            Action::Freeze(order) => (
                ledger.freeze_funds(instruction, order).await?,
                None,
                "freeze",
            ),
            Action::Release(order) => (ledger.release(instruction, order).await?, None, "release"),
            Action::Renewal(order) => (ledger.renew(instruction, order).await?, None, "renewal"),
            Action::Reduction(order) => {
                (ledger.reduce(instruction, order).await?, None, "reduction")
            }
            Action::Deduction(order) => {
                (ledger.deduct(instruction, order).await?, None, "deduction")
            }
            Action::Inquiry(_) => {
                let (changes, answer) = ledger.inquire(instruction).await?;
                (changes, Some(answer), "inquiry")
            }
            // Reminders are answered by the office for every trade.
            Action::SealUp(_)
            | Action::Distraint(_)
            | Action::ExitRestriction(_)
            | Action::Reminder(_) => {
                return Ok(None);
            }
        }))
    }

    async fn lapse_due(desk: Desk<'_>, limit: i64) -> Result<Vec<Lapse>, sqlx::Error> {
        Ledger::from(desk).lapse_due(limit).await
    }
}

impl System for Banking {
    const ADMIN_SERVICE: &'static str =
        enforcement_proto::reference::bank_admin_server::SERVICE_NAME;

    const SETTINGS: Settings = Settings {
        prefix: "BANK",
        codes: "BANK_CODES",
        listen: "BANK_LISTEN",
        database_url: "BANK_DATABASE_URL",
        database_schema: "BANK_DATABASE_SCHEMA",
        inbox_url: "BANK_INBOX_URL",
        fixture: "BANK_FIXTURE",
        notice_poll_ms: "BANK_NOTICE_POLL_MS",
        lapse_poll_ms: "BANK_LAPSE_POLL_MS",
        seal_key: "BANK_SEAL_KEY",
        seal_key_id: "BANK_SEAL_KEY_ID",
        default_listen: "127.0.0.1:20061",
        default_schema: None,
        default_inbox_url: "http://127.0.0.1:20071",
        tls_ca: "BANK_TLS_CA",
        tls_cert: "BANK_TLS_CERT",
        tls_key: "BANK_TLS_KEY",
        tls_deny_list: "BANK_TLS_DENY_LIST",
    };

    fn migrator() -> &'static Migrator {
        static MIGRATOR: Migrator = sqlx::migrate!("./migrations/bank");
        &MIGRATOR
    }

    async fn load_fixture(
        pool: &PgPool,
        codes: &[AgencyCode],
        path: &Path,
        now: OffsetDateTime,
    ) -> anyhow::Result<usize> {
        admin::load_fixture(pool, codes, path, now).await
    }

    fn administration(routes: Routes, office: Bank) -> Routes {
        routes.add_service(BankAdminServer::new(office))
    }
}
