//! Channels to the hub and to reference banks, over mutual TLS with the certificate of the
//! party hubctl acts as ([`Credentials`]), or in plain text against a hub run with
//! `HUB_INSECURE_PLAINTEXT=1`.
//!
//! hubctl connects eagerly, so that a hub that is not running is reported once, by address,
//! before any request is built, instead of as a transport error in the middle of a command.

use std::{path::PathBuf, time::Duration};

use hub_domain::CourtCode;
use hub_trust::{TlsFiles, Transport};
use tonic::transport::{Channel, Endpoint};

use crate::error::{Failure, Server};

/// How hubctl proves who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// No TLS: the hub runs with `HUB_INSECURE_PLAINTEXT=1`.
    Plaintext,
    /// One certificate (`--tls-ca`, `--tls-cert`, `--tls-key`) for every call.
    Files(TlsFiles),
    /// A PKI directory laid out by `hubctl pki` (`--pki`): court commands use the certificate
    /// `court-<code>`, everything else `operator`.
    Dir(PathBuf),
}

/// Whom hubctl acts as on a call.
#[derive(Clone, Copy, Debug)]
pub enum Party<'a> {
    /// A court (court commands).
    Court(&'a CourtCode),
    /// An operator (dead letters, health probes, a reference bank's administration).
    Operator,
}

impl Credentials {
    /// The transport for acting as `party`.
    fn transport(&self, party: Party<'_>) -> Result<Transport, Failure> {
        let files = match self {
            Self::Plaintext => return Ok(Transport::Plaintext),
            Self::Files(files) => files.clone(),
            Self::Dir(dir) => {
                let stem = match party {
                    Party::Court(code) => format!("court-{code}"),
                    Party::Operator => "operator".to_string(),
                };
                let files = TlsFiles::in_dir(dir, &stem);
                if !files.cert.exists() {
                    let issue = match party {
                        Party::Court(code) => format!("--court {code}"),
                        Party::Operator => "--operator <name>".to_string(),
                    };
                    return Err(Failure::Usage(format!(
                        "no certificate {} to act with; issue one with `hubctl pki issue --dir {} \
                         {issue}`, or name one with --tls-ca, --tls-cert and --tls-key",
                        files.cert.display(),
                        dir.display()
                    )));
                }
                files
            }
        };
        Ok(Transport::Tls(files))
    }
}

/// How long to wait for a TCP connection before saying the server cannot be reached.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connected channel to `server`, acting as `party`. Several addresses separated by commas
/// name instances of one service (gateways sharing one database): the first that answers is
/// taken, so a command goes on while one instance is down.
pub async fn channel(server: &Server, party: Party<'_>) -> Result<Channel, Failure> {
    let mut last = None;
    for address in addresses(server) {
        match connect(&address, party).await {
            Ok(channel) => return Ok(channel),
            Err(e @ Failure::Unreachable { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Failure::Usage(format!("no address of the {} given", server.role))))
}

/// Each address of `server`, in the order given.
fn addresses(server: &Server) -> Vec<Server> {
    server
        .url
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|url| Server {
            role: server.role,
            url: url.to_owned(),
            credentials: server.credentials.clone(),
        })
        .collect()
}

/// A channel to the one address of `server`.
async fn connect(server: &Server, party: Party<'_>) -> Result<Channel, Failure> {
    let endpoint = endpoint(server)?;
    let endpoint = match server.credentials.transport(party)? {
        Transport::Plaintext => endpoint,
        Transport::Tls(files) => {
            let tls = hub_trust::client_config(&files, None)
                .map_err(|e| Failure::Usage(e.to_string()))?;
            let url = endpoint
                .uri()
                .to_string()
                .replacen("http://", "https://", 1);
            Endpoint::from_shared(url)
                .and_then(|e| e.tls_config(tls))
                .map(|e| e.connect_timeout(CONNECT_TIMEOUT))
                .map_err(|e| Failure::Usage(format!("TLS to {server}: {e}")))?
        }
    };
    endpoint
        .connect()
        .await
        .map_err(|e| Failure::unreachable(server, &e))
}

/// The endpoint for `server`'s address; `http://` is assumed when no scheme is given.
fn endpoint(server: &Server) -> Result<Endpoint, Failure> {
    let url = if server.url.contains("://") {
        server.url.clone()
    } else {
        format!("http://{}", server.url)
    };
    Endpoint::from_shared(url)
        .map(|e| e.connect_timeout(CONNECT_TIMEOUT))
        .map_err(|_| {
            Failure::Usage(format!(
                "{:?} is not an address of the {}; write it like http://127.0.0.1:20051",
                server.url, server.role
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_scheme_is_taken_as_http() {
        let endpoint = endpoint(&Server::hub("127.0.0.1:20051")).expect("valid");
        assert_eq!(endpoint.uri().to_string(), "http://127.0.0.1:20051/");
    }

    #[test]
    fn a_malformed_address_is_a_usage_error() {
        let failure = endpoint(&Server::hub("http://exa mple")).expect_err("space in host");
        assert_eq!(failure.exit_code(), crate::error::exit::INVALID);
    }

    #[tokio::test]
    async fn the_first_of_several_gateways_that_answers_is_taken() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a listener");
        let live = listener.local_addr().expect("its address");
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let (_, health) = tonic_health::server::health_reporter();
        let accepting = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let urls = format!("http://{dead}, http://{live}");
        assert_eq!(addresses(&Server::hub(&urls)).len(), 2);
        channel(&Server::hub(&urls), Party::Operator)
            .await
            .expect("the second answers");
        accepting.abort();
    }

    #[tokio::test]
    async fn nothing_listening_means_the_hub_cannot_be_reached() {
        // Bind and drop a listener to find a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let failure = channel(&Server::hub(&url), Party::Operator)
            .await
            .expect_err("refused");
        assert_eq!(failure.exit_code(), crate::error::exit::UNAVAILABLE);
        assert!(
            failure
                .to_string()
                .starts_with(&format!("cannot reach the hub at {url}: is it running?")),
            "{failure}"
        );
    }
}
