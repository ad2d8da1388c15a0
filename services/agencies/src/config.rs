//! The configuration every reference agency process takes: the same settings for the bank, the
//! land registry and public security, under the kind's prefix (`BANK_LISTEN`, `LAND_LISTEN`,
//! `POLICE_LISTEN`) and with the kind's defaults ([`Settings`]).

use std::{marker::PhantomData, net::SocketAddr, path::PathBuf};

use clap::Args;
use hub_domain::AgencyCode;

use crate::application::System;

/// Where every reference agency keeps its records unless told otherwise: the gateway's database.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/enforcement";

/// The names a kind of agency's settings take in the environment, and its defaults. Written out
/// in full, not built from the prefix, so that each name can be found as the README spells it.
#[derive(Debug)]
pub struct Settings {
    /// The prefix of every name (`BANK`); also names the kind in the database (`bank_icbc`).
    pub prefix: &'static str,
    /// The codes served.
    pub codes: &'static str,
    /// The gRPC address.
    pub listen: &'static str,
    /// The PostgreSQL URL.
    pub database_url: &'static str,
    /// The schema of the register.
    pub database_schema: &'static str,
    /// The adapter's inbox.
    pub inbox_url: &'static str,
    /// The demo fixture.
    pub fixture: &'static str,
    /// The notice sender's poll.
    pub notice_poll_ms: &'static str,
    /// The lapse task's poll.
    pub lapse_poll_ms: &'static str,
    /// The seed of the key answers are sealed with.
    pub seal_key: &'static str,
    /// The id of that key in the hub's registry.
    pub seal_key_id: &'static str,
    /// Where the system listens unless told otherwise.
    pub default_listen: &'static str,
    /// The schema unless told otherwise; `None`: one per first code served (`bank_icbc`), so
    /// that separate processes serving separate banks keep separate ledgers.
    pub default_schema: Option<&'static str>,
    /// Where the adapter's inbox is unless told otherwise.
    pub default_inbox_url: &'static str,
    /// The hub CA's certificate.
    pub tls_ca: &'static str,
    /// The system's certificate.
    pub tls_cert: &'static str,
    /// The system's key.
    pub tls_key: &'static str,
    /// The deny list.
    pub tls_deny_list: &'static str,
}

/// A reference agency's configuration (`<PREFIX>_*` environment variables or flags).
#[derive(Args, Clone, Debug)]
pub struct AgencyConfig<S: System> {
    /// The codes of the agencies served, as courts address them: banks (`ICBC`, or `ICBC,CCB`
    /// for a processing centre), registry regions (`110105`), public security units (`BJ-PSB`).
    #[arg(
        long,
        env = S::SETTINGS.codes,
        value_parser = parse_code,
        value_delimiter = ',',
        required = true
    )]
    pub codes: Vec<AgencyCode>,

    /// Address of the system's gRPC services (`AgencyBackend`, its administration, health).
    #[arg(long, env = S::SETTINGS.listen, default_value = S::SETTINGS.default_listen)]
    pub listen: SocketAddr,

    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = S::SETTINGS.database_url,
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Schema of the register, shared by every code served (a bank's, unless given:
    /// `bank_<first code>` in lower case).
    #[arg(
        long,
        env = S::SETTINGS.database_schema,
        default_value = S::SETTINGS.default_schema
    )]
    pub database_schema: Option<String>,

    /// URL of the adapter's `AgencyInbox`, where notices go.
    #[arg(long, env = S::SETTINGS.inbox_url, default_value = S::SETTINGS.default_inbox_url)]
    pub inbox_url: String,

    /// The hub CA's certificate (PEM): the adapter must present a certificate it issued, both
    /// when it calls this system and when this system calls its inbox.
    #[arg(long, env = S::SETTINGS.tls_ca, value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,

    /// The system's certificate (PEM).
    #[arg(long, env = S::SETTINGS.tls_cert, value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,

    /// The system's private key (PEM).
    #[arg(long, env = S::SETTINGS.tls_key, value_name = "PEM")]
    pub tls_key: Option<PathBuf>,

    /// The deny list callers are checked against, read again whenever it changes.
    #[arg(long, env = S::SETTINGS.tls_deny_list, value_name = "FILE")]
    pub tls_deny_list: Option<PathBuf>,

    /// Plain-text gRPC. Development only; warned about at every start.
    #[arg(long, env = "HUB_INSECURE_PLAINTEXT")]
    pub insecure_plaintext: bool,

    /// Demo records to load at start-up (JSON; records already there are left alone).
    #[arg(long, env = S::SETTINGS.fixture)]
    pub fixture: Option<PathBuf>,

    /// How often pending notices are retried when nothing woke the sender, in milliseconds.
    #[arg(long, env = S::SETTINGS.notice_poll_ms, default_value_t = 1_000)]
    pub notice_poll_ms: u64,

    /// How often measures past their expiry are lapsed, in milliseconds.
    #[arg(long, env = S::SETTINGS.lapse_poll_ms, default_value_t = 60_000)]
    pub lapse_poll_ms: u64,

    /// Seed of the Ed25519 key every answer is sealed with (64 hex digits; `hubctl keygen`).
    /// Unset: answers go out unsealed, and a hub that has a key of this agency refuses them.
    #[arg(long, env = S::SETTINGS.seal_key, hide_env_values = true)]
    pub seal_key: Option<String>,

    /// The id the seal key's public half is registered under at the hub.
    #[arg(long, env = S::SETTINGS.seal_key_id, default_value = "seal-1")]
    pub seal_key_id: String,

    /// The kind of agency configured.
    #[arg(skip)]
    pub system: PhantomData<fn() -> S>,
}

impl<S: System> AgencyConfig<S> {
    /// Mutual TLS from the configured files, or the plain-text mode if asked for.
    pub fn transport(&self) -> Result<hub_trust::Transport, hub_trust::TrustError> {
        hub_trust::Transport::from_settings(
            &format!("the reference {}", S::NAME),
            self.tls_ca.clone(),
            self.tls_cert.clone(),
            self.tls_key.clone(),
            self.tls_deny_list.clone(),
            self.insecure_plaintext,
        )
    }

    /// The register's schema: as configured, else the kind's default, else (the bank) one named
    /// after the first code served.
    pub fn schema(&self) -> String {
        match (&self.database_schema, S::SETTINGS.default_schema) {
            (Some(schema), _) => schema.clone(),
            (None, Some(default)) => default.to_string(),
            (None, None) => {
                let first = self.codes.first().map(AgencyCode::as_str).unwrap_or("main");
                format!(
                    "{}_{}",
                    S::SETTINGS.prefix.to_ascii_lowercase(),
                    first.to_ascii_lowercase().replace('-', "_")
                )
            }
        }
    }
}

fn parse_code(s: &str) -> Result<AgencyCode, String> {
    AgencyCode::parse(s).map_err(|e| e.to_string())
}
