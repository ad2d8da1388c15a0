//! Why a command failed, said in plain words on stderr, and the exit code that tells scripts
//! what kind of failure it was.
//!
//! Every gRPC error of the hub or bank is mapped here and nowhere else: field violations of an
//! `InvalidArgument` are listed one per line, rule refusals keep the server's sentence, and a
//! server that cannot be reached is named with its address.

use std::error::Error as _;
use std::fmt;

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Exit codes; also listed under `hubctl --help`.
pub mod exit {
    /// Unexpected failure: an internal error at the server, an unreadable answer.
    pub const UNEXPECTED: u8 = 1;
    /// Invalid input, refused by hubctl (usage, malformed amount) or by the server.
    pub const INVALID: u8 = 2;
    /// Refused by a rule: not found, key reused, measure not in force.
    pub const REFUSED: u8 = 3;
    /// The server cannot be reached or is unavailable.
    pub const UNAVAILABLE: u8 = 4;
    /// The measure ended rejected, failed or expired, or a demo step came out wrong.
    pub const OUTCOME: u8 = 5;
    /// Timed out waiting for a measure.
    pub const TIMED_OUT: u8 = 6;
    /// Interrupted by Ctrl-C while waiting (128 + SIGINT).
    pub const INTERRUPTED: u8 = 130;
}

/// A server hubctl talks to, for messages: "the hub at http://…".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// What it is for the user: `hub` or `bank`.
    pub role: &'static str,
    /// The address given on the command line.
    pub url: String,
    /// How hubctl proves who it is to this server.
    pub credentials: std::sync::Arc<crate::connect::Credentials>,
}

impl Server {
    /// The same server, reached with `credentials`.
    pub fn with(mut self, credentials: &std::sync::Arc<crate::connect::Credentials>) -> Self {
        self.credentials = credentials.clone();
        self
    }

    /// The hub's court gateway at `url`.
    pub fn hub(url: &str) -> Self {
        Self {
            role: "hub",
            url: url.to_owned(),
            credentials: std::sync::Arc::new(crate::connect::Credentials::Plaintext),
        }
    }

    /// Any hub service at `url`, for health probes.
    pub fn service(url: &str) -> Self {
        Self {
            role: "service",
            url: url.to_owned(),
            credentials: std::sync::Arc::new(crate::connect::Credentials::Plaintext),
        }
    }

    /// A reference bank's administration service at `url`.
    pub fn bank(url: &str) -> Self {
        Self {
            role: "bank",
            url: url.to_owned(),
            credentials: std::sync::Arc::new(crate::connect::Credentials::Plaintext),
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} at {}", self.role, self.url)
    }
}

/// One field the server refused, from a `google.rpc.BadRequest` detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The request field, e.g. `subject.person.resident_id`.
    pub field: String,
    /// The rule it broke.
    pub description: String,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The command line is incomplete or wrong in a way clap cannot see.
    #[error("{0}")]
    Usage(String),

    /// The server refused the request as invalid; `violations` lists each offending field.
    #[error("{}", invalid_text(.server, .message, .violations))]
    Invalid {
        /// Who refused.
        server: Server,
        /// The status message, used when there are no field details.
        message: String,
        /// The fields from the `BadRequest` detail.
        violations: Vec<Violation>,
    },

    /// The server refused by a rule: not found, already exists, failed precondition.
    #[error("{message}")]
    Refused {
        /// The gRPC code.
        code: Code,
        /// The server's sentence.
        message: String,
    },

    /// Nothing answers at the address.
    #[error("cannot reach {server}: is it running? ({detail})")]
    Unreachable {
        /// Where hubctl tried.
        server: Server,
        /// The transport error.
        detail: String,
    },

    /// The server answered that it cannot serve now.
    #[error("{server} is unavailable: {message}")]
    Unavailable {
        /// Who answered.
        server: Server,
        /// Its sentence.
        message: String,
    },

    /// The measure came out other than wanted (rejected, failed, expired; a demo step).
    #[error("{0}")]
    Outcome(String),

    /// A wait ran out of time.
    #[error("{0}")]
    TimedOut(String),

    /// Ctrl-C while waiting; holds the command that follows the measure on (e.g.
    /// `hubctl watch <id>`), when there is one.
    #[error("interrupted while waiting{}", .0.as_ref().map(|follow| format!("; the measure goes on: follow it with `{follow}`")).unwrap_or_default())]
    Interrupted(Option<String>),

    /// Anything else: an internal error, an unreadable answer, a broken stream.
    #[error("{0}")]
    Unexpected(String),
}

impl Failure {
    /// Maps an error answered by (or on the way to) `server`.
    pub fn from_status(status: Status, server: &Server) -> Self {
        let message = status.message().trim().to_owned();
        match status.code() {
            Code::InvalidArgument | Code::OutOfRange => {
                let details = status.get_error_details();
                let violations = details
                    .bad_request()
                    .map(|bad| {
                        bad.field_violations
                            .iter()
                            .map(|v| Violation {
                                field: v.field.clone(),
                                description: v.description.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Self::Invalid {
                    server: server.clone(),
                    message,
                    violations,
                }
            }
            Code::NotFound
            | Code::AlreadyExists
            | Code::FailedPrecondition
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::Aborted => Self::Refused {
                code: status.code(),
                message: if message.is_empty() {
                    format!("{server} refused the request ({})", status.code())
                } else {
                    match hint(&status) {
                        Some(hint) => format!("{message}\n  hint: {hint}"),
                        None => message,
                    }
                },
            },
            Code::Unavailable if is_transport_failure(&status) => Self::Unreachable {
                server: server.clone(),
                detail: transport_detail(&status),
            },
            Code::Unavailable | Code::ResourceExhausted => Self::Unavailable {
                server: server.clone(),
                message: if message.is_empty() {
                    "retry shortly".into()
                } else {
                    message
                },
            },
            Code::DeadlineExceeded => Self::Unavailable {
                server: server.clone(),
                message: "it did not answer in time".into(),
            },
            code => Self::Unexpected(if message.is_empty() {
                format!("{server} failed ({code})")
            } else {
                format!("{server} failed: {message}")
            }),
        }
    }

    /// Maps a failure to connect to `server`.
    pub fn unreachable(server: &Server, error: &tonic::transport::Error) -> Self {
        Self::Unreachable {
            server: server.clone(),
            detail: error_chain(error),
        }
    }

    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::Invalid { .. } => exit::INVALID,
            Self::Refused { .. } => exit::REFUSED,
            Self::Unreachable { .. } | Self::Unavailable { .. } => exit::UNAVAILABLE,
            Self::Outcome(_) => exit::OUTCOME,
            Self::TimedOut(_) => exit::TIMED_OUT,
            Self::Interrupted(_) => exit::INTERRUPTED,
            Self::Unexpected(_) => exit::UNEXPECTED,
        }
    }
}

/// What to do about a refusal of the case ledger, from the `ErrorInfo` the hub attaches.
fn hint(status: &Status) -> Option<String> {
    let details = status.get_error_details();
    let info = details.error_info()?;
    let case = info
        .metadata
        .get("case_number")
        .map_or("<CASE_NO>", String::as_str);
    match info.reason.as_str() {
        "CASE_AMOUNT_EXCEEDED" => Some(format!(
            "`hubctl case show --case {case}` shows what is frozen, pending and deducted; --up-to asks for only what is open, `hubctl case amend` changes the enforcement amount"
        )),
        "DUPLICATE_MEASURE" => info.metadata.get("measure_id").map(|id| {
            format!(
                "follow the first with `hubctl status {id}`, or release it before ordering anew"
            )
        }),
        "CASE_CLOSED" => Some(format!(
            "case {case} takes no new measures; `hubctl case show --case {case}` shows how it ended"
        )),
        _ => None,
    }
}

/// The text of an `Invalid` failure: a heading and one `  field: description` line per field.
fn invalid_text(server: &Server, message: &str, violations: &[Violation]) -> String {
    if violations.is_empty() {
        return format!("{server} refused the request as invalid: {message}");
    }
    let mut text = format!("{server} refused the request as invalid:");
    for v in violations {
        text.push_str(&format!("\n  {}: {}", v.field, v.description));
    }
    text
}

/// Whether the status was made by the client's transport (nothing answered) rather than sent by
/// the server: tonic attaches the transport error as the source.
fn is_transport_failure(status: &Status) -> bool {
    status.source().is_some()
        || status.message().contains("tcp connect error")
        || status.message().contains("transport error")
}

fn transport_detail(status: &Status) -> String {
    match status.source() {
        Some(source) => error_chain(source),
        None => status.message().to_owned(),
    }
}

/// An error and its causes, innermost last, e.g. `transport error: tcp connect error: Connection
/// refused (os error 111)`.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::{ErrorDetails, FieldViolation};

    fn hub() -> Server {
        Server::hub("http://127.0.0.1:20051")
    }

    #[test]
    fn field_violations_are_listed_one_per_line() {
        let status = Status::with_error_details(
            Code::InvalidArgument,
            "invalid request: …",
            ErrorDetails::with_bad_request(vec![
                FieldViolation::new(
                    "subject.person.resident_id",
                    "check character is 3, expected X (GB 11643)",
                ),
                FieldViolation::new("freeze.period", "period must not be zero"),
            ]),
        );
        let failure = Failure::from_status(status, &hub());
        assert_eq!(failure.exit_code(), exit::INVALID);
        assert_eq!(
            failure.to_string(),
            "the hub at http://127.0.0.1:20051 refused the request as invalid:\n  \
             subject.person.resident_id: check character is 3, expected X (GB 11643)\n  \
             freeze.period: period must not be zero"
        );
    }

    #[test]
    fn an_invalid_argument_without_details_keeps_its_message() {
        let status = Status::invalid_argument("account_number: must have 6 to 32 digits");
        let failure = Failure::from_status(status, &Server::bank("http://bank"));
        assert_eq!(failure.exit_code(), exit::INVALID);
        assert_eq!(
            failure.to_string(),
            "the bank at http://bank refused the request as invalid: account_number: must have 6 to 32 digits"
        );
    }

    #[test]
    fn rule_refusals_print_the_servers_sentence_and_exit_3() {
        for status in [
            Status::not_found("no measure 0190 ordered by court 京0105"),
            Status::already_exists("idempotency_key was already used"),
            Status::failed_precondition("measure 0190 is released"),
        ] {
            let message = status.message().to_owned();
            let failure = Failure::from_status(status, &hub());
            assert_eq!(failure.exit_code(), exit::REFUSED);
            assert_eq!(failure.to_string(), message);
        }
    }

    #[test]
    fn a_refusal_of_the_case_ledger_says_what_to_do() {
        let status = Status::with_error_details(
            Code::FailedPrecondition,
            "a freeze of 10,000.00 would take case （2024）京0105执1号 past its enforcement amount",
            tonic_types::ErrorDetails::with_error_info(
                "CASE_AMOUNT_EXCEEDED",
                "enforcement.v1",
                std::collections::HashMap::from([
                    ("case_number".to_string(), "（2024）京0105执1号".to_string()),
                    ("open_fen".to_string(), "0".to_string()),
                ]),
            ),
        );
        let failure = Failure::from_status(status, &hub());
        assert_eq!(failure.exit_code(), exit::REFUSED);
        let text = failure.to_string();
        assert!(
            text.contains("hint: `hubctl case show --case （2024）京0105执1号`"),
            "{text}"
        );
        assert!(text.contains("--up-to"), "{text}");
    }

    #[test]
    fn an_unavailable_server_is_named_and_exits_4() {
        let failure = Failure::from_status(
            Status::unavailable("the hub's database is unavailable; retry shortly"),
            &hub(),
        );
        assert_eq!(failure.exit_code(), exit::UNAVAILABLE);
        assert_eq!(
            failure.to_string(),
            "the hub at http://127.0.0.1:20051 is unavailable: the hub's database is unavailable; retry shortly"
        );
    }

    #[test]
    fn a_transport_failure_asks_whether_the_hub_is_running() {
        let failure = Failure::from_status(
            Status::unavailable("tcp connect error: Connection refused (os error 111)"),
            &hub(),
        );
        assert_eq!(failure.exit_code(), exit::UNAVAILABLE);
        assert!(
            failure
                .to_string()
                .starts_with("cannot reach the hub at http://127.0.0.1:20051: is it running?"),
            "{failure}"
        );
    }

    #[test]
    fn internal_errors_are_unexpected() {
        let failure = Failure::from_status(Status::internal("boom"), &hub());
        assert_eq!(failure.exit_code(), exit::UNEXPECTED);
        assert_eq!(
            failure.to_string(),
            "the hub at http://127.0.0.1:20051 failed: boom"
        );
    }

    #[test]
    fn an_interruption_says_how_to_follow_the_measure() {
        let failure = Failure::Interrupted(Some("hubctl watch 0190".into()));
        assert_eq!(failure.exit_code(), exit::INTERRUPTED);
        assert!(failure.to_string().contains("hubctl watch 0190"));
    }
}
