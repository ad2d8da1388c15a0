//! Periods of measures and their statutory maxima (民诉解释 2022 art. 485).
//!
//! A freeze, seal-up, distraint or exit restriction lasts for a period the court sets; the law
//! caps it by kind of property, and a measure that reaches its end without renewal lapses. The
//! end date therefore has to be computed the same way everywhere: calendar months then days, in
//! China Standard Time, because that is the calendar courts and agencies count in.

use std::fmt;

use time::macros::offset;
use time::{Date, Duration, Month, OffsetDateTime, Time, UtcOffset};

/// China Standard Time, UTC+08:00 (the same as `UtcOffset::from_hms(8, 0, 0)`), which has no
/// daylight saving time.
pub const CHINA_STANDARD_TIME: UtcOffset = offset!(+8);

/// Why a period was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// Both months and days are zero.
    #[error("period must be longer than zero; give months, days or both")]
    Zero,
    /// More months than any measure could need.
    #[error("period of {months} months is longer than the 1200 months (100 years) the hub accepts")]
    TooManyMonths {
        /// The months given.
        months: u32,
    },
    /// More days than any measure could need.
    #[error("period of {days} days is longer than the 3660 days (about 10 years) the hub accepts")]
    TooManyDays {
        /// The days given.
        days: u32,
    },
    /// The period ends later than the law allows for this kind of property.
    #[error("period of {period} exceeds the statutory maximum of {maximum} (民诉解释 art. 485)")]
    ExceedsMaximum {
        /// The period asked for.
        period: Period,
        /// The maximum that applies.
        maximum: StatutoryMaximum,
    },
}

/// The statutory maximum period of a measure, by kind of property (民诉解释 art. 485).
///
/// The pre-2015 figures (6 months / 1 year / 2 years) are obsolete and deliberately absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatutoryMaximum {
    /// Freeze of bank deposits: at most 12 months.
    Deposits,
    /// Seizure or distraint of movables such as vehicles: at most 24 months.
    Movables,
    /// Seal-up of real estate, freeze of other property rights: at most 36 months.
    RealEstate,
    /// No statutory maximum (exit restriction); a period is still required so that expiry can be
    /// tracked.
    None,
}

impl StatutoryMaximum {
    /// The maximum in calendar months, or `None` if there is none.
    pub const fn months(self) -> Option<u32> {
        match self {
            Self::Deposits => Some(12),
            Self::Movables => Some(24),
            Self::RealEstate => Some(36),
            Self::None => None,
        }
    }

    /// What the maximum applies to, in words for messages.
    pub const fn subject(self) -> &'static str {
        match self {
            Self::Deposits => "deposits",
            Self::Movables => "movables",
            Self::RealEstate => "real estate",
            Self::None => "exit restriction",
        }
    }
}

impl fmt::Display for StatutoryMaximum {
    /// `12 months for deposits`, as it reads in an error message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.months() {
            Some(months) => write!(f, "{months} months for {}", self.subject()),
            None => write!(f, "no limit for {}", self.subject()),
        }
    }
}

/// The length of a measure: calendar months then days, as courts write it ("一年", "六个月",
/// "30日"). Never zero, never absurdly long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Period {
    /// Calendar months, added first.
    months: u32,
    /// Days, added after the months.
    days: u32,
}

impl Period {
    /// Largest number of months accepted (100 years): anything longer is a typing error.
    pub const MAX_MONTHS: u32 = 1200;
    /// Largest number of days accepted (about 10 years): anything longer is a typing error.
    pub const MAX_DAYS: u32 = 3660;

    /// A period of `months` calendar months plus `days` days.
    pub const fn new(months: u32, days: u32) -> Result<Self, PeriodError> {
        if months == 0 && days == 0 {
            return Err(PeriodError::Zero);
        }
        if months > Self::MAX_MONTHS {
            return Err(PeriodError::TooManyMonths { months });
        }
        if days > Self::MAX_DAYS {
            return Err(PeriodError::TooManyDays { days });
        }
        Ok(Self { months, days })
    }

    /// Calendar months.
    pub const fn months(self) -> u32 {
        self.months
    }

    /// Days added after the months.
    pub const fn days(self) -> u32 {
        self.days
    }

    /// When a measure starting at `start` ends, in UTC.
    ///
    /// Computed in China Standard Time: add the months (clamping the day to the end of a shorter
    /// month, so 31 January + 1 month is 28 or 29 February), then the days, and convert back to
    /// UTC. Saturates at the end of the representable calendar (year 9999), which no real
    /// measure reaches.
    pub fn end_from(self, start: OffsetDateTime) -> OffsetDateTime {
        self.checked_end_from(start).unwrap_or_else(|| {
            OffsetDateTime::new_in_offset(Date::MAX, Time::MIDNIGHT, UtcOffset::UTC)
        })
    }

    /// Refuses the period if, counted from `start`, it ends after the statutory maximum counted
    /// from the same start. Counting both ends the same way makes "12 months" always fit the
    /// 12-month maximum, whatever the month lengths.
    pub fn check_within(
        self,
        maximum: StatutoryMaximum,
        start: OffsetDateTime,
    ) -> Result<(), PeriodError> {
        let Some(limit_months) = maximum.months() else {
            return Ok(());
        };
        let limit = Period {
            months: limit_months,
            days: 0,
        }
        .end_from(start);
        if self.end_from(start) > limit {
            Err(PeriodError::ExceedsMaximum {
                period: self,
                maximum,
            })
        } else {
            Ok(())
        }
    }

    /// `end_from` without saturation.
    fn checked_end_from(self, start: OffsetDateTime) -> Option<OffsetDateTime> {
        let local = start.checked_to_offset(CHINA_STANDARD_TIME)?;
        let date = add_months(local.date(), self.months)?;
        local
            .replace_date(date)
            .checked_add(Duration::days(i64::from(self.days)))?
            .checked_to_offset(UtcOffset::UTC)
    }
}

/// Adds calendar months, clamping the day to the last day of the resulting month.
fn add_months(date: Date, months: u32) -> Option<Date> {
    let month_index =
        i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1 + i64::from(months);
    let year = i32::try_from(month_index.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(month_index.rem_euclid(12) + 1).ok()?).ok()?;
    let day = date.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).ok()
}

impl fmt::Display for Period {
    /// `12 months 1 day`, `1 month`, `30 days`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: u32| if n == 1 { "" } else { "s" };
        match (self.months, self.days) {
            (months, 0) => write!(f, "{months} month{}", plural(months)),
            (0, days) => write!(f, "{days} day{}", plural(days)),
            (months, days) => write!(
                f,
                "{months} month{} {days} day{}",
                plural(months),
                plural(days)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn period(months: u32, days: u32) -> Period {
        Period::new(months, days).expect("valid test input")
    }

    #[test]
    fn new_refuses_zero_and_absurd_periods() {
        assert_eq!(Period::new(0, 0).unwrap_err(), PeriodError::Zero);
        assert_eq!(
            Period::new(1201, 0).unwrap_err(),
            PeriodError::TooManyMonths { months: 1201 }
        );
        assert_eq!(
            Period::new(0, 3661).unwrap_err(),
            PeriodError::TooManyDays { days: 3661 }
        );
        let longest = period(1200, 3660);
        assert_eq!((longest.months(), longest.days()), (1200, 3660));
        assert_eq!(period(0, 1).days(), 1);
    }

    #[test]
    fn displays_months_and_days_in_words() {
        assert_eq!(period(12, 1).to_string(), "12 months 1 day");
        assert_eq!(period(1, 0).to_string(), "1 month");
        assert_eq!(period(0, 30).to_string(), "30 days");
        assert_eq!(period(1, 2).to_string(), "1 month 2 days");
    }

    #[test]
    fn twelve_months_fit_the_deposit_maximum_and_one_more_day_does_not() {
        let start = datetime!(2024-03-15 02:00 UTC);
        assert_eq!(
            period(12, 0).check_within(StatutoryMaximum::Deposits, start),
            Ok(())
        );
        let error = period(12, 1)
            .check_within(StatutoryMaximum::Deposits, start)
            .unwrap_err();
        assert_eq!(
            error,
            PeriodError::ExceedsMaximum {
                period: period(12, 1),
                maximum: StatutoryMaximum::Deposits
            }
        );
        assert_eq!(
            error.to_string(),
            "period of 12 months 1 day exceeds the statutory maximum of 12 months for deposits (民诉解释 art. 485)"
        );
    }

    #[test]
    fn twenty_four_months_fit_the_movables_maximum_and_twenty_five_do_not() {
        let start = datetime!(2023-07-01 00:00 +8);
        assert_eq!(
            period(24, 0).check_within(StatutoryMaximum::Movables, start),
            Ok(())
        );
        let error = period(25, 0)
            .check_within(StatutoryMaximum::Movables, start)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "period of 25 months exceeds the statutory maximum of 24 months for movables (民诉解释 art. 485)"
        );
    }

    #[test]
    fn thirty_six_months_fit_the_real_estate_maximum_and_thirty_seven_do_not() {
        let start = datetime!(2022-01-31 09:30 +8);
        assert_eq!(
            period(36, 0).check_within(StatutoryMaximum::RealEstate, start),
            Ok(())
        );
        assert_eq!(
            period(37, 0)
                .check_within(StatutoryMaximum::RealEstate, start)
                .unwrap_err(),
            PeriodError::ExceedsMaximum {
                period: period(37, 0),
                maximum: StatutoryMaximum::RealEstate
            }
        );
    }

    #[test]
    fn days_are_checked_against_the_calendar() {
        // 2023-03-01 + 366 days is 2024-03-01 (leap February): exactly 12 months.
        let leap_span = datetime!(2023-03-01 00:00 +8);
        assert_eq!(
            period(0, 366).check_within(StatutoryMaximum::Deposits, leap_span),
            Ok(())
        );
        // 2022-03-01 + 366 days is 2023-03-02: one day too long.
        let common_span = datetime!(2022-03-01 00:00 +8);
        assert!(matches!(
            period(0, 366).check_within(StatutoryMaximum::Deposits, common_span),
            Err(PeriodError::ExceedsMaximum { .. })
        ));
    }

    #[test]
    fn exit_restriction_has_no_maximum() {
        let start = datetime!(2024-01-01 00:00 UTC);
        assert_eq!(
            period(1200, 3660).check_within(StatutoryMaximum::None, start),
            Ok(())
        );
        assert_eq!(StatutoryMaximum::None.months(), None);
        assert_eq!(StatutoryMaximum::Deposits.months(), Some(12));
        assert_eq!(StatutoryMaximum::Movables.months(), Some(24));
        assert_eq!(StatutoryMaximum::RealEstate.months(), Some(36));
    }

    #[test]
    fn month_end_is_clamped() {
        assert_eq!(
            period(1, 0).end_from(datetime!(2023-01-31 10:00 +8)),
            datetime!(2023-02-28 02:00 UTC)
        );
        assert_eq!(
            period(1, 0).end_from(datetime!(2023-03-31 10:00 +8)),
            datetime!(2023-04-30 02:00 UTC)
        );
        // Months first, then days: 31 Jan + 1 month = 28 Feb, + 1 day = 1 Mar.
        assert_eq!(
            period(1, 1).end_from(datetime!(2023-01-31 10:00 +8)),
            datetime!(2023-03-01 02:00 UTC)
        );
    }

    #[test]
    fn leap_years_are_respected() {
        assert_eq!(
            period(1, 0).end_from(datetime!(2024-01-31 10:00 +8)),
            datetime!(2024-02-29 02:00 UTC)
        );
        assert_eq!(
            period(12, 0).end_from(datetime!(2024-02-29 10:00 +8)),
            datetime!(2025-02-28 02:00 UTC)
        );
        assert_eq!(
            period(48, 0).end_from(datetime!(2024-02-29 10:00 +8)),
            datetime!(2028-02-29 02:00 UTC)
        );
        // From a leap day, 12 months is allowed for deposits but 12 months 1 day is not.
        let start = datetime!(2024-02-29 10:00 +8);
        assert_eq!(
            period(12, 0).check_within(StatutoryMaximum::Deposits, start),
            Ok(())
        );
        assert!(
            period(12, 1)
                .check_within(StatutoryMaximum::Deposits, start)
                .is_err()
        );
    }

    #[test]
    fn calendar_arithmetic_happens_in_china_standard_time() {
        // 16:30 UTC on 30 January is 00:30 on 31 January in Beijing; one month later in Beijing
        // is 00:30 on 28 February, i.e. 16:30 UTC on 27 February. Counting in UTC would have
        // given 28 February.
        let end = period(1, 0).end_from(datetime!(2023-01-30 16:30 UTC));
        assert_eq!(end, datetime!(2023-02-27 16:30 UTC));
        assert_eq!(end.offset(), UtcOffset::UTC);
    }

    #[test]
    fn years_roll_over() {
        assert_eq!(
            period(13, 0).end_from(datetime!(2023-12-15 12:00 +8)),
            datetime!(2025-01-15 04:00 UTC)
        );
    }

    #[test]
    fn end_saturates_at_the_end_of_the_calendar() {
        let end = period(1200, 0).end_from(datetime!(9990-01-01 00:00 UTC));
        assert_eq!(end.date(), Date::MAX);
    }
}
