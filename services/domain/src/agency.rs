//! Agency identities and the broker names derived from them.
//!
//! Each agency has its own queue and routing key on the broker, so its code must be safe in AMQP
//! routing keys (where `.` separates words and `*`/`#` are wildcards) and in queue names.

use std::fmt;
use std::str::FromStr;

use crate::{AgencyKind, IdentifierError};

/// Longest agency code: short enough to keep queue names readable, long enough for any bank or
/// registry abbreviation.
const MAX_CODE_CHARS: usize = 32;

/// An agency's code within its kind, e.g. `ICBC`: 1 to 32 characters of `A-Z a-z 0-9 _ -`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgencyCode(String);

impl AgencyCode {
    /// Parses an agency code (surrounding whitespace is ignored; case is kept).
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let code = input.trim();
        if let Some(found) = code
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(IdentifierError::AgencyCodeCharacter { found });
        }
        if code.is_empty() || code.len() > MAX_CODE_CHARS {
            return Err(IdentifierError::AgencyCodeLength { found: code.len() });
        }
        Ok(Self(code.to_owned()))
    }

    /// The code as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AgencyCode {
    type Err = IdentifierError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl fmt::Display for AgencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A particular agency: its kind and its code, written `kind.code` (e.g. `bank.ICBC`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AgencyId {
    /// Which kind of agency, deciding the measures it may receive.
    pub kind: AgencyKind,
    /// Which agency of that kind.
    pub code: AgencyCode,
}

impl AgencyId {
    /// An agency id from its parts.
    pub fn new(kind: AgencyKind, code: AgencyCode) -> Self {
        Self { kind, code }
    }

    /// Parses `kind.code`, e.g. `bank.ICBC` or `police.BJ-GA`.
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let text = input.trim();
        let (kind, code) = text
            .split_once('.')
            .ok_or_else(|| IdentifierError::AgencyIdFormat {
                found: text.to_owned(),
            })?;
        Ok(Self {
            kind: AgencyKind::parse(kind)?,
            code: AgencyCode::parse(code)?,
        })
    }

    /// The AMQP routing key for measures addressed to this agency: `{kind}.{code}`, so that a
    /// binding on `bank.*` can observe every bank.
    pub fn routing_key(&self) -> String {
        format!("{}.{}", self.kind, self.code)
    }

    /// The name of the agency's own queue: `agency.{kind}.{code}`.
    pub fn queue_name(&self) -> String {
        format!("agency.{}.{}", self.kind, self.code)
    }
}

impl FromStr for AgencyId {
    type Err = IdentifierError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl fmt::Display for AgencyId {
    /// The routing key, `kind.code`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UnknownNameError;

    #[test]
    fn parses_codes_safe_for_the_broker() {
        assert_eq!(
            AgencyCode::parse("ICBC")
                .expect("valid test input")
                .as_str(),
            "ICBC"
        );
        assert_eq!(
            AgencyCode::parse(" bj_ga-01 ")
                .expect("valid test input")
                .to_string(),
            "bj_ga-01"
        );
        let longest = "A".repeat(32);
        assert_eq!(
            AgencyCode::parse(&longest)
                .expect("valid test input")
                .as_str(),
            longest
        );
    }

    #[test]
    fn refuses_unsafe_characters_and_bad_lengths() {
        for (input, found) in [
            ("bank.ICBC", '.'),
            ("ICBC#", '#'),
            ("IC BC", ' '),
            ("工行", '工'),
        ] {
            assert_eq!(
                AgencyCode::parse(input).unwrap_err(),
                IdentifierError::AgencyCodeCharacter { found },
                "{input}"
            );
        }
        assert_eq!(
            AgencyCode::parse("").unwrap_err(),
            IdentifierError::AgencyCodeLength { found: 0 }
        );
        assert_eq!(
            AgencyCode::parse(&"A".repeat(33)).unwrap_err(),
            IdentifierError::AgencyCodeLength { found: 33 }
        );
    }

    #[test]
    fn derives_routing_key_and_queue_name() {
        let id = AgencyId::new(
            AgencyKind::Bank,
            AgencyCode::parse("ICBC").expect("valid test input"),
        );
        assert_eq!(id.routing_key(), "bank.ICBC");
        assert_eq!(id.queue_name(), "agency.bank.ICBC");
        assert_eq!(id.to_string(), "bank.ICBC");

        let land = AgencyId::new(
            AgencyKind::LandRegistry,
            AgencyCode::parse("BJ-CY").expect("valid test input"),
        );
        assert_eq!(land.queue_name(), "agency.land.BJ-CY");
        let police = AgencyId::new(
            AgencyKind::PublicSecurity,
            AgencyCode::parse("GA").expect("valid test input"),
        );
        assert_eq!(police.routing_key(), "police.GA");
    }

    #[test]
    fn agency_id_parses_its_display_form() {
        let id: AgencyId = "bank.ICBC".parse().expect("valid test input");
        assert_eq!(id.kind, AgencyKind::Bank);
        assert_eq!(id.code.as_str(), "ICBC");
        assert_eq!(
            id.to_string()
                .parse::<AgencyId>()
                .expect("valid test input"),
            id
        );
    }

    #[test]
    fn agency_id_refuses_bad_forms() {
        assert_eq!(
            AgencyId::parse("ICBC").unwrap_err(),
            IdentifierError::AgencyIdFormat {
                found: "ICBC".to_owned()
            }
        );
        assert_eq!(
            AgencyId::parse("court.X").unwrap_err(),
            IdentifierError::UnknownName(UnknownNameError {
                what: "agency kind",
                found: "court".to_owned(),
                expected: "bank, land, police",
            })
        );
        assert_eq!(
            AgencyId::parse("bank.IC.BC").unwrap_err(),
            IdentifierError::AgencyCodeCharacter { found: '.' }
        );
    }
}
