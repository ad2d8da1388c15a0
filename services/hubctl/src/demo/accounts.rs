//! The demo's two bank accounts: opened at the reference bank when the walk sets up, and read
//! back from the bank's own ledger to check what it shows frozen.

use enforcement_proto::{reference as admin, v1 as pb};
use serde_json::json;

use super::Walk;
use crate::{error::Failure, format, json};

/// The accounts the demo opened.
pub(super) struct Accounts {
    /// 张三's account, holding 25,000.00: frozen by both courts in turn.
    pub(super) zhang: Account,
    /// 李四's account, holding 5,000.00: frozen partially, then topped up.
    pub(super) li: Account,
}

/// One account and its holder.
pub(super) struct Account {
    /// The account number, made up for this run.
    pub(super) number: String,
    /// The holder's name, also the debtor named in the freezes.
    pub(super) holder: String,
    /// The holder's resident identity number, made up for this run.
    pub(super) holder_id: String,
}

impl Account {
    /// The holder as the debtor (被执行人) of a freeze.
    pub(super) fn subject(&self) -> pb::Subject {
        pb::Subject {
            party: Some(pb::subject::Party::Person(pb::NaturalPerson {
                name: self.holder.clone(),
                resident_id: self.holder_id.clone(),
            })),
        }
    }
}

impl Walk {
    /// Setting up: opens 张三's and 李四's accounts, with balances the steps rely on.
    pub(super) async fn open_accounts(&mut self) -> Result<Accounts, Failure> {
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
    /// Reads the account from the bank's own ledger and checks its frozen amount.
    pub(super) async fn ledger_shows(
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
}
