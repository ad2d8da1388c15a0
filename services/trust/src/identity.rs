//! Who a certificate says its holder is: one URI subject alternative name per identity.
//!
//! | party | URI |
//! |---|---|
//! | the gateway | `urn:enforcement:gateway` |
//! | a court | `urn:enforcement:court:<court code>` (e.g. `京0105`, percent-encoded as UTF-8) |
//! | an agency's adapter | `urn:enforcement:agency:<kind>:<code>` (e.g. `bank:ICBC`) |
//! | an agency's own system | `urn:enforcement:agency-system:<kind>:<code>` |
//! | an operator | `urn:enforcement:operator:<name>` |
//!
//! A certificate may carry several: an adapter serving many banks (a processing centre) names
//! each of them. URIs are ASCII (IA5String), so court codes and names are percent-encoded.

use std::fmt;

use hub_domain::{AgencyCode, AgencyId, AgencyKind, CourtCode};

/// Prefix of every identity URI the hub issues.
const PREFIX: &str = "urn:enforcement:";

/// One party a certificate speaks for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The hub's gateway (server of courts and operators, client of nothing but the broker).
    Gateway,
    /// A court, by its court code.
    Court(CourtCode),
    /// The adapter of an agency: speaks for the agency towards the hub.
    Adapter(AgencyId),
    /// An agency's own system (`AgencyBackend`), called by its adapter and calling its inbox.
    System(AgencyId),
    /// An operator: may use the Ops service (dead letters, replay, discard).
    Operator(String),
}

/// A URI that is not one of the hub's identities.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{uri:?} is not an identity of the hub ({why})")]
pub struct IdentityError {
    uri: String,
    why: String,
}

impl Identity {
    /// The URI written into the certificate.
    pub fn uri(&self) -> String {
        match self {
            Self::Gateway => format!("{PREFIX}gateway"),
            Self::Court(court) => format!("{PREFIX}court:{}", encode(court.as_str())),
            Self::Adapter(agency) => {
                format!(
                    "{PREFIX}agency:{}:{}",
                    agency.kind,
                    encode(agency.code.as_str())
                )
            }
            Self::System(agency) => format!(
                "{PREFIX}agency-system:{}:{}",
                agency.kind,
                encode(agency.code.as_str())
            ),
            Self::Operator(name) => format!("{PREFIX}operator:{}", encode(name)),
        }
    }

    /// Reads an identity URI back.
    pub fn from_uri(uri: &str) -> Result<Self, IdentityError> {
        let fail = |why: &str| IdentityError {
            uri: uri.to_string(),
            why: why.to_string(),
        };
        let rest = uri
            .strip_prefix(PREFIX)
            .ok_or_else(|| fail("it does not start with urn:enforcement:"))?;
        let (role, value) = rest.split_once(':').unwrap_or((rest, ""));
        let value = decode(value).ok_or_else(|| fail("bad percent-encoding"))?;
        let agency = |value: &str| -> Result<AgencyId, IdentityError> {
            let (kind, code) = value
                .split_once(':')
                .ok_or_else(|| fail("an agency is <kind>:<code>"))?;
            Ok(AgencyId::new(
                AgencyKind::parse(kind).map_err(|e| fail(&e.to_string()))?,
                AgencyCode::parse(code).map_err(|e| fail(&e.to_string()))?,
            ))
        };
        match role {
            "gateway" if value.is_empty() => Ok(Self::Gateway),
            "court" => CourtCode::parse(&value)
                .map(Self::Court)
                .map_err(|e| fail(&e.to_string())),
            "agency" => agency(&value).map(Self::Adapter),
            "agency-system" => agency(&value).map(Self::System),
            "operator" if !value.trim().is_empty() => Ok(Self::Operator(value)),
            _ => Err(fail("unknown role")),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gateway => write!(f, "the gateway"),
            Self::Court(court) => write!(f, "court {court}"),
            Self::Adapter(agency) => write!(f, "the adapter of {agency}"),
            Self::System(agency) => write!(f, "the system of {agency}"),
            Self::Operator(name) => write!(f, "operator {name}"),
        }
    }
}

/// Percent-encodes everything but unreserved ASCII (RFC 3986), so that any court code or name
/// fits an IA5String and `:` never appears inside a value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The inverse of [`encode`] (a `:` left unencoded is kept: it separates an agency's parts).
fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(identity: Identity) {
        let uri = identity.uri();
        assert!(uri.is_ascii(), "{uri}");
        assert_eq!(Identity::from_uri(&uri), Ok(identity));
    }

    #[test]
    fn every_identity_survives_its_uri() {
        round_trip(Identity::Gateway);
        round_trip(Identity::Court(CourtCode::parse("京0105").expect("court")));
        round_trip(Identity::Court(CourtCode::parse("最高法").expect("court")));
        round_trip(Identity::Adapter(
            AgencyId::parse("bank.ICBC").expect("agency"),
        ));
        round_trip(Identity::System(
            AgencyId::parse("police.BJ-PSB").expect("agency"),
        ));
        round_trip(Identity::Operator("王 运维".into()));
    }

    #[test]
    fn a_court_uri_is_its_code_percent_encoded() {
        let court = Identity::Court(CourtCode::parse("京0105").expect("court"));
        assert_eq!(court.uri(), "urn:enforcement:court:%E4%BA%AC0105");
    }

    #[test]
    fn foreign_and_malformed_uris_are_not_identities() {
        for uri in [
            "https://example.com",
            "urn:enforcement:court:",
            "urn:enforcement:court:%E4%BA",
            "urn:enforcement:agency:bank",
            "urn:enforcement:agency:ship:X",
            "urn:enforcement:root",
            "urn:enforcement:operator:",
        ] {
            assert!(Identity::from_uri(uri).is_err(), "{uri}");
        }
    }
}
