//! Errors shared by the identifier types.
//!
//! Every message is a complete sentence that names the rule that was broken, because the gateway
//! shows it to the court user next to the offending field ("case number: type code 民初 is not an
//! enforcement type (执…, 财保)"). Messages never echo more than the offending part of the input.

/// Why a court, case, person, organisation, account or agency identifier was refused.
///
/// One enum for all identifiers keeps the gateway's mapping to field-level errors in one place;
/// the variant names say which identifier and which rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    // ---- resident identity number (GB 11643) ----
    /// The number does not have 18 characters.
    #[error(
        "resident identity number must have 18 characters (17 digits and a check character), found {found} (GB 11643)"
    )]
    ResidentIdLength {
        /// Number of characters found after trimming.
        found: usize,
    },
    /// One of the first 17 characters is not a digit.
    #[error(
        "character {position} of the resident identity number is {found:?}; the first 17 characters must be digits (GB 11643)"
    )]
    ResidentIdDigit {
        /// 1-based position of the offending character.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// The 18th character is neither a digit nor X.
    #[error("check character {found:?} must be a digit or X (GB 11643)")]
    ResidentIdCheckCharacter {
        /// The offending character.
        found: char,
    },
    /// Characters 7-14 are not a date of birth.
    #[error(
        "date of birth {digits} (characters 7-14) is not a valid calendar date in or after 1900 (GB 11643)"
    )]
    ResidentIdBirthDate {
        /// The eight digits that should be YYYYMMDD.
        digits: String,
    },
    /// The check character does not match the first 17 digits: usually a typing error.
    #[error("check character is {found}, expected {expected} (GB 11643)")]
    ResidentIdCheck {
        /// The check character given.
        found: char,
        /// The check character computed from the first 17 digits.
        expected: char,
    },

    // ---- unified social credit code (GB 32100-2015) ----
    /// The code does not have 18 characters.
    #[error("unified social credit code must have 18 characters, found {found} (GB 32100-2015)")]
    CreditCodeLength {
        /// Number of characters found after trimming.
        found: usize,
    },
    /// A character outside the code's 31-character alphabet.
    #[error(
        "character {position} of the unified social credit code is {found:?}; only digits and the letters A-Y except I, O, S, V and Z are allowed (GB 32100-2015)"
    )]
    CreditCodeCharacter {
        /// 1-based position of the offending character.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// The check character does not match the first 17 characters.
    #[error("check character is {found}, expected {expected} (GB 32100-2015)")]
    CreditCodeCheck {
        /// The check character given.
        found: char,
        /// The check character computed from the first 17 characters.
        expected: char,
    },

    // ---- court code (法院代字) ----
    /// Nothing where a court code was expected.
    #[error(
        "court code is empty; expected 最高法 or a province abbreviation with 0, 2 or 4 digits, e.g. 京0105"
    )]
    CourtCodeEmpty,
    /// The code starts with something that is not a province abbreviation.
    #[error(
        "court code must be 最高法 or begin with a province abbreviation (京, 沪, 粤, …), found {found}"
    )]
    CourtCodeProvince {
        /// The character found where the abbreviation should be.
        found: char,
    },
    /// The province abbreviation is followed by a wrong number of digits.
    #[error("court code must have 0, 2 or 4 digits after the province abbreviation, found {count}")]
    CourtCodeDigitCount {
        /// Number of digits found.
        count: usize,
    },
    /// Something other than digits follows the province abbreviation.
    #[error(
        "court code may contain only ASCII digits after the province abbreviation, found {found}"
    )]
    CourtCodeTrailing {
        /// The unexpected remainder.
        found: String,
    },

    // ---- case number (案号) ----
    /// The case number does not start with a four-digit year in parentheses.
    #[error("case number must begin with a four-digit year in parentheses, e.g. （2023）")]
    CaseNumberYearFormat,
    /// The year is outside the range the hub accepts.
    #[error("year {year} in the case number is outside 1990-2100")]
    CaseNumberYearRange {
        /// The year given.
        year: u16,
    },
    /// The case number does not end with 号.
    #[error("case number must end with 号, e.g. （2023）京0105执1234号")]
    CaseNumberMissingHao,
    /// Nothing between the court code and the serial number.
    #[error(
        "case number must have a type code such as 执 between the court code and the serial number"
    )]
    CaseNumberMissingTypeCode,
    /// The type code contains something other than Chinese characters.
    #[error("type code {found} must consist of Chinese characters, e.g. 执 or 执恢")]
    CaseNumberTypeCodeCharacters {
        /// The text between the court code and the serial number.
        found: String,
    },
    /// The type code is longer than three characters.
    #[error("type code {found} is longer than 3 characters")]
    CaseNumberTypeCodeTooLong {
        /// The type code given.
        found: String,
    },
    /// The type code is a valid case type but not an enforcement one (e.g. 民初): the hub only
    /// carries enforcement measures, so this is refused on its own variant for the caller to
    /// tell apart from a typing error.
    #[error("type code {found} is not an enforcement type (执…, 财保)")]
    NotEnforcementType {
        /// The text between the court code and the serial number.
        found: String,
    },
    /// No digits before 号.
    #[error("case number must have a serial number before 号")]
    CaseNumberMissingSerial,
    /// The serial starts with 0.
    #[error("serial number {found} must not begin with 0")]
    CaseNumberSerialLeadingZero {
        /// The digits given.
        found: String,
    },
    /// The serial is larger than seven digits.
    #[error("serial number {found} is outside 1-9999999")]
    CaseNumberSerialRange {
        /// The digits given.
        found: String,
    },

    // ---- agency code and id ----
    /// The agency code is empty or longer than 32 characters.
    #[error("agency code must have 1 to 32 characters, found {found}")]
    AgencyCodeLength {
        /// Number of characters found.
        found: usize,
    },
    /// The agency code contains a character that is unsafe in AMQP routing keys or queue names.
    #[error("agency code may contain only letters A-Z and a-z, digits, _ and -, found {found:?}")]
    AgencyCodeCharacter {
        /// The offending character.
        found: char,
    },
    /// An agency id is not `kind.code`.
    #[error("agency id {found} must be written kind.code, e.g. bank.ICBC")]
    AgencyIdFormat {
        /// The text given.
        found: String,
    },
    /// A name (agency kind, measure kind, state) is not one the hub knows.
    #[error(transparent)]
    UnknownName(#[from] UnknownNameError),

    // ---- account number ----
    /// The account number has too few or too many digits.
    #[error("account number must have 6 to 32 digits, found {found}")]
    AccountNumberLength {
        /// Number of digits found after removing spaces.
        found: usize,
    },
    /// The account number contains something other than digits and spaces.
    #[error("account number may contain only digits, found {found:?}")]
    AccountNumberCharacter {
        /// The offending character.
        found: char,
    },
}

/// A name that should be one of a closed set (a state, a measure kind, an agency kind) is not.
///
/// These names travel in queues, the database and the command line, so an unknown one is a
/// caller's error that must say which names would have been accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{found:?} is not a known {what}; expected one of: {expected}")]
pub struct UnknownNameError {
    /// What was being parsed, e.g. "measure state".
    pub what: &'static str,
    /// The text given.
    pub found: String,
    /// The accepted names, comma-separated.
    pub expected: &'static str,
}

impl UnknownNameError {
    pub(crate) fn new(what: &'static str, found: &str, expected: &'static str) -> Self {
        Self {
            what,
            found: found.to_owned(),
            expected,
        }
    }
}
