//! Valid identities, documents and requests for tests.

use enforcement_proto::v1 as pb;
use hub_domain::ResidentId;

/// A valid resident identity number, distinct for each `n` below 1,000 × 365.
pub fn resident_id(n: u32) -> String {
    let day = n / 1000;
    let date = time::Date::from_ordinal_date(1980, 1)
        .ok()
        .and_then(|d| d.checked_add(time::Duration::days(i64::from(day))))
        .unwrap_or(time::Date::MIN);
    let body = format!(
        "110105{:04}{:02}{:02}{:03}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        n % 1000
    );
    let check = ResidentId::check_character_for(&body).unwrap_or('0');
    format!("{body}{check}")
}

/// An account number at a test bank, distinct for each `n`.
pub fn account_number(n: u32) -> String {
    format!("62220202{n:011}")
}

/// A case number of court 京0105, distinct for each `serial` (from 1).
pub fn case_number(serial: u32) -> String {
    format!("（2024）京0105执{}号", serial.max(1))
}

/// A natural-person subject.
pub fn person(name: &str, resident_id: &str) -> pb::Subject {
    pb::Subject {
        party: Some(pb::subject::Party::Person(pb::NaturalPerson {
            name: name.into(),
            resident_id: resident_id.into(),
        })),
    }
}

/// Case documents for `case_number`, with an enforcement amount of `amount_fen`.
pub fn case(case_number: &str, amount_fen: i64) -> pb::CaseInfo {
    pb::CaseInfo {
        case_number: case_number.into(),
        enforcement_amount_fen: amount_fen,
        ruling_number: format!("{case_number}之一"),
        notice_number: format!("{case_number}协助执行通知书"),
        officer: "王执行".into(),
    }
}

/// A bank.
pub fn bank(code: &str) -> pb::AgencyRef {
    pb::AgencyRef {
        kind: pb::AgencyKind::Bank as i32,
        code: code.into(),
    }
}

/// A land registry.
pub fn land(code: &str) -> pb::AgencyRef {
    pb::AgencyRef {
        kind: pb::AgencyKind::LandRegistry as i32,
        code: code.into(),
    }
}

/// A public security unit.
pub fn police(code: &str) -> pb::AgencyRef {
    pb::AgencyRef {
        kind: pb::AgencyKind::PublicSecurity as i32,
        code: code.into(),
    }
}

/// An organisation subject.
pub fn organisation(name: &str, credit_code: &str) -> pb::Subject {
    pb::Subject {
        party: Some(pb::subject::Party::Organisation(pb::Organisation {
            name: name.into(),
            credit_code: credit_code.into(),
        })),
    }
}

/// Any measure for `court` in `case_number` against `subject` at `agency`; the case's
/// enforcement amount is 1,000,000.00.
pub fn order(
    court: &str,
    key: &str,
    case_number: &str,
    subject: pb::Subject,
    agency: pb::AgencyRef,
    measure: pb::submit_request::Measure,
) -> pb::SubmitRequest {
    pb::SubmitRequest {
        court_code: court.into(),
        idempotency_key: key.into(),
        case: Some(case(case_number, 100_000_000)),
        subject: Some(subject),
        agency: Some(agency),
        measure: Some(measure),
    }
}

/// A period of whole months.
pub fn months(months: u32) -> Option<pb::Period> {
    Some(pb::Period { months, days: 0 })
}

/// A freeze of `amount_fen` for `months` on `account` at `bank_code`, ordered by `court` in
/// `case_number` against `subject`; the case's enforcement amount is the freeze amount.
#[allow(clippy::too_many_arguments)]
pub fn freeze(
    court: &str,
    key: &str,
    case_number: &str,
    subject: pb::Subject,
    bank_code: &str,
    account: &str,
    amount_fen: i64,
    months: u32,
) -> pb::SubmitRequest {
    pb::SubmitRequest {
        court_code: court.into(),
        idempotency_key: key.into(),
        case: Some(case(case_number, amount_fen)),
        subject: Some(subject),
        agency: Some(bank(bank_code)),
        measure: Some(pb::submit_request::Measure::Freeze(pb::Freeze {
            account_number: account.into(),
            amount_fen,
            period: Some(pb::Period { months, days: 0 }),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identities_are_valid_and_distinct() {
        let ids: std::collections::BTreeSet<String> = (0..2000).map(resident_id).collect();
        assert_eq!(ids.len(), 2000);
        for id in &ids {
            assert!(ResidentId::parse(id).is_ok(), "{id}");
        }
        assert!(hub_domain::CaseNumber::parse(&case_number(7)).is_ok());
        assert!(hub_domain::AccountNumber::parse(&account_number(7)).is_ok());
    }
}
