//! `hubctl pki init|issue|revoke`: the hub's private certificate authority.
//!
//! A PKI directory holds `ca.pem` (give it to every party), `ca.key` (keep it offline),
//! `revoked.txt` (the deny list servers reload) and the certificates issued, `<name>.pem` with
//! `<name>.key`. The names hubctl looks for with `--pki`: `court-<code>` and `operator`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use hub_domain::{AgencyId, CourtCode};
use hub_trust::{Authority, Identity, Request, TlsFiles};

use crate::{Context, error::Failure};

/// The PKI commands.
#[derive(Subcommand, Debug)]
pub enum PkiCommand {
    /// Creates the hub CA in a new directory (refuses to replace one).
    Init(InitArgs),
    /// Issues a certificate naming one or more parties.
    Issue(IssueArgs),
    /// Puts a certificate on the deny list: servers refuse it from their next handshake on.
    Revoke(RevokeArgs),
}

/// `hubctl pki init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// The PKI directory.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The CA's name.
    #[arg(long, default_value = "Enforcement hub CA")]
    pub name: String,
    /// Days the CA is valid.
    #[arg(long, default_value_t = 3650)]
    pub days: i64,
}

/// `hubctl pki issue`: at least one party.
#[derive(Args, Debug)]
pub struct IssueArgs {
    /// The PKI directory (with the CA's key).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// A court the certificate speaks for, by its code (法院代字).
    #[arg(long, value_name = "CODE", value_parser = crate::cli::parse::court)]
    pub court: Vec<CourtCode>,
    /// An agency whose adapter holds the certificate, `kind.code` (e.g. bank.ICBC); repeat for
    /// an adapter serving several.
    #[arg(long, value_name = "AGENCY", value_parser = agency)]
    pub adapter: Vec<AgencyId>,
    /// An agency whose own system holds the certificate, `kind.code`.
    #[arg(long, value_name = "AGENCY", value_parser = agency)]
    pub system: Vec<AgencyId>,
    /// An operator, by name: may use the Ops service (dead letters).
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    /// The gateway's server certificate (`--gateway-server`: `--gateway` is hubctl's global
    /// option naming the gateway to call).
    #[arg(long = "gateway-server", id = "gateway_server")]
    pub gateway: bool,
    /// A DNS name or IP address the holder serves at [default for the gateway, adapters and
    /// systems: localhost and 127.0.0.1].
    #[arg(long, value_name = "HOST")]
    pub host: Vec<String>,
    /// Days the certificate is valid.
    #[arg(long, default_value_t = 365)]
    pub days: i64,
    /// File name without extension [default: from the first party, e.g. court-京0105]; with
    /// --host and no party, a server certificate for those hosts alone (the broker's).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// `hubctl pki revoke`: one of `--serial` and `--cert`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["serial", "cert"])))]
pub struct RevokeArgs {
    /// The PKI directory (its deny list is changed).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The certificate's serial, in hex.
    #[arg(long, value_name = "HEX")]
    pub serial: Option<String>,
    /// The certificate file.
    #[arg(long, value_name = "PEM")]
    pub cert: Option<PathBuf>,
    /// Why (kept in the deny list beside the serial).
    #[arg(long, default_value = "revoked")]
    pub reason: String,
}

fn agency(raw: &str) -> Result<AgencyId, String> {
    AgencyId::parse(raw).map_err(|e| e.to_string())
}

/// Runs a PKI command.
pub fn run(context: &Context, command: PkiCommand) -> Result<(), Failure> {
    match command {
        PkiCommand::Init(args) => init(context, args),
        PkiCommand::Issue(args) => issue(context, args),
        PkiCommand::Revoke(args) => revoke(context, args),
    }
}

fn failed(e: hub_trust::TrustError) -> Failure {
    Failure::Usage(e.to_string())
}

fn init(context: &Context, args: InitArgs) -> Result<(), Failure> {
    let ca = Authority::create(&args.name, args.days).map_err(failed)?;
    ca.save(&args.dir, &ca.key_pem()).map_err(failed)?;
    let cert = args.dir.join(hub_trust::CA_CERT);
    context.out.json(&serde_json::json!({
        "ca": cert.display().to_string(),
        "deny_list": args.dir.join(hub_trust::DENY_LIST).display().to_string(),
    }));
    context.out.text(format!(
        "CA created: {} (give it to every party); its key {} stays here.",
        cert.display(),
        args.dir.join(hub_trust::CA_KEY).display()
    ));
    Ok(())
}

/// The parties an `issue` names, first the one the file is named after.
fn parties(args: &IssueArgs) -> Vec<Identity> {
    let mut parties = Vec::new();
    if args.gateway {
        parties.push(Identity::Gateway);
    }
    parties.extend(args.court.iter().cloned().map(Identity::Court));
    parties.extend(args.adapter.iter().cloned().map(Identity::Adapter));
    parties.extend(args.system.iter().cloned().map(Identity::System));
    parties.extend(args.operator.iter().cloned().map(Identity::Operator));
    parties
}

/// The file name of a certificate for `first`: what `--pki` looks for.
pub fn stem(first: &Identity) -> String {
    match first {
        Identity::Gateway => "gateway".into(),
        Identity::Court(court) => format!("court-{court}"),
        Identity::Adapter(agency) => format!("adapter-{agency}"),
        Identity::System(agency) => format!("system-{agency}"),
        Identity::Operator(_) => "operator".into(),
    }
}

fn issue(context: &Context, args: IssueArgs) -> Result<(), Failure> {
    let parties = parties(&args);
    let name = match (parties.first(), &args.name) {
        (Some(first), name) => name.clone().unwrap_or_else(|| stem(first)),
        // A server certificate of no party, e.g. the broker's TLS listener.
        (None, Some(name)) if !args.host.is_empty() => name.clone(),
        (None, _) => {
            return Err(Failure::Usage(
                "name at least one party: --court, --adapter, --system, --operator or \
                 --gateway-server (or, for a server of no party such as the broker, --name with \
                 --host)"
                    .into(),
            ));
        }
    };
    let serves = parties.iter().any(|p| {
        matches!(
            p,
            Identity::Gateway | Identity::Adapter(_) | Identity::System(_)
        )
    });
    let hosts = if args.host.is_empty() && serves {
        hub_trust::LOCAL_HOSTS
            .iter()
            .map(|h| h.to_string())
            .collect()
    } else {
        args.host.clone()
    };
    let ca = Authority::load(&args.dir).map_err(failed)?;
    let issued = ca
        .issue(&Request::new(parties.clone(), args.days).hosts(hosts))
        .map_err(failed)?;
    issued.save(&args.dir.join(&name)).map_err(failed)?;
    let files = TlsFiles::in_dir(&args.dir, &name);
    context.out.json(&serde_json::json!({
        "cert": files.cert.display().to_string(),
        "key": files.key.display().to_string(),
        "serial": issued.serial,
        "parties": parties.iter().map(Identity::uri).collect::<Vec<_>>(),
    }));
    context.out.text(format!(
        "issued {} (key {}), serial {}, for {}",
        files.cert.display(),
        files.key.display(),
        issued.serial,
        if parties.is_empty() {
            format!("the server at {}", args.host.join(", "))
        } else {
            parties
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    Ok(())
}

fn revoke(context: &Context, args: RevokeArgs) -> Result<(), Failure> {
    let serial = match (&args.serial, &args.cert) {
        (Some(serial), _) => serial.clone(),
        (None, Some(cert)) => {
            let pem = std::fs::read_to_string(cert)
                .map_err(|e| Failure::Usage(format!("{}: {e}", cert.display())))?;
            hub_trust::serial_of_pem(&pem)
                .ok_or_else(|| Failure::Usage(format!("{} holds no certificate", cert.display())))?
        }
        (None, None) => return Err(Failure::Usage("give --serial or --cert".into())),
    };
    let list = args.dir.join(hub_trust::DENY_LIST);
    let added = hub_trust::deny::revoke(&list, &serial, &args.reason).map_err(failed)?;
    let serial = hub_trust::deny::normalise(&serial);
    context
        .out
        .json(&serde_json::json!({ "serial": serial, "added": added }));
    context.out.text(if added {
        format!("{serial} is on the deny list {}", list.display())
    } else {
        format!("{serial} was already on the deny list {}", list.display())
    });
    Ok(())
}
