//! A hub CA of the test's own, in a directory of its own, so every test runs over mutual TLS
//! with certificates nobody else trusts, and can revoke one without touching anyone else.
//!
//! Keys are ECDSA P-256: issuing one takes well under a millisecond.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Mutex,
};

use anyhow::Context;
use hub_domain::{AgencyId, CourtCode};
use hub_trust::{Authority, Identity, Issued, Request, TlsFiles};
use time::{Duration, OffsetDateTime};

/// Days the test certificates are valid.
const DAYS: i64 = 2;

/// A test's PKI: its CA, the certificates issued so far, the deny list.
pub struct TestPki {
    dir: PathBuf,
    ca: Authority,
    /// Files by stem, issued once.
    issued: Mutex<HashMap<String, TlsFiles>>,
}

impl TestPki {
    /// A new CA in a new directory under the system's temporary directory.
    pub fn create() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("hub-test-pki-{}", uuid::Uuid::now_v7()));
        let ca = Authority::create("Test hub CA", DAYS)?;
        ca.save(&dir, &ca.key_pem())?;
        Ok(Self {
            dir,
            ca,
            issued: Mutex::default(),
        })
    }

    /// The directory (`ca.pem`, `revoked.txt`, `<stem>.pem`, `<stem>.key`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA.
    pub fn authority(&self) -> &Authority {
        &self.ca
    }

    /// The files of `stem`, issued for `identities` (and `hosts`) the first time.
    pub fn files(
        &self,
        stem: &str,
        identities: Vec<Identity>,
        hosts: &[&str],
    ) -> anyhow::Result<TlsFiles> {
        let mut issued = self
            .issued
            .lock()
            .map_err(|_| anyhow::anyhow!("test PKI lock poisoned"))?;
        if let Some(files) = issued.get(stem) {
            return Ok(files.clone());
        }
        let cert = self
            .ca
            .issue(&Request::new(identities, DAYS).hosts(hosts.iter().copied()))?;
        let files = self.save(stem, &cert)?;
        issued.insert(stem.to_string(), files.clone());
        Ok(files)
    }

    /// Writes `cert` as `<stem>.pem` / `<stem>.key` and returns its files.
    pub fn save(&self, stem: &str, cert: &Issued) -> anyhow::Result<TlsFiles> {
        cert.save(&self.dir.join(stem))?;
        Ok(TlsFiles::in_dir(&self.dir, stem))
    }

    /// The gateway's certificate (a server on loopback).
    pub fn gateway(&self) -> anyhow::Result<TlsFiles> {
        self.files("gateway", vec![Identity::Gateway], &hub_trust::LOCAL_HOSTS)
    }

    /// A court's certificate.
    pub fn court(&self, code: &str) -> anyhow::Result<TlsFiles> {
        let court = CourtCode::parse(code).with_context(|| format!("court {code:?}"))?;
        let stem = format!("court-{}", court.as_str());
        self.files(&stem, vec![Identity::Court(court)], &[])
    }

    /// An operator's certificate.
    pub fn operator(&self) -> anyhow::Result<TlsFiles> {
        self.files("operator", vec![Identity::Operator("test".into())], &[])
    }

    /// The certificate of the adapter serving `agencies` (also a server: its inbox).
    pub fn adapter(&self, stem: &str, agencies: &[AgencyId]) -> anyhow::Result<TlsFiles> {
        let identities = agencies.iter().cloned().map(Identity::Adapter).collect();
        self.files(stem, identities, &hub_trust::LOCAL_HOSTS)
    }

    /// The certificate of the agency system serving `agencies` (a server, and the client of
    /// its adapter's inbox).
    pub fn system(&self, stem: &str, agencies: &[AgencyId]) -> anyhow::Result<TlsFiles> {
        let identities = agencies.iter().cloned().map(Identity::System).collect();
        self.files(stem, identities, &hub_trust::LOCAL_HOSTS)
    }

    /// A certificate for `identities` that expired yesterday.
    pub fn expired(&self, stem: &str, identities: Vec<Identity>) -> anyhow::Result<TlsFiles> {
        let now = OffsetDateTime::now_utc();
        let mut request = Request::new(identities, 1);
        request.not_before = now - Duration::days(10);
        request.not_after = now - Duration::days(1);
        let cert = self.ca.issue(&request)?;
        self.save(stem, &cert)
    }

    /// A certificate for `identities` from another CA, kept beside this CA's files.
    pub fn foreign(&self, stem: &str, identities: Vec<Identity>) -> anyhow::Result<TlsFiles> {
        let other = Authority::create("Another CA", DAYS)?;
        let cert = other.issue(&Request::new(identities, DAYS))?;
        self.save(stem, &cert)
    }

    /// Puts the certificate in `files` on the deny list.
    pub fn revoke(&self, files: &TlsFiles) -> anyhow::Result<()> {
        let pem = std::fs::read_to_string(&files.cert)?;
        let serial = hub_trust::serial_of_pem(&pem).context("a certificate and its serial")?;
        hub_trust::deny::revoke(
            &self.dir.join(hub_trust::DENY_LIST),
            &serial,
            "revoked by test",
        )?;
        Ok(())
    }

    /// Removes the directory.
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
