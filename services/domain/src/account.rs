//! Bank account and card numbers.
//!
//! A freeze or deduction may name one account; banks match it exactly, so it is reduced to its
//! digits at the edge. Card numbers follow Luhn, but corporate and passbook accounts often do
//! not, so a failed Luhn check is only a warning for the caller to show ([`AccountNumber::luhn_ok`]).

use std::fmt;
use std::str::FromStr;

use crate::IdentifierError;

/// Account numbers the hub accepts have this many digits.
const DIGITS: std::ops::RangeInclusive<usize> = 6..=32;

/// A bank account or card number: 6 to 32 ASCII digits, spaces removed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountNumber(String);

impl AccountNumber {
    /// Parses an account number, removing any whitespace people put in to group digits
    /// (`6222 0202 0000 1234 567`).
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if let Some(found) = digits.chars().find(|c| !c.is_ascii_digit()) {
            return Err(IdentifierError::AccountNumberCharacter { found });
        }
        if !DIGITS.contains(&digits.len()) {
            return Err(IdentifierError::AccountNumberLength {
                found: digits.len(),
            });
        }
        Ok(Self(digits))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the number passes the Luhn mod 10 check that card numbers carry. `false` is a
    /// warning only: many valid corporate and passbook accounts fail it.
    pub fn luhn_ok(&self) -> bool {
        let sum: u32 = self
            .0
            .bytes()
            .rev()
            .enumerate()
            .map(|(index, byte)| {
                let digit = u32::from(byte - b'0');
                if index % 2 == 1 {
                    let doubled = digit * 2;
                    if doubled > 9 { doubled - 9 } else { doubled }
                } else {
                    digit
                }
            })
            .sum();
        sum.is_multiple_of(10)
    }

    /// The number with all but its ends hidden, for logs and screens: first 4 + `****` + last 4,
    /// or `****` + last 2 for numbers of 8 digits or fewer (where 8 shown digits would be all).
    pub fn masked(&self) -> String {
        // Digits only, so byte offsets are character offsets.
        let length = self.0.len();
        if length > 8 {
            format!("{}****{}", &self.0[..4], &self.0[length - 4..])
        } else {
            format!("****{}", &self.0[length - 2..])
        }
    }
}

impl FromStr for AccountNumber {
    type Err = IdentifierError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl fmt::Display for AccountNumber {
    /// The full number: instructions to banks need it. Use [`AccountNumber::masked`] for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_spaces_and_keeps_digits() {
        let account = AccountNumber::parse(" 6222 0202 0000 1234 567 ").expect("valid test input");
        assert_eq!(account.as_str(), "6222020200001234567");
        assert_eq!(account.to_string(), "6222020200001234567");
        let with_ideographic_space: AccountNumber = "622202\u{3000}0200001234567"
            .parse()
            .expect("valid test input");
        assert_eq!(with_ideographic_space, account);
    }

    #[test]
    fn masks_long_and_short_numbers() {
        assert_eq!(
            AccountNumber::parse("6222020200001234567")
                .expect("valid test input")
                .masked(),
            "6222****4567"
        );
        assert_eq!(
            AccountNumber::parse("123456789")
                .expect("valid test input")
                .masked(),
            "1234****6789"
        );
        assert_eq!(
            AccountNumber::parse("12345678")
                .expect("valid test input")
                .masked(),
            "****78"
        );
        assert_eq!(
            AccountNumber::parse("123456")
                .expect("valid test input")
                .masked(),
            "****56"
        );
    }

    #[test]
    fn luhn_check_is_reported_not_enforced() {
        assert!(
            AccountNumber::parse("4111 1111 1111 1111")
                .expect("valid test input")
                .luhn_ok()
        );
        assert!(
            AccountNumber::parse("79927398713")
                .expect("valid test input")
                .luhn_ok()
        );
        let corporate = AccountNumber::parse("79927398710").expect("valid test input");
        assert!(!corporate.luhn_ok());
        assert_eq!(corporate.as_str(), "79927398710");
    }

    #[test]
    fn refuses_non_digits_and_bad_lengths() {
        assert_eq!(
            AccountNumber::parse("6222-0202").unwrap_err(),
            IdentifierError::AccountNumberCharacter { found: '-' }
        );
        assert_eq!(
            AccountNumber::parse("６２２２０２").unwrap_err(),
            IdentifierError::AccountNumberCharacter { found: '６' }
        );
        assert_eq!(
            AccountNumber::parse("12345").unwrap_err(),
            IdentifierError::AccountNumberLength { found: 5 }
        );
        assert_eq!(
            AccountNumber::parse(&"1".repeat(33)).unwrap_err(),
            IdentifierError::AccountNumberLength { found: 33 }
        );
        assert_eq!(
            AccountNumber::parse("   ").unwrap_err(),
            IdentifierError::AccountNumberLength { found: 0 }
        );
    }
}
