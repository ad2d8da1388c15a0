//! Court codes (法院代字), e.g. `京0105`, `粤03`, `最高法`.
//!
//! The court code identifies the court that issued a measure; it is also the middle part of
//! every case number, which is why [`CourtCode::parse_prefix`] exists for the case-number parser.

use std::fmt;
use std::str::FromStr;

use crate::IdentifierError;

/// The Supreme People's Court's code, which has no province and no digits.
const SUPREME_COURT: &str = "最高法";

/// Province-level abbreviations that open every other court code (兵 is the Xinjiang Production
/// and Construction Corps courts).
pub const PROVINCE_ABBREVIATIONS: [char; 32] = [
    '京', '津', '冀', '晋', '内', '辽', '吉', '黑', '沪', '苏', '浙', '皖', '闽', '赣', '鲁', '豫',
    '鄂', '湘', '粤', '桂', '琼', '渝', '川', '黔', '云', '藏', '陕', '甘', '青', '宁', '新', '兵',
];

/// A court code: `最高法`, or a province abbreviation followed by 0 (high court), 2
/// (intermediate court) or 4 (basic court) ASCII digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CourtCode(String);

impl CourtCode {
    /// Parses a complete court code (surrounding whitespace is ignored).
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let (code, rest) = Self::parse_prefix(input.trim())?;
        if !rest.is_empty() {
            return Err(IdentifierError::CourtCodeTrailing {
                found: rest.to_owned(),
            });
        }
        Ok(code)
    }

    /// Reads a court code from the start of `input` and returns it with the rest of the input.
    ///
    /// Digits are taken greedily: every ASCII digit after the province abbreviation belongs to
    /// the court code and there must be 0, 2 or 4 of them. Case numbers rely on this, because the
    /// text after the court code never starts with a digit.
    pub(crate) fn parse_prefix(input: &str) -> Result<(Self, &str), IdentifierError> {
        if let Some(rest) = input.strip_prefix(SUPREME_COURT) {
            return Ok((Self(SUPREME_COURT.to_owned()), rest));
        }
        let province = input
            .chars()
            .next()
            .ok_or(IdentifierError::CourtCodeEmpty)?;
        if !PROVINCE_ABBREVIATIONS.contains(&province) {
            return Err(IdentifierError::CourtCodeProvince { found: province });
        }
        let code_length = province.len_utf8()
            + input[province.len_utf8()..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
        let (code, rest) = input.split_at(code_length);
        let digit_count = code_length - province.len_utf8();
        if !matches!(digit_count, 0 | 2 | 4) {
            return Err(IdentifierError::CourtCodeDigitCount { count: digit_count });
        }
        Ok((Self(code.to_owned()), rest))
    }

    /// The code as written, e.g. `京0105`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the Supreme People's Court.
    pub fn is_supreme_court(&self) -> bool {
        self.0 == SUPREME_COURT
    }

    /// The province abbreviation, or `None` for the Supreme People's Court.
    pub fn province(&self) -> Option<char> {
        if self.is_supreme_court() {
            None
        } else {
            self.0.chars().next()
        }
    }
}

impl FromStr for CourtCode {
    type Err = IdentifierError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl fmt::Display for CourtCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_intermediate_high_and_supreme_courts() {
        let basic = CourtCode::parse("京0105").expect("valid test input");
        assert_eq!(basic.as_str(), "京0105");
        assert_eq!(basic.province(), Some('京'));
        assert!(!basic.is_supreme_court());

        let intermediate: CourtCode = "粤03".parse().expect("valid test input");
        assert_eq!(intermediate.to_string(), "粤03");
        assert_eq!(intermediate.province(), Some('粤'));

        let high = CourtCode::parse("京").expect("valid test input");
        assert_eq!(high.as_str(), "京");

        let supreme = CourtCode::parse(" 最高法 ").expect("valid test input");
        assert_eq!(supreme.as_str(), "最高法");
        assert!(supreme.is_supreme_court());
        assert_eq!(supreme.province(), None);
    }

    #[test]
    fn every_province_abbreviation_is_accepted() {
        for province in PROVINCE_ABBREVIATIONS {
            let code = CourtCode::parse(&format!("{province}01")).expect("valid test input");
            assert_eq!(code.province(), Some(province));
        }
    }

    #[test]
    fn wrong_digit_counts_are_refused() {
        for (input, count) in [("京123", 3), ("京1", 1), ("京01051", 5)] {
            assert_eq!(
                CourtCode::parse(input).unwrap_err(),
                IdentifierError::CourtCodeDigitCount { count },
                "{input}"
            );
        }
    }

    #[test]
    fn unknown_province_is_refused() {
        let error = CourtCode::parse("XX01").unwrap_err();
        assert_eq!(error, IdentifierError::CourtCodeProvince { found: 'X' });
        assert!(error.to_string().contains("province abbreviation"));
        assert_eq!(
            CourtCode::parse("最高").unwrap_err(),
            IdentifierError::CourtCodeProvince { found: '最' }
        );
    }

    #[test]
    fn empty_and_trailing_text_are_refused() {
        assert_eq!(
            CourtCode::parse("").unwrap_err(),
            IdentifierError::CourtCodeEmpty
        );
        assert_eq!(
            CourtCode::parse("京0105执").unwrap_err(),
            IdentifierError::CourtCodeTrailing {
                found: "执".to_owned()
            }
        );
    }

    #[test]
    fn prefix_parsing_returns_the_rest() {
        let (code, rest) = CourtCode::parse_prefix("京0105执1234号").expect("valid test input");
        assert_eq!(code.as_str(), "京0105");
        assert_eq!(rest, "执1234号");
        let (code, rest) = CourtCode::parse_prefix("最高法执监12号").expect("valid test input");
        assert_eq!(code.as_str(), "最高法");
        assert_eq!(rest, "执监12号");
    }
}
