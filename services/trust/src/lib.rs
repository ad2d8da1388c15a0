//! Trust between the hub's parties: a private PKI and mutual TLS on every gRPC hop.
//!
//! - [`Authority`] is the hub CA: it is created once (`hubctl pki init`) and issues the
//!   certificates of the gateway, each court, each agency's adapter and system, and operators
//!   (`hubctl pki issue`). Who a certificate speaks for is written in it as URI subject
//!   alternative names ([`Identity`]): `urn:enforcement:court:京0105` (percent-encoded) and so on.
//! - [`DenyList`] holds the serials of revoked certificates (`hubctl pki revoke`); servers read it
//!   again when the file changes.
//! - [`ServerTls`] and [`incoming`] put a tonic server behind mutual TLS: no client certificate,
//!   one of another CA, an expired or a revoked one, and the handshake fails. [`peer`] gives a
//!   handler the identities of the verified certificate its request came with.
//! - [`client_config`] is a tonic client's side: its own certificate, the hub CA as only root.
//! - [`Transport`] is what a service was configured with: TLS from files, or the plain-text
//!   mode, which exists only behind `HUB_INSECURE_PLAINTEXT=1` and warns on every start.
//!
//! rustls runs on ring only: the workspace has one crypto provider.

mod authority;
pub mod deny;
mod identity;
mod tls;

use std::{
    fs,
    path::{Path, PathBuf},
};

pub use authority::{Authority, Issued, LOCAL_HOSTS, Request};
pub use deny::DenyList;
pub use identity::{Identity, IdentityError};
pub use tls::{
    ServerTls, client_config, identities_of, incoming, peer, serial_of, serial_of_pem, serve,
};

/// File names inside a PKI directory.
pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
pub const DENY_LIST: &str = "revoked.txt";

/// The variable that switches every service to plain-text gRPC.
pub const INSECURE_PLAINTEXT: &str = "HUB_INSECURE_PLAINTEXT";

/// Why certificates or keys could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not PEM of the expected kind ({why})")]
    Pem { path: PathBuf, why: String },
    #[error("{0}: holds no certificate")]
    Empty(PathBuf),
    #[error("{0} exists already; a CA is created once")]
    Exists(PathBuf),
    #[error("a certificate must name at least one party, or hosts it serves")]
    NoIdentity,
    #[error("{0:?} is not a certificate serial (hex digits)")]
    BadSerial(String),
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("TLS: {0}")]
    Tls(rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(String),
    #[error("no randomness: {0}")]
    Random(String),
    #[error("{0} lock poisoned")]
    Poisoned(&'static str),
    #[error(
        "{who}: TLS is not configured ({missing}); give the CA, certificate and key, or set \
         {INSECURE_PLAINTEXT}=1 to run without TLS (nobody is then who they say)"
    )]
    NotConfigured { who: String, missing: String },
}

impl TrustError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn pem(path: &Path, why: impl std::fmt::Display) -> Self {
        Self::Pem {
            path: path.to_path_buf(),
            why: why.to_string(),
        }
    }
}

/// The files of one party's side of mutual TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The hub CA's certificate: the only root trusted.
    pub ca: PathBuf,
    /// This party's certificate (PEM, leaf first).
    pub cert: PathBuf,
    /// This party's private key (PKCS#8 PEM).
    pub key: PathBuf,
    /// The deny list a server checks client certificates against (servers only).
    pub deny: Option<PathBuf>,
}

impl TlsFiles {
    /// The files of a PKI directory as `hubctl pki` lays it out: `ca.pem`, `revoked.txt`, and
    /// `<stem>.pem` / `<stem>.key` for the party.
    pub fn in_dir(dir: &Path, stem: &str) -> Self {
        Self {
            ca: dir.join(CA_CERT),
            cert: with_suffix(&dir.join(stem), ".pem"),
            key: with_suffix(&dir.join(stem), ".key"),
            deny: Some(dir.join(DENY_LIST)),
        }
    }
}

/// How a service speaks gRPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Mutual TLS with these files.
    Tls(TlsFiles),
    /// Plain text: whoever calls is believed. Only with `HUB_INSECURE_PLAINTEXT=1`.
    Plaintext,
}

impl Transport {
    /// The server side of this transport, loaded: `None` in plain text.
    pub fn server(&self) -> Result<Option<ServerTls>, TrustError> {
        match self {
            Self::Tls(files) => ServerTls::load(files).map(Some),
            Self::Plaintext => Ok(None),
        }
    }

    /// The transport of `who` from its settings: TLS when the CA, certificate and key are all
    /// given; plain text only if `insecure_plaintext` (warned about, every time); otherwise an
    /// error saying what is missing.
    pub fn from_settings(
        who: &str,
        ca: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        deny: Option<PathBuf>,
        insecure_plaintext: bool,
    ) -> Result<Self, TrustError> {
        if insecure_plaintext {
            tracing::warn!(
                "{INSECURE_PLAINTEXT} is set: {who} speaks gRPC without TLS and believes whoever \
                 calls it; never run it so where anyone else can reach it"
            );
            return Ok(Self::Plaintext);
        }
        match (ca, cert, key) {
            (Some(ca), Some(cert), Some(key)) => Ok(Self::Tls(TlsFiles {
                ca,
                cert,
                key,
                deny,
            })),
            (ca, cert, key) => {
                let missing = [
                    ("CA", ca.is_none()),
                    ("certificate", cert.is_none()),
                    ("key", key.is_none()),
                ]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ");
                Err(TrustError::NotConfigured {
                    who: who.to_string(),
                    missing: format!("no {missing}"),
                })
            }
        }
    }

    /// A tonic endpoint for `addr` (`host:port`, or a URL whose scheme is replaced): `https`
    /// with this party's certificate under TLS, `http` in plain text.
    pub fn endpoint(
        &self,
        addr: &str,
        domain: Option<&str>,
    ) -> Result<tonic::transport::Endpoint, EndpointError> {
        let host = addr.split_once("://").map_or(addr, |(_, rest)| rest);
        match self {
            Self::Plaintext => Ok(tonic::transport::Endpoint::from_shared(format!(
                "http://{host}"
            ))?),
            Self::Tls(files) => Ok(tonic::transport::Endpoint::from_shared(format!(
                "https://{host}"
            ))?
            .tls_config(client_config(files, domain)?)?),
        }
    }
}

/// Why an endpoint could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("{0}")]
    Trust(#[from] TrustError),
    #[error("{0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("not an address: {0}")]
    Uri(#[from] tonic::codegen::http::uri::InvalidUri),
}

/// `path` with `suffix` appended to its file name (`court-京0105` → `court-京0105.pem`; unlike
/// `with_extension`, dots in the name are kept).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub(crate) fn read(path: &Path) -> Result<String, TrustError> {
    fs::read_to_string(path).map_err(|e| TrustError::io(path, e))
}

/// Writes a private key readable by its owner only.
pub(crate) fn write_private(path: &Path, contents: &str) -> Result<(), TrustError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).map_err(|e| TrustError::io(path, e))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| TrustError::io(path, e))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    /// A fresh directory under the system's temporary directory.
    pub(crate) fn scratch(what: &str) -> PathBuf {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("randomness");
        let dir =
            std::env::temp_dir().join(format!("hub-trust-{what}-{}", crate::deny::hex(&bytes)));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }
}
