//! Gateway configuration: defaults, overridden by `GATEWAY_*` environment variables, overridden
//! by command-line flags.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;

/// Everything the gateway needs to run.
#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Address the court-facing gRPC service listens on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:20051")]
    pub listen: SocketAddr,

    /// Address of the HTTP health endpoint (`/healthz`, `/readyz`); none if unset.
    #[arg(long, env = "GATEWAY_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,

    /// The hub CA's certificate (PEM): every client (court, operator) must present a
    /// certificate it issued.
    #[arg(long, env = "GATEWAY_TLS_CA", value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,

    /// The gateway's own certificate (PEM), naming the hosts courts reach it by.
    #[arg(long, env = "GATEWAY_TLS_CERT", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,

    /// The gateway's private key (PEM).
    #[arg(long, env = "GATEWAY_TLS_KEY", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,

    /// The deny list: serials of revoked certificates, one per line, read again whenever the
    /// file changes (`hubctl pki revoke` writes it).
    #[arg(long, env = "GATEWAY_TLS_DENY_LIST", value_name = "FILE")]
    pub tls_deny_list: Option<PathBuf>,

    /// Serve gRPC in plain text and believe the court each request names. Development only;
    /// warned about at every start.
    #[arg(long, env = "HUB_INSECURE_PLAINTEXT")]
    pub insecure_plaintext: bool,

    /// Largest request a court may send, in bytes; larger ones are refused unread.
    #[arg(long, env = "GATEWAY_MAX_REQUEST_BYTES", default_value_t = 1 << 20)]
    pub max_request_bytes: usize,

    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "GATEWAY_DATABASE_URL",
        default_value = "postgres://postgres:postgres@127.0.0.1:5432/enforcement",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Schema holding the gateway's tables; created and migrated at start-up.
    #[arg(long, env = "GATEWAY_DATABASE_SCHEMA", default_value = "gateway")]
    pub database_schema: String,

    /// Most connections to PostgreSQL.
    #[arg(long, env = "GATEWAY_DATABASE_CONNECTIONS", default_value_t = 16)]
    pub database_connections: u32,

    /// AMQP URL of RabbitMQ, vhost included; for a cluster, one URL per node separated by commas
    /// (a session connects to the next node that answers).
    #[arg(
        long,
        env = "GATEWAY_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    pub amqp_url: String,

    /// Seed of the Ed25519 key instructions are signed with (64 hex digits). Adapters given its
    /// public key refuse instructions that are unsigned or do not verify. Unset: unsigned.
    #[arg(long, env = "GATEWAY_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,

    /// Refuse every unsigned agency report. Off, reports of agencies with a key in the registry
    /// must still be signed and sealed, and only agencies not enrolled yet may report unsigned
    /// (a warning is logged at every start).
    #[arg(
        long,
        env = "GATEWAY_REQUIRE_SIGNED_REPORTS",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub require_signed_reports: bool,

    /// How long an agency has to receive an instruction before it ends EXPIRED, in seconds.
    /// Banks must act "immediately"; published practice is a working day for freezes.
    #[arg(
        long,
        env = "GATEWAY_INSTRUCTION_DEADLINE_SECS",
        default_value_t = 86_400
    )]
    pub instruction_deadline_secs: u64,

    /// How long past its deadline an instruction may still be answered before the gateway ends
    /// it EXPIRED, in seconds. Adapters refuse an instruction once its deadline has passed; the
    /// grace covers one that reached the agency just in time and is still being carried out.
    #[arg(long, env = "GATEWAY_DEADLINE_GRACE_SECS", default_value_t = 120)]
    pub deadline_grace_secs: u64,

    /// Most outbox rows published per relay transaction.
    #[arg(long, env = "GATEWAY_RELAY_BATCH", default_value_t = 256)]
    pub relay_batch: u32,

    /// How often the relay looks at the outbox when nothing woke it, in milliseconds.
    #[arg(long, env = "GATEWAY_RELAY_POLL_MS", default_value_t = 500)]
    pub relay_poll_ms: u64,

    /// Most unacknowledged agency reports the gateway holds at once.
    #[arg(long, env = "GATEWAY_REPORT_PREFETCH", default_value_t = 128)]
    pub report_prefetch: u16,

    /// Most batches of agency reports applied concurrently.
    #[arg(long, env = "GATEWAY_REPORT_WORKERS", default_value_t = 4)]
    pub report_workers: usize,

    /// Most agency reports applied in one transaction.
    #[arg(long, env = "GATEWAY_REPORT_BATCH", default_value_t = 64)]
    pub report_batch: usize,

    /// How often a message is redelivered before the broker dead-letters it.
    #[arg(long, env = "GATEWAY_DELIVERY_LIMIT", default_value_t = 10)]
    pub delivery_limit: u32,

    /// Expiry-warning horizons in days: courts are warned on their watch streams when a measure
    /// in force comes within each (保全规定 art. 18).
    #[arg(
        long,
        env = "GATEWAY_EXPIRY_WARNING_DAYS",
        value_delimiter = ',',
        default_value = "30,7"
    )]
    pub expiry_warning_days: Vec<u32>,

    /// The longest, in milliseconds, the timers sleep between looking for the next deadline (they
    /// wake at each deadline's moment, and when measures change), and how often the case keeper
    /// sweeps.
    #[arg(long, env = "GATEWAY_TIMER_POLL_MS", default_value_t = 60_000)]
    pub timer_poll_ms: u64,

    /// How often, in seconds, the gateway vacuums and analyzes those of its tables changed
    /// enough since (autovacuum's thresholds, paced as autovacuum is); 0: never, where the
    /// database's autovacuum keeps them.
    #[arg(long, env = "GATEWAY_TABLE_UPKEEP_SECS", default_value_t = 10)]
    pub table_upkeep_secs: u64,

    /// When agencies must have answered (督办): comma-separated
    /// `<agency kind|*>.<measure kind|*>=<seconds>` rules, the most specific winning. A measure
    /// unanswered past its deadline is overdue (the court is told, the agency reminded), and
    /// escalated past twice it.
    #[arg(
        long,
        env = "GATEWAY_ANSWER_DEADLINES",
        default_value = crate::overdue::DEFAULT
    )]
    pub answer_deadlines: String,

    /// How often the audit chain takes in new entries, in milliseconds (each round chains
    /// every entry committed since, in id order). 0 leaves the chain unbuilt: only for measuring
    /// what chaining costs (the benchmark does); `hubctl audit verify` then finds nothing new
    /// chained.
    #[arg(long, env = "GATEWAY_AUDIT_CHAIN_MS", default_value_t = 250)]
    pub audit_chain_ms: u64,

    /// The operator token the dashboard (`/dashboard` on the HTTP port) asks for before it
    /// replays a dead letter (`Authorization: Bearer …`); unset, replay from the dashboard is off
    /// and the page only shows.
    #[arg(long, env = "GATEWAY_DASHBOARD_TOKEN", hide_env_values = true)]
    pub dashboard_token: Option<String>,

    /// How often the dashboard's figures are taken while a page is open, in milliseconds.
    #[arg(long, env = "GATEWAY_DASHBOARD_INTERVAL_MS", default_value_t = 2000)]
    pub dashboard_interval_ms: u64,

    /// First delay before reconnecting to RabbitMQ or PostgreSQL, in milliseconds; doubles up to
    /// ten seconds.
    #[arg(long, env = "GATEWAY_RECONNECT_MS", default_value_t = 200)]
    pub reconnect_ms: u64,
}

impl Config {
    /// Mutual TLS from the configured files, or the plain-text mode if asked for.
    pub fn transport(&self) -> Result<hub_trust::Transport, hub_trust::TrustError> {
        hub_trust::Transport::from_settings(
            "the gateway",
            self.tls_ca.clone(),
            self.tls_cert.clone(),
            self.tls_key.clone(),
            self.tls_deny_list.clone(),
            self.insecure_plaintext,
        )
    }

    /// The instruction deadline as a duration.
    pub fn instruction_deadline(&self) -> Duration {
        Duration::from_secs(self.instruction_deadline_secs)
    }

    /// The relay's idle poll interval.
    pub fn relay_poll(&self) -> Duration {
        Duration::from_millis(self.relay_poll_ms)
    }

    /// Reconnect back-off.
    pub fn reconnect_backoff(&self) -> hub_runtime::Backoff {
        hub_runtime::Backoff::new(
            Duration::from_millis(self.reconnect_ms),
            Duration::from_secs(10),
        )
    }
}
