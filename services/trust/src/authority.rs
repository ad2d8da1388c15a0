//! The hub's certificate authority: creates the CA and issues the certificates of every party.
//!
//! Keys are ECDSA P-256 (fast to make, so every test can have a PKI of its own). A certificate
//! names its holder in URI subject alternative names ([`Identity`]); a server's certificate also
//! carries the DNS names and addresses clients reach it by. Serials are 16 random bytes, written
//! as lower-case hex: what the deny list holds.

use std::{fs, net::IpAddr, path::Path};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::{Identity, TrustError};

/// A CA certificate and its key, able to issue certificates.
pub struct Authority {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate issued, with its private key.
#[derive(Clone)]
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PKCS#8 PEM.
    pub key_pem: String,
    /// Its serial, lower-case hex (what `hubctl pki revoke` puts on the deny list).
    pub serial: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        write!(f, "Issued(serial {})", self.serial)
    }
}

/// What a certificate is for.
#[derive(Clone, Debug)]
pub struct Request {
    /// Who it names (at least one).
    pub identities: Vec<Identity>,
    /// DNS names and IP addresses a server is reached by (none for a client only).
    pub hosts: Vec<String>,
    /// Valid from.
    pub not_before: OffsetDateTime,
    /// Valid until.
    pub not_after: OffsetDateTime,
}

impl Request {
    /// A certificate for `identities`, valid from an hour ago for `days`.
    pub fn new(identities: Vec<Identity>, days: i64) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            identities,
            hosts: Vec::new(),
            not_before: now - Duration::HOUR,
            not_after: now + Duration::days(days),
        }
    }

    /// Adds the names a server is reached by.
    pub fn hosts(mut self, hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.hosts.extend(hosts.into_iter().map(Into::into));
        self
    }
}

/// The names every local server answers to.
pub const LOCAL_HOSTS: [&str; 2] = ["localhost", "127.0.0.1"];

impl Authority {
    /// A new CA named `name`, valid for `days`.
    pub fn create(name: &str, days: i64) -> Result<Self, TrustError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Enforcement hub");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::HOUR;
        params.not_after = now + Duration::days(days);
        params.serial_number = Some(serial()?);
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA from its certificate and key (PEM).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TrustError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Self {
            cert_pem: cert_pem.to_string(),
            issuer,
        })
    }

    /// The CA from the files `ca.pem` and `ca.key` in `dir`.
    pub fn load(dir: &Path) -> Result<Self, TrustError> {
        let cert = crate::read(&dir.join(crate::CA_CERT))?;
        let key = crate::read(&dir.join(crate::CA_KEY))?;
        Self::from_pem(&cert, &key)
    }

    /// Writes `ca.pem` and `ca.key` (owner-only) into `dir`, and an empty deny list; refuses to
    /// overwrite an existing CA.
    pub fn save(&self, dir: &Path, key_pem: &str) -> Result<(), TrustError> {
        fs::create_dir_all(dir).map_err(|e| TrustError::io(dir, e))?;
        let cert = dir.join(crate::CA_CERT);
        if cert.exists() {
            return Err(TrustError::Exists(cert));
        }
        crate::write_private(&dir.join(crate::CA_KEY), key_pem)?;
        fs::write(&cert, &self.cert_pem).map_err(|e| TrustError::io(&cert, e))?;
        let deny = dir.join(crate::DENY_LIST);
        if !deny.exists() {
            fs::write(&deny, crate::deny::HEADER).map_err(|e| TrustError::io(&deny, e))?;
        }
        Ok(())
    }

    /// The CA's key, PEM (for [`Authority::save`]).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// The CA certificate, PEM: what every party trusts.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a certificate for `request`, with a key of its own.
    pub fn issue(&self, request: &Request) -> Result<Issued, TrustError> {
        // A certificate speaks for a party, or (with no party) is a server's for its hosts
        // alone, such as the broker's TLS listener: then it names no party a hub service
        // would believe.
        let common_name = match (request.identities.first(), request.hosts.first()) {
            (Some(first), _) => first.to_string(),
            (None, Some(host)) => host.clone(),
            (None, None) => return Err(TrustError::NoIdentity),
        };
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Enforcement hub");
        for identity in &request.identities {
            params
                .subject_alt_names
                .push(SanType::URI(identity.uri().try_into()?));
        }
        for host in &request.hosts {
            params.subject_alt_names.push(match host.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(host.clone().try_into()?),
            });
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if !request.hosts.is_empty() {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        params.not_before = request.not_before;
        params.not_after = request.not_after;
        params.use_authority_key_identifier_extension = true;
        let serial = serial()?;
        let hex = crate::deny::hex(&serial.to_bytes());
        params.serial_number = Some(serial);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial: hex,
        })
    }
}

/// 16 random bytes, the first below 0x80 so the serial stays positive in DER.
fn serial() -> Result<SerialNumber, TrustError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| TrustError::Random(e.to_string()))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x10;
    Ok(SerialNumber::from_slice(&bytes))
}

impl Issued {
    /// Writes `<stem>.pem` and `<stem>.key` (owner-only).
    pub fn save(&self, stem: &Path) -> Result<(), TrustError> {
        if let Some(dir) = stem.parent() {
            fs::create_dir_all(dir).map_err(|e| TrustError::io(dir, e))?;
        }
        let cert = crate::with_suffix(stem, ".pem");
        crate::write_private(&crate::with_suffix(stem, ".key"), &self.key_pem)?;
        fs::write(&cert, &self.cert_pem).map_err(|e| TrustError::io(&cert, e))
    }
}
