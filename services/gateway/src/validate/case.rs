//! Requests about a case as a whole: reading it, amending its enforcement amount, closing it, and
//! a case-level order to freeze up to an amount of the debtor's deposits.

use enforcement_proto::v1 as pb;
use hub_domain::{
    AgencyCode, CaseNumber, CourtCode, IdempotencyKey, MeasureKind, Money, Period, PersonName,
};
use time::OffsetDateTime;
use tonic::Status;
use uuid::Uuid;

use super::{
    Violations, case_info, court_and_key, free_text, measure_id, period, period_for, subject,
};

/// Longest free-text reason accepted.
const MAX_REASON: usize = 500;
/// Default and largest inquiry deadline of an order, in seconds.
const DEFAULT_DEADLINE_SECS: u32 = 60;
const MAX_DEADLINE_SECS: u32 = 86_400;
/// Most banks an order may name.
const MAX_BANKS: usize = 1000;

/// A court and one of its cases.
#[derive(Debug, Clone)]
pub struct ValidCaseRef {
    pub court: CourtCode,
    pub case_number: CaseNumber,
}

/// Checks a GetCase request.
pub fn get_case(req: &pb::GetCaseRequest) -> Result<ValidCaseRef, Status> {
    let mut v = Violations::default();
    let court = v.check("court_code", CourtCode::parse(&req.court_code));
    let case_number = v.check("case_number", CaseNumber::parse(&req.case_number));
    let (court, case_number) = v.finish(all_parsed!(court, case_number))?;
    Ok(ValidCaseRef { court, case_number })
}

/// A checked amendment of a case's enforcement amount.
#[derive(Debug, Clone)]
pub struct ValidAmend {
    pub case: ValidCaseRef,
    pub idempotency_key: IdempotencyKey,
    pub amount_fen: i64,
    pub reason: String,
    pub officer: String,
    pub ruling_number: String,
    /// The canonical request: its encoding identifies a repeat.
    pub normalised: pb::AmendCaseRequest,
}

/// Checks an AmendCase request.
pub fn amend(req: &pb::AmendCaseRequest) -> Result<ValidAmend, Status> {
    let mut v = Violations::default();
    let (court, idempotency_key) = court_and_key(&mut v, &req.court_code, &req.idempotency_key);
    let case_number = v.check("case_number", CaseNumber::parse(&req.case_number));
    let amount = v.check(
        "enforcement_amount_fen",
        Money::positive(req.enforcement_amount_fen),
    );
    let reason = v.check("reason", free_text(&req.reason, MAX_REASON));
    let officer = v.check("officer", PersonName::parse(&req.officer));
    let ruling = req.ruling_number.trim().to_string();
    if ruling.chars().count() > 128 || ruling.chars().any(char::is_control) {
        v.add(
            "ruling_number",
            "must be at most 128 characters without control characters",
        );
    }
    let (court, idempotency_key, case_number, amount, reason, officer) = v.finish(all_parsed!(
        court,
        idempotency_key,
        case_number,
        amount,
        reason,
        officer
    ))?;
    let normalised = pb::AmendCaseRequest {
        court_code: court.to_string(),
        idempotency_key: idempotency_key.to_string(),
        case_number: case_number.to_string(),
        enforcement_amount_fen: amount.fen(),
        reason: reason.clone(),
        officer: officer.to_string(),
        ruling_number: ruling.clone(),
    };
    Ok(ValidAmend {
        case: ValidCaseRef { court, case_number },
        idempotency_key,
        amount_fen: amount.fen(),
        reason,
        officer: officer.to_string(),
        ruling_number: ruling,
        normalised,
    })
}

/// A checked closing of a case.
#[derive(Debug, Clone)]
pub struct ValidClose {
    pub case: ValidCaseRef,
    pub idempotency_key: IdempotencyKey,
    pub reason: String,
    pub officer: String,
    /// The canonical request: its encoding identifies a repeat.
    pub normalised: pb::CloseCaseRequest,
}

/// Checks a CloseCase request.
pub fn close(req: &pb::CloseCaseRequest) -> Result<ValidClose, Status> {
    let mut v = Violations::default();
    let (court, idempotency_key) = court_and_key(&mut v, &req.court_code, &req.idempotency_key);
    let case_number = v.check("case_number", CaseNumber::parse(&req.case_number));
    let reason = v.check("reason", free_text(&req.reason, MAX_REASON));
    let officer = v.check("officer", PersonName::parse(&req.officer));
    let (court, idempotency_key, case_number, reason, officer) = v.finish(all_parsed!(
        court,
        idempotency_key,
        case_number,
        reason,
        officer
    ))?;
    let normalised = pb::CloseCaseRequest {
        court_code: court.to_string(),
        idempotency_key: idempotency_key.to_string(),
        case_number: case_number.to_string(),
        reason: reason.clone(),
        officer: officer.to_string(),
    };
    Ok(ValidClose {
        case: ValidCaseRef { court, case_number },
        idempotency_key,
        reason,
        officer: officer.to_string(),
        normalised,
    })
}

/// Where a case-level order finds its accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// An inquiry the court ran.
    Inquiry(Uuid),
    /// An inquiry the hub runs first, of these banks.
    Banks(Vec<AgencyCode>),
    /// An inquiry the hub runs first, of every connected bank.
    AllBanks,
}

/// A checked case-level order.
#[derive(Debug, Clone)]
pub struct ValidFreezeDeposits {
    pub court: CourtCode,
    pub idempotency_key: IdempotencyKey,
    pub case_number: CaseNumber,
    /// The case's enforcement amount as the request states it.
    pub enforcement_fen: i64,
    pub amount_fen: i64,
    pub accounts: Accounts,
    /// For an inquiry the hub runs.
    pub deadline_seconds: u32,
    /// The canonical request: its encoding identifies a repeat, and the order's freezes take
    /// their case, subject and period from it.
    pub normalised: pb::FreezeDepositsRequest,
}

/// Checks a FreezeDeposits request.
pub fn freeze_deposits(
    req: &pb::FreezeDepositsRequest,
    now: OffsetDateTime,
) -> Result<ValidFreezeDeposits, Status> {
    use pb::freeze_deposits_request::Accounts as A;
    let mut v = Violations::default();
    let (court, idempotency_key) = court_and_key(&mut v, &req.court_code, &req.idempotency_key);
    let case = case_info(&mut v, req.case.as_ref(), court.as_ref(), "orders measures");
    let subject = subject(&mut v, req.subject.as_ref());
    let amount = v.check("amount_fen", Money::positive(req.amount_fen));
    if let (Some(amount), Some(case)) = (amount, case.as_ref())
        && amount.fen() > case.enforcement_amount.fen()
    {
        v.add(
            "amount_fen",
            format!(
                "{amount} exceeds the case's enforcement amount of {}: no excessive freezing (民诉法 art. 253)",
                case.enforcement_amount
            ),
        );
    }
    let period = period(&mut v, "period", req.period.as_ref()).and_then(|p: Period| {
        v.check(
            "period",
            period_for(MeasureKind::Freeze, "period", p, now).map_err(|s| s.message().to_string()),
        )
    });
    let accounts = match req.accounts.as_ref() {
        None => {
            v.add(
                "accounts",
                "name an inquiry_measure_id, a list of banks, or all_banks",
            );
            None
        }
        Some(A::InquiryMeasureId(id)) => v
            .check("inquiry_measure_id", measure_id(id))
            .map(Accounts::Inquiry),
        Some(A::AllBanks(true)) => Some(Accounts::AllBanks),
        Some(A::AllBanks(false)) => {
            v.add("all_banks", "must be true when given");
            None
        }
        Some(A::Banks(list)) => banks(&mut v, list),
    };
    if req.inquiry_deadline_seconds > MAX_DEADLINE_SECS {
        v.add(
            "inquiry_deadline_seconds",
            format!("must be at most {MAX_DEADLINE_SECS}"),
        );
    }
    let (court, idempotency_key, case, subject, amount, period, accounts) =
        v.finish(all_parsed!(
            court,
            idempotency_key,
            case,
            subject,
            amount,
            period,
            accounts
        ))?;
    let deadline_seconds = match req.inquiry_deadline_seconds {
        0 => DEFAULT_DEADLINE_SECS,
        secs => secs,
    };
    let normalised = pb::FreezeDepositsRequest {
        court_code: court.to_string(),
        idempotency_key: idempotency_key.to_string(),
        case: Some(case.normalised),
        subject: Some(subject.normalised),
        amount_fen: amount.fen(),
        period: Some(enforcement_proto::convert::period_to_proto(period)),
        accounts: Some(match &accounts {
            Accounts::Inquiry(id) => A::InquiryMeasureId(id.to_string()),
            Accounts::AllBanks => A::AllBanks(true),
            Accounts::Banks(codes) => A::Banks(pb::AgencyList {
                agencies: codes
                    .iter()
                    .map(|c| pb::AgencyRef {
                        kind: pb::AgencyKind::Bank as i32,
                        code: c.to_string(),
                    })
                    .collect(),
            }),
        }),
        inquiry_deadline_seconds: deadline_seconds,
    };
    Ok(ValidFreezeDeposits {
        court,
        idempotency_key,
        case_number: case.number,
        enforcement_fen: case.enforcement_amount.fen(),
        amount_fen: amount.fen(),
        accounts,
        deadline_seconds,
        normalised,
    })
}

fn banks(v: &mut Violations, list: &pb::AgencyList) -> Option<Accounts> {
    if list.agencies.is_empty() || list.agencies.len() > MAX_BANKS {
        v.add(
            "banks.agencies",
            format!("must name 1 to {MAX_BANKS} banks"),
        );
        return None;
    }
    let mut codes = Vec::with_capacity(list.agencies.len());
    let mut ok = true;
    for (i, agency) in list.agencies.iter().enumerate() {
        if agency.kind != pb::AgencyKind::Bank as i32 {
            v.add(
                &format!("banks.agencies[{i}].kind"),
                "must be BANK: deposits are frozen at banks",
            );
            ok = false;
        }
        match AgencyCode::parse(&agency.code) {
            Ok(code) if !codes.contains(&code) => codes.push(code),
            Ok(_) => {}
            Err(e) => {
                v.add(&format!("banks.agencies[{i}].code"), e);
                ok = false;
            }
        }
    }
    ok.then_some(Accounts::Banks(codes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;
    use tonic_types::StatusExt;

    fn fields(status: &Status) -> Vec<String> {
        status
            .get_error_details()
            .bad_request()
            .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
            .unwrap_or_default()
    }

    fn order() -> pb::FreezeDepositsRequest {
        pb::FreezeDepositsRequest {
            court_code: "京0105".into(),
            idempotency_key: "order-1".into(),
            case: Some(pb::CaseInfo {
                case_number: "(2024)京0105执1号".into(),
                enforcement_amount_fen: 6_000_000,
                ruling_number: "（2024）京0105执1号之一".into(),
                notice_number: "（2024）京0105执1号协助执行通知书".into(),
                officer: "王执行".into(),
            }),
            subject: Some(pb::Subject {
                party: Some(pb::subject::Party::Person(pb::NaturalPerson {
                    name: "张三".into(),
                    resident_id: "11010519491231002X".into(),
                })),
            }),
            amount_fen: 6_000_000,
            period: Some(pb::Period {
                months: 12,
                days: 0,
            }),
            accounts: Some(pb::freeze_deposits_request::Accounts::AllBanks(true)),
            inquiry_deadline_seconds: 0,
        }
    }

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-26 10:00 UTC)
    }

    #[test]
    fn an_order_is_normalised_with_the_default_inquiry_deadline() {
        let valid = freeze_deposits(&order(), now()).expect("valid");
        assert_eq!(valid.accounts, Accounts::AllBanks);
        assert_eq!(valid.normalised.inquiry_deadline_seconds, 60);
        assert_eq!(
            valid.normalised.case.map(|c| c.case_number),
            Some("（2024）京0105执1号".to_string())
        );
    }

    #[test]
    fn an_order_names_every_bad_field() {
        let mut req = order();
        req.amount_fen = 7_000_000;
        req.period = Some(pb::Period {
            months: 13,
            days: 0,
        });
        req.accounts = Some(pb::freeze_deposits_request::Accounts::Banks(
            pb::AgencyList {
                agencies: vec![pb::AgencyRef {
                    kind: pb::AgencyKind::LandRegistry as i32,
                    code: "110105".into(),
                }],
            },
        ));
        let status = freeze_deposits(&req, now()).expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            fields(&status),
            vec!["amount_fen", "period", "banks.agencies[0].kind"]
        );
    }

    #[test]
    fn an_amendment_needs_a_positive_amount_a_reason_and_an_officer() {
        let status = amend(&pb::AmendCaseRequest {
            court_code: "京0105".into(),
            idempotency_key: "a".into(),
            case_number: "（2024）京0105执1号".into(),
            enforcement_amount_fen: 0,
            reason: " ".into(),
            officer: String::new(),
            ruling_number: String::new(),
        })
        .expect_err("invalid");
        assert_eq!(
            fields(&status),
            vec!["enforcement_amount_fen", "reason", "officer"]
        );
    }
}
