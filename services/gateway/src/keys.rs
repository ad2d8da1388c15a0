//! The operators' calls on the registry of agency signing keys (`Ops.AddAgencyKey`,
//! `ListAgencyKeys`, `RetireAgencyKey`) and of enrolled agencies (`Ops.EnrolAgency`,
//! `SetAgencySuspended`): checked here, stored by [`crate::store::keys`], used by
//! [`crate::trust`] on every report.
//!
//! Rotation: the agency makes a new key; the operator adds it (valid from now, or from when the
//! agency will switch); the agency's adapter and system move to it; the operator retires the old
//! key at the end of an overlap window long enough for reports in flight signed with it. Until
//! then both verify; from then on only the new one does.

use enforcement_proto::{
    convert::{instant, timestamp, timestamp_opt},
    v1 as pb,
};
use hub_bus::signing::{Verifier, from_hex, to_hex};
use hub_domain::{AgencyCode, AgencyKind, Clock};
use time::OffsetDateTime;
use tonic::Status;

use crate::{
    store::{
        Store,
        keys::{AgencyKeyRow, EnrolmentRow, KeyAdded},
    },
    validate::invalid,
};

/// Registers a key, or finds it registered exactly so.
pub async fn add(
    store: &Store,
    clock: &Clock,
    key: pb::AgencyKey,
) -> Result<pb::AgencyKey, Status> {
    let (kind, code) = agency(&key.agency_kind, &key.agency_code)?;
    let key_id = key_id(&key.key_id)?;
    let public_key = from_hex(&key.public_key)
        .filter(|_| Verifier::from_hex(&key.public_key).is_ok())
        .ok_or_else(|| invalid("public_key", "must be an Ed25519 public key, 64 hex digits"))?;
    let now = clock.now();
    let valid_from = match &key.valid_from {
        Some(t) => instant(t).ok_or_else(|| invalid("valid_from", "is not a valid time"))?,
        None => now,
    };
    let row = AgencyKeyRow {
        agency_kind: kind.as_str().to_string(),
        agency_code: code.to_string(),
        key_id,
        public_key,
        valid_from,
        valid_until: None,
    };
    match store.add_key(&row, now).await.map_err(crate::Error::from)? {
        KeyAdded::Recorded(stored) => {
            tracing::info!(agency = %format!("{kind}.{code}"), key = %stored.key_id, "agency key registered");
            Ok(to_proto(&stored))
        }
        KeyAdded::Conflict(stored) => Err(Status::already_exists(format!(
            "key_id {:?} of {kind}.{code} is registered with another public key; choose a new key id",
            stored.key_id
        ))),
    }
}

/// The keys of one agency, or of all.
pub async fn list(
    store: &Store,
    request: pb::ListAgencyKeysRequest,
) -> Result<pb::ListAgencyKeysResponse, Status> {
    let rows = if request.agency_kind.is_empty() && request.agency_code.is_empty() {
        store.keys(None).await
    } else {
        let (kind, code) = agency(&request.agency_kind, &request.agency_code)?;
        store.keys(Some((kind.as_str(), code.as_str()))).await
    }
    .map_err(crate::Error::from)?;
    Ok(pb::ListAgencyKeysResponse {
        keys: rows.iter().map(to_proto).collect(),
    })
}

/// Ends a key's validity at the time asked (now if none).
pub async fn retire(
    store: &Store,
    clock: &Clock,
    request: pb::RetireAgencyKeyRequest,
) -> Result<pb::AgencyKey, Status> {
    let (kind, code) = agency(&request.agency_kind, &request.agency_code)?;
    let key_id = key_id(&request.key_id)?;
    let at: OffsetDateTime = match &request.at {
        Some(t) => instant(t).ok_or_else(|| invalid("at", "is not a valid time"))?,
        None => clock.now(),
    };
    let retired = store
        .retire_key(kind.as_str(), code.as_str(), &key_id, at)
        .await
        .map_err(crate::Error::from)?
        .ok_or_else(|| Status::not_found(format!("no key {key_id:?} of {kind}.{code}")))?;
    tracing::info!(agency = %format!("{kind}.{code}"), key = %key_id, until = %at, "agency key retired");
    Ok(to_proto(&retired))
}

fn agency(kind: &str, code: &str) -> Result<(AgencyKind, AgencyCode), Status> {
    let kind = AgencyKind::parse(kind).map_err(|e| invalid("agency_kind", e))?;
    let code = AgencyCode::parse(code).map_err(|e| invalid("agency_code", e))?;
    Ok((kind, code))
}

/// Every key registered for `agencies` (kind, code), retired ones included.
pub async fn of(
    store: &Store,
    agencies: &[(String, String)],
) -> Result<Vec<pb::AgencyKey>, Status> {
    let rows = store.keys_of(agencies).await.map_err(crate::Error::from)?;
    Ok(rows.iter().map(to_proto).collect())
}

/// Enrols an agency as publishing as its broker user.
pub async fn enrol(
    store: &Store,
    clock: &Clock,
    request: pb::EnrolAgencyRequest,
) -> Result<pb::AgencyEnrolment, Status> {
    let (kind, code) = agency(&request.agency_kind, &request.agency_code)?;
    let user = request.broker_user.as_str();
    if user.is_empty() || user.len() > 255 || user.chars().any(char::is_whitespace) {
        return Err(invalid(
            "broker_user",
            "must be 1 to 255 characters without spaces",
        ));
    }
    let row = store
        .enrol(kind.as_str(), &code.to_string(), user, clock.now())
        .await
        .map_err(crate::Error::from)?;
    tracing::info!(agency = %format!("{kind}.{code}"), broker_user = %user, "agency enrolled");
    Ok(enrolment(&row))
}

/// Records an enrolled agency suspended or resumed.
pub async fn set_suspended(
    store: &Store,
    clock: &Clock,
    request: pb::SetAgencySuspendedRequest,
) -> Result<pb::AgencyEnrolment, Status> {
    let (kind, code) = agency(&request.agency_kind, &request.agency_code)?;
    let row = store
        .set_suspended(
            kind.as_str(),
            &code.to_string(),
            request.suspended,
            clock.now(),
        )
        .await
        .map_err(crate::Error::from)?
        .ok_or_else(|| Status::not_found(format!("{kind}.{code} is not enrolled")))?;
    tracing::warn!(
        agency = %format!("{kind}.{code}"),
        suspended = request.suspended,
        "agency {}",
        if request.suspended { "suspended" } else { "resumed" }
    );
    Ok(enrolment(&row))
}

fn enrolment(row: &EnrolmentRow) -> pb::AgencyEnrolment {
    pb::AgencyEnrolment {
        agency_kind: row.agency_kind.clone(),
        agency_code: row.agency_code.clone(),
        broker_user: row.broker_user.clone(),
        enrolled_at: Some(timestamp(row.enrolled_at)),
        suspended_at: timestamp_opt(row.suspended_at),
    }
}

fn key_id(raw: &str) -> Result<String, Status> {
    let ok = (1..=64).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(invalid(
            "key_id",
            "must be 1 to 64 characters from A-Z a-z 0-9 . _ -",
        ))
    }
}

fn to_proto(row: &AgencyKeyRow) -> pb::AgencyKey {
    pb::AgencyKey {
        key_id: row.key_id.clone(),
        agency_kind: row.agency_kind.clone(),
        agency_code: row.agency_code.clone(),
        public_key: to_hex(&row.public_key),
        valid_from: Some(timestamp(row.valid_from)),
        valid_until: timestamp_opt(row.valid_until),
    }
}
