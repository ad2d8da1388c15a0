//! The key a court sends with each request so that a retry finds the original instead of
//! ordering a second measure.
//!
//! Keys are scoped to the court: two courts may use the same key. The key is stored with the
//! measure and compared exactly, so it is trimmed at the edge and nothing past the edge holds an
//! unchecked one.

use std::fmt;

/// Why an idempotency key was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyKeyError {
    /// Blank.
    #[error(
        "is required: choose a key unique to this request, so a retry cannot create a second measure"
    )]
    Empty,
    /// Longer than [`IdempotencyKey::MAX_CHARS`].
    #[error("is longer than {} characters", IdempotencyKey::MAX_CHARS)]
    TooLong,
    /// A line break, tab or other control character.
    #[error("contains control characters")]
    ControlCharacter,
}

/// A court's idempotency key: 1 to 128 characters, trimmed, without control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Longest key accepted, in characters.
    pub const MAX_CHARS: usize = 128;

    /// Trims and checks a key.
    pub fn parse(input: &str) -> Result<Self, IdempotencyKeyError> {
        let key = input.trim();
        if key.is_empty() {
            return Err(IdempotencyKeyError::Empty);
        }
        if key.chars().count() > Self::MAX_CHARS {
            return Err(IdempotencyKeyError::TooLong);
        }
        if key.chars().any(char::is_control) {
            return Err(IdempotencyKeyError::ControlCharacter);
        }
        Ok(Self(key.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_trimmed() {
        assert_eq!(
            IdempotencyKey::parse("  freeze-1 ").map(|k| k.to_string()),
            Ok("freeze-1".to_string())
        );
    }

    #[test]
    fn a_blank_key_is_refused_with_the_reason_for_keys() {
        let error = IdempotencyKey::parse(" \t ").unwrap_err();
        assert_eq!(error, IdempotencyKeyError::Empty);
        assert!(
            error
                .to_string()
                .contains("a retry cannot create a second measure")
        );
    }

    #[test]
    fn a_key_of_128_characters_is_accepted_and_one_of_129_refused() {
        assert!(IdempotencyKey::parse(&"键".repeat(128)).is_ok());
        assert_eq!(
            IdempotencyKey::parse(&"键".repeat(129)),
            Err(IdempotencyKeyError::TooLong)
        );
    }

    #[test]
    fn a_key_with_a_line_break_is_refused() {
        assert_eq!(
            IdempotencyKey::parse("a\nb"),
            Err(IdempotencyKeyError::ControlCharacter)
        );
    }
}
