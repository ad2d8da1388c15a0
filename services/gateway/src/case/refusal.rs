//! What a court is told when the case ledger refuses an order, in words and in a
//! `google.rpc.ErrorInfo` a program can act on (its reason and the amounts or measure involved).

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

use super::{CaseState, ledger::Exceeded, yuan};
use crate::{store::MeasureRow, validate::invalid};

/// The domain of the hub's `ErrorInfo` reasons.
pub const DOMAIN: &str = "enforcement.v1";

fn refusal(code: Code, message: String, reason: &str, metadata: &[(&str, String)]) -> Status {
    let metadata: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect();
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, DOMAIN, metadata),
    )
}

/// A freeze or deduction (`what`, e.g. "a freeze of 10,000.00") beyond what `case` has open.
pub fn exceeded(case: &str, what: &str, e: Exceeded) -> Status {
    refusal(
        Code::FailedPrecondition,
        format!(
            "{what} would take case {case} past its enforcement amount of {}: {} is secured already (frozen, pending and deducted across every bank) and {} is open (no excessive freezing, 民诉法 art. 253); ask for at most the open amount, or set up_to_open_amount to be granted it",
            yuan(e.enforcement),
            yuan(e.secured),
            yuan(e.open)
        ),
        "CASE_AMOUNT_EXCEEDED",
        &[
            ("case_number", case.to_string()),
            ("open_fen", e.open.to_string()),
            ("secured_fen", e.secured.to_string()),
            ("enforcement_amount_fen", e.enforcement.to_string()),
        ],
    )
}

/// A measure stating `stated` as the enforcement amount of a case whose amount is `in_force`.
pub fn amount_mismatch(stated: i64, in_force: i64) -> Status {
    invalid(
        "case.enforcement_amount_fen",
        format!(
            "is {} but the case's enforcement amount is {} (set by its first measure); state {} or amend the case with AmendCase",
            yuan(stated),
            yuan(in_force),
            yuan(in_force)
        ),
    )
}

/// A second measure of `kind` on the asset where `first` is in force, waiting or under way.
pub fn duplicate(first: &MeasureRow) -> Status {
    refusal(
        Code::AlreadyExists,
        format!(
            "this court already has {} {} ({}) on {} in case {}; a second would hold the same asset twice for one debt: follow, renew or release the first",
            article(first.kind.label()),
            first.id,
            first.state,
            first.asset_display,
            first.case_number
        ),
        "DUPLICATE_MEASURE",
        &[("measure_id", first.id.to_string())],
    )
}

fn article(label: &str) -> String {
    if label.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {label}")
    } else {
        format!("a {label}")
    }
}

/// A new measure in a case that is not open.
pub fn closed(case: &str, state: CaseState) -> Status {
    refusal(
        Code::FailedPrecondition,
        format!("case {case} is {state}: it takes no new measures"),
        "CASE_CLOSED",
        &[
            ("case_number", case.to_string()),
            ("state", state.as_str().to_string()),
        ],
    )
}

/// A case the court has not recorded a measure in.
pub fn no_case(court: &str, case: &str) -> Status {
    Status::not_found(format!(
        "court {court} has recorded no measure in case {case}"
    ))
}

/// The measure id in an `ALREADY_EXISTS` of a duplicate (for tests and clients).
pub fn duplicate_of(status: &Status) -> Option<Uuid> {
    status
        .get_error_details()
        .error_info()
        .filter(|i| i.reason == "DUPLICATE_MEASURE")
        .and_then(|i| i.metadata.get("measure_id"))
        .and_then(|id| Uuid::parse_str(id).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excess_names_the_open_amount_in_words_and_in_its_details() {
        let status = exceeded(
            "（2024）京0105执1号",
            "a freeze of 10,000.00",
            Exceeded {
                open: 0,
                secured: 6_000_000,
                enforcement: 6_000_000,
            },
        );
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(
            status.message().contains("0.00 is open"),
            "{}",
            status.message()
        );
        let details = status.get_error_details();
        let info = details.error_info().expect("error info");
        assert_eq!(info.reason, "CASE_AMOUNT_EXCEEDED");
        assert_eq!(info.metadata.get("open_fen").map(String::as_str), Some("0"));
    }

    #[test]
    fn a_mismatched_amount_names_the_field_and_the_amount_in_force() {
        let status = amount_mismatch(5_000_000, 6_000_000);
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let field = &details.bad_request().expect("bad request").field_violations[0];
        assert_eq!(field.field, "case.enforcement_amount_fen");
        assert!(
            field.description.contains("60,000.00"),
            "{}",
            field.description
        );
    }
}
