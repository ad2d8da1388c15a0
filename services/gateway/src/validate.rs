//! The edge: turns a court's request into parsed domain values, or into one `InvalidArgument`
//! that names every offending field and the rule it broke.
//!
//! Past this module nothing holds an unchecked identifier, amount or period. The request is also
//! normalised (trimmed strings, full-width case-number parentheses, upper-case check characters)
//! so that a resubmission compares equal to the original whatever its spelling.

use std::fmt::Display;

use enforcement_proto::{convert, v1 as pb};
use hub_domain::{
    AccountNumber, AgencyCode, AgencyId, AgencyKind, CaseNumber, CourtCode, CreditCode,
    DocumentNumber, MeasureKind, Money, OrganisationName, Period, PersonName, ResidentId,
};
use time::OffsetDateTime;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};
use uuid::Uuid;

/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 128;
/// Longest free-text reason accepted.
const MAX_REASON: usize = 500;

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

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` if nothing was recorded, else one `InvalidArgument` carrying a `BadRequest` detail
    /// with every violation, and a message that lists them for clients that ignore details.
    pub fn finish(self) -> Result<(), Status> {
        if self.0.is_empty() {
            return Ok(());
        }
        let summary = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ");
        Err(Status::with_error_details(
            Code::InvalidArgument,
            format!("invalid request: {summary}"),
            ErrorDetails::with_bad_request(self.0),
        ))
    }
}

/// A single-field `InvalidArgument`.
pub fn invalid(field: &str, description: impl Display) -> Status {
    let mut v = Violations::default();
    v.add(field, description);
    match v.finish() {
        Err(status) => status,
        Ok(()) => Status::invalid_argument(field.to_string()),
    }
}

/// A validated new measure, ready to be recorded and dispatched.
#[derive(Debug, Clone)]
pub struct ValidSubmit {
    /// The issuing court.
    pub court: CourtCode,
    /// The court's idempotency key.
    pub idempotency_key: String,
    /// The case, normalised.
    pub case_number: CaseNumber,
    /// Where the measure goes.
    pub agency: AgencyId,
    /// What it is.
    pub kind: MeasureKind,
    /// Ordering key: instructions on the same asset reach the agency in acceptance order.
    pub asset_key: String,
    /// The asset, masked for display.
    pub asset_display: String,
    /// Amount ordered in fen (freeze, deduction), else zero.
    pub requested_fen: i64,
    /// For a deduction: the court's freeze whose funds are taken first.
    pub deduct_from: Option<Uuid>,
    /// The normalised request: its encoding identifies a resubmission.
    pub normalised: pb::SubmitRequest,
}

/// Checks a Submit request against every rule that needs no database.
pub fn submit(req: &pb::SubmitRequest, now: OffsetDateTime) -> Result<ValidSubmit, Status> {
    let mut v = Violations::default();
    let court = v.check("court_code", CourtCode::parse(&req.court_code));
    let idempotency_key = v.check("idempotency_key", idempotency_key(&req.idempotency_key));
    let case = case_info(&mut v, req.case.as_ref());
    if let (Some(court), Some(case)) = (court.as_ref(), case.as_ref())
        && case.number.court() != court
    {
        v.add(
            "case.case_number",
            format!(
                "is a case of court {}, not of {court}: a court orders measures in its own cases",
                case.number.court()
            ),
        );
    }
    let subject = subject(&mut v, req.subject.as_ref());
    let agency = agency(&mut v, req.agency.as_ref());

    let mut normalised = pb::SubmitRequest {
        court_code: court.as_ref().map(ToString::to_string).unwrap_or_default(),
        idempotency_key: idempotency_key.clone().unwrap_or_default(),
        case: case.as_ref().map(|c| c.normalised.clone()),
        subject: subject.as_ref().map(|s| s.normalised.clone()),
        agency: agency.as_ref().map(agency_ref),
        measure: None,
    };

    let enforcement_amount = case.as_ref().map(|c| c.enforcement_amount);
    let action = match req.measure.as_ref() {
        None => {
            v.add(
                "measure",
                "exactly one measure is required (freeze, deduction, seal_up, distraint or exit_restriction)",
            );
            None
        }
        Some(measure) => action(&mut v, measure, enforcement_amount, subject.as_ref(), now),
    };

    if let (Some(agency), Some(action)) = (agency.as_ref(), action.as_ref())
        && !agency.kind.carries(action.kind)
    {
        v.add(
            "agency.kind",
            format!(
                "a {} cannot carry out a {} (send it to a {})",
                agency_kind_name(agency.kind),
                action.kind.as_str().replace('_', "-"),
                carriers(action.kind)
            ),
        );
    }

    v.finish()?;
    let (Some(court), Some(idempotency_key), Some(case), Some(agency), Some(action)) =
        (court, idempotency_key, case, agency, action)
    else {
        return Err(Status::internal("validation incomplete"));
    };
    normalised.measure = Some(action.normalised);
    let asset_key = format!("{}:{}", agency.routing_key(), action.asset);
    Ok(ValidSubmit {
        court,
        idempotency_key,
        case_number: case.number,
        agency,
        kind: action.kind,
        asset_key,
        asset_display: action.asset_display,
        requested_fen: action.requested_fen,
        deduct_from: action.deduct_from,
        normalised,
    })
}

/// Which agencies an inquiry asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// These agencies (one or more).
    Listed(Vec<AgencyCode>),
    /// Every connected agency of the kind.
    All,
}

/// A validated Inquire request; the agencies are checked against the registry later.
#[derive(Debug, Clone)]
pub struct ValidInquiry {
    /// The asking court.
    pub court: CourtCode,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// The case.
    pub case_number: CaseNumber,
    /// The kind of agency asked.
    pub kind: AgencyKind,
    /// Which of them.
    pub scope: Scope,
    /// The subject's identity number or credit code.
    pub subject_key: String,
    /// How long to wait for answers.
    pub deadline: std::time::Duration,
    /// The normalised request: its encoding identifies a repeat.
    pub normalised: pb::InquireRequest,
}

/// Longest wait for inquiry answers, in seconds.
const MAX_INQUIRY_SECONDS: u32 = 86_400;
/// Most agencies listed in one inquiry.
const MAX_LISTED: usize = 1000;
/// Most entries in an inquiry's class list (there are four classes).
const MAX_CLASSES: usize = 16;

/// Checks an Inquire request.
pub fn inquire(req: &pb::InquireRequest) -> Result<ValidInquiry, Status> {
    let mut v = Violations::default();
    let court = v.check("court_code", CourtCode::parse(&req.court_code));
    let idempotency_key = v.check("idempotency_key", idempotency_key(&req.idempotency_key));
    let case = case_info(&mut v, req.case.as_ref());
    if let (Some(court), Some(case)) = (court.as_ref(), case.as_ref())
        && case.number.court() != court
    {
        v.add(
            "case.case_number",
            format!(
                "is a case of court {}, not of {court}: a court inquires in its own cases",
                case.number.court()
            ),
        );
    }
    let subject = subject(&mut v, req.subject.as_ref());
    let (kind, scope, normalised_scope) = match &req.scope {
        None => {
            v.add(
                "scope",
                "name an agency, a list of agencies, or all_of_kind",
            );
            (None, None, None)
        }
        Some(pb::inquire_request::Scope::Agency(a)) => match agency(&mut v, Some(a)) {
            Some(a) => (
                Some(a.kind),
                Some(Scope::Listed(vec![a.code.clone()])),
                Some(pb::inquire_request::Scope::Agency(agency_ref(&a))),
            ),
            None => (None, None, None),
        },
        Some(pb::inquire_request::Scope::Agencies(list)) => {
            if list.agencies.is_empty() || list.agencies.len() > MAX_LISTED {
                v.add("agencies", format!("list 1 to {MAX_LISTED} agencies"));
            }
            let mut kind = None;
            let mut codes = Vec::new();
            let mut refs = Vec::new();
            for (i, a) in list.agencies.iter().enumerate() {
                let field = format!("agencies.agencies[{i}]");
                let parsed_kind = convert::agency_kind_from_proto(a.kind);
                let code = AgencyCode::parse(&a.code);
                match (parsed_kind, code) {
                    (Some(k), Ok(code)) => {
                        if *kind.get_or_insert(k) != k {
                            v.add(
                                &field,
                                "every agency of one inquiry must be of the same kind",
                            );
                        } else if !codes.contains(&code) {
                            refs.push(agency_ref(&AgencyId {
                                kind: k,
                                code: code.clone(),
                            }));
                            codes.push(code);
                        }
                    }
                    (None, _) => v.add(
                        &format!("{field}.kind"),
                        "must be BANK, LAND_REGISTRY or PUBLIC_SECURITY",
                    ),
                    (_, Err(e)) => v.add(&format!("{field}.code"), e),
                }
            }
            (
                kind,
                Some(Scope::Listed(codes)),
                Some(pb::inquire_request::Scope::Agencies(pb::AgencyList {
                    agencies: refs,
                })),
            )
        }
        Some(pb::inquire_request::Scope::AllOfKind(k)) => match convert::agency_kind_from_proto(*k)
        {
            Some(kind) => (
                Some(kind),
                Some(Scope::All),
                Some(pb::inquire_request::Scope::AllOfKind(*k)),
            ),
            None => {
                v.add(
                    "all_of_kind",
                    "must be BANK, LAND_REGISTRY or PUBLIC_SECURITY",
                );
                (None, None, None)
            }
        },
    };
    let classes = asset_classes(&mut v, &req.classes, kind);
    if req.deadline_seconds > MAX_INQUIRY_SECONDS {
        v.add(
            "deadline_seconds",
            format!("must be at most {MAX_INQUIRY_SECONDS} (a day)"),
        );
    }
    v.finish()?;
    let (Some(court), Some(idempotency_key), Some(case), Some(subject), Some(kind), Some(scope)) =
        (court, idempotency_key, case, subject, kind, scope)
    else {
        return Err(Status::internal("validation incomplete"));
    };
    let seconds = if req.deadline_seconds == 0 {
        60
    } else {
        req.deadline_seconds
    };
    let normalised = pb::InquireRequest {
        court_code: court.to_string(),
        idempotency_key: idempotency_key.clone(),
        case: Some(case.normalised.clone()),
        subject: Some(subject.normalised.clone()),
        classes: classes.clone(),
        scope: normalised_scope,
        deadline_seconds: seconds,
    };
    Ok(ValidInquiry {
        court,
        idempotency_key,
        case_number: case.number,
        kind,
        scope,
        subject_key: subject.key,
        deadline: std::time::Duration::from_secs(u64::from(seconds)),
        normalised,
    })
}

/// Checks asset classes: at least one, each known and held by agencies of `kind`.
fn asset_classes(v: &mut Violations, raw: &[i32], kind: Option<AgencyKind>) -> Vec<i32> {
    let mut classes = Vec::new();
    if raw.len() > MAX_CLASSES {
        v.add(
            "classes",
            format!(
                "lists {} entries; name each asset class once (at most {MAX_CLASSES})",
                raw.len()
            ),
        );
        return classes;
    }
    if raw.is_empty() {
        v.add(
            "classes",
            "name at least one asset class (DEPOSITS, REAL_ESTATE, VEHICLES, WHEREABOUTS)",
        );
    }
    for (i, class) in raw.iter().enumerate() {
        let field = format!("classes[{i}]");
        match pb::AssetClass::try_from(*class) {
            Ok(pb::AssetClass::Unspecified) | Err(_) => {
                v.add(
                    &field,
                    "must be DEPOSITS, REAL_ESTATE, VEHICLES or WHEREABOUTS",
                );
            }
            Ok(class) => {
                let holder = match class {
                    pb::AssetClass::Deposits => AgencyKind::Bank,
                    pb::AssetClass::RealEstate => AgencyKind::LandRegistry,
                    _ => AgencyKind::PublicSecurity,
                };
                if let Some(kind) = kind
                    && kind != holder
                {
                    v.add(
                        &field,
                        format!(
                            "{} are not held by a {}; ask a {}",
                            class.as_str_name().to_lowercase().replace('_', " "),
                            agency_kind_name(kind),
                            agency_kind_name(holder)
                        ),
                    );
                } else if !classes.contains(&(class as i32)) {
                    classes.push(class as i32);
                }
            }
        }
    }
    classes
}

fn agency_ref(agency: &AgencyId) -> pb::AgencyRef {
    pb::AgencyRef {
        kind: convert::agency_kind_to_proto(agency.kind) as i32,
        code: agency.code.to_string(),
    }
}

/// A validated Release request.
#[derive(Debug, Clone)]
pub struct ValidRelease {
    /// The asking court.
    pub court: CourtCode,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// The measure to release.
    pub target: Uuid,
    /// Why.
    pub reason: String,
}

/// Checks a Release request.
pub fn release(req: &pb::ReleaseRequest) -> Result<ValidRelease, Status> {
    let mut v = Violations::default();
    let court = v.check("court_code", CourtCode::parse(&req.court_code));
    let idempotency_key = v.check("idempotency_key", idempotency_key(&req.idempotency_key));
    let target = v.check("measure_id", measure_id(&req.measure_id));
    let reason = v.check("reason", free_text(&req.reason, MAX_REASON));
    v.finish()?;
    match (court, idempotency_key, target, reason) {
        (Some(court), Some(idempotency_key), Some(target), Some(reason)) => Ok(ValidRelease {
            court,
            idempotency_key,
            target,
            reason,
        }),
        _ => Err(Status::internal("validation incomplete")),
    }
}

/// A validated Renew request; the period is checked against the target's kind later.
#[derive(Debug, Clone)]
pub struct ValidRenew {
    /// The asking court.
    pub court: CourtCode,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// The measure to renew.
    pub target: Uuid,
    /// The additional period.
    pub period: Period,
}

/// Checks a Renew request.
pub fn renew(req: &pb::RenewRequest) -> Result<ValidRenew, Status> {
    let mut v = Violations::default();
    let court = v.check("court_code", CourtCode::parse(&req.court_code));
    let idempotency_key = v.check("idempotency_key", idempotency_key(&req.idempotency_key));
    let target = v.check("measure_id", measure_id(&req.measure_id));
    let period = period(&mut v, "period", req.period.as_ref());
    v.finish()?;
    match (court, idempotency_key, target, period) {
        (Some(court), Some(idempotency_key), Some(target), Some(period)) => Ok(ValidRenew {
            court,
            idempotency_key,
            target,
            period,
        }),
        _ => Err(Status::internal("validation incomplete")),
    }
}

/// Parses a measure id.
pub fn measure_id(raw: &str) -> Result<Uuid, String> {
    Uuid::parse_str(raw.trim()).map_err(|_| {
        format!("{raw:?} is not a measure id (a UUID such as 0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70)")
    })
}

/// Checks an idempotency key: 1 to 128 printable characters.
pub fn idempotency_key(raw: &str) -> Result<String, String> {
    let key = raw.trim();
    if key.is_empty() {
        return Err("is required: choose a key unique to this request, so a retry cannot create a second measure".into());
    }
    if key.chars().count() > MAX_IDEMPOTENCY_KEY {
        return Err(format!("is longer than {MAX_IDEMPOTENCY_KEY} characters"));
    }
    if key.chars().any(char::is_control) {
        return Err("contains control characters".into());
    }
    Ok(key.to_string())
}

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

struct ValidCase {
    number: CaseNumber,
    enforcement_amount: Money,
    normalised: pb::CaseInfo,
}

fn case_info(v: &mut Violations, case: Option<&pb::CaseInfo>) -> Option<ValidCase> {
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

fn agency(v: &mut Violations, agency: Option<&pb::AgencyRef>) -> Option<AgencyId> {
    let Some(agency) = agency else {
        v.add(
            "agency",
            "is required: the kind and code of the agency that must act",
        );
        return None;
    };
    let kind = convert::agency_kind_from_proto(agency.kind);
    if kind.is_none() {
        v.add(
            "agency.kind",
            "must be BANK, LAND_REGISTRY or PUBLIC_SECURITY",
        );
    }
    let code = v.check("agency.code", AgencyCode::parse(&agency.code));
    Some(AgencyId {
        kind: kind?,
        code: code?,
    })
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

/// A period checked against the statutory maximum of `kind`, counted from `now`.
pub fn period_for(
    kind: MeasureKind,
    field: &str,
    period: Period,
    now: OffsetDateTime,
) -> Result<Period, Status> {
    match kind.statutory_maximum() {
        Some(max) => period
            .check_within(max, now)
            .map(|()| period)
            .map_err(|e| invalid(field, e)),
        None => Ok(period),
    }
}

struct ValidAction {
    kind: MeasureKind,
    asset: String,
    asset_display: String,
    requested_fen: i64,
    deduct_from: Option<Uuid>,
    normalised: pb::submit_request::Measure,
}

fn action(
    v: &mut Violations,
    measure: &pb::submit_request::Measure,
    enforcement_amount: Option<Money>,
    subject: Option<&ValidSubject>,
    now: OffsetDateTime,
) -> Option<ValidAction> {
    use pb::submit_request::Measure as M;
    let checked_period = |v: &mut Violations, field: &str, p: Option<&pb::Period>, kind| {
        let p = period(v, field, p)?;
        v.check(
            field,
            period_for(kind, field, p, now).map_err(|s| s.message().to_string()),
        )
        .map(|p| pb::Period {
            months: p.months(),
            days: p.days(),
        })
    };
    match measure {
        M::Freeze(f) => {
            let account = v.check(
                "freeze.account_number",
                AccountNumber::parse(&f.account_number),
            );
            let amount = amount(v, "freeze.amount_fen", f.amount_fen, enforcement_amount);
            let period = checked_period(v, "freeze.period", f.period.as_ref(), MeasureKind::Freeze);
            let (account, amount, period) = (account?, amount?, period?);
            Some(ValidAction {
                kind: MeasureKind::Freeze,
                asset: account.to_string(),
                asset_display: account.masked(),
                requested_fen: amount.fen(),
                deduct_from: None,
                normalised: M::Freeze(pb::Freeze {
                    account_number: account.to_string(),
                    amount_fen: amount.fen(),
                    period: Some(period),
                }),
            })
        }
        M::Deduction(d) => {
            let account = v.check(
                "deduction.account_number",
                AccountNumber::parse(&d.account_number),
            );
            let amount = amount(v, "deduction.amount_fen", d.amount_fen, enforcement_amount);
            let from = if d.freeze_measure_id.trim().is_empty() {
                Some(None)
            } else {
                v.check(
                    "deduction.freeze_measure_id",
                    measure_id(&d.freeze_measure_id),
                )
                .map(Some)
            };
            let receiving = receiving_account(v, d.receiving_account.as_ref());
            let (account, amount, from, receiving) = (account?, amount?, from?, receiving?);
            Some(ValidAction {
                kind: MeasureKind::Deduction,
                asset: account.to_string(),
                asset_display: account.masked(),
                requested_fen: amount.fen(),
                deduct_from: from,
                normalised: M::Deduction(pb::Deduction {
                    account_number: account.to_string(),
                    amount_fen: amount.fen(),
                    freeze_measure_id: from.map(|id| id.to_string()).unwrap_or_default(),
                    receiving_account: Some(receiving),
                }),
            })
        }
        M::SealUp(s) => {
            let kind = match pb::PropertyKind::try_from(s.property_kind) {
                Ok(pb::PropertyKind::Unit | pb::PropertyKind::Parcel) => Some(s.property_kind),
                _ => {
                    v.add("seal_up.property_kind", "must be UNIT or PARCEL");
                    None
                }
            };
            let property = v.check("seal_up.property_id", registry_id(&s.property_id, 64));
            let period =
                checked_period(v, "seal_up.period", s.period.as_ref(), MeasureKind::SealUp);
            let (kind, property, period) = (kind?, property?, period?);
            Some(ValidAction {
                kind: MeasureKind::SealUp,
                asset: property.clone(),
                asset_display: property.clone(),
                requested_fen: 0,
                deduct_from: None,
                normalised: M::SealUp(pb::SealUp {
                    property_kind: kind,
                    property_id: property,
                    pre_seizure: s.pre_seizure,
                    period: Some(period),
                }),
            })
        }
        M::Distraint(d) => {
            let plate = d.plate.trim().to_string();
            let vin = d.vin.trim().to_ascii_uppercase();
            if plate.is_empty() && vin.is_empty() {
                v.add(
                    "distraint.vin",
                    "a plate or a VIN is required to identify the vehicle",
                );
            }
            if !plate.is_empty()
                && (plate.chars().count() > 16
                    || plate.chars().any(|c| c.is_control() || c.is_whitespace()))
            {
                v.add(
                    "distraint.plate",
                    "must be at most 16 characters without spaces, e.g. 京A12345",
                );
            }
            if !vin.is_empty() && !valid_vin(&vin) {
                v.add(
                    "distraint.vin",
                    "must be 17 characters of A-Z and 0-9 without I, O or Q (ISO 3779)",
                );
            }
            let period = checked_period(
                v,
                "distraint.period",
                d.period.as_ref(),
                MeasureKind::Distraint,
            )?;
            let key = if vin.is_empty() {
                plate.clone()
            } else {
                vin.clone()
            };
            Some(ValidAction {
                kind: MeasureKind::Distraint,
                asset: format!("vehicle:{key}"),
                asset_display: key,
                requested_fen: 0,
                deduct_from: None,
                normalised: M::Distraint(pb::Distraint {
                    plate,
                    vin,
                    period: Some(period),
                }),
            })
        }
        M::ExitRestriction(x) => {
            let period = checked_period(
                v,
                "exit_restriction.period",
                x.period.as_ref(),
                MeasureKind::ExitRestriction,
            );
            let role =
                pb::ResponsibleRole::try_from(x.role).unwrap_or(pb::ResponsibleRole::Unspecified);
            let person = match (subject.and_then(|s| s.person.as_ref()), x.person.as_ref()) {
                // A natural-person debtor: the restriction binds them; a named person must be them.
                (Some(debtor), named) => {
                    if let Some(named) = named.filter(|n| !n.resident_id.trim().is_empty())
                        && let Ok(id) = ResidentId::parse(&named.resident_id)
                        && id.as_str() != debtor.resident_id
                    {
                        v.add(
                            "exit_restriction.person.resident_id",
                            "for a natural-person debtor the restriction binds the debtor; name an organisation's representative only when the subject is an organisation",
                        );
                    }
                    if !matches!(
                        role,
                        pb::ResponsibleRole::Unspecified | pb::ResponsibleRole::Debtor
                    ) {
                        v.add(
                            "exit_restriction.role",
                            "must be DEBTOR (or unset) when the subject is a natural person",
                        );
                    }
                    Some((debtor.clone(), pb::ResponsibleRole::Debtor))
                }
                (None, None) => {
                    if subject.is_some() {
                        v.add(
                            "exit_restriction.person",
                            "is required for an organisation debtor: name its legal representative, principal or directly responsible person (执行程序解释 art. 24)",
                        );
                    }
                    None
                }
                (None, Some(named)) => {
                    let person = natural_person(v, "exit_restriction.person", named);
                    if !matches!(
                        role,
                        pb::ResponsibleRole::LegalRepresentative
                            | pb::ResponsibleRole::Principal
                            | pb::ResponsibleRole::DirectlyResponsible
                    ) {
                        v.add(
                            "exit_restriction.role",
                            "must be LEGAL_REPRESENTATIVE, PRINCIPAL or DIRECTLY_RESPONSIBLE for an organisation debtor",
                        );
                        None
                    } else {
                        person.map(|p| (p, role))
                    }
                }
            };
            let (period, (person, role)) = (period?, person?);
            Some(ValidAction {
                kind: MeasureKind::ExitRestriction,
                asset: format!("person:{}", person.resident_id),
                asset_display: ResidentId::parse(&person.resident_id)
                    .map(|id| id.masked())
                    .unwrap_or_default(),
                requested_fen: 0,
                deduct_from: None,
                normalised: M::ExitRestriction(pb::ExitRestriction {
                    person: Some(person),
                    role: role as i32,
                    period: Some(period),
                }),
            })
        }
    }
}

fn amount(v: &mut Violations, field: &str, fen: i64, ceiling: Option<Money>) -> Option<Money> {
    let amount = v.check(field, Money::positive(fen))?;
    if let Some(ceiling) = ceiling
        && amount.fen() > ceiling.fen()
    {
        v.add(
            field,
            format!(
                "{amount} exceeds the case's enforcement amount of {ceiling}: no excessive freezing (民诉法 art. 253)"
            ),
        );
        return None;
    }
    Some(amount)
}

fn receiving_account(
    v: &mut Violations,
    r: Option<&pb::ReceivingAccount>,
) -> Option<pb::ReceivingAccount> {
    let Some(r) = r else {
        v.add(
            "deduction.receiving_account",
            "is required: the court's account that receives the funds",
        );
        return None;
    };
    let bank = v.check(
        "deduction.receiving_account.bank_name",
        OrganisationName::parse(&r.bank_name),
    );
    let number = v.check(
        "deduction.receiving_account.account_number",
        AccountNumber::parse(&r.account_number),
    );
    let name = v.check(
        "deduction.receiving_account.account_name",
        OrganisationName::parse(&r.account_name),
    );
    Some(pb::ReceivingAccount {
        bank_name: bank?.to_string(),
        account_number: number?.to_string(),
        account_name: name?.to_string(),
    })
}

fn registry_id(raw: &str, max: usize) -> Result<String, String> {
    let id = raw.trim();
    if id.is_empty() {
        return Err("is required".into());
    }
    if id.len() > max || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!("must be 1 to {max} characters of A-Z, 0-9 and '-'"));
    }
    Ok(id.to_ascii_uppercase())
}

fn valid_vin(vin: &str) -> bool {
    vin.len() == 17
        && vin.chars().all(|c| {
            c.is_ascii_digit() || (c.is_ascii_uppercase() && !matches!(c, 'I' | 'O' | 'Q'))
        })
}

fn agency_kind_name(kind: AgencyKind) -> &'static str {
    match kind {
        AgencyKind::Bank => "bank",
        AgencyKind::LandRegistry => "land registry",
        AgencyKind::PublicSecurity => "public security unit",
    }
}

fn carriers(kind: MeasureKind) -> &'static str {
    match kind {
        MeasureKind::Freeze | MeasureKind::Deduction => "bank",
        MeasureKind::SealUp => "land registry",
        MeasureKind::Distraint | MeasureKind::ExitRestriction => "public security unit",
        MeasureKind::Inquiry | MeasureKind::Release | MeasureKind::Renewal => {
            "the agency concerned"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-26 10:00 UTC)
    }

    fn freeze_request() -> pb::SubmitRequest {
        pb::SubmitRequest {
            court_code: "京0105".into(),
            idempotency_key: "k-1".into(),
            case: Some(pb::CaseInfo {
                case_number: "(2023)京0105执1234号".into(),
                enforcement_amount_fen: 5_000_000,
                ruling_number: "（2023）京0105执1234号之一".into(),
                notice_number: "（2023）京0105执1234号协助执行通知书".into(),
                officer: "王法官".into(),
            }),
            subject: Some(pb::Subject {
                party: Some(pb::subject::Party::Person(pb::NaturalPerson {
                    name: "张三".into(),
                    resident_id: "11010519491231002x".into(),
                })),
            }),
            agency: Some(pb::AgencyRef {
                kind: pb::AgencyKind::Bank as i32,
                code: "ICBC".into(),
            }),
            measure: Some(pb::submit_request::Measure::Freeze(pb::Freeze {
                account_number: "6222020200112233445".into(),
                amount_fen: 1_000_000,
                period: Some(pb::Period {
                    months: 12,
                    days: 0,
                }),
            })),
        }
    }

    fn fields(status: &Status) -> Vec<String> {
        status
            .get_error_details()
            .bad_request()
            .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_valid_freeze_is_normalised() {
        let valid = submit(&freeze_request(), now()).expect("valid");
        assert_eq!(valid.case_number.to_string(), "（2023）京0105执1234号");
        assert_eq!(valid.asset_key, "bank.ICBC:6222020200112233445");
        assert_eq!(valid.requested_fen, 1_000_000);
        let Some(pb::subject::Party::Person(p)) = valid.normalised.subject.and_then(|s| s.party)
        else {
            panic!("person expected");
        };
        assert_eq!(p.resident_id, "11010519491231002X");
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut req = freeze_request();
        req.court_code = "XX".into();
        if let Some(pb::subject::Party::Person(p)) =
            req.subject.as_mut().and_then(|s| s.party.as_mut())
        {
            p.resident_id = "110105194912310021".into();
        }
        req.measure = Some(pb::submit_request::Measure::Freeze(pb::Freeze {
            account_number: "6222020200112233445".into(),
            amount_fen: 0,
            period: Some(pb::Period {
                months: 12,
                days: 1,
            }),
        }));
        let status = submit(&req, now()).expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            fields(&status),
            vec![
                "court_code",
                "subject.person.resident_id",
                "freeze.amount_fen",
                "freeze.period"
            ]
        );
    }

    #[test]
    fn a_court_orders_only_in_its_own_cases() {
        let mut req = freeze_request();
        req.court_code = "粤03".into();
        let status = submit(&req, now()).expect_err("another court's case");
        assert_eq!(fields(&status), vec!["case.case_number"]);
        assert!(
            status.message().contains("court 京0105"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn a_freeze_above_the_enforcement_amount_is_excessive() {
        let mut req = freeze_request();
        if let Some(pb::submit_request::Measure::Freeze(f)) = req.measure.as_mut() {
            f.amount_fen = 5_000_001;
        }
        let status = submit(&req, now()).expect_err("excessive");
        assert_eq!(fields(&status), vec!["freeze.amount_fen"]);
        assert!(
            status.message().contains("excessive freezing"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn a_seal_up_cannot_go_to_a_bank() {
        let mut req = freeze_request();
        req.measure = Some(pb::submit_request::Measure::SealUp(pb::SealUp {
            property_kind: pb::PropertyKind::Unit as i32,
            property_id: "110105-001-0001".into(),
            pre_seizure: false,
            period: Some(pb::Period {
                months: 36,
                days: 0,
            }),
        }));
        let status = submit(&req, now()).expect_err("wrong agency");
        assert_eq!(fields(&status), vec!["agency.kind"]);
    }

    #[test]
    fn an_organisations_exit_restriction_needs_a_named_person() {
        let mut req = freeze_request();
        req.subject = Some(pb::Subject {
            party: Some(pb::subject::Party::Organisation(pb::Organisation {
                name: "某某有限公司".into(),
                credit_code: "91350100M000100Y43".into(),
            })),
        });
        req.agency = Some(pb::AgencyRef {
            kind: pb::AgencyKind::PublicSecurity as i32,
            code: "BJ-PSB".into(),
        });
        req.measure = Some(pb::submit_request::Measure::ExitRestriction(
            pb::ExitRestriction {
                person: None,
                role: 0,
                period: Some(pb::Period { months: 6, days: 0 }),
            },
        ));
        let status = submit(&req, now()).expect_err("no person");
        assert_eq!(fields(&status), vec!["exit_restriction.person"]);

        req.measure = Some(pb::submit_request::Measure::ExitRestriction(
            pb::ExitRestriction {
                person: Some(pb::NaturalPerson {
                    name: "李四".into(),
                    resident_id: "11010519491231002X".into(),
                }),
                role: pb::ResponsibleRole::LegalRepresentative as i32,
                period: None,
            },
        ));
        let status = submit(&req, now()).expect_err("no period");
        assert_eq!(fields(&status), vec!["exit_restriction.period"]);
    }

    #[test]
    fn vehicle_distraint_is_limited_to_24_months() {
        let mut req = freeze_request();
        req.agency = Some(pb::AgencyRef {
            kind: pb::AgencyKind::PublicSecurity as i32,
            code: "BJ-VMO".into(),
        });
        let distraint = |months| {
            Some(pb::submit_request::Measure::Distraint(pb::Distraint {
                plate: "京A12345".into(),
                vin: "LSVAU2180N2183294".into(),
                period: Some(pb::Period { months, days: 0 }),
            }))
        };
        req.measure = distraint(25);
        assert_eq!(
            fields(&submit(&req, now()).expect_err("25")),
            vec!["distraint.period"]
        );
        req.measure = distraint(24);
        assert!(submit(&req, now()).is_ok());
    }
}
