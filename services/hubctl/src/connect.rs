//! Channels to the hub and to reference banks.
//!
//! hubctl connects eagerly, so that a hub that is not running is reported once, by address,
//! before any request is built, instead of as a transport error in the middle of a command.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::error::{Failure, Server};

/// How long to wait for a TCP connection before saying the server cannot be reached.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connected channel to `server`.
pub async fn channel(server: &Server) -> Result<Channel, Failure> {
    endpoint(server)?
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
    async fn nothing_listening_means_the_hub_cannot_be_reached() {
        // Bind and drop a listener to find a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let failure = channel(&Server::hub(&url)).await.expect_err("refused");
        assert_eq!(failure.exit_code(), crate::error::exit::UNAVAILABLE);
        assert!(
            failure
                .to_string()
                .starts_with(&format!("cannot reach the hub at {url}: is it running?")),
            "{failure}"
        );
    }
}
