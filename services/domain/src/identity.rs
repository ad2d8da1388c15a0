//! Resident identity numbers (居民身份证号码, GB 11643-1999).
//!
//! A freeze, a seal-up or an exit restriction names a natural person by this number; banks and
//! border inspection match on it, so a mistyped number must be caught before it reaches them
//! rather than come back days later as "identity mismatch".

use std::fmt;
use std::str::FromStr;

use time::{Date, Month};

use crate::IdentifierError;

/// Weights of the first 17 digits in the check sum (GB 11643 §7).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// Check character for each value of `sum mod 11`.
const CHECK_CHARACTERS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// A resident identity number whose length, digits, date of birth and check character have all
/// been verified. The check character is always stored as upper-case `X`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResidentId {
    /// The normalised 18 characters.
    value: String,
    /// Digits 7-14, kept because courts and agencies use it to tell namesakes apart.
    birth_date: Date,
}

impl ResidentId {
    /// Parses a resident identity number, accepting a lower-case `x` and surrounding whitespace.
    ///
    /// Rules are checked left to right so the first error is the one the user sees first:
    /// length, digits, check character form, date of birth, then the check sum.
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let chars: Vec<char> = input.trim().chars().collect();
        let [body @ .., last] = chars.as_slice() else {
            return Err(IdentifierError::ResidentIdLength { found: 0 });
        };
        if chars.len() != 18 {
            return Err(IdentifierError::ResidentIdLength { found: chars.len() });
        }
        let mut digits = [0_u32; 17];
        for (index, (slot, character)) in digits.iter_mut().zip(body).enumerate() {
            *slot = character
                .to_digit(10)
                .ok_or(IdentifierError::ResidentIdDigit {
                    position: index + 1,
                    found: *character,
                })?;
        }
        let check = match last {
            '0'..='9' => *last,
            'x' | 'X' => 'X',
            other => return Err(IdentifierError::ResidentIdCheckCharacter { found: *other }),
        };
        let birth_date =
            birth_date(&digits).ok_or_else(|| IdentifierError::ResidentIdBirthDate {
                digits: body[6..14].iter().collect(),
            })?;
        let expected = check_character(&digits);
        if check != expected {
            return Err(IdentifierError::ResidentIdCheck {
                found: check,
                expected,
            });
        }
        let mut value: String = body.iter().collect();
        value.push(check);
        Ok(Self { value, birth_date })
    }

    /// Computes the check character for the first 17 digits, or `None` if `body` is not exactly
    /// 17 ASCII digits. Meant for test-data generators, which need valid numbers in bulk.
    pub fn check_character_for(body: &str) -> Option<char> {
        let mut digits = [0_u32; 17];
        let mut count = 0;
        for character in body.chars() {
            let slot = digits.get_mut(count)?;
            *slot = character.to_digit(10)?;
            count += 1;
        }
        (count == 17).then(|| check_character(&digits))
    }

    /// The normalised 18 characters.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The date of birth encoded in characters 7-14.
    pub fn birth_date(&self) -> Date {
        self.birth_date
    }

    /// The number with its middle eight characters hidden (`110105********002X`), for logs and
    /// screens that need to show which person without disclosing the number.
    pub fn masked(&self) -> String {
        // All 18 characters are ASCII, so byte offsets are character offsets.
        format!("{}********{}", &self.value[..6], &self.value[14..])
    }
}

/// Computes the check character from the 17 digit values.
fn check_character(digits: &[u32; 17]) -> char {
    let sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
    CHECK_CHARACTERS[(sum % 11) as usize]
}

/// Reads YYYYMMDD from digits 7-14; `None` unless it is a real date in or after 1900.
fn birth_date(digits: &[u32; 17]) -> Option<Date> {
    let number = |range: std::ops::Range<usize>| {
        digits[range]
            .iter()
            .fold(0_u32, |acc, digit| acc * 10 + digit)
    };
    let year = number(6..10);
    if year < 1900 {
        return None;
    }
    let month = Month::try_from(u8::try_from(number(10..12)).ok()?).ok()?;
    let day = u8::try_from(number(12..14)).ok()?;
    Date::from_calendar_date(i32::try_from(year).ok()?, month, day).ok()
}

impl FromStr for ResidentId {
    type Err = IdentifierError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl fmt::Display for ResidentId {
    /// Prints the full number: it is needed as-is in instructions to agencies. Use
    /// [`ResidentId::masked`] for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn parses_the_reference_number() {
        let id = ResidentId::parse("11010519491231002X").expect("valid test input");
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.to_string(), "11010519491231002X");
        assert_eq!(id.birth_date(), date!(1949 - 12 - 31));
        assert_eq!(id.masked(), "110105********002X");
    }

    #[test]
    fn lower_case_x_and_whitespace_are_normalised() {
        let id: ResidentId = " 11010519491231002x ".parse().expect("valid test input");
        assert_eq!(id.as_str(), "11010519491231002X");
    }

    #[test]
    fn numeric_check_character_is_accepted() {
        assert_eq!(
            ResidentId::check_character_for("44030419900307124"),
            Some('8')
        );
        let id = ResidentId::parse("440304199003071248").expect("valid test input");
        assert_eq!(id.as_str(), "440304199003071248");
        assert_eq!(id.birth_date(), date!(1990 - 03 - 07));
        assert_eq!(id.masked(), "440304********1248");
    }

    #[test]
    fn wrong_check_character_names_the_expected_one() {
        let error = ResidentId::parse("110105194912310023").unwrap_err();
        assert_eq!(
            error,
            IdentifierError::ResidentIdCheck {
                found: '3',
                expected: 'X'
            }
        );
        assert_eq!(
            error.to_string(),
            "check character is 3, expected X (GB 11643)"
        );
    }

    #[test]
    fn wrong_length_is_refused() {
        assert_eq!(
            ResidentId::parse("11010519491231002").unwrap_err(),
            IdentifierError::ResidentIdLength { found: 17 }
        );
        assert_eq!(
            ResidentId::parse("").unwrap_err(),
            IdentifierError::ResidentIdLength { found: 0 }
        );
    }

    #[test]
    fn non_digit_in_body_is_refused_with_its_position() {
        assert_eq!(
            ResidentId::parse("1101051949X231002X").unwrap_err(),
            IdentifierError::ResidentIdDigit {
                position: 11,
                found: 'X'
            }
        );
    }

    #[test]
    fn bad_check_character_form_is_refused() {
        assert_eq!(
            ResidentId::parse("11010519491231002Y").unwrap_err(),
            IdentifierError::ResidentIdCheckCharacter { found: 'Y' }
        );
    }

    #[test]
    fn impossible_birth_dates_are_refused_even_with_a_good_check_sum() {
        for body in [
            "11010519490230002",
            "11010518991231002",
            "11010519491301002",
        ] {
            let check = ResidentId::check_character_for(body).expect("valid test input");
            let error = ResidentId::parse(&format!("{body}{check}")).unwrap_err();
            assert_eq!(
                error,
                IdentifierError::ResidentIdBirthDate {
                    digits: body[6..14].to_owned()
                }
            );
        }
    }

    #[test]
    fn leap_day_birth_date_is_accepted() {
        let body = "11010520000229001";
        let check = ResidentId::check_character_for(body).expect("valid test input");
        let id = ResidentId::parse(&format!("{body}{check}")).expect("valid test input");
        assert_eq!(id.birth_date(), date!(2000 - 02 - 29));
    }

    #[test]
    fn check_character_for_refuses_bad_bodies() {
        assert_eq!(ResidentId::check_character_for("1101051949123100"), None);
        assert_eq!(ResidentId::check_character_for("110105194912310021"), None);
        assert_eq!(ResidentId::check_character_for("1101051949123100a"), None);
        assert_eq!(
            ResidentId::check_character_for("11010519491231002"),
            Some('X')
        );
    }
}
