//! The case as a whole: the case ledger and what the hub does with it.
//!
//! A court's case (per court and case number) has one enforcement amount, set by its first
//! measure; every measure of the case is recorded under a lock on the case's row, so that what
//! the court freezes and deducts across every bank can be held within that amount however many
//! orders arrive at once. The parts:
//!
//! | concern | where |
//! |---|---|
//! | what each measure claims, the totals, the guard, which freezes to trim | [`ledger`] (pure) |
//! | a case-level order: accounts ranked from an inquiry, the next step of an order | [`order`] (pure) |
//! | acting on a locked case: trims, releases, order steps, closing, ledger events | [`settle`] |
//! | the releases, reductions and freezes the hub orders itself | [`instruct`] |
//! | noticing which cases need acting on, and acting | [`keeper`] |
//! | the court's view of a case and an order | [`view`] |
//! | what a court is told when the ledger refuses | [`refusal`] |
//!
//! The RPCs are in `court/case.rs` (GetCase, AmendCase, CloseCase) and `court/case_order.rs`
//! (FreezeDeposits); the guard runs in `court/submit.rs`; every statement is in
//! `store/cases.rs`, `store/orders.rs` and `store/remainders.rs`.

pub mod instruct;
pub mod keeper;
pub mod ledger;
pub mod order;
pub mod refusal;
pub mod settle;
pub mod view;

use std::fmt;

use hub_domain::UnknownNameError;

/// Where a case stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseState {
    /// Taking measures.
    Open,
    /// The court closed it; releases are under way. Takes no new measures.
    Closing,
    /// Nothing is held any more. Takes no new measures.
    Closed,
}

impl CaseState {
    /// The word stored in `cases.state`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closing => "closing",
            Self::Closed => "closed",
        }
    }

    /// Whether the case takes new measures.
    pub const fn takes_measures(self) -> bool {
        matches!(self, Self::Open)
    }
}

impl TryFrom<String> for CaseState {
    type Error = UnknownNameError;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        match word.as_str() {
            "open" => Ok(Self::Open),
            "closing" => Ok(Self::Closing),
            "closed" => Ok(Self::Closed),
            _ => Err(UnknownNameError {
                what: "case state",
                found: word,
                expected: "open, closing, closed",
            }),
        }
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a case-level order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderState {
    /// Waiting for its inquiry's answers.
    Inquiring,
    /// Freezes asked; trimming and asking further accounts as answers come.
    Placing,
    /// Its amount (or what the case had open) is secured. Final.
    Secured,
    /// The accounts ran out first. Final.
    Exhausted,
    /// The case was closed first. Final.
    Cancelled,
}

impl OrderState {
    /// The word stored in `case_orders.state`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Inquiring => "inquiring",
            Self::Placing => "placing",
            Self::Secured => "secured",
            Self::Exhausted => "exhausted",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether nothing more will happen to the order.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Secured | Self::Exhausted | Self::Cancelled)
    }
}

impl TryFrom<String> for OrderState {
    type Error = UnknownNameError;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        match word.as_str() {
            "inquiring" => Ok(Self::Inquiring),
            "placing" => Ok(Self::Placing),
            "secured" => Ok(Self::Secured),
            "exhausted" => Ok(Self::Exhausted),
            "cancelled" => Ok(Self::Cancelled),
            _ => Err(UnknownNameError {
                what: "case order state",
                found: word,
                expected: "inquiring, placing, secured, exhausted, cancelled",
            }),
        }
    }
}

/// An amount as courts read it: `60,000.00`.
pub fn yuan(fen: i64) -> String {
    hub_domain::Money::from_fen(fen).map_or_else(|_| format!("{fen} fen"), |m| m.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_stored_words() {
        for state in [CaseState::Open, CaseState::Closing, CaseState::Closed] {
            assert_eq!(
                CaseState::try_from(state.as_str().to_string()).ok(),
                Some(state)
            );
        }
        for state in [
            OrderState::Inquiring,
            OrderState::Placing,
            OrderState::Secured,
            OrderState::Exhausted,
            OrderState::Cancelled,
        ] {
            assert_eq!(
                OrderState::try_from(state.as_str().to_string()).ok(),
                Some(state)
            );
        }
        assert!(CaseState::try_from("shut".to_string()).is_err());
    }

    #[test]
    fn only_an_open_case_takes_measures() {
        assert!(CaseState::Open.takes_measures());
        assert!(!CaseState::Closing.takes_measures());
        assert!(!CaseState::Closed.takes_measures());
    }
}
