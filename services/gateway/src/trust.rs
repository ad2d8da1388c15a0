//! What the gateway believes of an agency report: the adapter's signature over the message, the
//! agency's seal over its answer, both against the registry of agency keys, and whether the
//! report was received before. Pure decisions over what [`crate::store`] read; the consumer
//! ([`crate::reports`]) dead-letters what is refused, with [`Refused::reason`] on the letter.
//!
//! Replays and redeliveries: every report accepted is remembered by its id with a digest of its
//! body and its signed `sent_at`. A report id that comes again is
//! - the broker redelivering it (the gateway stopped after applying, before acknowledging): the
//!   same bytes with the `redelivered` flag: acknowledged quietly, it changes nothing;
//! - the adapter forwarding an agency's notice again (the notice id is the report id), signed
//!   afresh with a later `sent_at`: acknowledged quietly, applying it would change nothing;
//! - anything else — the same or an earlier `sent_at` published anew, or another body under the
//!   id — a copy of what was received: a replay, dead-lettered.
//!
//! Only the holder of the agency's key can make a later `sent_at`, so a captured report cannot be
//! dressed up as a fresh one.

use std::collections::HashMap;

use enforcement_proto::v1 as pb;
use hub_bus::signing::Verifier;
use hub_domain::AgencyId;
use time::OffsetDateTime;

/// One registered key, ready to verify.
#[derive(Clone, Debug)]
pub struct RegisteredKey {
    /// Its id, as signatures name it.
    pub key_id: String,
    /// The public key.
    pub verifier: Verifier,
    /// Valid from (inclusive).
    pub valid_from: OffsetDateTime,
    /// Valid until (exclusive); none while in use.
    pub valid_until: Option<OffsetDateTime>,
}

impl RegisteredKey {
    fn valid_at(&self, now: OffsetDateTime) -> bool {
        self.valid_from <= now && self.valid_until.is_none_or(|until| now < until)
    }
}

/// The registered keys, by agency (`kind.code`).
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    keys: HashMap<String, Vec<RegisteredKey>>,
}

impl KeyRing {
    /// Adds `key` for the agency `kind`.`code`.
    pub fn insert(&mut self, kind: &str, code: &str, key: RegisteredKey) {
        self.keys
            .entry(format!("{kind}.{code}"))
            .or_default()
            .push(key);
    }

    fn of(&self, agency: &AgencyId) -> &[RegisteredKey] {
        self.keys
            .get(&agency.routing_key())
            .map_or(&[], Vec::as_slice)
    }

    /// Whether any key is registered for `agency`.
    pub fn knows(&self, agency: &AgencyId) -> bool {
        !self.of(agency).is_empty()
    }

    /// The key `key_id` of `agency`, valid at `now`.
    fn key(
        &self,
        agency: &AgencyId,
        key_id: &str,
        now: OffsetDateTime,
    ) -> Result<&Verifier, Refused> {
        let key = self
            .of(agency)
            .iter()
            .find(|k| k.key_id == key_id)
            .ok_or_else(|| Refused::UnknownKey {
                key_id: key_id.to_string(),
                agency: agency.routing_key(),
            })?;
        if !key.valid_at(now) {
            return Err(Refused::KeyNotValid {
                key_id: key_id.to_string(),
                agency: agency.routing_key(),
                valid_from: key.valid_from,
                valid_until: key.valid_until,
            });
        }
        Ok(&key.verifier)
    }
}

/// Why a report is not applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// No signature, from an agency that has keys (or while every report must be signed).
    Unsigned,
    /// Signed with a key not registered for the reporting agency.
    UnknownKey {
        /// The key named.
        key_id: String,
        /// The agency reporting.
        agency: String,
    },
    /// Signed with a key of the agency outside its validity.
    KeyNotValid {
        /// The key named.
        key_id: String,
        /// The agency reporting.
        agency: String,
        /// Its validity.
        valid_from: OffsetDateTime,
        /// Its end, if retired.
        valid_until: Option<OffsetDateTime>,
    },
    /// The signature does not verify with the key named.
    Forged {
        /// The key named.
        key_id: String,
    },
    /// An outcome without the agency's seal.
    Unsealed,
    /// The seal names an unknown or invalid key, or does not verify.
    BadSeal(Box<Refused>),
    /// An enrolled agency's report that the broker says another user published (or that
    /// names no publisher).
    WrongSender {
        /// The agency the report is for.
        agency: String,
        /// The broker user enrolled for it.
        enrolled: String,
        /// The broker user that published it, if the message says.
        sender: Option<String>,
    },
    /// The report id was received before, and this is not a redelivery.
    Replayed {
        /// When it was first received.
        first_received: OffsetDateTime,
    },
}

impl Refused {
    /// The reason written on the dead letter.
    pub fn reason(&self) -> String {
        match self {
            Refused::Unsigned => "unsigned report: the agency's reports must be signed".into(),
            Refused::WrongSender {
                agency,
                enrolled,
                sender: Some(sender),
            } => format!(
                "report for {agency} published by broker user {sender:?}, not by {enrolled:?} \
                 enrolled for it"
            ),
            Refused::WrongSender {
                agency,
                enrolled,
                sender: None,
            } => format!(
                "report for {agency} without the broker user that published it (user_id); \
                 {enrolled:?} is enrolled for it"
            ),
            Refused::UnknownKey { key_id, agency } => {
                format!("signed with key {key_id:?}, which is not a key of {agency}")
            }
            Refused::KeyNotValid {
                key_id,
                agency,
                valid_from,
                valid_until,
            } => match valid_until {
                Some(until) => format!(
                    "signed with key {key_id:?} of {agency}, valid only from {valid_from} until {until}"
                ),
                None => {
                    format!("signed with key {key_id:?} of {agency}, valid only from {valid_from}")
                }
            },
            Refused::Forged { key_id } => format!(
                "the signature does not verify with key {key_id:?}: the report was forged or altered"
            ),
            Refused::Unsealed => "outcome without the agency's seal".into(),
            Refused::BadSeal(why) => match why.as_ref() {
                Refused::Forged { key_id } => format!(
                    "the agency's seal does not verify with key {key_id:?}: the outcome was forged or altered"
                ),
                other => format!("the agency's seal: {}", other.reason()),
            },
            Refused::Replayed { first_received } => format!(
                "replayed: a report with this id was received at {first_received}; nothing applied"
            ),
        }
    }
}

/// Whether the broker user that published a message (`user_id`, which the broker checks
/// against the connection's user) is the one enrolled for each agency it speaks for.
/// `enrolled` maps (kind, code) to the enrolled user; an agency not enrolled is not checked.
pub fn check_sender(
    enrolled: &HashMap<(String, String), String>,
    agencies: &[(String, String)],
    sender: Option<&str>,
) -> Result<(), Refused> {
    for agency in agencies {
        let Some(user) = enrolled.get(agency) else {
            continue;
        };
        if sender != Some(user.as_str()) {
            return Err(Refused::WrongSender {
                agency: format!("{}.{}", agency.0, agency.1),
                enrolled: user.clone(),
                sender: sender.map(str::to_string),
            });
        }
    }
    Ok(())
}

/// Whether the body of a report from `agency` carries a valid signature: header `key_id`,
/// header `signature` (hex). An agency with no key at all is let through unless `required`.
pub fn check_signature(
    ring: &KeyRing,
    agency: &AgencyId,
    body: &[u8],
    key_id: Option<&str>,
    signature: Option<&str>,
    now: OffsetDateTime,
    required: bool,
) -> Result<(), Refused> {
    let (Some(key_id), Some(signature)) = (key_id, signature) else {
        return if required || ring.knows(agency) {
            Err(Refused::Unsigned)
        } else {
            Ok(())
        };
    };
    let verifier = ring.key(agency, key_id, now)?;
    verifier
        .verify(body, Some(signature))
        .map_err(|_| Refused::Forged {
            key_id: key_id.to_string(),
        })
}

/// Whether an outcome report carries the agency's valid seal over its answer. Reports of other
/// kinds are the adapter's own and carry none.
pub fn check_seal(
    ring: &KeyRing,
    agency: &AgencyId,
    report: &pb::AgencyReport,
    now: OffsetDateTime,
    required: bool,
) -> Result<(), Refused> {
    if report.kind != pb::ReportKind::Outcome as i32 {
        return Ok(());
    }
    let Some(seal) = &report.seal else {
        return if required || ring.knows(agency) {
            Err(Refused::Unsealed)
        } else {
            Ok(())
        };
    };
    let bad = |why| Refused::BadSeal(Box::new(why));
    let verifier = ring.key(agency, &seal.key_id, now).map_err(bad)?;
    let bytes = enforcement_proto::seal::canonical_outcome(
        &seal.key_id,
        report.agency.as_ref(),
        &report.instruction_id,
        &report.updates,
        report.answer.as_ref(),
    );
    verifier.verify_raw(&bytes, &seal.signature).map_err(|_| {
        bad(Refused::Forged {
            key_id: seal.key_id.clone(),
        })
    })
}

/// A report id received before, as remembered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// SHA-256 of the body.
    pub digest: Vec<u8>,
    /// The report's `sent_at`.
    pub sent_at: Option<OffsetDateTime>,
    /// When the gateway received it.
    pub received_at: OffsetDateTime,
}

/// What to do with a report, given what was received before under its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Its id is new: apply it.
    New,
    /// Received before and harmless again (a redelivery, a notice forwarded again): acknowledge
    /// without applying.
    Again,
    /// A replay: dead-letter.
    Replayed(Refused),
}

/// Whether a report with `digest` and `sent_at`, delivered with the broker's `redelivered` flag,
/// repeats `earlier`.
pub fn seen(
    earlier: Option<&Receipt>,
    digest: &[u8],
    sent_at: Option<OffsetDateTime>,
    redelivered: bool,
) -> Seen {
    let Some(earlier) = earlier else {
        return Seen::New;
    };
    let same_bytes = earlier.digest == digest;
    let signed_later = match (sent_at, earlier.sent_at) {
        (Some(now), Some(then)) => now > then,
        _ => false,
    };
    if (same_bytes && redelivered) || (!same_bytes && signed_later) {
        Seen::Again
    } else {
        Seen::Replayed(Refused::Replayed {
            first_received: earlier.received_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use hub_bus::signing::Signer;
    use hub_domain::{AgencyCode, AgencyKind};
    use time::macros::datetime;

    use super::*;

    #[test]
    fn an_enrolled_agency_is_believed_only_from_its_broker_user() {
        let enrolled: HashMap<(String, String), String> = [(
            ("bank".to_string(), "CCB".to_string()),
            "adapter.bank.CCB".to_string(),
        )]
        .into();
        let ccb = [("bank".to_string(), "CCB".to_string())];
        assert_eq!(
            check_sender(&enrolled, &ccb, Some("adapter.bank.CCB")),
            Ok(())
        );
        let wrong = check_sender(&enrolled, &ccb, Some("adapter.bank.ICBC"))
            .expect_err("another agency's user");
        assert_eq!(
            wrong.reason(),
            "report for bank.CCB published by broker user \"adapter.bank.ICBC\", not by \
             \"adapter.bank.CCB\" enrolled for it"
        );
        let unnamed = check_sender(&enrolled, &ccb, None).expect_err("no user_id");
        assert!(unnamed.reason().contains("without the broker user"));
        // An agency not enrolled is not checked (the open set-up, guest for everyone).
        let icbc = [("bank".to_string(), "ICBC".to_string())];
        assert_eq!(check_sender(&enrolled, &icbc, Some("guest")), Ok(()));
        // An announcement for several: every enrolled one must match.
        let both = [icbc[0].clone(), ccb[0].clone()];
        assert!(check_sender(&enrolled, &both, Some("guest")).is_err());
    }

    fn icbc() -> AgencyId {
        AgencyId {
            kind: AgencyKind::Bank,
            code: AgencyCode::parse("ICBC").expect("code"),
        }
    }

    fn ring_with(signer: &Signer, until: Option<OffsetDateTime>) -> KeyRing {
        let mut ring = KeyRing::default();
        ring.insert(
            "bank",
            "ICBC",
            RegisteredKey {
                key_id: "k1".into(),
                verifier: Verifier::from_hex(&signer.public_hex()).expect("key"),
                valid_from: datetime!(2026-01-01 0:00 UTC),
                valid_until: until,
            },
        );
        ring
    }

    #[test]
    fn a_report_verifies_only_with_a_valid_key_of_its_own_agency() {
        let signer = Signer::generate().expect("randomness");
        let ring = ring_with(&signer, Some(datetime!(2026-06-01 0:00 UTC)));
        let now = datetime!(2026-03-01 0:00 UTC);
        let body = b"report";
        let sig = signer.sign(body);
        let check = |key: Option<&str>, sig: Option<&str>, at| {
            check_signature(&ring, &icbc(), body, key, sig, at, false)
        };
        assert_eq!(check(Some("k1"), Some(&sig), now), Ok(()));
        assert_eq!(check(None, None, now), Err(Refused::Unsigned));
        assert!(matches!(
            check(Some("k2"), Some(&sig), now),
            Err(Refused::UnknownKey { .. })
        ));
        assert!(matches!(
            check(Some("k1"), Some(&sig), datetime!(2026-06-01 0:00 UTC)),
            Err(Refused::KeyNotValid { .. })
        ));
        let other = Signer::generate().expect("randomness").sign(body);
        assert!(matches!(
            check(Some("k1"), Some(&other), now),
            Err(Refused::Forged { .. })
        ));
        // An agency without keys passes only while signatures are not required.
        let ccb = AgencyId {
            kind: AgencyKind::Bank,
            code: AgencyCode::parse("CCB").expect("code"),
        };
        assert_eq!(
            check_signature(&ring, &ccb, body, None, None, now, false),
            Ok(())
        );
        assert_eq!(
            check_signature(&ring, &ccb, body, None, None, now, true),
            Err(Refused::Unsigned)
        );
        // ICBC's key does not speak for CCB.
        assert!(matches!(
            check_signature(&ring, &ccb, body, Some("k1"), Some(&sig), now, false),
            Err(Refused::UnknownKey { .. })
        ));
    }

    #[test]
    fn a_seal_covers_every_field_of_the_outcome() {
        let signer = Signer::generate().expect("randomness");
        let ring = ring_with(&signer, None);
        let now = datetime!(2026-03-01 0:00 UTC);
        let mut report = pb::AgencyReport {
            kind: pb::ReportKind::Outcome as i32,
            agency: Some(pb::AgencyRef {
                kind: pb::AgencyKind::Bank as i32,
                code: "ICBC".into(),
            }),
            instruction_id: "i".into(),
            updates: vec![pb::MeasureUpdate {
                measure_id: "m".into(),
                revision: 1,
                held_fen: 100,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            check_seal(&ring, &icbc(), &report, now, false),
            Err(Refused::Unsealed)
        );
        let bytes = enforcement_proto::seal::canonical_outcome(
            "k1",
            report.agency.as_ref(),
            "i",
            &report.updates,
            None,
        );
        report.seal = Some(pb::Seal {
            key_id: "k1".into(),
            signature: signer.sign_raw(&bytes),
        });
        assert_eq!(check_seal(&ring, &icbc(), &report, now, false), Ok(()));
        report.updates[0].held_fen = 10_000;
        assert!(matches!(
            check_seal(&ring, &icbc(), &report, now, false),
            Err(Refused::BadSeal(_))
        ));
    }

    #[test]
    fn a_redelivery_or_a_notice_sent_again_is_harmless_and_a_copy_is_a_replay() {
        let first = datetime!(2026-03-01 0:00 UTC);
        let earlier = Receipt {
            digest: vec![1],
            sent_at: Some(first),
            received_at: first,
        };
        assert_eq!(seen(None, &[1], Some(first), false), Seen::New);
        assert_eq!(seen(Some(&earlier), &[1], Some(first), true), Seen::Again);
        let later = datetime!(2026-03-01 0:01 UTC);
        assert_eq!(seen(Some(&earlier), &[2], Some(later), false), Seen::Again);
        assert!(matches!(
            seen(Some(&earlier), &[1], Some(first), false),
            Seen::Replayed(_)
        ));
        assert!(matches!(
            seen(Some(&earlier), &[2], Some(first), true),
            Seen::Replayed(_)
        ));
    }
}
