//! The edge: turns a court's request into parsed domain values, or into one `InvalidArgument`
//! that names every offending field and the rule it broke.
//!
//! Past this module nothing holds an unchecked identifier, amount or period. The request is also
//! normalised (trimmed strings, full-width case-number parentheses, upper-case check characters)
//! so that a resubmission compares equal to the original whatever its spelling.
//!
//! Shared parts (case, subject, agency, period) are here; [`submit`] checks a new measure (one
//! function per measure kind in [`measures`]), [`inquire`] an inquiry, [`follow_up`] a release
//! or renewal, [`case`] the requests about a case as a whole.

use std::fmt::Display;

use enforcement_proto::{convert, v1 as pb};
use hub_domain::{
    AgencyCode, AgencyId, AgencyKind, CaseNumber, CourtCode, CreditCode, DocumentNumber,
    IdempotencyKey, MeasureKind, Money, OrganisationName, Period, PersonName, ResidentId,
};
use time::OffsetDateTime;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};
use uuid::Uuid;

pub mod case;
pub mod follow_up;
pub mod inquire;
mod measures;
pub mod submit;

pub use follow_up::{ValidRelease, ValidRenew, release, renew};
pub use inquire::{Scope, ValidInquiry, inquire};
pub use submit::{ValidSubmit, submit};

/// Field violations collected while checking one request.
#[derive(Default, Debug)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// Records that `field` broke a rule.
    pub fn add(&mut self, field: &str, description: impl Display) {
        self.0
            .push(FieldViolation::new(field, description.to_string()));
    }

    /// Keeps the value or records the error against `field`.
    pub fn check<T, E: Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }

    /// `Ok(parsed)` if nothing was recorded, else one `InvalidArgument` carrying a `BadRequest`
    /// detail with every violation, and a message that lists them for clients that ignore
    /// details. Every check that yields `None` records a violation, so `parsed` is `Some`
    /// whenever nothing was recorded.
    pub fn finish<T>(self, parsed: Option<T>) -> Result<T, Status> {
        if !self.0.is_empty() {
            let summary = self
                .0
                .iter()
                .map(|v| format!("{}: {}", v.field, v.description))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Status::with_error_details(
                Code::InvalidArgument,
                format!("invalid request: {summary}"),
                ErrorDetails::with_bad_request(self.0),
            ));
        }
        parsed.ok_or_else(|| {
            tracing::error!("a request field was left without a value or a violation");
            Status::internal("the hub could not check this request")
        })
    }
}

/// A single-field `InvalidArgument`.
pub fn invalid(field: &str, description: impl Display) -> Status {
    let mut v = Violations::default();
    v.add(field, description);
    match v.finish(None::<()>) {
        Err(status) => status,
        Ok(()) => Status::invalid_argument(field.to_string()),
    }
}

/// Parses a measure id.
pub fn measure_id(raw: &str) -> Result<Uuid, String> {
    Uuid::parse_str(raw.trim()).map_err(|_| {
        format!("{raw:?} is not a measure id (a UUID such as 0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70)")
    })
}

/// Checks the court and its idempotency key, the two fields every order starts with.
fn court_and_key(
    v: &mut Violations,
    court: &str,
    key: &str,
) -> (Option<CourtCode>, Option<IdempotencyKey>) {
    (
        v.check("court_code", CourtCode::parse(court)),
        v.check("idempotency_key", IdempotencyKey::parse(key)),
    )
}

/// Trimmed text of 1 to `max` characters without control characters.
fn free_text(raw: &str, max: usize) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err("is required".into());
    }
    if text.chars().count() > max {
        return Err(format!("is longer than {max} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("contains control characters".into());
    }
    Ok(text.to_string())
}

/// A checked case: its number and enforcement amount, and the case as normalised.
struct ValidCase {
    number: CaseNumber,
    enforcement_amount: Money,
    normalised: pb::CaseInfo,
}

/// Checks the case information; `court` (if valid) must be the case's own court, since a court
/// acts (`what`: "orders measures", "inquires") only in its own cases.
fn case_info(
    v: &mut Violations,
    case: Option<&pb::CaseInfo>,
    court: Option<&CourtCode>,
    what: &str,
) -> Option<ValidCase> {
    let Some(case) = case else {
        v.add(
            "case",
            "is required: case number, enforcement amount, ruling and notice numbers, officer",
        );
        return None;
    };
    let number = v.check("case.case_number", CaseNumber::parse(&case.case_number));
    let amount = v.check(
        "case.enforcement_amount_fen",
        Money::positive(case.enforcement_amount_fen),
    );
    let ruling = v.check(
        "case.ruling_number",
        DocumentNumber::parse(&case.ruling_number),
    );
    let notice = v.check(
        "case.notice_number",
        DocumentNumber::parse(&case.notice_number),
    );
    let officer = v.check("case.officer", PersonName::parse(&case.officer));
    let (number, amount, ruling, notice, officer) = (number?, amount?, ruling?, notice?, officer?);
    if let Some(court) = court
        && number.court() != court
    {
        v.add(
            "case.case_number",
            format!(
                "is a case of court {}, not of {court}: a court {what} in its own cases",
                number.court()
            ),
        );
    }
    Some(ValidCase {
        normalised: pb::CaseInfo {
            case_number: number.to_string(),
            enforcement_amount_fen: amount.fen(),
            ruling_number: ruling.to_string(),
            notice_number: notice.to_string(),
            officer: officer.to_string(),
        },
        number,
        enforcement_amount: amount,
    })
}

/// A validated subject.
struct ValidSubject {
    /// For a natural person, the person (exit restrictions default to them).
    person: Option<pb::NaturalPerson>,
    /// The identity number or credit code, the key of subject-wide measures.
    key: String,
    normalised: pb::Subject,
}

fn subject(v: &mut Violations, subject: Option<&pb::Subject>) -> Option<ValidSubject> {
    match subject.and_then(|s| s.party.as_ref()) {
        None => {
            v.add(
                "subject",
                "is required: a person (name, resident_id) or an organisation (name, credit_code)",
            );
            None
        }
        Some(pb::subject::Party::Person(p)) => {
            let person = natural_person(v, "subject.person", p)?;
            Some(ValidSubject {
                key: person.resident_id.clone(),
                person: Some(person.clone()),
                normalised: pb::Subject {
                    party: Some(pb::subject::Party::Person(person)),
                },
            })
        }
        Some(pb::subject::Party::Organisation(o)) => {
            let name = v.check(
                "subject.organisation.name",
                OrganisationName::parse(&o.name),
            );
            let code = v.check(
                "subject.organisation.credit_code",
                CreditCode::parse(&o.credit_code),
            );
            let (name, code) = (name?, code?);
            Some(ValidSubject {
                key: code.to_string(),
                person: None,
                normalised: pb::Subject {
                    party: Some(pb::subject::Party::Organisation(pb::Organisation {
                        name: name.to_string(),
                        credit_code: code.to_string(),
                    })),
                },
            })
        }
    }
}

fn natural_person(
    v: &mut Violations,
    at: &str,
    p: &pb::NaturalPerson,
) -> Option<pb::NaturalPerson> {
    let name = v.check(&format!("{at}.name"), PersonName::parse(&p.name));
    let id = v.check(
        &format!("{at}.resident_id"),
        ResidentId::parse(&p.resident_id),
    );
    Some(pb::NaturalPerson {
        name: name?.to_string(),
        resident_id: id?.to_string(),
    })
}

/// Checks an agency named in `field` (kind and code).
fn agency(v: &mut Violations, field: &str, agency: Option<&pb::AgencyRef>) -> Option<AgencyId> {
    let Some(agency) = agency else {
        v.add(
            field,
            "is required: the kind and code of the agency that must act",
        );
        return None;
    };
    let kind = agency_kind(v, &format!("{field}.kind"), agency.kind);
    let code = v.check(&format!("{field}.code"), AgencyCode::parse(&agency.code));
    Some(AgencyId {
        kind: kind?,
        code: code?,
    })
}

/// Checks a wire agency kind.
fn agency_kind(v: &mut Violations, field: &str, kind: i32) -> Option<AgencyKind> {
    let kind = convert::agency_kind_from_proto(kind);
    if kind.is_none() {
        v.add(field, "must be BANK, LAND_REGISTRY or PUBLIC_SECURITY");
    }
    kind
}

fn period(v: &mut Violations, field: &str, period: Option<&pb::Period>) -> Option<Period> {
    let Some(p) = period else {
        v.add(
            field,
            "is required: the measure's period in months and days",
        );
        return None;
    };
    v.check(field, Period::new(p.months, p.days))
}

/// A period checked against the statutory maximum of `kind`, counted from `start`.
pub fn period_for(
    kind: MeasureKind,
    field: &str,
    period: Period,
    start: OffsetDateTime,
) -> Result<Period, Status> {
    match kind.statutory_maximum() {
        Some(max) => period
            .check_within(max, start)
            .map(|()| period)
            .map_err(|e| invalid(field, e)),
        None => Ok(period),
    }
}

/// An agency kind as courts read it.
fn agency_kind_name(kind: AgencyKind) -> &'static str {
    match kind {
        AgencyKind::Bank => "bank",
        AgencyKind::LandRegistry => "land registry",
        AgencyKind::PublicSecurity => "public security unit",
    }
}
