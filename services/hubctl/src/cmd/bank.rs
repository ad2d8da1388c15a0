//! `hubctl bank …`: the reference bank's administration service, for demos and tests.

use clap::Subcommand;
use enforcement_proto::reference::{self as admin, bank_admin_client::BankAdminClient};
use hub_domain::Money;
use tonic::transport::Channel;

use crate::{
    Context,
    cli::{BankUrl, parse},
    connect,
    error::{Failure, Server},
    format, json,
};

/// `hubctl bank …`.
#[derive(Subcommand, Debug, Clone)]
pub enum BankCommand {
    /// Opens an account.
    Open {
        #[command(flatten)]
        bank: BankUrl,
        /// The new account's number (6 to 32 digits).
        #[arg(long, value_name = "NO")]
        account: String,
        /// The holder's name.
        #[arg(long, value_name = "NAME")]
        holder_name: String,
        /// The holder's resident identity number or unified social credit code.
        #[arg(long, value_name = "ID")]
        holder_id: String,
        /// Opening balance in yuan.
        #[arg(long, value_name = "YUAN", default_value = "0", value_parser = parse::amount)]
        balance: Money,
    },
    /// Credits incoming funds; partial freezes on the account are topped up.
    Credit {
        #[command(flatten)]
        bank: BankUrl,
        /// The account credited.
        #[arg(long, value_name = "NO")]
        account: String,
        /// The amount in yuan.
        #[arg(long, value_name = "YUAN", value_parser = parse::positive_amount)]
        amount: Money,
    },
    /// Shows an account: balance and frozen amount.
    Show {
        #[command(flatten)]
        bank: BankUrl,
        /// The account.
        #[arg(long, value_name = "NO")]
        account: String,
    },
    /// Lists the freezes the bank holds, in order of receipt.
    Freezes {
        #[command(flatten)]
        bank: BankUrl,
        /// Only this account.
        #[arg(long, value_name = "NO")]
        account: Option<String>,
    },
}

/// A reference bank's `BankAdmin`, with errors mapped to [`Failure`].
#[derive(Clone)]
pub struct Bank {
    client: BankAdminClient<Channel>,
    server: Server,
    /// The bank, when the system serves several; empty when it serves one.
    code: String,
}

impl Bank {
    /// Connects to the administration service at `url`, for the bank `code` (empty when the
    /// system serves one bank).
    pub async fn connect(
        url: &str,
        code: &str,
        credentials: &std::sync::Arc<connect::Credentials>,
    ) -> Result<Self, Failure> {
        let server = Server::bank(url).with(credentials);
        let channel = connect::channel(&server, connect::Party::Operator).await?;
        Ok(Self {
            client: BankAdminClient::new(channel),
            server,
            code: code.trim().to_owned(),
        })
    }

    fn failure(&self, status: tonic::Status) -> Failure {
        Failure::from_status(status, &self.server)
    }

    /// Opens an account.
    pub async fn open(
        &mut self,
        account: &str,
        holder_name: &str,
        holder_id: &str,
        balance_fen: i64,
    ) -> Result<admin::Account, Failure> {
        let request = admin::OpenAccountRequest {
            bank_code: self.code.clone(),
            account_number: account.trim().to_owned(),
            holder_name: holder_name.to_owned(),
            holder_id: holder_id.trim().to_owned(),
            balance_fen,
        };
        match self.client.open_account(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// Credits incoming funds.
    pub async fn credit(
        &mut self,
        account: &str,
        amount_fen: i64,
    ) -> Result<admin::Account, Failure> {
        let request = admin::CreditRequest {
            bank_code: self.code.clone(),
            account_number: account.trim().to_owned(),
            amount_fen,
        };
        match self.client.credit(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// One account.
    pub async fn account(&mut self, account: &str) -> Result<admin::Account, Failure> {
        let request = admin::AccountRequest {
            bank_code: self.code.clone(),
            account_number: account.trim().to_owned(),
        };
        match self.client.get_account(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// The bank's freezes, of one account or all.
    pub async fn freezes(
        &mut self,
        account: Option<&str>,
    ) -> Result<Vec<admin::LedgerFreeze>, Failure> {
        let request = admin::ListFreezesRequest {
            bank_code: self.code.clone(),
            account_number: account.map(str::trim).unwrap_or_default().to_owned(),
        };
        match self.client.list_freezes(request).await {
            Ok(response) => Ok(response.into_inner().freezes),
            Err(status) => Err(self.failure(status)),
        }
    }
}

/// Runs one `bank` subcommand.
pub async fn run(context: &Context, command: BankCommand) -> Result<(), Failure> {
    let out = context.out;
    match command {
        BankCommand::Open {
            bank,
            account,
            holder_name,
            holder_id,
            balance,
        } => {
            let opened = Bank::connect(&bank.url, &bank.code, &context.hub.credentials)
                .await?
                .open(&account, &holder_name, &holder_id, balance.fen())
                .await?;
            out.json(&json::account(&opened));
            out.text(format!("opened account {}", opened.account_number));
            out.text(format::bank::account(&opened));
        }
        BankCommand::Credit {
            bank,
            account,
            amount,
        } => {
            let credited = Bank::connect(&bank.url, &bank.code, &context.hub.credentials)
                .await?
                .credit(&account, amount.fen())
                .await?;
            out.json(&json::account(&credited));
            out.text(format!(
                "credited {amount} to account {}; partial freezes on it are topped up",
                credited.account_number
            ));
            out.text(format::bank::account(&credited));
        }
        BankCommand::Show { bank, account } => {
            let shown = Bank::connect(&bank.url, &bank.code, &context.hub.credentials)
                .await?
                .account(&account)
                .await?;
            out.json(&json::account(&shown));
            out.text(format::bank::account(&shown));
        }
        BankCommand::Freezes { bank, account } => {
            let freezes = Bank::connect(&bank.url, &bank.code, &context.hub.credentials)
                .await?
                .freezes(account.as_deref())
                .await?;
            for freeze in &freezes {
                out.json(&json::ledger_freeze(freeze));
            }
            if freezes.is_empty() {
                out.text("the bank holds no freezes");
            } else {
                out.text(format::bank::freeze_table(&freezes));
            }
        }
    }
    Ok(())
}
