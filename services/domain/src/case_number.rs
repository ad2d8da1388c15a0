//! Case numbers (案号, format in force since 2016), restricted to enforcement cases.
//!
//! Every measure carries the case number it was issued in; the hub groups outcomes by case (to
//! keep the total frozen within the enforcement amount), so the number must be parsed into its
//! parts and written one canonical way.

use std::fmt;
use std::str::FromStr;

use crate::{CourtCode, IdentifierError};

/// Years the hub accepts: the 2016 format was applied to older cases on renumbering, and nothing
/// legitimate is dated past 2100.
const YEARS: std::ops::RangeInclusive<u16> = 1990..=2100;

/// Largest serial number in use (seven digits).
const MAX_SERIAL: u32 = 9_999_999;

/// Longest type code, e.g. 执恢, 执监 (two) or three-character codes.
const MAX_TYPE_CODE_CHARS: usize = 3;

/// An enforcement case number such as `（2023）京0105执1234号`.
///
/// Parsed into year, court, optional specialised-court character, type code and serial, and
/// written back with full-width parentheses whatever the input used.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CaseNumber {
    /// The canonical text, kept so `as_str` needs no allocation.
    text: String,
    /// Year the case was filed.
    year: u16,
    /// The court that filed it.
    court: CourtCode,
    /// One-character code of a specialised court, when present.
    specialised: Option<char>,
    /// The case type, always an enforcement type (执…, 财保).
    type_code: String,
    /// Serial within year, court and type.
    serial: u32,
}

impl CaseNumber {
    /// Parses a case number written with full-width `（）` or ASCII `()` parentheses around the
    /// year, and refuses any case type that is not an enforcement type.
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let input = input.trim();
        let (year, after_year) = parse_year(input)?;
        let (court, after_court) = CourtCode::parse_prefix(after_year)?;
        let body = after_court
            .strip_suffix('号')
            .ok_or(IdentifierError::CaseNumberMissingHao)?;

        // The serial is the run of ASCII digits just before 号. Multi-byte UTF-8 sequences
        // never contain ASCII bytes, so the split falls on a character boundary.
        let serial_length = body.bytes().rev().take_while(u8::is_ascii_digit).count();
        let (middle, serial_text) = body.split_at(body.len() - serial_length);

        let (specialised, type_code) = parse_type(middle)?;
        let serial = parse_serial(serial_text)?;

        let text = canonical_text(year, &court, specialised, type_code, serial);
        Ok(Self {
            text,
            year,
            court,
            specialised,
            type_code: type_code.to_owned(),
            serial,
        })
    }

    /// The canonical text, with full-width parentheses.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Year the case was filed.
    pub fn year(&self) -> u16 {
        self.year
    }

    /// The court that filed the case.
    pub fn court(&self) -> &CourtCode {
        &self.court
    }

    /// The specialised-court character, if the number has one.
    pub fn specialised(&self) -> Option<char> {
        self.specialised
    }

    /// The enforcement type code, e.g. `执`, `执恢`, `财保`.
    pub fn type_code(&self) -> &str {
        &self.type_code
    }

    /// Serial number within year, court and type.
    pub fn serial(&self) -> u32 {
        self.serial
    }
}

/// Reads `（YYYY）` or `(YYYY)` and returns the year and the rest.
fn parse_year(input: &str) -> Result<(u16, &str), IdentifierError> {
    let after_open = input
        .strip_prefix('（')
        .or_else(|| input.strip_prefix('('))
        .ok_or(IdentifierError::CaseNumberYearFormat)?;
    let close = after_open
        .find(['）', ')'])
        .ok_or(IdentifierError::CaseNumberYearFormat)?;
    let (year_text, closing) = after_open.split_at(close);
    let rest = closing
        .strip_prefix('）')
        .or_else(|| closing.strip_prefix(')'))
        .ok_or(IdentifierError::CaseNumberYearFormat)?;
    if year_text.len() != 4 || !year_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdentifierError::CaseNumberYearFormat);
    }
    let year: u16 = year_text
        .parse()
        .map_err(|_| IdentifierError::CaseNumberYearFormat)?;
    if !YEARS.contains(&year) {
        return Err(IdentifierError::CaseNumberYearRange { year });
    }
    Ok((year, rest))
}

/// Splits the text between court code and serial into the optional specialised-court character
/// and the type code, and refuses non-enforcement types.
///
/// If the text starts with 执 or is exactly 财保 it is all type code; otherwise its first
/// character is the specialised-court code and the rest must be an enforcement type.
fn parse_type(middle: &str) -> Result<(Option<char>, &str), IdentifierError> {
    if middle.is_empty() {
        return Err(IdentifierError::CaseNumberMissingTypeCode);
    }
    if !middle.chars().all(is_chinese_character) {
        return Err(IdentifierError::CaseNumberTypeCodeCharacters {
            found: middle.to_owned(),
        });
    }
    let (specialised, type_code) = if is_enforcement_type(middle) {
        (None, middle)
    } else {
        let mut chars = middle.chars();
        let first = chars.next();
        let rest = chars.as_str();
        if !is_enforcement_type(rest) {
            return Err(IdentifierError::NotEnforcementType {
                found: middle.to_owned(),
            });
        }
        (first, rest)
    };
    if type_code.chars().count() > MAX_TYPE_CODE_CHARS {
        return Err(IdentifierError::CaseNumberTypeCodeTooLong {
            found: type_code.to_owned(),
        });
    }
    Ok((specialised, type_code))
}

/// Enforcement types: every code beginning with 执 (执, 执恢, 执异, 执复, 执监, 执保, …) and
/// property preservation 财保.
fn is_enforcement_type(code: &str) -> bool {
    code.starts_with('执') || code == "财保"
}

/// CJK unified ideographs and extension A: what type and specialised-court codes are written in.
fn is_chinese_character(character: char) -> bool {
    matches!(character, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// Reads the serial: digits, no leading zero, 1..=9_999_999.
fn parse_serial(digits: &str) -> Result<u32, IdentifierError> {
    if digits.is_empty() {
        return Err(IdentifierError::CaseNumberMissingSerial);
    }
    if digits.starts_with('0') {
        return Err(IdentifierError::CaseNumberSerialLeadingZero {
            found: digits.to_owned(),
        });
    }
    let out_of_range = || IdentifierError::CaseNumberSerialRange {
        found: digits.to_owned(),
    };
    let serial: u32 = digits.parse().map_err(|_| out_of_range())?;
    if serial > MAX_SERIAL {
        return Err(out_of_range());
    }
    Ok(serial)
}

/// Writes the number the one way the hub stores and sends it.
fn canonical_text(
    year: u16,
    court: &CourtCode,
    specialised: Option<char>,
    type_code: &str,
    serial: u32,
) -> String {
    let specialised = specialised.map(String::from).unwrap_or_default();
    format!("（{year}）{court}{specialised}{type_code}{serial}号")
}

impl FromStr for CaseNumber {
    type Err = IdentifierError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl fmt::Display for CaseNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_basic_court_enforcement_case() {
        let number = CaseNumber::parse("（2023）京0105执1234号").expect("valid test input");
        assert_eq!(number.year(), 2023);
        assert_eq!(number.court().as_str(), "京0105");
        assert_eq!(number.specialised(), None);
        assert_eq!(number.type_code(), "执");
        assert_eq!(number.serial(), 1234);
        assert_eq!(number.as_str(), "（2023）京0105执1234号");
    }

    #[test]
    fn ascii_parentheses_are_normalised_to_full_width() {
        let number: CaseNumber = " (2023)京0105执1234号 ".parse().expect("valid test input");
        assert_eq!(number.to_string(), "（2023）京0105执1234号");
        assert_eq!(
            number,
            CaseNumber::parse("（2023）京0105执1234号").expect("valid test input")
        );
    }

    #[test]
    fn parses_supreme_court_supervision_case() {
        let number = CaseNumber::parse("（2024）最高法执监12号").expect("valid test input");
        assert_eq!(number.year(), 2024);
        assert!(number.court().is_supreme_court());
        assert_eq!(number.type_code(), "执监");
        assert_eq!(number.serial(), 12);
    }

    #[test]
    fn parses_property_preservation_case() {
        let number = CaseNumber::parse("（2022）粤03财保7号").expect("valid test input");
        assert_eq!(number.year(), 2022);
        assert_eq!(number.court().as_str(), "粤03");
        assert_eq!(number.specialised(), None);
        assert_eq!(number.type_code(), "财保");
        assert_eq!(number.serial(), 7);
    }

    #[test]
    fn parses_resumed_enforcement_case() {
        let number = CaseNumber::parse("（2021）沪0115执恢88号").expect("valid test input");
        assert_eq!(number.court().as_str(), "沪0115");
        assert_eq!(number.type_code(), "执恢");
        assert_eq!(number.serial(), 88);
    }

    #[test]
    fn parses_specialised_court_character() {
        let number = CaseNumber::parse("（2020）京73知执9号").expect("valid test input");
        assert_eq!(number.court().as_str(), "京73");
        assert_eq!(number.specialised(), Some('知'));
        assert_eq!(number.type_code(), "执");
        assert_eq!(number.serial(), 9);
        assert_eq!(number.as_str(), "（2020）京73知执9号");
    }

    #[test]
    fn high_court_without_digits_and_largest_serial() {
        let number = CaseNumber::parse("（2100）新执异9999999号").expect("valid test input");
        assert_eq!(number.year(), 2100);
        assert_eq!(number.court().as_str(), "新");
        assert_eq!(number.type_code(), "执异");
        assert_eq!(number.serial(), 9_999_999);
    }

    #[test]
    fn civil_first_instance_is_not_an_enforcement_type() {
        let error = CaseNumber::parse("（2023）京0105民初1234号").unwrap_err();
        assert_eq!(
            error,
            IdentifierError::NotEnforcementType {
                found: "民初".to_owned()
            }
        );
        assert_eq!(
            error.to_string(),
            "type code 民初 is not an enforcement type (执…, 财保)"
        );
    }

    #[test]
    fn missing_hao_is_refused() {
        assert_eq!(
            CaseNumber::parse("（2023）京0105执1234").unwrap_err(),
            IdentifierError::CaseNumberMissingHao
        );
    }

    #[test]
    fn serial_with_leading_zero_is_refused() {
        assert_eq!(
            CaseNumber::parse("（2023）京0105执0123号").unwrap_err(),
            IdentifierError::CaseNumberSerialLeadingZero {
                found: "0123".to_owned()
            }
        );
    }

    #[test]
    fn serial_out_of_range_is_refused() {
        assert_eq!(
            CaseNumber::parse("（2023）京0105执10000000号").unwrap_err(),
            IdentifierError::CaseNumberSerialRange {
                found: "10000000".to_owned()
            }
        );
        assert_eq!(
            CaseNumber::parse("（2023）京0105执号").unwrap_err(),
            IdentifierError::CaseNumberMissingSerial
        );
    }

    #[test]
    fn two_digit_or_missing_year_is_refused() {
        for input in [
            "（23）京0105执1234号",
            "2023京0105执1234号",
            "（2023京0105执1234号",
            "（２０２３）京0105执1234号",
        ] {
            assert_eq!(
                CaseNumber::parse(input).unwrap_err(),
                IdentifierError::CaseNumberYearFormat,
                "{input}"
            );
        }
    }

    #[test]
    fn year_out_of_range_is_refused() {
        assert_eq!(
            CaseNumber::parse("（1989）京0105执1234号").unwrap_err(),
            IdentifierError::CaseNumberYearRange { year: 1989 }
        );
        assert_eq!(
            CaseNumber::parse("（2101）京0105执1234号").unwrap_err(),
            IdentifierError::CaseNumberYearRange { year: 2101 }
        );
    }

    #[test]
    fn court_code_digits_are_greedy() {
        // Three digits after the province cannot be split into court code and something else.
        assert_eq!(
            CaseNumber::parse("（2023）京010执1234号").unwrap_err(),
            IdentifierError::CourtCodeDigitCount { count: 3 }
        );
        assert_eq!(
            CaseNumber::parse("（2023）XX01执1234号").unwrap_err(),
            IdentifierError::CourtCodeProvince { found: 'X' }
        );
    }

    #[test]
    fn bad_type_codes_are_refused() {
        assert_eq!(
            CaseNumber::parse("（2024）最高法12号").unwrap_err(),
            IdentifierError::CaseNumberMissingTypeCode
        );
        assert_eq!(
            CaseNumber::parse("（2023）京01051234号").unwrap_err(),
            IdentifierError::CourtCodeDigitCount { count: 8 }
        );
        assert_eq!(
            CaseNumber::parse("（2023）京0105执恢恢恢1号").unwrap_err(),
            IdentifierError::CaseNumberTypeCodeTooLong {
                found: "执恢恢恢".to_owned()
            }
        );
        assert_eq!(
            CaseNumber::parse("（2023）京0105执x1号").unwrap_err(),
            IdentifierError::CaseNumberTypeCodeCharacters {
                found: "执x".to_owned()
            }
        );
        assert_eq!(
            CaseNumber::parse("（2023）京0105知民初1号").unwrap_err(),
            IdentifierError::NotEnforcementType {
                found: "知民初".to_owned()
            }
        );
    }
}
