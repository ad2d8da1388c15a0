//! The life cycle of a measure, from submission by a court to its final state.
//!
//! Agencies report outcomes asynchronously and sometimes twice or late; the hub only records a
//! report if the transition it implies is allowed here, so a late "effective" can never revive a
//! released freeze.

use std::fmt;
use std::str::FromStr;

use crate::UnknownNameError;

/// Where a measure stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeasureState {
    /// Accepted by the hub from the court, not yet handed to the agency's queue.
    Submitted,
    /// Published to the agency's queue.
    Dispatched,
    /// Taken by the agency's adapter; legally served (查扣冻规定 art. 1) but no outcome yet.
    Delivered,
    /// Carried out in full.
    Effective,
    /// Carried out for less than asked (e.g. balance below the amount); more may follow.
    Partial,
    /// Registered behind earlier measures on the same property (轮候).
    Waiting,
    /// Refused by the agency with a reason (no such account, identity mismatch, …).
    Rejected,
    /// The agency could not process it and the hub gave up retrying.
    Failed,
    /// Never carried out before the instruction itself became stale.
    Expired,
    /// Lifted by a release measure.
    Released,
    /// Reached the end of its period without renewal (查扣冻规定 art. 27).
    Lapsed,
    /// The frozen funds were deducted (扣划): nothing remains under the measure.
    Deducted,
}

/// Accepted names, for error messages.
const NAMES: &str = "submitted, dispatched, delivered, effective, partial, waiting, rejected, failed, expired, released, lapsed, deducted";

impl MeasureState {
    /// Every state, in life-cycle order.
    pub const ALL: [MeasureState; 12] = [
        Self::Submitted,
        Self::Dispatched,
        Self::Delivered,
        Self::Effective,
        Self::Partial,
        Self::Waiting,
        Self::Rejected,
        Self::Failed,
        Self::Expired,
        Self::Released,
        Self::Lapsed,
        Self::Deducted,
    ];

    /// Parses the lower-case snake-case name used in queues, the database and the CLI.
    pub fn parse(name: &str) -> Result<Self, UnknownNameError> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == name)
            .ok_or_else(|| UnknownNameError::new("measure state", name, NAMES))
    }

    /// The lower-case snake-case name, e.g. `"submitted"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Dispatched => "dispatched",
            Self::Delivered => "delivered",
            Self::Effective => "effective",
            Self::Partial => "partial",
            Self::Waiting => "waiting",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Released => "released",
            Self::Lapsed => "lapsed",
            Self::Deducted => "deducted",
        }
    }

    /// Whether nothing can happen to the measure any more.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Self::Rejected
                | Self::Failed
                | Self::Expired
                | Self::Released
                | Self::Lapsed
                | Self::Deducted
        )
    }

    /// Whether the measure currently binds the property (fully or partly): what counts towards
    /// the case's total frozen amount.
    pub const fn is_in_force(self) -> bool {
        matches!(self, Self::Effective | Self::Partial)
    }

    /// Whether no agency has taken the instruction yet: the hub may still withdraw it (it expires
    /// undelivered) or learn that no agency can take it (it is rejected as unroutable). Exactly
    /// the states that may become `Expired`.
    pub const fn is_undelivered(self) -> bool {
        matches!(self, Self::Submitted | Self::Dispatched)
    }

    /// Whether the measure ended without being carried out (refused, given up, or expired): it
    /// never bound anything, so another may take its place.
    pub const fn came_to_nothing(self) -> bool {
        matches!(self, Self::Rejected | Self::Failed | Self::Expired)
    }

    /// The states a measure may be in to move to `next`, in life-cycle order.
    pub fn sources_of(next: MeasureState) -> impl Iterator<Item = MeasureState> {
        Self::ALL.into_iter().filter(move |s| s.can_become(next))
    }

    /// Whether a measure in this state may move to `next`.
    ///
    /// Self-transitions are allowed only where a repeated report carries news: a waiting measure
    /// moving up the queue, a partial freeze catching incoming funds, an effective measure being
    /// renewed.
    pub const fn can_become(self, next: MeasureState) -> bool {
        use MeasureState::*;
        match self {
            Submitted => matches!(
                next,
                Dispatched
                    | Delivered
                    | Effective
                    | Partial
                    | Waiting
                    | Rejected
                    | Failed
                    | Expired
            ),
            Dispatched => matches!(
                next,
                Delivered | Effective | Partial | Waiting | Rejected | Failed | Expired
            ),
            Delivered => matches!(next, Effective | Partial | Waiting | Rejected | Failed),
            Waiting => matches!(next, Waiting | Effective | Partial | Released | Lapsed),
            Partial => matches!(next, Partial | Effective | Released | Lapsed | Deducted),
            Effective => matches!(next, Effective | Released | Lapsed | Deducted),
            Rejected | Failed | Expired | Released | Lapsed | Deducted => false,
        }
    }
}

impl FromStr for MeasureState {
    type Err = UnknownNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl TryFrom<String> for MeasureState {
    type Error = UnknownNameError;

    /// Reads a stored name (database rows are typed through this).
    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::parse(&name)
    }
}

impl fmt::Display for MeasureState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The allowed transitions, one row per state in `ALL` order; columns in the same order.
    /// `x` = allowed.
    const TABLE: [(&str, &str); 12] = [
        //               sub dis del eff par wai rej fai exp rel lap ded
        ("submitted", ". x x x x x x x x . . ."),
        ("dispatched", ". . x x x x x x x . . ."),
        ("delivered", ". . . x x x x x . . . ."),
        ("effective", ". . . x . . . . . x x x"),
        ("partial", ". . . x x . . . . x x x"),
        ("waiting", ". . . x x x . . . x x ."),
        ("rejected", ". . . . . . . . . . . ."),
        ("failed", ". . . . . . . . . . . ."),
        ("expired", ". . . . . . . . . . . ."),
        ("released", ". . . . . . . . . . . ."),
        ("lapsed", ". . . . . . . . . . . ."),
        ("deducted", ". . . . . . . . . . . ."),
    ];

    #[test]
    fn transitions_match_the_table_for_every_pair() {
        for ((name, row), from) in TABLE.into_iter().zip(MeasureState::ALL) {
            assert_eq!(from.as_str(), name);
            let cells: Vec<&str> = row.split(' ').collect();
            assert_eq!(cells.len(), 12);
            for (cell, to) in cells.into_iter().zip(MeasureState::ALL) {
                assert_eq!(
                    from.can_become(to),
                    cell == "x",
                    "{from} -> {to} should be {}",
                    if cell == "x" { "allowed" } else { "refused" }
                );
            }
        }
    }

    #[test]
    fn final_states_are_exactly_those_without_exits() {
        for state in MeasureState::ALL {
            let has_exit = MeasureState::ALL.into_iter().any(|to| state.can_become(to));
            assert_eq!(state.is_final(), !has_exit, "{state}");
        }
        assert!(MeasureState::Lapsed.is_final());
        assert!(!MeasureState::Waiting.is_final());
    }

    #[test]
    fn only_effective_and_partial_are_in_force() {
        let in_force: Vec<MeasureState> = MeasureState::ALL
            .into_iter()
            .filter(|state| state.is_in_force())
            .collect();
        assert_eq!(
            in_force,
            vec![MeasureState::Effective, MeasureState::Partial]
        );
    }

    #[test]
    fn undelivered_states_are_exactly_those_that_may_expire() {
        let undelivered: Vec<MeasureState> = MeasureState::ALL
            .into_iter()
            .filter(|s| s.is_undelivered())
            .collect();
        let may_expire: Vec<MeasureState> =
            MeasureState::sources_of(MeasureState::Expired).collect();
        assert_eq!(undelivered, may_expire);
        assert_eq!(
            undelivered,
            vec![MeasureState::Submitted, MeasureState::Dispatched]
        );
    }

    #[test]
    fn only_refused_given_up_and_expired_measures_came_to_nothing() {
        for state in MeasureState::ALL {
            let nothing = matches!(
                state,
                MeasureState::Rejected | MeasureState::Failed | MeasureState::Expired
            );
            assert_eq!(state.came_to_nothing(), nothing, "{state}");
            assert!(!state.came_to_nothing() || state.is_final(), "{state}");
        }
    }

    #[test]
    fn names_round_trip() {
        let names: Vec<&str> = MeasureState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names.join(", "), NAMES);
        for state in MeasureState::ALL {
            assert_eq!(state.to_string().parse::<MeasureState>(), Ok(state));
        }
        assert_eq!(
            MeasureState::parse("submitted"),
            Ok(MeasureState::Submitted)
        );
    }

    #[test]
    fn unknown_names_are_refused_with_the_accepted_ones() {
        let error = MeasureState::parse("Effective").unwrap_err();
        assert_eq!(error.found, "Effective");
        assert_eq!(
            error.to_string(),
            format!("\"Effective\" is not a known measure state; expected one of: {NAMES}")
        );
    }
}
