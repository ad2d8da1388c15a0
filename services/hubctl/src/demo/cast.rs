//! The names the demo makes up for each run: account numbers, resident identity numbers and case
//! numbers, all valid by the hub's rules and all different from one run to the next.

use hub_domain::{CourtCode, ResidentId};
use time::OffsetDateTime;

use crate::{error::Failure, format};

/// Account numbers, identities and case numbers made up for one run from the time it started,
/// so that reruns against the same hub and bank never collide.
pub(super) struct Cast {
    /// Milliseconds since the epoch, last 13 digits.
    stamp: u64,
    /// The current year in China Standard Time, for case numbers.
    year: i32,
}

impl Cast {
    pub(super) fn at(now: OffsetDateTime) -> Self {
        let millis = now.unix_timestamp_nanos() / 1_000_000;
        Self {
            stamp: u64::try_from(millis.rem_euclid(10_000_000_000_000)).unwrap_or(0),
            year: now.to_offset(format::CHINA_STANDARD_TIME).year(),
        }
    }

    /// A 19-digit card number with a valid Luhn check digit.
    pub(super) fn account_number(&self, n: u8) -> String {
        let body = format!("6230{:013}{}", self.stamp, n % 10);
        format!("{body}{}", luhn_check_digit(&body))
    }

    /// A valid resident identity number: born in Dongcheng, Beijing, on a date between 1960 and
    /// 1987 taken from the stamp, with `n` in the sequence number.
    pub(super) fn resident_id(&self, n: u16) -> Result<String, Failure> {
        let birth = time::Date::from_calendar_date(1960, time::Month::January, 1)
            .ok()
            .and_then(|d| {
                d.checked_add(time::Duration::days(
                    i64::try_from(self.stamp / 1000 % 10_000).unwrap_or(0),
                ))
            })
            .ok_or_else(|| Failure::Unexpected("no birth date for the demo's holders".into()))?;
        let sequence = (self.stamp % 500) * 2 + u64::from(n % 2);
        let body = format!(
            "110105{:04}{:02}{:02}{sequence:03}",
            birth.year(),
            u8::from(birth.month()),
            birth.day()
        );
        let check = ResidentId::check_character_for(&body).ok_or_else(|| {
            Failure::Unexpected(format!("{body} is not 17 digits of a resident id"))
        })?;
        Ok(format!("{body}{check}"))
    }

    /// A case number of `court` for this run, e.g. `（2026）京0105执4567891号`.
    pub(super) fn case_number(&self, court: &CourtCode, n: u32) -> String {
        let serial = 1_000_000 + (self.stamp / 10 % 8_000_000) + u64::from(n);
        format!("（{}）{court}执{serial}号", self.year)
    }
}

/// The Luhn check digit (ISO/IEC 7812) that makes `body` followed by it a valid card number.
fn luhn_check_digit(body: &str) -> u32 {
    let sum: u32 = body
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{FIRST_COURT, SECOND_COURT, court_code};
    use hub_domain::{AccountNumber, CaseNumber};

    fn cast() -> Cast {
        Cast::at(OffsetDateTime::from_unix_timestamp(1_793_685_909).expect("in range"))
    }

    #[test]
    fn the_luhn_digit_matches_a_known_card_number() {
        // 4539 1488 0343 6467 is a standard Luhn test number.
        assert_eq!(luhn_check_digit("453914880343646"), 7);
        assert_eq!(luhn_check_digit("7992739871"), 3);
    }

    #[test]
    fn made_up_accounts_are_valid_card_numbers_and_differ() {
        let cast = cast();
        let first = AccountNumber::parse(&cast.account_number(1)).expect("valid");
        let second = AccountNumber::parse(&cast.account_number(2)).expect("valid");
        assert!(first.luhn_ok() && second.luhn_ok());
        assert_ne!(first, second);
        assert_eq!(first.as_str().len(), 19);
    }

    #[test]
    fn made_up_identities_are_valid_and_differ() {
        let cast = cast();
        let zhang = cast.resident_id(0).expect("generated");
        let li = cast.resident_id(1).expect("generated");
        assert!(ResidentId::parse(&zhang).is_ok(), "{zhang}");
        assert!(ResidentId::parse(&li).is_ok(), "{li}");
        assert_ne!(zhang, li);
    }

    #[test]
    fn made_up_case_numbers_are_enforcement_cases_of_the_court() {
        let cast = cast();
        for code in [FIRST_COURT, SECOND_COURT] {
            let court = court_code(code).expect("valid court");
            let case = CaseNumber::parse(&cast.case_number(&court, 3)).expect("valid case");
            assert_eq!(case.court(), &court);
            assert_eq!(case.year(), 2026);
        }
    }
}
