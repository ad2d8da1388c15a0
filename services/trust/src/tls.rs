//! Mutual TLS for the hub's gRPC servers and clients, with rustls on ring.
//!
//! A server ([`ServerTls`]) demands a client certificate issued by the hub CA, valid now and not
//! on the deny list; anything else is refused during the handshake, before a request is read.
//! The connections it accepts are handed to tonic ([`incoming`]), whose `Request::peer_certs`
//! then gives the verified chain to [`peer`]. A client ([`client_config`]) presents its own
//! certificate and trusts only the hub CA.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use rustls::{
    DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject},
    server::{
        WebPkiClientVerifier,
        danger::{ClientCertVerified, ClientCertVerifier},
    },
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::{DenyList, Identity, TlsFiles, TrustError};

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections handshaken and not yet taken by the server.
const ACCEPT_BACKLOG: usize = 64;

/// The one crypto provider of the workspace.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server's side of mutual TLS.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
}

impl ServerTls {
    /// The server's certificate and key, the CA its clients must come from, and the deny list.
    pub fn load(files: &TlsFiles) -> Result<Self, TrustError> {
        let verifier = Arc::new(client_verifier(files)?);
        let (chain, key) = files.identity()?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TrustError::Tls)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(TrustError::Tls)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

impl TlsFiles {
    /// The certificate chain and key of this party.
    pub(crate) fn identity(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TrustError> {
        let cert = crate::read(&self.cert)?;
        let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TrustError::pem(&self.cert, e))?;
        if chain.is_empty() {
            return Err(TrustError::Empty(self.cert.clone()));
        }
        let key = crate::read(&self.key)?;
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
            .map_err(|e| TrustError::pem(&self.key, e))?;
        Ok((chain, key))
    }
}

/// The verifier of client certificates: issued by the CA in `files.ca`, valid now, not denied.
fn client_verifier(files: &TlsFiles) -> Result<Denying, TrustError> {
    let ca = crate::read(&files.ca)?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots
            .add(cert.map_err(|e| TrustError::pem(&files.ca, e))?)
            .map_err(TrustError::Tls)?;
    }
    if roots.is_empty() {
        return Err(TrustError::Empty(files.ca.clone()));
    }
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| TrustError::Verifier(e.to_string()))?;
    let deny = match &files.deny {
        Some(path) => DenyList::open(path)?,
        None => DenyList::none(),
    };
    Ok(Denying { inner, deny })
}

/// The CA's verification, then the deny list.
#[derive(Debug)]
struct Denying {
    inner: Arc<dyn ClientCertVerifier>,
    deny: DenyList,
}

impl ClientCertVerifier for Denying {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let serial = serial_of(end_entity).ok_or(rustls::Error::InvalidCertificate(
            rustls::CertificateError::BadEncoding,
        ))?;
        if self.deny.denies(&serial) {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Revoked,
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The serial of a certificate, lower-case hex.
pub fn serial_of(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(crate::deny::hex(cert.tbs_certificate.raw_serial()))
}

/// The serial of the first certificate in PEM text, lower-case hex.
pub fn serial_of_pem(pem: &str) -> Option<String> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
    serial_of(&der)
}

/// The identities a certificate names (URIs that are not the hub's are skipped).
pub fn identities_of(der: &[u8]) -> Vec<Identity> {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let Ok(Some(sans)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    sans.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Identity::from_uri(uri).ok(),
            _ => None,
        })
        .collect()
}

/// The identities of the verified client certificate a request came with; empty when the
/// connection is not TLS (the plain-text mode) or carries no certificate.
pub fn peer<T>(request: &tonic::Request<T>) -> Vec<Identity> {
    request
        .peer_certs()
        .and_then(|chain| chain.first().map(|leaf| identities_of(leaf)))
        .unwrap_or_default()
}

/// TLS connections accepted on `listener`, for `Server::serve_with_incoming_shutdown`.
/// Handshakes run concurrently, each with a time limit, so a slow or hostile client holds up
/// nobody; a refused handshake is logged with its reason and the peer's address. Stops
/// accepting when `shutdown` is cancelled.
pub fn incoming(
    listener: TcpListener,
    tls: ServerTls,
    shutdown: CancellationToken,
) -> ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(ACCEPT_BACKLOG);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => return,
                () = tx.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let (stream, addr) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let acceptor = tls.acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Some(stream) = handshake(acceptor, stream, addr).await {
                    let _ = tx.send(Ok(stream)).await;
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    addr: SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::info!(peer = %addr, error = %e, "TLS handshake refused");
            None
        }
        Err(_) => {
            tracing::info!(peer = %addr, "TLS handshake timed out");
            None
        }
    }
}

/// Serves `router` on `listener` until `shutdown`: over mutual TLS with `tls`, or in plain text
/// without (the mode `HUB_INSECURE_PLAINTEXT=1` chose, already warned about).
pub async fn serve(
    router: tonic::transport::server::Router,
    listener: TcpListener,
    tls: Option<ServerTls>,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let stopped = shutdown.clone().cancelled_owned();
    match tls {
        Some(tls) => {
            router
                .serve_with_incoming_shutdown(incoming(listener, tls, shutdown), stopped)
                .await
        }
        None => {
            router
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    stopped,
                )
                .await
        }
    }
}

/// A client's side of mutual TLS for tonic: its certificate, and the hub CA as the only root.
/// `domain` overrides the name the server's certificate must carry (default: the URL's host).
pub fn client_config(
    files: &TlsFiles,
    domain: Option<&str>,
) -> Result<tonic::transport::ClientTlsConfig, TrustError> {
    let ca = crate::read(&files.ca)?;
    let cert = crate::read(&files.cert)?;
    let key = crate::read(&files.key)?;
    let config = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca))
        .identity(tonic::transport::Identity::from_pem(cert, key));
    Ok(match domain {
        Some(domain) => config.domain_name(domain),
        None => config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Authority, Request};
    use hub_domain::CourtCode;
    use time::{Duration, OffsetDateTime};

    fn court() -> Identity {
        Identity::Court(CourtCode::parse("京0105").expect("court"))
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("pem")
    }

    fn verify(verifier: &Denying, pem: &str) -> Result<(), rustls::Error> {
        verifier
            .verify_client_cert(&der(pem), &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn only_valid_unrevoked_certificates_of_the_hub_ca_pass() {
        let dir = crate::tests::scratch("verify");
        let ca = Authority::create("test CA", 30).expect("ca");
        ca.save(&dir, &ca.key_pem()).expect("save");
        let server = ca
            .issue(&Request::new(vec![Identity::Gateway], 30).hosts(crate::LOCAL_HOSTS))
            .expect("server");
        server.save(&dir.join("gateway")).expect("save");
        let files = TlsFiles::in_dir(&dir, "gateway");
        let verifier = client_verifier(&files).expect("verifier");
        assert!(ServerTls::load(&files).is_ok());

        let good = ca.issue(&Request::new(vec![court()], 30)).expect("court");
        assert_eq!(verify(&verifier, &good.cert_pem), Ok(()));
        assert_eq!(identities_of(&der(&good.cert_pem)), vec![court()]);
        assert_eq!(serial_of(&der(&good.cert_pem)), Some(good.serial.clone()));

        let foreign = Authority::create("another CA", 30)
            .and_then(|other| other.issue(&Request::new(vec![court()], 30)))
            .expect("foreign");
        assert!(matches!(
            verify(&verifier, &foreign.cert_pem),
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ));

        let now = OffsetDateTime::now_utc();
        let mut stale = Request::new(vec![court()], 1);
        stale.not_before = now - Duration::days(10);
        stale.not_after = now - Duration::days(1);
        let expired = ca.issue(&stale).expect("expired");
        assert!(matches!(
            verify(&verifier, &expired.cert_pem),
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. }
            ))
        ));

        crate::deny::revoke(&dir.join(crate::DENY_LIST), &good.serial, "test").expect("revoke");
        assert_eq!(
            verify(&verifier, &good.cert_pem),
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Revoked
            ))
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_saved_ca_issues_certificates_its_clients_accept() {
        let dir = crate::tests::scratch("reload");
        let ca = Authority::create("test CA", 30).expect("ca");
        ca.save(&dir, &ca.key_pem()).expect("save");
        assert!(matches!(
            ca.save(&dir, &ca.key_pem()),
            Err(TrustError::Exists(_))
        ));
        let loaded = Authority::load(&dir).expect("load");
        let issued = loaded
            .issue(&Request::new(vec![Identity::Operator("ops".into())], 30))
            .expect("issue");
        issued.save(&dir.join("operator-ops")).expect("save");
        let verifier = client_verifier(&TlsFiles::in_dir(&dir, "operator-ops")).expect("verifier");
        assert_eq!(verify(&verifier, &issued.cert_pem), Ok(()));
        let _ = std::fs::remove_dir_all(dir);
    }
}
