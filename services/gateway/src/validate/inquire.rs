//! An inquiry: which agencies are asked about which asset classes of the subject, and for how
//! long answers are awaited. Whether the agencies are connected is checked later, against the
//! registry.

use enforcement_proto::{convert, v1 as pb};
use hub_domain::{AgencyCode, AgencyId, AgencyKind, CaseNumber, CourtCode, IdempotencyKey};
use tonic::Status;

use super::{Violations, agency, agency_kind, agency_kind_name, case_info, court_and_key, subject};

/// Longest wait for inquiry answers, in seconds.
const MAX_INQUIRY_SECONDS: u32 = 86_400;
/// The wait for answers when the court names none, in seconds.
const DEFAULT_INQUIRY_SECONDS: u32 = 60;
/// Most agencies listed in one inquiry.
const MAX_LISTED: usize = 1000;
/// Most entries in an inquiry's class list (there are four classes).
const MAX_CLASSES: usize = 16;

/// Which agencies an inquiry asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One agency, named on its own (`agency`).
    One(AgencyCode),
    /// A list of agencies (`agencies`), each once.
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
    pub idempotency_key: IdempotencyKey,
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

/// Checks an Inquire request.
pub fn inquire(req: &pb::InquireRequest) -> Result<ValidInquiry, Status> {
    let mut v = Violations::default();
    let (court, idempotency_key) = court_and_key(&mut v, &req.court_code, &req.idempotency_key);
    let case = case_info(&mut v, req.case.as_ref(), court.as_ref(), "inquires");
    let subject = subject(&mut v, req.subject.as_ref());
    let scope = scope(&mut v, req.scope.as_ref());
    let classes = asset_classes(&mut v, &req.classes, scope.as_ref().map(|s| s.0));
    if req.deadline_seconds > MAX_INQUIRY_SECONDS {
        v.add(
            "deadline_seconds",
            format!("must be at most {MAX_INQUIRY_SECONDS} (a day)"),
        );
    }
    let (court, idempotency_key, case, subject, scope) =
        v.finish(all_parsed!(court, idempotency_key, case, subject, scope))?;
    let (kind, scope, normalised_scope) = scope;
    let seconds = if req.deadline_seconds == 0 {
        DEFAULT_INQUIRY_SECONDS
    } else {
        req.deadline_seconds
    };
    let normalised = pb::InquireRequest {
        court_code: court.to_string(),
        idempotency_key: idempotency_key.to_string(),
        case: Some(case.normalised),
        subject: Some(subject.normalised),
        classes,
        scope: Some(normalised_scope),
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

/// Checks the agencies asked: their kind, which of them, and the scope as normalised.
fn scope(
    v: &mut Violations,
    scope: Option<&pb::inquire_request::Scope>,
) -> Option<(AgencyKind, Scope, pb::inquire_request::Scope)> {
    use pb::inquire_request::Scope as S;
    match scope {
        None => {
            v.add(
                "scope",
                "name an agency, a list of agencies, or all_of_kind",
            );
            None
        }
        Some(S::Agency(a)) => {
            let a = agency(v, "agency", Some(a))?;
            let normalised = S::Agency(convert::agency_ref(&a));
            Some((a.kind, Scope::One(a.code), normalised))
        }
        Some(S::Agencies(list)) => {
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
                            refs.push(convert::agency_ref(&AgencyId {
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
            Some((
                kind?,
                Scope::Listed(codes),
                S::Agencies(pb::AgencyList { agencies: refs }),
            ))
        }
        Some(S::AllOfKind(k)) => {
            let kind = agency_kind(v, "all_of_kind", *k)?;
            Some((kind, Scope::All, S::AllOfKind(*k)))
        }
    }
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
