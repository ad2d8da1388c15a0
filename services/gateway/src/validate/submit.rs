//! A new measure: every field of a Submit request checked, and the request normalised.

use enforcement_proto::v1 as pb;
use hub_domain::{AgencyId, CaseNumber, CourtCode, IdempotencyKey, MeasureKind};
use time::OffsetDateTime;
use tonic::Status;
use uuid::Uuid;

use super::{
    Violations, agency, agency_kind_name, case_info, court_and_key,
    measures::{Context, action},
    subject,
};

/// A validated new measure, ready to be checked against the registry and recorded.
#[derive(Debug, Clone)]
pub struct ValidSubmit {
    /// The issuing court.
    pub court: CourtCode,
    /// The court's idempotency key.
    pub idempotency_key: IdempotencyKey,
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
    /// The case's enforcement amount as the request states it, in fen.
    pub enforcement_fen: i64,
    /// For a freeze or deduction: granted up to the case's open amount rather than refused.
    pub up_to: bool,
    /// The measure, normalised.
    pub measure: pb::submit_request::Measure,
    /// The normalised request: its encoding identifies a resubmission.
    pub normalised: pb::SubmitRequest,
}

/// Checks a Submit request against every rule that needs no database.
pub fn submit(req: &pb::SubmitRequest, now: OffsetDateTime) -> Result<ValidSubmit, Status> {
    let mut v = Violations::default();
    let (court, idempotency_key) = court_and_key(&mut v, &req.court_code, &req.idempotency_key);
    let case = case_info(&mut v, req.case.as_ref(), court.as_ref(), "orders measures");
    let subject = subject(&mut v, req.subject.as_ref());
    let agency = agency(&mut v, "agency", req.agency.as_ref());
    let action = match req.measure.as_ref() {
        None => {
            v.add(
                "measure",
                "exactly one measure is required (freeze, deduction, seal_up, distraint or exit_restriction)",
            );
            None
        }
        Some(measure) => {
            let cx = Context {
                enforcement_amount: case.as_ref().map(|c| c.enforcement_amount),
                subject: subject.as_ref(),
                now,
            };
            action(&mut v, measure, &cx)
        }
    };
    if let (Some(agency), Some(action)) = (agency.as_ref(), action.as_ref())
        && !agency.kind.carries(action.kind)
    {
        v.add(
            "agency.kind",
            format!(
                "a {} cannot carry out a {} (send it to a {})",
                agency_kind_name(agency.kind),
                action.kind.label(),
                carriers(action.kind)
            ),
        );
    }
    let (court, idempotency_key, case, subject, agency, action) = v.finish(all_parsed!(
        court,
        idempotency_key,
        case,
        subject,
        agency,
        action
    ))?;
    let normalised = pb::SubmitRequest {
        court_code: court.to_string(),
        idempotency_key: idempotency_key.to_string(),
        case: Some(case.normalised),
        subject: Some(subject.normalised),
        agency: Some(enforcement_proto::convert::agency_ref(&agency)),
        measure: Some(action.normalised.clone()),
    };
    Ok(ValidSubmit {
        asset_key: format!("{}:{}", agency.routing_key(), action.asset),
        court,
        idempotency_key,
        case_number: case.number,
        agency,
        kind: action.kind,
        asset_display: action.asset_display,
        requested_fen: action.requested_fen,
        deduct_from: action.deduct_from,
        enforcement_fen: case.enforcement_amount.fen(),
        up_to: action.up_to,
        measure: action.normalised,
        normalised,
    })
}

/// Which kind of agency carries out `kind`, as courts read it.
fn carriers(kind: MeasureKind) -> &'static str {
    match kind {
        MeasureKind::Freeze | MeasureKind::Deduction => "bank",
        MeasureKind::SealUp => "land registry",
        MeasureKind::Distraint | MeasureKind::ExitRestriction => "public security unit",
        MeasureKind::Inquiry
        | MeasureKind::Release
        | MeasureKind::Renewal
        | MeasureKind::Reduction => "the agency concerned",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;
    use tonic_types::StatusExt;

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
                up_to_open_amount: false,
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
            up_to_open_amount: false,
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
    fn a_freeze_up_to_the_open_amount_says_so_and_states_the_case_amount() {
        let mut req = freeze_request();
        if let Some(pb::submit_request::Measure::Freeze(f)) = req.measure.as_mut() {
            f.up_to_open_amount = true;
        }
        let valid = submit(&req, now()).expect("valid");
        assert!(valid.up_to);
        assert_eq!(
            valid.enforcement_fen,
            req.case.as_ref().map_or(0, |c| c.enforcement_amount_fen)
        );
    }

    #[test]
    fn a_court_may_not_name_the_id_of_a_deductions_remainder() {
        let mut req = freeze_request();
        req.measure = Some(pb::submit_request::Measure::Deduction(pb::Deduction {
            account_number: "6222020200112233445".into(),
            amount_fen: 1_000_000,
            receiving_account: Some(pb::ReceivingAccount {
                bank_name: "中国工商银行北京朝阳支行".into(),
                account_number: "0200001234567890123".into(),
                account_name: "北京市朝阳区人民法院".into(),
            }),
            remainder_measure_id: Uuid::now_v7().to_string(),
            remainder_period: Some(pb::Period {
                months: 13,
                days: 0,
            }),
            ..Default::default()
        }));
        let status = submit(&req, now()).expect_err("the hub names it");
        assert_eq!(
            fields(&status),
            vec![
                "deduction.remainder_measure_id",
                "deduction.remainder_period"
            ]
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
