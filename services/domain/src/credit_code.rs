//! Unified social credit codes (统一社会信用代码, GB 32100-2015).
//!
//! An entity debtor is named by this code in every measure; registries and banks match on it.
//! The check character catches most typing errors, so it is verified at the edge.

use std::fmt;
use std::str::FromStr;

use crate::IdentifierError;

/// The 31 characters a code may use, in value order (value = index). I, O, S, V and Z are left
/// out because they are easily confused with 1, 0, 5, U and 2.
const ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of the first 17 characters (3^i mod 31).
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// A unified social credit code whose alphabet and check character have been verified, stored
/// in upper case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditCode(String);

impl CreditCode {
    /// Parses a code, accepting lower case (upper-cased) and surrounding whitespace.
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let value = input.trim().to_ascii_uppercase();
        let count = value.chars().count();
        if count != 18 {
            return Err(IdentifierError::CreditCodeLength { found: count });
        }
        let mut values = [0_u32; 17];
        let mut given_check = '0';
        for (index, character) in value.chars().enumerate() {
            let Some(character_value) = value_of(character) else {
                return Err(IdentifierError::CreditCodeCharacter {
                    position: index + 1,
                    found: character,
                });
            };
            match values.get_mut(index) {
                Some(slot) => *slot = character_value,
                None => given_check = character,
            }
        }
        let expected = check_character(&values);
        if given_check != expected {
            return Err(IdentifierError::CreditCodeCheck {
                found: given_check,
                expected,
            });
        }
        Ok(Self(value))
    }

    /// Computes the check character for the first 17 characters, or `None` if `body` is not 17
    /// characters of the code alphabet. Meant for test-data generators.
    pub fn check_character_for(body: &str) -> Option<char> {
        let mut values = [0_u32; 17];
        let mut count = 0;
        for character in body.chars() {
            let slot = values.get_mut(count)?;
            *slot = value_of(character)?;
            count += 1;
        }
        (count == 17).then(|| check_character(&values))
    }

    /// The normalised 18 characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code with its middle eight characters hidden (`913501********0Y43`), for logs.
    pub fn masked(&self) -> String {
        // All 18 characters are ASCII, so byte offsets are character offsets.
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }
}

/// The value of a character: its index in [`ALPHABET`].
fn value_of(character: char) -> Option<u32> {
    // ALPHABET is ASCII, so the byte index is the character index.
    ALPHABET
        .find(character)
        .and_then(|index| u32::try_from(index).ok())
}

/// `31 - (Σ value × weight mod 31)`, where 31 wraps to 0 (the character `0`).
fn check_character(values: &[u32; 17]) -> char {
    let sum: u32 = values.iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    char::from(ALPHABET.as_bytes()[check as usize])
}

impl FromStr for CreditCode {
    type Err = IdentifierError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_reference_code() {
        let code = CreditCode::parse("91350100M000100Y43").expect("valid test input");
        assert_eq!(code.as_str(), "91350100M000100Y43");
        assert_eq!(code.to_string(), "91350100M000100Y43");
        assert_eq!(code.masked(), "913501********0Y43");
    }

    #[test]
    fn lower_case_is_upper_cased() {
        let code: CreditCode = " 91350100m000100y43 ".parse().expect("valid test input");
        assert_eq!(code.as_str(), "91350100M000100Y43");
    }

    #[test]
    fn check_value_of_31_wraps_to_zero() {
        // Search the last body character for a body whose weighted sum is a multiple of 31,
        // which makes 31 - 0 = 31 and must wrap to the character 0.
        let wrapping_body = ALPHABET
            .chars()
            .map(|last| format!("91350100M000100Y{last}"))
            .find(|body| {
                let sum: u32 = body
                    .chars()
                    .zip(WEIGHTS)
                    .map(|(c, w)| value_of(c).expect("valid test input") * w)
                    .sum();
                sum.is_multiple_of(31)
            })
            .expect("weight 28 is invertible mod 31, so one last character makes the sum 0");
        assert_eq!(CreditCode::check_character_for(&wrapping_body), Some('0'));
        let code = CreditCode::parse(&format!("{wrapping_body}0")).expect("valid test input");
        assert!(code.as_str().ends_with('0'));
        assert_eq!(
            CreditCode::parse(&format!("{wrapping_body}Y")).unwrap_err(),
            IdentifierError::CreditCodeCheck {
                found: 'Y',
                expected: '0'
            }
        );
    }

    #[test]
    fn wrong_check_character_names_the_expected_one() {
        let error = CreditCode::parse("91350100M000100Y44").unwrap_err();
        assert_eq!(
            error,
            IdentifierError::CreditCodeCheck {
                found: '4',
                expected: '3'
            }
        );
        assert_eq!(
            error.to_string(),
            "check character is 4, expected 3 (GB 32100-2015)"
        );
    }

    #[test]
    fn letters_outside_the_alphabet_are_refused() {
        for (input, position, found) in [
            ("91350100I000100Y43", 9, 'I'),
            ("91350100O000100Y43", 9, 'O'),
            ("91350100M000100S43", 16, 'S'),
            ("9135010VM000100Y43", 8, 'V'),
            ("91350100M000100Z43", 16, 'Z'),
            ("91350100M00-100Y43", 12, '-'),
        ] {
            assert_eq!(
                CreditCode::parse(input).unwrap_err(),
                IdentifierError::CreditCodeCharacter { position, found },
                "{input}"
            );
        }
    }

    #[test]
    fn wrong_length_is_refused() {
        assert_eq!(
            CreditCode::parse("91350100M000100Y4").unwrap_err(),
            IdentifierError::CreditCodeLength { found: 17 }
        );
        assert_eq!(
            CreditCode::parse("").unwrap_err(),
            IdentifierError::CreditCodeLength { found: 0 }
        );
    }
}
