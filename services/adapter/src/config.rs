//! Adapter configuration: defaults, overridden by `ADAPTER_*` environment variables, overridden
//! by command-line flags. One adapter serves one agency.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;
use hub_domain::{AgencyCode, AgencyId, AgencyKind};

/// Everything an adapter needs to run.
#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Kind of the agency served: `bank`, `land` or `police`.
    #[arg(long, env = "ADAPTER_AGENCY_KIND", value_parser = parse_kind)]
    pub agency_kind: AgencyKind,

    /// Codes of the agencies served, all of the one kind, e.g. `ICBC`, or `ICBC,CCB` for a
    /// processing centre serving several banks through one system.
    #[arg(
        long,
        env = "ADAPTER_AGENCY_CODES",
        value_parser = parse_code,
        value_delimiter = ',',
        required = true
    )]
    pub agency_codes: Vec<AgencyCode>,

    /// URL of the agency system's `AgencyBackend` gRPC service.
    #[arg(
        long,
        env = "ADAPTER_AGENCY_URL",
        default_value = "http://127.0.0.1:20061"
    )]
    pub agency_url: String,

    /// Address the `AgencyInbox` service listens on, for the agency's notices.
    #[arg(long, env = "ADAPTER_INBOX_LISTEN", default_value = "127.0.0.1:20071")]
    pub inbox_listen: SocketAddr,

    /// The gateway's Ed25519 public key (64 hex digits): instructions that are unsigned or do not
    /// verify with it are refused and dead-lettered. Unset: instructions are not verified.
    #[arg(long, env = "ADAPTER_GATEWAY_PUBLIC_KEY")]
    pub gateway_public_key: Option<String>,

    /// Seed of the Ed25519 key every report is signed with (64 hex digits; `hubctl keygen`).
    /// The gateway verifies it against the agency's keys in its registry. Unset: unsigned, which
    /// a gateway holding a key of the agency refuses.
    #[arg(long, env = "ADAPTER_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,

    /// The id the signing key's public half is registered under at the hub.
    #[arg(long, env = "ADAPTER_SIGNING_KEY_ID", default_value = "adapter-1")]
    pub signing_key_id: String,

    /// The hub CA's certificate (PEM): the agency system must present a certificate it issued,
    /// both when the adapter calls it and when it calls the inbox.
    #[arg(long, env = "ADAPTER_TLS_CA", value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,

    /// The adapter's certificate (PEM), naming the agencies it serves.
    #[arg(long, env = "ADAPTER_TLS_CERT", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,

    /// The adapter's private key (PEM).
    #[arg(long, env = "ADAPTER_TLS_KEY", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,

    /// The deny list the inbox checks callers against, read again whenever it changes.
    #[arg(long, env = "ADAPTER_TLS_DENY_LIST", value_name = "FILE")]
    pub tls_deny_list: Option<PathBuf>,

    /// Plain-text gRPC to the agency system and on the inbox. Development only; warned about at
    /// every start.
    #[arg(long, env = "HUB_INSECURE_PLAINTEXT")]
    pub insecure_plaintext: bool,

    /// Address of the HTTP health endpoint (`/healthz`, `/readyz`); none if unset.
    #[arg(long, env = "ADAPTER_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,

    /// AMQP URL of RabbitMQ, vhost included; for a cluster, one URL per node separated by commas
    /// (a session connects to the next node that answers).
    #[arg(
        long,
        env = "ADAPTER_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    pub amqp_url: String,

    /// Most unacknowledged instructions held at once.
    #[arg(long, env = "ADAPTER_PREFETCH", default_value_t = 64)]
    pub prefetch: u16,

    /// Instructions processed in parallel; instructions on one asset always share a lane, so
    /// they reach the agency in queue order.
    #[arg(long, env = "ADAPTER_LANES", default_value_t = 16)]
    pub lanes: usize,

    /// Deadline of each call to the agency system, in milliseconds.
    #[arg(long, env = "ADAPTER_CALL_TIMEOUT_MS", default_value_t = 10_000)]
    pub call_timeout_ms: u64,

    /// Attempts per instruction before it ends FAILED and goes to the dead-letter queue.
    #[arg(long, env = "ADAPTER_RETRY_ATTEMPTS", default_value_t = 8)]
    pub retry_attempts: u32,

    /// First retry delay in milliseconds; doubles per attempt up to the maximum.
    #[arg(long, env = "ADAPTER_RETRY_INITIAL_MS", default_value_t = 500)]
    pub retry_initial_ms: u64,

    /// Longest retry delay in milliseconds.
    #[arg(long, env = "ADAPTER_RETRY_MAX_MS", default_value_t = 60_000)]
    pub retry_max_ms: u64,

    /// How often a message is redelivered before the broker dead-letters it.
    #[arg(long, env = "ADAPTER_DELIVERY_LIMIT", default_value_t = 10)]
    pub delivery_limit: u32,

    /// First delay before reconnecting to RabbitMQ, in milliseconds; doubles up to ten seconds.
    #[arg(long, env = "ADAPTER_RECONNECT_MS", default_value_t = 200)]
    pub reconnect_ms: u64,
}

impl Config {
    /// The key reports are signed with, if one is configured.
    pub fn signer(&self) -> anyhow::Result<Option<hub_bus::signing::KeyedSigner>> {
        let signer = self
            .signing_key
            .as_deref()
            .map(|seed| hub_bus::signing::KeyedSigner::from_hex(&self.signing_key_id, seed))
            .transpose()
            .map_err(|e| anyhow::anyhow!("ADAPTER_SIGNING_KEY: {e}"))?;
        if signer.is_none() {
            tracing::warn!("no signing key: reports go out unsigned");
        }
        Ok(signer)
    }

    /// Mutual TLS from the configured files, or the plain-text mode if asked for.
    pub fn transport(&self) -> Result<hub_trust::Transport, hub_trust::TrustError> {
        hub_trust::Transport::from_settings(
            "the adapter",
            self.tls_ca.clone(),
            self.tls_cert.clone(),
            self.tls_key.clone(),
            self.tls_deny_list.clone(),
            self.insecure_plaintext,
        )
    }

    /// The agencies served.
    pub fn agencies(&self) -> Vec<AgencyId> {
        self.agency_codes
            .iter()
            .map(|code| AgencyId {
                kind: self.agency_kind,
                code: code.clone(),
            })
            .collect()
    }

    /// Deadline of one agency call.
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }

    /// Back-off between attempts at one instruction.
    pub fn retry_backoff(&self) -> hub_runtime::Backoff {
        hub_runtime::Backoff::new(
            Duration::from_millis(self.retry_initial_ms),
            Duration::from_millis(self.retry_max_ms),
        )
    }

    /// Back-off between reconnects.
    pub fn reconnect_backoff(&self) -> hub_runtime::Backoff {
        hub_runtime::Backoff::new(
            Duration::from_millis(self.reconnect_ms),
            Duration::from_secs(10),
        )
    }
}

fn parse_kind(s: &str) -> Result<AgencyKind, String> {
    AgencyKind::parse(s).map_err(|e| e.to_string())
}

fn parse_code(s: &str) -> Result<AgencyCode, String> {
    AgencyCode::parse(s).map_err(|e| e.to_string())
}
