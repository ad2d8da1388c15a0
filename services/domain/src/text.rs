//! Free text fields with bounds: names of people and organisations, document numbers.
//!
//! These are printed on notices, matched by agencies and stored; a blank name, a megabyte of
//! text or an embedded line break that splits a log line are all refused at the edge.

use std::fmt;
use std::str::FromStr;

/// Why a text field was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing but whitespace.
    #[error("value is empty; it must contain at least one character")]
    Empty,
    /// More characters than the field allows.
    #[error("value is longer than {max} characters")]
    TooLong {
        /// The field's maximum, in characters (not bytes).
        max: usize,
    },
    /// A line break, tab or other control character.
    #[error("value contains a control character such as a line break or tab, which is not allowed")]
    ControlCharacter,
}

/// Trimmed, non-empty text of bounded length without control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(String);

impl Text {
    /// Trims `input` and checks it is non-empty, at most `max_chars` characters (Chinese
    /// characters count as one each) and free of control characters.
    pub fn parse(max_chars: usize, input: &str) -> Result<Self, TextError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(TextError::Empty);
        }
        if text.chars().any(char::is_control) {
            return Err(TextError::ControlCharacter);
        }
        if text.chars().count() > max_chars {
            return Err(TextError::TooLong { max: max_chars });
        }
        Ok(Self(text.to_owned()))
    }

    /// The trimmed text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares a [`Text`] newtype with its own maximum length.
macro_rules! bounded_text {
    ($(#[$meta:meta])* $name:ident, $max:expr) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Text);

        impl $name {
            /// Longest value accepted, in characters.
            pub const MAX_CHARS: usize = $max;

            /// Trims and checks the value (see [`Text::parse`]).
            pub fn parse(input: &str) -> Result<Self, TextError> {
                Text::parse(Self::MAX_CHARS, input).map(Self)
            }

            /// The trimmed value.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl FromStr for $name {
            type Err = TextError;

            fn from_str(input: &str) -> Result<Self, Self::Err> {
                Self::parse(input)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

bounded_text!(
    /// A natural person's name as on the identity card; 64 characters covers transliterated
    /// foreign names.
    PersonName,
    64
);

bounded_text!(
    /// A document number, such as a ruling number (裁定书文号) or an assistance notice number
    /// (协助执行通知书文号).
    DocumentNumber,
    64
);

bounded_text!(
    /// An organisation's registered name; long enterprise names reach about 100 characters.
    OrganisationName,
    128
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_keeps_the_text() {
        assert_eq!(
            Text::parse(10, "  张三 ")
                .expect("valid test input")
                .as_str(),
            "张三"
        );
        assert_eq!(
            PersonName::parse(" 李四 ")
                .expect("valid test input")
                .to_string(),
            "李四"
        );
        let document: DocumentNumber = "（2023）京0105执1234号之一"
            .parse()
            .expect("valid test input");
        assert_eq!(document.as_str(), "（2023）京0105执1234号之一");
        assert_eq!(
            OrganisationName::parse("北京某某科技有限公司")
                .expect("valid test input")
                .as_str(),
            "北京某某科技有限公司"
        );
    }

    #[test]
    fn counts_characters_not_bytes() {
        let sixty_four = "张".repeat(64);
        assert_eq!(
            PersonName::parse(&sixty_four)
                .expect("valid test input")
                .as_str(),
            sixty_four
        );
        assert_eq!(
            PersonName::parse(&"张".repeat(65)).unwrap_err(),
            TextError::TooLong { max: 64 }
        );
        assert_eq!(
            OrganisationName::parse(&"公".repeat(129)).unwrap_err(),
            TextError::TooLong { max: 128 }
        );
        assert_eq!(
            OrganisationName::parse(&"公".repeat(128))
                .expect("valid test input")
                .as_str()
                .chars()
                .count(),
            128
        );
        assert_eq!(
            DocumentNumber::parse(&"1".repeat(65))
                .unwrap_err()
                .to_string(),
            "value is longer than 64 characters"
        );
    }

    #[test]
    fn refuses_empty_text() {
        assert_eq!(Text::parse(10, "").unwrap_err(), TextError::Empty);
        assert_eq!(
            PersonName::parse(" \t\u{3000}").unwrap_err(),
            TextError::Empty
        );
    }

    #[test]
    fn refuses_control_characters_inside() {
        assert_eq!(
            PersonName::parse("张\n三").unwrap_err(),
            TextError::ControlCharacter
        );
        assert_eq!(
            OrganisationName::parse("某\u{0}公司").unwrap_err(),
            TextError::ControlCharacter
        );
    }
}
