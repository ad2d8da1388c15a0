//! `hubctl agency key …`: the registry of agency signing keys, for operators. The gateway applies
//! an agency's reports only when they are signed, and its outcomes only when sealed, with a key
//! registered here for that agency and valid when they arrive.
//!
//! Rotation: `key add` the new key; move the agency's adapter and system to it; `key retire` the
//! old one with `--overlap` long enough for what is in flight. Both verify until then.

use clap::{Args, Subcommand};
use enforcement_proto::{
    convert::{instant_opt, timestamp},
    v1 as pb,
};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{Context, error::Failure};

/// `hubctl agency …`.
#[derive(Subcommand, Debug, Clone)]
pub enum AgencyCommand {
    /// The agencies' public signing keys at the gateway.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Enrols a partner agency in one step: declares its queue, creates its broker user
    /// (allowed to read that queue and publish reports, nothing else), records the user at the
    /// gateway and registers the keys given; prints the AMQP URL its adapter connects with.
    Enrol(super::enrol::EnrolArgs),
    /// Suspends enrolled agencies: their broker user loses its permissions and its connections;
    /// their queues keep what arrives for them.
    Suspend(super::enrol::SuspendArgs),
    /// Lets suspended agencies in again.
    Resume(super::enrol::SuspendArgs),
}

/// Which agency (or agencies of one kind, for a processing centre).
#[derive(Args, Debug, Clone)]
pub struct AgencyArgs {
    /// `bank`, `land` or `police`.
    #[arg(long, value_name = "KIND")]
    pub kind: String,
    /// The agency's code; several, comma-separated, register one key for each (a processing
    /// centre serving many banks signs with one key).
    #[arg(long, value_name = "CODE", value_delimiter = ',', required = true)]
    pub code: Vec<String>,
}

/// `hubctl agency key …`.
#[derive(Subcommand, Debug, Clone)]
pub enum KeyCommand {
    /// Registers an agency's public key (from `hubctl keygen`) under an id.
    Add {
        #[command(flatten)]
        agency: AgencyArgs,
        /// The key's id, as the agency's adapter (`ADAPTER_SIGNING_KEY_ID`) or system
        /// (`BANK_SEAL_KEY_ID`, …) names it.
        #[arg(long = "id", value_name = "KEY_ID")]
        key_id: String,
        /// The Ed25519 public key, 64 hex digits.
        #[arg(long = "public-key", value_name = "HEX")]
        public_key: String,
        /// Valid from (RFC 3339); now if not given.
        #[arg(long = "valid-from", value_name = "TIME", value_parser = rfc3339)]
        valid_from: Option<OffsetDateTime>,
    },
    /// Lists the keys of one agency, or of every agency.
    List {
        /// `bank`, `land` or `police` (with --code).
        #[arg(long, value_name = "KIND", requires = "code")]
        kind: Option<String>,
        /// The agency's code (with --kind).
        #[arg(long, value_name = "CODE", requires = "kind")]
        code: Option<String>,
    },
    /// Ends a key's validity: now, after an overlap, or at a given time.
    Retire {
        #[command(flatten)]
        agency: AgencyArgs,
        /// The key's id.
        #[arg(long = "id", value_name = "KEY_ID")]
        key_id: String,
        /// Keep it valid this many more seconds (the rotation's overlap window).
        #[arg(long, value_name = "SECONDS", conflicts_with = "at")]
        overlap: Option<u64>,
        /// Valid until this time (RFC 3339).
        #[arg(long, value_name = "TIME", value_parser = rfc3339)]
        at: Option<OffsetDateTime>,
    },
}

fn rfc3339(input: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(input.trim(), &Rfc3339)
        .map_err(|_| format!("{input:?} is not an RFC 3339 time, e.g. 2026-12-31T00:00:00Z"))
}

/// Runs one `agency` subcommand.
pub async fn run(context: &Context, command: AgencyCommand) -> Result<(), Failure> {
    let command = match command {
        AgencyCommand::Key(command) => command,
        AgencyCommand::Enrol(args) => return super::enrol::enrol(context, args).await,
        AgencyCommand::Suspend(args) => return super::enrol::suspend(context, args, true).await,
        AgencyCommand::Resume(args) => return super::enrol::suspend(context, args, false).await,
    };
    let mut ops = context.ops().await?;
    match command {
        KeyCommand::Add {
            agency,
            key_id,
            public_key,
            valid_from,
        } => {
            for code in &agency.code {
                let key = pb::AgencyKey {
                    key_id: key_id.clone(),
                    agency_kind: agency.kind.clone(),
                    agency_code: code.clone(),
                    public_key: public_key.trim().to_string(),
                    valid_from: valid_from.map(timestamp),
                    valid_until: None,
                };
                let added = ops.add_key(key).await?;
                show(context, &added, "registered");
            }
        }
        KeyCommand::List { kind, code } => {
            let keys = ops
                .list_keys(pb::ListAgencyKeysRequest {
                    agency_kind: kind.unwrap_or_default(),
                    agency_code: code.unwrap_or_default(),
                })
                .await?;
            if keys.keys.is_empty() {
                context.out.text("no agency keys registered");
            }
            for key in &keys.keys {
                show(context, key, "");
            }
        }
        KeyCommand::Retire {
            agency,
            key_id,
            overlap,
            at,
        } => {
            let at = match (overlap, at) {
                (Some(secs), _) => Some(
                    OffsetDateTime::now_utc()
                        + time::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX)),
                ),
                (None, at) => at,
            };
            for code in &agency.code {
                let retired = ops
                    .retire_key(pb::RetireAgencyKeyRequest {
                        agency_kind: agency.kind.clone(),
                        agency_code: code.clone(),
                        key_id: key_id.clone(),
                        at: at.map(timestamp),
                    })
                    .await?;
                show(context, &retired, "retired");
            }
        }
    }
    Ok(())
}

fn show(context: &Context, key: &pb::AgencyKey, done: &str) {
    let format_time = |t: Option<OffsetDateTime>| {
        t.and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| "-".into())
    };
    let from = format_time(instant_opt(key.valid_from.as_ref()));
    let until = format_time(instant_opt(key.valid_until.as_ref()));
    context.out.json(&serde_json::json!({
        "agency": format!("{}.{}", key.agency_kind, key.agency_code),
        "key_id": key.key_id,
        "public_key": key.public_key,
        "valid_from": from,
        "valid_until": if key.valid_until.is_some() { serde_json::Value::from(until.clone()) } else { serde_json::Value::Null },
    }));
    let prefix = if done.is_empty() {
        String::new()
    } else {
        format!("{done}: ")
    };
    context.out.text(format!(
        "{prefix}{}.{}  key {}  valid {from} .. {until}  {}",
        key.agency_kind, key.agency_code, key.key_id, key.public_key
    ));
}
