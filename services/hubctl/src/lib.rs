//! `hubctl`, the command-line client of the enforcement hub.
//!
//! Courts use it to ask banks, land registries and public security what a debtor holds
//! (`inquire`, `answers`), to see and steer a case as a whole (`case show|amend|close|freeze`),
//! to order freezes and deductions at banks, seal-ups at land registries,
//! vehicle distraints and exit restrictions through public security, to release and renew them
//! before they lapse (`expiring`), and to follow every measure to its end; operators use its
//! `dlq` commands to list, inspect, replay and discard the messages the hub could not process,
//! its `bank` commands to drive a reference bank and `demo` to walk through the hub's behaviour
//! end to end.
//!
//! Data enters as command-line arguments. Amounts, court codes and measure ids are parsed in
//! [`cli`] (a typing error never reaches the hub); the rest is sent as typed and the hub's
//! `InvalidArgument` names each offending field. Requests leave over gRPC to the hub's
//! `CourtGateway` ([`court`]), its `Ops` service ([`ops`]) or a reference bank's `BankAdmin`. Answers leave as text for people
//! ([`format`]) or, with `--json`, one JSON object per line for programs ([`json`]). Failures
//! become a sentence on stderr and an exit code ([`error`]).

mod broker;
pub mod cli;
mod cmd;
mod connect;
mod court;
mod demo;
pub mod error;
mod format;
mod json;
mod ops;
mod wait;

use std::io::Write;
use std::process::ExitCode;

use hub_domain::CourtCode;

use crate::{
    cli::{Cli, Command},
    court::Court,
    error::{Failure, Server},
};

/// Runs one command line and says how it went: output on stdout, failures on stderr.
pub async fn run(cli: Cli) -> ExitCode {
    let credentials = std::sync::Arc::new(if cli.insecure_plaintext {
        connect::Credentials::Plaintext
    } else {
        match (cli.tls_ca, cli.tls_cert, cli.tls_key) {
            (Some(ca), Some(cert), Some(key)) => connect::Credentials::Files(hub_trust::TlsFiles {
                ca,
                cert,
                key,
                deny: None,
            }),
            _ => connect::Credentials::Dir(cli.pki),
        }
    });
    let context = Context {
        hub: Server::hub(&cli.gateway).with(&credentials),
        court: cli.court,
        out: Output { json: cli.json },
    };
    match dispatch(&context, cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

async fn dispatch(context: &Context, command: Command) -> Result<(), Failure> {
    match command {
        Command::Freeze(args) => cmd::freeze::run(context, args).await,
        Command::Deduct(args) => cmd::deduct::run(context, args).await,
        Command::SealUp(args) => cmd::seal_up::run(context, args).await,
        Command::Distrain(args) => cmd::distrain::run(context, args).await,
        Command::RestrictExit(args) => cmd::restrict_exit::run(context, args).await,
        Command::Inquire(args) => cmd::inquire::run(context, args).await,
        Command::Answers(args) => cmd::answers::run(context, args).await,
        Command::Expiring(args) => cmd::expiring::run(context, args).await,
        Command::Release(args) => cmd::release::run(context, args).await,
        Command::Renew(args) => cmd::renew::run(context, args).await,
        Command::Status(args) => cmd::status::run(context, args).await,
        Command::Case(command) => cmd::case::run(context, command).await,
        Command::List(args) => cmd::list::run(context, args).await,
        Command::Watch(args) => cmd::watch::run(context, args).await,
        Command::Bank(command) => cmd::bank::run(context, command).await,
        Command::Demo(args) => demo::run(context, args).await,
        Command::Health(args) => cmd::health::run(context, args).await,
        Command::Keygen => cmd::keygen::run(context),
        Command::Dlq(command) => cmd::dlq::run(context, command).await,
        Command::Agency(command) => cmd::agency_key::run(context, command).await,
        Command::Audit(command) => cmd::audit::run(context, command).await,
        Command::Ops(command) => cmd::ops::run(context, command).await,
        Command::Evidence(args) => cmd::evidence::run(context, args).await,
        Command::Trace(args) => cmd::trace::run(context, args).await,
        Command::Pki(command) => cmd::pki::run(context, command),
    }
}

/// What every command needs from the global options.
pub(crate) struct Context {
    /// The hub's court gateway.
    pub hub: Server,
    /// The court acted for, if given.
    pub court: Option<CourtCode>,
    /// Where results go.
    pub out: Output,
}

impl Context {
    /// A session with the hub for the court given with `--court`, which court commands need.
    pub async fn court(&self) -> Result<Court, Failure> {
        let code = self.court.clone().ok_or_else(|| {
            Failure::Usage(
                "this command acts for a court: pass --court <CODE> (e.g. --court 京0105) or set HUBCTL_COURT"
                    .into(),
            )
        })?;
        Court::connect(self.hub.clone(), code).await
    }

    /// A session with the hub's operations service, which acts for no court.
    pub async fn ops(&self) -> Result<ops::Ops, Failure> {
        ops::Ops::connect(self.hub.clone()).await
    }
}

/// Results on stdout, as text or as JSON lines.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output {
    /// `--json`: one JSON object per line.
    pub json: bool,
}

impl Output {
    /// Prints text for people; nothing with `--json`.
    pub fn text(&self, text: impl std::fmt::Display) {
        if !self.json {
            self.line(text);
        }
    }

    /// Prints one JSON object on one line; nothing without `--json`.
    pub fn json(&self, value: &serde_json::Value) {
        if self.json {
            self.line(value);
        }
    }

    /// Prints a line whatever the mode; `false` if stdout is gone (e.g. a closed pipe).
    pub fn line(&self, text: impl std::fmt::Display) -> bool {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{text}")
            .and_then(|()| stdout.flush())
            .is_ok()
    }

    /// A note for people on stderr (progress, hints), in both modes: it never mixes with the
    /// results on stdout.
    pub fn note(&self, text: impl std::fmt::Display) {
        eprintln!("{text}");
    }
}
