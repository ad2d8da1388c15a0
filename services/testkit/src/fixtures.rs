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

/// A freeze as a court submits it, built in the words of the domain:
/// `Freeze::of(1_000_000).at("ICBC", &account).held_by("张三", &id).case(1).key("freeze-1")`.
///
/// Unless told otherwise it is ordered by court 京0105 in its case 1, for 12 months; the case's
/// enforcement amount is the freeze amount (`.enforcement(…)` states another). The account, the holder and the key have no
/// default: a freeze without them is refused, as a court's would be.
#[derive(Clone, Debug)]
pub struct Freeze {
    /// How much to freeze, in fen; also the case's enforcement amount.
    amount_fen: i64,
    /// The bank's code.
    bank: String,
    /// The account at that bank.
    account: String,
    /// Whose deposits they are.
    holder: Option<pb::Subject>,
    /// The ordering court.
    court: String,
    /// The case the freeze is ordered in.
    case_number: String,
    /// The court's idempotency key.
    key: String,
    /// How long the freeze lasts, in months.
    months: u32,
    /// The case's enforcement amount, if not the freeze amount.
    enforcement_fen: Option<i64>,
    /// Granted up to the case's open amount rather than refused.
    up_to: bool,
}

impl Freeze {
    /// A freeze of `amount_fen`.
    pub fn of(amount_fen: i64) -> Self {
        Self {
            amount_fen,
            bank: String::new(),
            account: String::new(),
            holder: None,
            court: "京0105".into(),
            case_number: case_number(1),
            key: String::new(),
            months: 12,
            enforcement_fen: None,
            up_to: false,
        }
    }

    /// In a case whose enforcement amount is `amount_fen`.
    pub fn enforcement(mut self, amount_fen: i64) -> Self {
        self.enforcement_fen = Some(amount_fen);
        self
    }

    /// "Up to": granted what the case has open if that is less.
    pub fn up_to(mut self) -> Self {
        self.up_to = true;
        self
    }

    /// On `account` at bank `bank`.
    pub fn at(mut self, bank: &str, account: &str) -> Self {
        self.bank = bank.into();
        self.account = account.into();
        self
    }

    /// Held by the natural person `name` with `resident_id`.
    pub fn held_by(mut self, name: &str, resident_id: &str) -> Self {
        self.holder = Some(person(name, resident_id));
        self
    }

    /// Ordered by `court`.
    pub fn by(mut self, court: &str) -> Self {
        self.court = court.into();
        self
    }

    /// In case `serial` of court 京0105 (see [`case_number`]).
    pub fn case(self, serial: u32) -> Self {
        self.case_number(&case_number(serial))
    }

    /// In the case numbered `case_number`, of any court.
    pub fn case_number(mut self, case_number: &str) -> Self {
        self.case_number = case_number.into();
        self
    }

    /// Submitted with idempotency key `key`.
    pub fn key(mut self, key: &str) -> Self {
        self.key = key.into();
        self
    }

    /// For `months` months.
    pub fn months(mut self, months: u32) -> Self {
        self.months = months;
        self
    }

    /// The `Submit` request.
    pub fn request(self) -> pb::SubmitRequest {
        pb::SubmitRequest {
            court_code: self.court,
            idempotency_key: self.key,
            case: Some(case(
                &self.case_number,
                self.enforcement_fen.unwrap_or(self.amount_fen),
            )),
            subject: self.holder,
            agency: Some(bank(&self.bank)),
            measure: Some(pb::submit_request::Measure::Freeze(pb::Freeze {
                account_number: self.account,
                amount_fen: self.amount_fen,
                period: months(self.months),
                up_to_open_amount: self.up_to,
            })),
        }
    }
}

impl From<Freeze> for pb::SubmitRequest {
    fn from(freeze: Freeze) -> Self {
        freeze.request()
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

    #[test]
    fn a_freeze_is_ordered_by_court_jing0105_in_its_case_1_for_12_months_unless_told_otherwise() {
        let id = resident_id(1);
        let plain = Freeze::of(1_000_000)
            .at("ICBC", &account_number(1))
            .held_by("张三", &id)
            .key("k")
            .request();
        let told = Freeze::of(1_000_000)
            .at("ICBC", &account_number(1))
            .held_by("张三", &id)
            .key("k")
            .by("京0105")
            .case(1)
            .months(12)
            .request();
        assert_eq!(plain, told);
        assert_eq!(
            plain,
            pb::SubmitRequest {
                court_code: "京0105".into(),
                idempotency_key: "k".into(),
                case: Some(case(&case_number(1), 1_000_000)),
                subject: Some(person("张三", &id)),
                agency: Some(bank("ICBC")),
                measure: Some(pb::submit_request::Measure::Freeze(pb::Freeze {
                    account_number: account_number(1),
                    amount_fen: 1_000_000,
                    period: months(12),
                    up_to_open_amount: false,
                })),
            }
        );
        let elsewhere = Freeze::of(500_000)
            .by("粤03")
            .case_number("（2024）粤03执600号")
            .months(6)
            .request();
        assert_eq!(elsewhere.court_code, "粤03");
        assert_eq!(
            elsewhere.case.map(|c| c.case_number),
            Some("（2024）粤03执600号".to_string())
        );
        assert_eq!(
            elsewhere.measure,
            Some(pb::submit_request::Measure::Freeze(pb::Freeze {
                account_number: String::new(),
                amount_fen: 500_000,
                period: months(6),
                up_to_open_amount: false,
            }))
        );
    }
}
