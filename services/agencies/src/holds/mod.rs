//! What the hold-keeping agencies (the land registry and public security) share: a register of
//! holds on assets, with a waiting line for the exclusive ones.
//!
//! A *hold* is a court's measure that binds one asset for a period: a seal-up (查封) or
//! pre-seizure (预查封) of a property, a distraint (扣押) of a vehicle, an exit restriction (限制出境)
//! on a person. The rules, the same at every such agency:
//!
//! - An exclusive hold binds its asset alone (民诉法 art. 106): a later court's hold on an asset
//!   with a hold in force or waiting is registered as WAITING (轮候), ranked by receipt
//!   (查扣冻规定 2020 art. 26). Exit restrictions are not exclusive: every court's is EFFECTIVE.
//! - When the hold in force ends (released, lapsed), the earliest waiting one takes effect on its
//!   own, its period counted from that moment, and the positions behind it move up.
//! - A renewal before expiry moves the expiry by the period (counted from the current expiry, at
//!   most the statutory maximum again) and keeps the hold's place; after expiry it is refused.
//! - Only the ordering court may release or renew its hold.
//!
//! Every change increments the hold's `revision` and becomes a `MeasureUpdate`; the caller puts it
//! in the instruction's answer or, for changes nobody asked for (lapse, promotion after a lapse,
//! pre-seizure conversion), in a notice written in the same transaction.
//!
//! Locking: the asset's row first (property, vehicle, person), then its holds. Concurrent
//! instructions, lapses and title registrations on one asset therefore serialise, and cannot
//! deadlock because every path takes the locks in that order.
//!
//! Modules: [`types`] (kinds, states, the row), [`register`] (the SQL), [`line`] (the waiting
//! line's rules). The journal of answered instructions and the outcome builders are shared with
//! the bank, in [`crate::journal`] and [`crate::outcome`].

/// The columns of `holds`, in [`HoldRow`] order, for `SELECT` and `INSERT`.
macro_rules! hold_columns {
    () => {
        "agency_code, measure_id, instruction_id, seq, asset_id, court_code, case_number, \
         subject_id, subject_name, kind, exclusive, pre_seizure, state, waiting_position, \
         period_months, period_days, registration_number, revision, received_at, effective_at, \
         expires_at, ended_at"
    };
}

mod line;
mod register;
mod types;

pub use register::Holds;
pub use types::{HoldKind, HoldRow, HoldState, NewHold, Party, normalise_id};

/// Appended to every note on the end of an exit restriction: the deciding court must have border
/// inspection lift the control (执行程序解释 art. 25), and the agency confirms it did.
pub const BORDER_INSPECTION_NOTIFIED: &str =
    "; border inspection (出入境边防检查机关) has been notified to lift the exit control";

/// `<agency>-<mark><seq>`, e.g. `110105-CF00000012`.
pub fn registration_number(
    agency_code: &str,
    kind: HoldKind,
    pre_seizure: bool,
    seq: i64,
) -> String {
    format!(
        "{agency_code}-{}{seq:08}",
        kind.registration_mark(pre_seizure)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_numbers_carry_the_agency_and_the_measure() {
        assert_eq!(
            registration_number("110105", HoldKind::SealUp, false, 12),
            "110105-CF00000012"
        );
        assert_eq!(
            registration_number("110105", HoldKind::SealUp, true, 12),
            "110105-YCF00000012"
        );
        assert_eq!(
            registration_number("BJ-PSB", HoldKind::Distraint, false, 3),
            "BJ-PSB-KY00000003"
        );
        assert_eq!(
            registration_number("BJ-PSB", HoldKind::ExitRestriction, false, 4),
            "BJ-PSB-XZCJ00000004"
        );
    }
}
