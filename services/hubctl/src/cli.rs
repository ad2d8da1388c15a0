//! The command line: the global options, the list of commands, and the argument groups several
//! commands share (the case, the subject, the account, the submit options, the reference bank,
//! agencies). Each command's own options live with the command, in `cmd/<command>.rs` (the demo's
//! in `demo/`), next to the code that acts on them.
//!
//! Amounts, court codes and measure ids are parsed here, so a typing error is refused with exit
//! code 2 before anything is sent. Everything else (case numbers, identity numbers, names) is
//! left to the gateway, which is the one authority on those rules and names the offending field.

use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use hub_domain::{CourtCode, Money};

use crate::{
    cmd::pki::PkiCommand,
    cmd::{
        agency_key::AgencyCommand, answers::AnswersArgs, audit::AuditCommand, bank::BankCommand,
        case::CaseCommand, deduct::DeductArgs, distrain::DistrainArgs, dlq::DlqCommand,
        expiring::ExpiringArgs, freeze::FreezeArgs, health::HealthArgs, inquire::InquireArgs,
        list::ListArgs, ops::OpsCommand, release::ReleaseArgs, renew::RenewArgs,
        restrict_exit::RestrictExitArgs, seal_up::SealUpArgs, status::StatusArgs, watch::WatchArgs,
    },
    demo::DemoArgs,
};

/// Command-line client of the enforcement hub: courts ask banks, land registries and public
/// security what a debtor holds, order freezes, deductions, seal-ups, distraints and exit
/// restrictions, release and renew them, and follow every measure to its end.
#[derive(Parser, Debug)]
#[command(name = "hubctl", version, max_term_width = 100)]
#[command(after_help = EXIT_CODES)]
pub struct Cli {
    /// The hub's court gateway; several instances separated by commas, the first that
    /// answers taken.
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "HUBCTL_GATEWAY",
        default_value = "http://127.0.0.1:20051",
        value_name = "URL"
    )]
    pub gateway: String,

    /// The issuing court's code (法院代字), e.g. 京0105; required by court commands.
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "HUBCTL_COURT",
        value_name = "CODE",
        value_parser = parse::court
    )]
    pub court: Option<CourtCode>,

    /// A PKI directory as `hubctl pki` lays it out: court commands present `court-<CODE>.pem`,
    /// the others `operator.pem`, all trusting its `ca.pem`.
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "HUBCTL_PKI",
        default_value = ".run/pki",
        value_name = "DIR"
    )]
    pub pki: std::path::PathBuf,

    /// The hub CA's certificate, with --tls-cert and --tls-key instead of --pki.
    #[arg(long, global = true, help_heading = GLOBAL, env = "HUBCTL_TLS_CA", value_name = "PEM", requires_all = ["tls_cert", "tls_key"])]
    pub tls_ca: Option<std::path::PathBuf>,

    /// The certificate to present (a court's, or an operator's for dlq).
    #[arg(long, global = true, help_heading = GLOBAL, env = "HUBCTL_TLS_CERT", value_name = "PEM", requires_all = ["tls_ca", "tls_key"])]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The certificate's private key.
    #[arg(long, global = true, help_heading = GLOBAL, env = "HUBCTL_TLS_KEY", value_name = "PEM", requires_all = ["tls_ca", "tls_cert"])]
    pub tls_key: Option<std::path::PathBuf>,

    /// Plain-text gRPC, for a hub run with HUB_INSECURE_PLAINTEXT=1.
    #[arg(long, global = true, help_heading = GLOBAL, env = "HUB_INSECURE_PLAINTEXT")]
    pub insecure_plaintext: bool,

    /// Machine-readable output: one JSON object per line, full ids, amounts in fen, RFC 3339 UTC
    /// times.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The help heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// Shown under `--help`, so scripts know what each exit code means.
const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  unexpected failure (internal error at the hub or bank, unreadable answer)
  2  invalid input: refused by hubctl or by the hub, each offending field listed
  3  refused by a rule: no such measure, idempotency key reused, measure not in force, no
     such dead letter, the case's enforcement amount exceeded, a duplicate, the case closed
  4  the hub or bank cannot be reached or is unavailable
  5  the measure ended rejected, failed or expired (--wait, inquire), or a demo step came out
     wrong
  6  timed out waiting for a measure (--wait, demo)
  130 interrupted by Ctrl-C while waiting";

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Orders a freeze (冻结) of deposits in one account, for an explicit amount and period.
    Freeze(FreezeArgs),
    /// Orders a deduction (扣划) of funds from one account to the court's receiving account.
    Deduct(DeductArgs),
    /// Orders a seal-up (查封) or pre-seizure (预查封) of real property at a land registry.
    SealUp(SealUpArgs),
    /// Orders the distraint (扣押) of a vehicle through public security.
    Distrain(DistrainArgs),
    /// Orders an exit restriction (限制出境) on the debtor, or on an organisation debtor's
    /// responsible person, through public security.
    RestrictExit(RestrictExitArgs),
    /// Asks one, several or every agency of a kind what the subject holds (查询), shows the
    /// answers as they arrive, and a table of them once all have answered or the deadline passed.
    Inquire(InquireArgs),
    /// Shows the answers an inquiry has received so far.
    Answers(AnswersArgs),
    /// Lists the court's measures in force that expire soon, soonest first, so none lapses
    /// unnoticed.
    Expiring(ExpiringArgs),
    /// Orders the release (解除) of one of the court's measures.
    Release(ReleaseArgs),
    /// Orders the renewal (续行) of a measure in force, before it expires.
    Renew(RenewArgs),
    /// Shows one measure as it stands now.
    Status(StatusArgs),
    /// A case as a whole: its ledger against the enforcement amount (show), amending that
    /// amount (amend), closing the case (close), and one order to freeze up to an amount of the
    /// debtor's deposits over many banks (freeze).
    #[command(subcommand)]
    Case(CaseCommand),
    /// Lists the court's measures in one case, oldest first.
    List(ListArgs),
    /// Prints every change of one measure, or of every measure in a case, until Ctrl-C.
    Watch(WatchArgs),
    /// Administers a reference bank (for demos and tests): accounts, credits, its freeze ledger.
    #[command(subcommand)]
    Bank(BankCommand),
    /// A scripted walk-through against a running hub and reference bank: freezes, partial
    /// freezes topped up by incoming funds, waiting freezes, release with promotion, renewal.
    Demo(DemoArgs),
    /// Whether a hub service (gateway, adapter, reference bank) is serving: exit 0 if it is.
    Health(HealthArgs),
    /// Makes a new Ed25519 key pair for signing instructions: the seed goes to the gateway
    /// (GATEWAY_SIGNING_KEY), the public key to every adapter (ADAPTER_GATEWAY_PUBLIC_KEY).
    Keygen,
    /// Dead letters (for operators, no --court): messages the hub could not process, waiting
    /// to be replayed or discarded.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Partner agencies (for operators, no --court): their signing keys at the gateway.
    #[command(subcommand)]
    Agency(AgencyCommand),
    /// The audit log (for operators, no --court): verify its hash chains.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// What operators watch over the whole hub (no --court): overdue measures (督办), every
    /// agency now, and the monthly ranking of agencies and courts.
    #[command(subcommand)]
    Ops(OpsCommand),
    /// A measure's evidence as one file — its instructions signed by the gateway, the reports
    /// signed by the agency's adapter and sealed by its system, the keys — verified offline
    /// (`--verify FILE`).
    Evidence(crate::cmd::evidence::EvidenceArgs),
    /// A measure's timeline (for operators, no --court): accepted, published, delivered, agency
    /// answered, report sent, applied, each with its time and the time since the hop before.
    Trace(crate::cmd::trace::TraceArgs),
    /// The hub's certificate authority: create it, issue the certificates of courts,
    /// agencies' adapters and systems, operators and the gateway, revoke them.
    #[command(subcommand)]
    Pki(PkiCommand),
}

/// The case a measure belongs to and its documents.
#[derive(Args, Debug, Clone)]
#[group(skip)]
pub struct CaseArgs {
    /// Case number (案号), e.g. （2024）京0105执1234号; ASCII parentheses are accepted.
    #[arg(long = "case", value_name = "CASE_NO")]
    pub case_number: String,

    /// Enforcement amount of the case (执行标的额) in yuan, e.g. 50000 or 50,000.00.
    #[arg(long, value_name = "YUAN", value_parser = parse::positive_amount)]
    pub enforcement_amount: Money,

    /// Number of the ruling (裁定书文号) [default: <CASE_NO>之一].
    #[arg(long, value_name = "NO")]
    pub ruling: Option<String>,

    /// Number of the assistance notice (协助执行通知书文号) [default: <CASE_NO>协助执行通知书].
    #[arg(long, value_name = "NO")]
    pub notice: Option<String>,

    /// The enforcement officer (执行员) responsible.
    #[arg(long, value_name = "NAME")]
    pub officer: String,
}

/// The person or organisation enforced against (被执行人): exactly one.
#[derive(Args, Debug, Clone)]
#[group(skip)]
#[command(group(ArgGroup::new("subject").required(true).args(["person_name", "org_name"])))]
pub struct SubjectArgs {
    /// A natural person's full legal name.
    #[arg(long, value_name = "NAME", requires = "resident_id")]
    pub person_name: Option<String>,

    /// The person's resident identity number (18 characters).
    #[arg(long, value_name = "ID", requires = "person_name")]
    pub resident_id: Option<String>,

    /// An organisation's registered name.
    #[arg(long, value_name = "NAME", requires = "credit_code")]
    pub org_name: Option<String>,

    /// The organisation's unified social credit code (18 characters).
    #[arg(long, value_name = "CODE", requires = "org_name")]
    pub credit_code: Option<String>,
}

/// The account a freeze or deduction acts on.
#[derive(Args, Debug, Clone)]
#[group(skip)]
pub struct AccountArgs {
    /// The bank's code at the hub, e.g. ICBC.
    #[arg(long, value_name = "CODE")]
    pub bank: String,

    /// The account number.
    #[arg(long, value_name = "NO")]
    pub account: String,

    /// The amount in yuan, e.g. 10000 or 10,000.00.
    #[arg(long, value_name = "YUAN", value_parser = parse::positive_amount)]
    pub amount: Money,
}

/// Options of every command that creates a measure.
#[derive(Args, Debug, Clone)]
#[group(skip)]
pub struct SubmitOptions {
    /// Idempotency key: repeating a request with the same key never creates a second measure
    /// [default: a fresh UUIDv7, printed so the request can be retried with it].
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,

    /// Wait until the agency has answered and print the outcome.
    #[arg(long)]
    pub wait: bool,

    /// How long --wait waits, in seconds.
    #[arg(long, value_name = "SECS", default_value = "120", value_parser = parse::seconds)]
    pub timeout: Duration,
}

/// The kinds of agency, as written on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgencyKind {
    /// Banks and other financial institutions.
    Bank,
    /// Real-estate registries.
    #[value(alias = "land-registry")]
    Land,
    /// Public security units.
    #[value(alias = "public-security")]
    Police,
}

/// One agency, from `KIND:CODE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agency {
    /// Its kind.
    pub kind: AgencyKind,
    /// Its code within the kind.
    pub code: String,
}

/// Where the reference bank's administration service listens.
#[derive(Args, Debug, Clone)]
#[group(skip)]
pub struct BankUrl {
    /// The reference bank's gRPC address (its BankAdmin service).
    #[arg(long = "bank-url", env = "HUBCTL_BANK_URL", value_name = "URL")]
    pub url: String,

    /// The bank's code, when the reference system serves several banks.
    #[arg(
        long = "bank-code",
        env = "HUBCTL_BANK_CODE",
        value_name = "CODE",
        default_value = ""
    )]
    pub code: String,
}

/// Value parsers: typing errors are refused with a sentence naming the rule.
pub mod parse {
    use std::time::Duration;

    use hub_domain::{CourtCode, Money};
    use uuid::Uuid;

    /// An amount in yuan, zero allowed (a balance).
    pub fn amount(input: &str) -> Result<Money, String> {
        Money::parse_yuan(input).map_err(|e| e.to_string())
    }

    /// An amount in yuan that must be more than zero (an amount to freeze or deduct).
    pub fn positive_amount(input: &str) -> Result<Money, String> {
        let money = amount(input)?;
        if money.is_zero() {
            return Err("amount must be greater than zero".into());
        }
        Ok(money)
    }

    /// A court code (法院代字).
    pub fn court(input: &str) -> Result<CourtCode, String> {
        CourtCode::parse(input).map_err(|e| e.to_string())
    }

    /// A measure id as the hub prints it.
    pub fn measure_id(input: &str) -> Result<Uuid, String> {
        Uuid::parse_str(input.trim()).map_err(|_| {
            format!(
                "{input:?} is not a measure id (a UUID such as 0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70)"
            )
        })
    }

    /// An agency as `KIND:CODE`, e.g. `bank:ICBC`, `land:110105`, `police:BJ-PSB`.
    pub fn agency(input: &str) -> Result<super::Agency, String> {
        use clap::ValueEnum;
        let (kind, code) = input.split_once(':').ok_or_else(|| {
            format!("{input:?} is not KIND:CODE (e.g. bank:ICBC, land:110105, police:BJ-PSB)")
        })?;
        let kind = super::AgencyKind::from_str(kind.trim(), true)
            .map_err(|_| format!("{kind:?} is not a kind of agency: write bank, land or police"))?;
        let code = code.trim();
        if code.is_empty() {
            return Err(format!("{input:?} names no agency code after the colon"));
        }
        Ok(super::Agency {
            kind,
            code: code.to_owned(),
        })
    }

    /// A dead letter's message id: any text but blank.
    pub fn message_id(input: &str) -> Result<String, String> {
        let id = input.trim();
        if id.is_empty() {
            return Err("a message id must not be blank: copy it from `hubctl dlq list`".into());
        }
        Ok(id.to_owned())
    }

    /// Whole seconds, at least one.
    pub fn seconds(input: &str) -> Result<Duration, String> {
        match input.trim().parse::<u64>() {
            Ok(0) | Err(_) => Err(format!("{input:?} is not a number of seconds (1 or more)")),
            Ok(secs) => Ok(Duration::from_secs(secs)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("hubctl").chain(args.iter().copied()))
    }

    #[test]
    fn the_gateway_certificate_flag_does_not_clash_with_the_global_gateway_address() {
        let cli = parse(&[
            "--gateway",
            "https://127.0.0.1:20051",
            "pki",
            "issue",
            "--dir",
            "pki",
            "--gateway-server",
        ])
        .expect("parses");
        assert_eq!(cli.gateway, "https://127.0.0.1:20051");
        let Command::Pki(crate::cmd::pki::PkiCommand::Issue(args)) = cli.command else {
            panic!("not pki issue: {:?}", cli.command);
        };
        assert!(args.gateway);
    }

    const FREEZE: &[&str] = &[
        "--court",
        "京0105",
        "freeze",
        "--case",
        "（2024）京0105执1号",
        "--bank",
        "ICBC",
        "--account",
        "6222020200000000001",
        "--amount",
        "10,000.00",
        "--months",
        "12",
        "--enforcement-amount",
        "50000",
        "--officer",
        "王执行",
    ];

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_freeze_takes_amounts_in_yuan_and_one_subject() {
        let mut args = FREEZE.to_vec();
        args.extend([
            "--person-name",
            "张三",
            "--resident-id",
            "11010519491231002X",
        ]);
        let cli = parse(&args).expect("parses");
        let Command::Freeze(freeze) = cli.command else {
            panic!("not a freeze: {:?}", cli.command);
        };
        assert_eq!(freeze.account.amount.fen(), 1_000_000);
        assert_eq!(freeze.case.enforcement_amount.fen(), 5_000_000);
        assert_eq!(freeze.subject.person_name.as_deref(), Some("张三"));
        assert_eq!(freeze.days, 0);
        assert!(freeze.submit.key.is_none());
        assert_eq!(cli.court.map(|c| c.to_string()).as_deref(), Some("京0105"));
    }

    #[test]
    fn a_freeze_without_a_subject_is_a_usage_error() {
        let error = parse(FREEZE).expect_err("no subject");
        assert_eq!(error.kind(), ErrorKind::MissingRequiredArgument);
        assert_eq!(error.exit_code(), 2);
    }

    #[test]
    fn a_person_needs_an_identity_number_and_cannot_also_be_an_organisation() {
        let mut args = FREEZE.to_vec();
        args.extend(["--person-name", "张三"]);
        assert!(parse(&args).is_err());
        args.extend([
            "--resident-id",
            "11010519491231002X",
            "--org-name",
            "某公司",
            "--credit-code",
            "91350100M000100Y43",
        ]);
        assert!(parse(&args).is_err());
    }

    #[test]
    fn a_malformed_amount_is_refused_before_anything_is_sent() {
        let mut args = FREEZE.to_vec();
        args.extend([
            "--person-name",
            "张三",
            "--resident-id",
            "11010519491231002X",
        ]);
        let at = args.iter().position(|a| *a == "10,000.00").expect("amount");
        args[at] = "10.005";
        let error = parse(&args).expect_err("three decimals");
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("more than two decimal places"));
        args[at] = "0";
        assert!(
            parse(&args)
                .expect_err("zero")
                .to_string()
                .contains("greater than zero")
        );
    }

    #[test]
    fn a_bad_court_code_or_measure_id_is_a_usage_error() {
        let error = parse(&[
            "--court",
            "XX",
            "status",
            "0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70",
        ])
        .expect_err("court");
        assert_eq!(error.exit_code(), 2);
        let error = parse(&["--court", "京0105", "status", "nope"]).expect_err("id");
        assert!(error.to_string().contains("is not a measure id"));
    }

    #[test]
    fn dead_letter_commands_need_no_court_and_check_their_arguments() {
        let cli = parse(&["dlq", "list"]).expect("parses");
        assert!(matches!(
            cli.command,
            Command::Dlq(DlqCommand::List { limit: 100 })
        ));
        assert!(parse(&["dlq", "list", "--limit", "0"]).is_err());
        assert!(parse(&["dlq", "list", "--limit", "1001"]).is_err());
        let error = parse(&["dlq", "replay", " "]).expect_err("blank id");
        assert_eq!(error.exit_code(), 2);
        let cli = parse(&["dlq", "discard", "garbage-report", "--yes"]).expect("parses");
        let Command::Dlq(DlqCommand::Discard { message_id, yes }) = cli.command else {
            panic!("not a discard: {:?}", cli.command);
        };
        assert_eq!(message_id, "garbage-report");
        assert!(yes);
    }

    #[test]
    fn watch_takes_a_measure_or_a_case_but_not_both() {
        assert!(parse(&["watch", "0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70"]).is_ok());
        assert!(parse(&["watch", "--case", "（2024）京0105执1号"]).is_ok());
        assert!(parse(&["watch"]).is_err());
        assert!(
            parse(&[
                "watch",
                "0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70",
                "--case",
                "（2024）京0105执1号"
            ])
            .is_err()
        );
    }
}
