//! What the commands that create a measure share: the idempotency key, the case and subject of
//! a new measure, sending it, printing what the hub recorded, and `--wait`. Each command builds
//! its own [`Order`] and hands it to [`order`].

use enforcement_proto::{convert, v1 as pb};
use hub_domain::MeasureState;
use uuid::Uuid;

use crate::{
    Context, Output,
    cli::{CaseArgs, SubjectArgs, SubmitOptions},
    court::{Court, Submitted},
    error::Failure,
    format, json,
    wait::{self, Waited},
};

/// A new measure, ready to send.
#[derive(Clone, Debug)]
pub struct Order {
    /// The case and its documents.
    pub case: pb::CaseInfo,
    /// Who is enforced against.
    pub subject: pb::Subject,
    /// The agency that must carry it out.
    pub agency: pb::AgencyRef,
    /// What is ordered.
    pub measure: pb::submit_request::Measure,
}

/// Sends `order` for the court given with `--court` under the `--key` (or a fresh one), and
/// reports it as [`report`] does.
pub async fn order(
    context: &Context,
    order: Order,
    options: &SubmitOptions,
) -> Result<(), Failure> {
    let mut court = context.court().await?;
    let key = idempotency_key(options.key.clone(), context.out);
    let submitted = court
        .submit(&key, order.case, order.subject, order.agency, order.measure)
        .await?;
    report(&mut court, context.out, submitted, options).await
}

/// The key given with `--key`, or a fresh UUIDv7. A generated key is printed on stderr before
/// anything is sent, so that a request whose answer was lost can be retried without creating a
/// second measure.
pub fn idempotency_key(given: Option<String>, out: Output) -> String {
    given.unwrap_or_else(|| {
        let key = Uuid::now_v7().to_string();
        out.note(format!(
            "idempotency key {key} (generated): to retry this request safely, repeat it with --key {key}"
        ));
        key
    })
}

/// The case and its documents; ruling and notice numbers default to the names courts give them.
pub fn case_info(args: &CaseArgs) -> pb::CaseInfo {
    let case = args.case_number.trim();
    pb::CaseInfo {
        case_number: case.to_owned(),
        enforcement_amount_fen: args.enforcement_amount.fen(),
        ruling_number: args.ruling.clone().unwrap_or_else(|| format!("{case}之一")),
        notice_number: args
            .notice
            .clone()
            .unwrap_or_else(|| format!("{case}协助执行通知书")),
        officer: args.officer.clone(),
    }
}

/// The person or organisation enforced against.
pub fn subject(args: &SubjectArgs) -> Result<pb::Subject, Failure> {
    let party = match (
        &args.person_name,
        &args.resident_id,
        &args.org_name,
        &args.credit_code,
    ) {
        (Some(name), Some(id), None, None) => pb::subject::Party::Person(pb::NaturalPerson {
            name: name.clone(),
            resident_id: id.clone(),
        }),
        (None, None, Some(name), Some(code)) => {
            pb::subject::Party::Organisation(pb::Organisation {
                name: name.clone(),
                credit_code: code.clone(),
            })
        }
        _ => {
            return Err(Failure::Usage(
                "name the subject either as a person (--person-name and --resident-id) or as an organisation (--org-name and --credit-code)".into(),
            ));
        }
    };
    Ok(pb::Subject { party: Some(party) })
}

/// An agency of `kind`, by its code at the hub.
pub fn agency(kind: pb::AgencyKind, code: &str) -> pb::AgencyRef {
    pb::AgencyRef {
        kind: kind as i32,
        code: code.trim().to_owned(),
    }
}

/// A bank, by its code at the hub.
pub fn bank(code: &str) -> pb::AgencyRef {
    agency(pb::AgencyKind::Bank, code)
}

/// A period of `months` and `days`.
pub fn period(months: u32, days: u32) -> Option<pb::Period> {
    Some(pb::Period { months, days })
}

/// Prints what the hub recorded and, with `--wait`, waits for the agency's answer and prints it.
/// A measure that ends rejected, failed or expired is a failure (exit code 5).
pub async fn report(
    court: &mut Court,
    out: Output,
    submitted: Submitted,
    options: &SubmitOptions,
) -> Result<(), Failure> {
    let Submitted {
        key,
        duplicate,
        measure,
    } = submitted;
    out.json(&json::submission("submitted", &key, duplicate, &measure));
    let kind = format::words(&format::kind(measure.kind));
    if duplicate {
        out.text(format!(
            "idempotency key {key} was used before: nothing new was created; the original {kind} is {}",
            measure.measure_id
        ));
    } else {
        out.text(format!(
            "recorded {kind} {} (idempotency key {key})",
            measure.measure_id
        ));
    }
    if !options.wait {
        out.text(format::measure::details(&measure));
        return Ok(());
    }

    out.note(format!(
        "waiting for {} to answer (at most {:?}; Ctrl-C stops the waiting, not the measure)…",
        format::agency(measure.agency.as_ref()),
        options.timeout
    ));
    let Waited {
        measure,
        message: note,
    } = court
        .wait_for(
            &measure.measure_id,
            "get the agency's answer",
            options.timeout,
            wait::answered,
        )
        .await?;
    out.json(&json::submission("outcome", &key, duplicate, &measure));
    out.text(format!("outcome: {}", format::measure::summary(&measure)));
    if !note.is_empty() {
        out.text(format!("note:    {note}"));
    }
    out.text(format::measure::details(&measure));
    match convert::state_from_proto(measure.state) {
        Some(state @ (MeasureState::Rejected | MeasureState::Failed | MeasureState::Expired)) => {
            Err(Failure::Outcome(format!(
                "the {kind} {} was {state}{}",
                measure.measure_id,
                format::reason(measure.reason.as_ref())
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_domain::Money;

    fn case(ruling: Option<&str>) -> CaseArgs {
        CaseArgs {
            case_number: " （2024）京0105执1号 ".into(),
            enforcement_amount: Money::from_fen(5_000_000).expect("positive"),
            ruling: ruling.map(Into::into),
            notice: None,
            officer: "王执行".into(),
        }
    }

    #[test]
    fn documents_default_to_the_case_numbers_court_style() {
        let info = case_info(&case(None));
        assert_eq!(info.case_number, "（2024）京0105执1号");
        assert_eq!(info.ruling_number, "（2024）京0105执1号之一");
        assert_eq!(info.notice_number, "（2024）京0105执1号协助执行通知书");
        assert_eq!(info.enforcement_amount_fen, 5_000_000);
        assert_eq!(
            case_info(&case(Some("（2024）京0105执1号之二"))).ruling_number,
            "（2024）京0105执1号之二"
        );
    }

    #[test]
    fn the_subject_is_a_person_or_an_organisation() {
        let person = SubjectArgs {
            person_name: Some("张三".into()),
            resident_id: Some("11010519491231002X".into()),
            org_name: None,
            credit_code: None,
        };
        assert!(matches!(
            subject(&person).expect("person").party,
            Some(pb::subject::Party::Person(_))
        ));
        let neither = SubjectArgs {
            person_name: None,
            resident_id: None,
            org_name: None,
            credit_code: None,
        };
        assert_eq!(
            subject(&neither).expect_err("none").exit_code(),
            crate::error::exit::INVALID
        );
    }
}
