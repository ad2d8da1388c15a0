//! Amounts of money in CNY, held as integer fen (分).
//!
//! Amounts decide how much of a debtor's money is frozen or taken, and the gateway's case ledger
//! adds them up across banks for each case, refusing what would exceed the case's enforcement
//! amount and releasing any excess, to stop over-freezing (超标的冻结). Floating point would lose
//! fen on the way, so amounts are integers from the edge inwards and only become text for people.

use std::fmt;
use std::str::FromStr;

/// Why an amount was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// A negative amount: nothing the hub freezes, deducts or reports can be below zero.
    #[error("amount of {fen} fen is negative; amounts of money cannot be below zero")]
    Negative {
        /// The amount given, in fen.
        fen: i64,
    },
    /// Zero or a negative amount where something must actually be frozen or deducted.
    #[error("amount must be greater than zero, found {fen} fen")]
    NotPositive {
        /// The amount given, in fen.
        fen: i64,
    },
    /// No amount given.
    #[error("amount is empty; write it in yuan, e.g. 10000 or 10,000.00")]
    Empty,
    /// The text is not a plain amount in yuan.
    #[error(
        "amount {found} must be written in yuan as digits with an optional decimal point, without sign or exponent, e.g. 10000, 10,000.00 or 10000.5"
    )]
    Malformed {
        /// The text given.
        found: String,
    },
    /// More than two decimals: the smallest unit is the fen (0.01 yuan).
    #[error("amount {found} has more than two decimal places; the smallest unit is 0.01 yuan")]
    TooManyDecimals {
        /// The text given.
        found: String,
    },
    /// Thousands separators in the wrong places.
    #[error(
        "amount {found} has misplaced thousands separators; group digits in threes, e.g. 10,000.00"
    )]
    Grouping {
        /// The text given.
        found: String,
    },
    /// The amount does not fit in the hub's integer range.
    #[error("amount {found} is too large")]
    TooLarge {
        /// The text given.
        found: String,
    },
}

/// A non-negative amount of CNY in fen (1 yuan = 100 fen).
///
/// Ordered so that amounts compare naturally (`frozen > requested`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Money(i64);

impl Money {
    /// No money: the starting point for sums of frozen amounts.
    pub const ZERO: Money = Money(0);

    /// An amount of zero or more fen, e.g. a balance or an amount actually frozen.
    pub const fn from_fen(fen: i64) -> Result<Self, MoneyError> {
        if fen < 0 {
            Err(MoneyError::Negative { fen })
        } else {
            Ok(Self(fen))
        }
    }

    /// An amount of at least one fen, e.g. the amount a court asks to freeze or deduct, which
    /// must be explicit (限额冻结) and cannot be zero.
    pub const fn positive(fen: i64) -> Result<Self, MoneyError> {
        if fen <= 0 {
            Err(MoneyError::NotPositive { fen })
        } else {
            Ok(Self(fen))
        }
    }

    /// Parses an amount in yuan as people write it: `10000`, `10,000.00`, `10000.5`.
    ///
    /// At most two decimals, no sign, no exponent; thousands separators, if used, must group in
    /// threes. Zero is accepted; use [`Money::is_zero`] or [`Money::positive`] where an amount
    /// must be positive.
    pub fn parse_yuan(input: &str) -> Result<Self, MoneyError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        let malformed = || MoneyError::Malformed {
            found: text.to_owned(),
        };
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (text, ""),
        };
        if whole.is_empty() || (text.contains('.') && fraction.is_empty()) {
            return Err(malformed());
        }
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        if !whole.bytes().all(|b| b.is_ascii_digit() || b == b',') {
            return Err(malformed());
        }
        if fraction.len() > 2 {
            return Err(MoneyError::TooManyDecimals {
                found: text.to_owned(),
            });
        }
        if whole.contains(',') && !well_grouped(whole) {
            return Err(MoneyError::Grouping {
                found: text.to_owned(),
            });
        }

        let too_large = || MoneyError::TooLarge {
            found: text.to_owned(),
        };
        let mut yuan: i64 = 0;
        for digit in whole.bytes().filter(u8::is_ascii_digit) {
            yuan = yuan
                .checked_mul(10)
                .and_then(|y| y.checked_add(i64::from(digit - b'0')))
                .ok_or_else(too_large)?;
        }
        let fen_part = fraction
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(2)
            .fold(0_i64, |acc, digit| acc * 10 + i64::from(digit - b'0'));
        let fen = yuan
            .checked_mul(100)
            .and_then(|f| f.checked_add(fen_part))
            .ok_or_else(too_large)?;
        Ok(Self(fen))
    }

    /// The amount in fen.
    pub const fn fen(self) -> i64 {
        self.0
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The sum, or `None` if it would overflow.
    pub const fn checked_add(self, other: Money) -> Option<Money> {
        match self.0.checked_add(other.0) {
            Some(fen) => Some(Money(fen)),
            None => None,
        }
    }

    /// The difference, or `None` if `other` is larger (money cannot go below zero).
    pub const fn checked_sub(self, other: Money) -> Option<Money> {
        if other.0 > self.0 {
            None
        } else {
            Some(Money(self.0 - other.0))
        }
    }

    /// The difference, or zero if `other` is larger: e.g. the excess frozen over what a case
    /// needs.
    pub const fn saturating_sub(self, other: Money) -> Money {
        if other.0 > self.0 {
            Money::ZERO
        } else {
            Money(self.0 - other.0)
        }
    }

    /// The smaller of the two: e.g. what a bank can freeze is the smaller of the amount asked and
    /// the balance.
    pub const fn min(self, other: Money) -> Money {
        if other.0 < self.0 { other } else { self }
    }
}

/// Whether `whole` is 1-3 digits followed by groups of `,ddd`.
fn well_grouped(whole: &str) -> bool {
    let mut groups = whole.split(',');
    let first_ok = groups
        .next()
        .is_some_and(|first| (1..=3).contains(&first.len()));
    first_ok && groups.all(|group| group.len() == 3)
}

impl FromStr for Money {
    type Err = MoneyError;

    /// Same as [`Money::parse_yuan`], so that `Display` output parses back.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse_yuan(input)
    }
}

impl fmt::Display for Money {
    /// Yuan with thousands separators and two decimals, e.g. `10,000.00`: the way amounts are
    /// written on rulings and notices.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yuan = (self.0 / 100).to_string();
        let fen = self.0 % 100;
        let mut grouped = String::with_capacity(yuan.len() + yuan.len() / 3);
        for (index, digit) in yuan.chars().enumerate() {
            if index > 0 && (yuan.len() - index).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        write!(f, "{grouped}.{fen:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fen(amount: i64) -> Money {
        Money::from_fen(amount).expect("valid test input")
    }

    #[test]
    fn displays_yuan_with_separators_and_two_decimals() {
        assert_eq!(fen(1_000_000).to_string(), "10,000.00");
        assert_eq!(fen(5).to_string(), "0.05");
        assert_eq!(fen(0).to_string(), "0.00");
        assert_eq!(fen(99_999).to_string(), "999.99");
        assert_eq!(fen(100_000).to_string(), "1,000.00");
        assert_eq!(fen(12_345_678_901).to_string(), "123,456,789.01");
        assert_eq!(fen(i64::MAX).to_string(), "92,233,720,368,547,758.07");
    }

    #[test]
    fn from_fen_refuses_negative_amounts() {
        assert_eq!(fen(0).fen(), 0);
        assert_eq!(
            Money::from_fen(-1).unwrap_err(),
            MoneyError::Negative { fen: -1 }
        );
    }

    #[test]
    fn positive_refuses_zero_and_negative_amounts() {
        assert_eq!(Money::positive(1).expect("valid test input").fen(), 1);
        assert_eq!(
            Money::positive(0).unwrap_err(),
            MoneyError::NotPositive { fen: 0 }
        );
        assert_eq!(
            Money::positive(-5).unwrap_err(),
            MoneyError::NotPositive { fen: -5 }
        );
    }

    #[test]
    fn arithmetic_never_goes_below_zero_or_overflows() {
        assert_eq!(fen(100).checked_add(fen(50)), Some(fen(150)));
        assert_eq!(fen(i64::MAX).checked_add(fen(1)), None);
        assert_eq!(fen(100).checked_sub(fen(30)), Some(fen(70)));
        assert_eq!(fen(100).checked_sub(fen(100)), Some(Money::ZERO));
        assert_eq!(fen(100).checked_sub(fen(101)), None);
        assert_eq!(fen(100).saturating_sub(fen(101)), Money::ZERO);
        assert_eq!(fen(100).saturating_sub(fen(1)), fen(99));
        assert_eq!(fen(100).min(fen(30)), fen(30));
        assert_eq!(fen(30).min(fen(100)), fen(30));
        assert!(fen(101) > fen(100));
        assert!(Money::ZERO.is_zero());
    }

    #[test]
    fn parses_yuan_as_people_write_it() {
        assert_eq!(
            Money::parse_yuan("10000").expect("valid test input").fen(),
            1_000_000
        );
        assert_eq!(
            Money::parse_yuan("10,000.00")
                .expect("valid test input")
                .fen(),
            1_000_000
        );
        assert_eq!(
            Money::parse_yuan("10000.5")
                .expect("valid test input")
                .fen(),
            1_000_050
        );
        assert_eq!(
            Money::parse_yuan(" 0.05 ").expect("valid test input").fen(),
            5
        );
        assert_eq!(
            Money::parse_yuan("1,234,567.89")
                .expect("valid test input")
                .fen(),
            123_456_789
        );
        assert_eq!(
            Money::parse_yuan("0").expect("valid test input"),
            Money::ZERO
        );
    }

    #[test]
    fn display_output_parses_back() {
        for amount in [0, 5, 1_000_000, 12_345_678_901, i64::MAX] {
            let money = fen(amount);
            assert_eq!(
                money
                    .to_string()
                    .parse::<Money>()
                    .expect("valid test input"),
                money
            );
        }
    }

    #[test]
    fn refuses_signs_exponents_and_other_text() {
        for input in [
            "-5", "+5", "1e3", "10 000", "¥100", ".5", "5.", "1.2.3", "abc", "1.-5",
        ] {
            assert_eq!(
                Money::parse_yuan(input).unwrap_err(),
                MoneyError::Malformed {
                    found: input.to_owned()
                },
                "{input}"
            );
        }
        assert_eq!(Money::parse_yuan("  ").unwrap_err(), MoneyError::Empty);
    }

    #[test]
    fn refuses_more_than_two_decimals() {
        let error = Money::parse_yuan("10.005").unwrap_err();
        assert_eq!(
            error,
            MoneyError::TooManyDecimals {
                found: "10.005".to_owned()
            }
        );
        assert!(error.to_string().contains("0.01 yuan"));
    }

    #[test]
    fn refuses_misplaced_separators() {
        for input in ["1,0000", "10,00.00", ",100", "1000,000", "1,,000"] {
            assert_eq!(
                Money::parse_yuan(input).unwrap_err(),
                MoneyError::Grouping {
                    found: input.to_owned()
                },
                "{input}"
            );
        }
    }

    #[test]
    fn refuses_amounts_that_do_not_fit() {
        assert_eq!(
            Money::parse_yuan("92233720368547758.08").unwrap_err(),
            MoneyError::TooLarge {
                found: "92233720368547758.08".to_owned()
            }
        );
        assert_eq!(
            Money::parse_yuan("92233720368547758.07")
                .expect("valid test input")
                .fen(),
            i64::MAX
        );
    }
}
