//! The case ledger's arithmetic: what each measure of a case claims of its enforcement amount,
//! the totals, the open amount a new freeze or deduction may take, and which freezes to trim,
//! latest first, when the total exceeds the amount. Pure: computed from the case's measures as
//! stored, so the same figures come out wherever they are needed (the guard in Submit, the case
//! keeper, GetCase).
//!
//! What a measure claims, in fen:
//!
//! - a freeze effective: what it holds;
//! - a freeze partial: its whole amount — what it holds is frozen, the rest pending — for it keeps
//!   taking incoming funds up to that amount until it is trimmed;
//! - a freeze not yet answered, or waiting: its amount, pending (it may take all of it);
//! - a deduction not yet answered: its amount, pending, less what it will take from the court's
//!   own freeze it names, which that freeze claims already (the bank takes a freeze's funds first
//!   and lowers the freeze by what it took, so counting both would count them twice);
//! - a deduction answered: what it deducted; what it could not take is frozen by a freeze of its
//!   own (the remainder, 民诉解释 art. 484), which claims as any freeze does;
//! - anything ended (released, lapsed, deducted in full, refused, given up): nothing.
//!
//! A freeze's amount is what its bank last reported it is for (ordered, less deductions and
//! reductions), else what was ordered. Releases and reductions under way do not lower the claim
//! until the bank has carried them out: until then the funds may still be held. They do count in
//! the projected total the hub uses to decide what else to trim, so nothing is trimmed twice.

use hub_domain::{MeasureKind, MeasureState};
use uuid::Uuid;

use crate::store::MeasureRow;

/// The totals of a case, in fen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Held by freezes in force.
    pub frozen: i64,
    /// What freezes and deductions may still take.
    pub pending: i64,
    /// Paid to the court.
    pub deducted: i64,
}

impl Totals {
    /// Everything secured for the case: frozen, pending and deducted.
    pub fn secured(&self) -> i64 {
        self.frozen + self.pending + self.deducted
    }
}

/// A case's ledger as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// Debt plus costs.
    pub enforcement: i64,
    /// What the case's measures claim now.
    pub totals: Totals,
    /// What they will claim once the releases and reductions under way are carried out.
    pub projected: i64,
    /// Measures that still bind or may bind something: in force, waiting or under way.
    pub live: u32,
}

impl Ledger {
    /// The ledger of a case whose enforcement amount is `enforcement` and whose measures are
    /// `measures` (every kind; those that hold no money are only counted as live or not).
    pub fn of(enforcement: i64, measures: &[MeasureRow]) -> Self {
        let mut totals = Totals::default();
        let mut projected = 0;
        let mut live = 0;
        for m in measures {
            let claim = claim(m, measures);
            totals.frozen += claim.frozen;
            totals.pending += claim.pending;
            totals.deducted += claim.deducted;
            if m.kind.holds_money() {
                projected += projected_claim(m, measures);
            }
            if is_live(m) {
                live += 1;
            }
        }
        Self {
            enforcement,
            totals,
            projected,
            live,
        }
    }

    /// What may still be frozen or deducted: the amount less what is secured, at least zero.
    pub fn open(&self) -> i64 {
        (self.enforcement - self.totals.secured()).max(0)
    }

    /// What is secured beyond the amount once the trims under way are done: what the hub must
    /// still release.
    pub fn excess(&self) -> i64 {
        (self.projected - self.enforcement).max(0)
    }

    /// What is secured beyond the amount now, trims under way or not (shown to the court).
    pub fn excess_now(&self) -> i64 {
        (self.totals.secured() - self.enforcement).max(0)
    }
}

/// One measure's claim on the case's amount.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Claim {
    pub frozen: i64,
    pub pending: i64,
    pub deducted: i64,
}

impl Claim {
    /// The whole claim.
    pub fn total(&self) -> i64 {
        self.frozen + self.pending + self.deducted
    }
}

/// What `m` claims, among the case's `measures` (a pending deduction needs the freeze it names).
pub fn claim(m: &MeasureRow, measures: &[MeasureRow]) -> Claim {
    use MeasureState::*;
    match (m.kind, m.state) {
        (MeasureKind::Freeze, Effective) => Claim {
            frozen: m.held_fen,
            ..Claim::default()
        },
        (MeasureKind::Freeze, Partial) => Claim {
            frozen: m.held_fen,
            pending: (m.amount() - m.held_fen).max(0),
            ..Claim::default()
        },
        (MeasureKind::Freeze, Submitted | Dispatched | Delivered | Waiting) => Claim {
            pending: m.amount(),
            ..Claim::default()
        },
        (MeasureKind::Deduction, Submitted | Dispatched | Delivered) => Claim {
            pending: (m.requested_fen - overlap(m.target_measure_id, m.requested_fen, measures))
                .max(0),
            ..Claim::default()
        },
        (MeasureKind::Deduction, Effective | Partial) => Claim {
            deducted: m.held_fen,
            ..Claim::default()
        },
        _ => Claim::default(),
    }
}

/// What a deduction of `requested` naming the court's own freeze `source` will take from it,
/// which that freeze claims already: at most the freeze's claim, and nothing if the freeze has
/// ended (the bank then refuses the deduction) or is not one of the case's `measures`.
pub fn overlap(source: Option<Uuid>, requested: i64, measures: &[MeasureRow]) -> i64 {
    let Some(source) = source else {
        return 0;
    };
    measures
        .iter()
        .find(|f| f.id == source && f.kind == MeasureKind::Freeze)
        .map_or(0, |f| claim(f, measures).total().min(requested))
}

/// What a freeze or deduction will claim once the releases and reductions of it under way are
/// carried out.
pub fn projected_claim(m: &MeasureRow, measures: &[MeasureRow]) -> i64 {
    let now = claim(m, measures).total();
    if m.kind != MeasureKind::Freeze {
        return now;
    }
    follow_ups(m.id, measures).fold(now, |claim, f| match f.kind {
        MeasureKind::Release => 0,
        MeasureKind::Reduction => claim.min(f.requested_fen),
        _ => claim,
    })
}

/// The releases and reductions of `target` that are under way or done (not those that came to
/// nothing).
pub fn follow_ups(target: Uuid, measures: &[MeasureRow]) -> impl Iterator<Item = &MeasureRow> {
    measures.iter().filter(move |f| {
        f.target_measure_id == Some(target)
            && matches!(f.kind, MeasureKind::Release | MeasureKind::Reduction)
            && !f.state.came_to_nothing()
    })
}

/// Whether the agency refused a release or reduction of `target` (other than for not carrying
/// reductions out): the hub does not ask again, for the agency would refuse again — it has
/// ended the measure on its side, and its notice will tell. Retrying at every change would only
/// flood it.
pub fn follow_up_refused(target: Uuid, measures: &[MeasureRow]) -> bool {
    measures.iter().any(|f| {
        f.target_measure_id == Some(target)
            && matches!(f.kind, MeasureKind::Release | MeasureKind::Reduction)
            && f.state == MeasureState::Rejected
            && f.reason_code != enforcement_proto::v1::ReasonCode::NotSupported as i32
    })
}

/// Whether a release or reduction of `target` is under way (recorded, not yet answered).
pub fn follow_up_pending(target: Uuid, measures: &[MeasureRow]) -> bool {
    follow_ups(target, measures).any(|f| !f.state.is_final() && !f.state.is_in_force())
}

/// Whether `m` still binds or may bind something: a measure with a period in force, waiting or
/// under way, or a deduction, release or reduction not yet answered.
pub fn is_live(m: &MeasureRow) -> bool {
    if m.kind.has_period() {
        return !m.state.is_final();
    }
    matches!(
        m.kind,
        MeasureKind::Deduction | MeasureKind::Release | MeasureKind::Reduction
    ) && matches!(
        m.state,
        MeasureState::Submitted | MeasureState::Dispatched | MeasureState::Delivered
    )
}

/// Why a freeze or deduction may not be recorded as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    /// What the case has open.
    pub open: i64,
    /// What it has secured.
    pub secured: i64,
    /// Its enforcement amount.
    pub enforcement: i64,
}

/// The amount a new freeze or deduction of `requested` may be recorded for: all of it if the
/// case has that much open (after `overlap`, what it takes from a freeze the case counts
/// already); with `up_to`, what is open; else refused.
pub fn grant(ledger: &Ledger, requested: i64, overlap: i64, up_to: bool) -> Result<i64, Exceeded> {
    let needed = (requested - overlap).max(0);
    let open = ledger.open();
    if needed <= open {
        Ok(requested)
    } else if up_to && open > 0 {
        Ok(overlap + open)
    } else {
        Err(Exceeded {
            open,
            secured: ledger.totals.secured(),
            enforcement: ledger.enforcement,
        })
    }
}

/// A freeze to release or reduce because the case's total exceeds its amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trim {
    /// The freeze.
    pub target: Uuid,
    /// What it claims before the trim.
    pub from: i64,
    /// What it is to keep: zero means release it.
    pub to: i64,
}

/// The trims that bring the case back to its amount: the latest freezes first (measure ids are
/// UUIDv7, so id order is the order they were recorded), each released if all of it is excess,
/// else reduced by the excess. Freezes already being released are passed over; deductions are
/// never undone.
pub fn excess_trims(ledger: &Ledger, measures: &[MeasureRow]) -> Vec<Trim> {
    let mut excess = ledger.excess();
    let mut trims = Vec::new();
    let mut freezes: Vec<&MeasureRow> = measures
        .iter()
        .filter(|m| m.kind == MeasureKind::Freeze)
        .collect();
    freezes.sort_by_key(|m| std::cmp::Reverse(m.id));
    for f in freezes {
        if excess <= 0 {
            break;
        }
        let claim = projected_claim(f, measures);
        if claim <= 0 || follow_up_refused(f.id, measures) {
            continue;
        }
        let cut = claim.min(excess);
        trims.push(Trim {
            target: f.id,
            from: claim,
            to: claim - cut,
        });
        excess -= cut;
    }
    trims
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A measure of the case in `state`, ordered for `requested` and holding `held`.
    pub(crate) fn measure(
        kind: MeasureKind,
        state: MeasureState,
        requested: i64,
        held: i64,
    ) -> MeasureRow {
        MeasureRow {
            case_number: "（2024）京0105执1号".into(),
            asset_key: format!("bank.ICBC:{}", Uuid::now_v7()),
            asset_display: "6222****0001".into(),
            requested_fen: requested,
            held_fen: held,
            ..MeasureRow::example(kind, state)
        }
    }

    fn freeze(state: MeasureState, requested: i64, held: i64) -> MeasureRow {
        measure(MeasureKind::Freeze, state, requested, held)
    }

    fn follow_up(kind: MeasureKind, target: &MeasureRow, amount: i64) -> MeasureRow {
        let mut m = measure(kind, MeasureState::Dispatched, amount, 0);
        m.target_measure_id = Some(target.id);
        m
    }

    use MeasureState::*;

    #[test]
    fn an_effective_freeze_counts_what_it_holds_and_a_pending_one_its_whole_amount() {
        let ledger = Ledger::of(
            6_000_000,
            &[
                freeze(Effective, 4_000_000, 4_000_000),
                freeze(Dispatched, 1_000_000, 0),
                freeze(Waiting, 500_000, 0),
            ],
        );
        assert_eq!(
            ledger.totals,
            Totals {
                frozen: 4_000_000,
                pending: 1_500_000,
                deducted: 0
            }
        );
        assert_eq!(ledger.open(), 500_000);
        assert_eq!(ledger.live, 3);
    }

    #[test]
    fn a_partial_freeze_claims_its_whole_amount_until_it_is_trimmed() {
        let mut partial = freeze(Partial, 6_000_000, 500_000);
        let ledger = Ledger::of(6_000_000, std::slice::from_ref(&partial));
        assert_eq!(ledger.totals.frozen, 500_000);
        assert_eq!(ledger.totals.pending, 5_500_000);
        assert_eq!(ledger.open(), 0);
        // Its bank reports it trimmed to what it holds.
        partial.state = Effective;
        partial.amount_fen = Some(500_000);
        assert_eq!(Ledger::of(6_000_000, &[partial]).open(), 5_500_000);
    }

    #[test]
    fn ended_and_refused_measures_claim_nothing() {
        let ledger = Ledger::of(
            1_000_000,
            &[
                freeze(Released, 1_000_000, 0),
                freeze(Lapsed, 1_000_000, 0),
                freeze(Rejected, 1_000_000, 0),
                freeze(Failed, 1_000_000, 0),
                measure(MeasureKind::Deduction, Rejected, 1_000_000, 0),
            ],
        );
        assert_eq!(ledger.totals.secured(), 0);
        assert_eq!(ledger.open(), 1_000_000);
        assert_eq!(ledger.live, 0);
    }

    #[test]
    fn a_deduction_from_the_courts_own_freeze_is_not_counted_twice() {
        let frozen = freeze(Effective, 3_000_000, 3_000_000);
        let mut deduction = measure(MeasureKind::Deduction, Dispatched, 4_000_000, 0);
        deduction.target_measure_id = Some(frozen.id);
        let pending = Ledger::of(6_000_000, &[frozen.clone(), deduction.clone()]);
        // 30,000.00 frozen, and the deduction may take 10,000.00 beyond the freeze.
        assert_eq!(pending.totals.frozen, 3_000_000);
        assert_eq!(pending.totals.pending, 1_000_000);

        // The bank took the freeze's 30,000.00 and 10,000.00 available; the freeze ended.
        let mut ended = frozen;
        ended.state = Deducted;
        ended.held_fen = 0;
        deduction.state = Effective;
        deduction.held_fen = 4_000_000;
        let done = Ledger::of(6_000_000, &[ended, deduction]);
        assert_eq!(done.totals.deducted, 4_000_000);
        assert_eq!(done.totals.secured(), 4_000_000);
    }

    #[test]
    fn a_deductions_remainder_is_frozen_and_counted_once() {
        let mut deduction = measure(MeasureKind::Deduction, Partial, 3_000_000, 1_000_000);
        let mut remainder = freeze(Partial, 2_000_000, 0);
        remainder.target_measure_id = Some(deduction.id);
        let ledger = Ledger::of(3_000_000, &[deduction.clone(), remainder]);
        assert_eq!(ledger.totals.deducted, 1_000_000);
        assert_eq!(ledger.totals.pending, 2_000_000);
        assert_eq!(ledger.open(), 0);
        deduction.state = Submitted;
        deduction.held_fen = 0;
        assert_eq!(
            Ledger::of(3_000_000, &[deduction]).totals.pending,
            3_000_000
        );
    }

    #[test]
    fn a_freeze_within_the_open_amount_is_granted_in_full() {
        let ledger = Ledger::of(6_000_000, &[freeze(Effective, 5_000_000, 5_000_000)]);
        assert_eq!(grant(&ledger, 1_000_000, 0, false), Ok(1_000_000));
    }

    #[test]
    fn a_freeze_beyond_the_open_amount_is_refused_naming_it_or_granted_up_to_it() {
        let ledger = Ledger::of(6_000_000, &[freeze(Effective, 5_000_000, 5_000_000)]);
        let refused = Exceeded {
            open: 1_000_000,
            secured: 5_000_000,
            enforcement: 6_000_000,
        };
        assert_eq!(grant(&ledger, 2_000_000, 0, false), Err(refused));
        assert_eq!(grant(&ledger, 2_000_000, 0, true), Ok(1_000_000));
        let full = Ledger::of(6_000_000, &[freeze(Effective, 6_000_000, 6_000_000)]);
        assert_eq!(grant(&full, 1, 0, true).map_err(|e| e.open), Err(0));
    }

    #[test]
    fn a_deduction_may_take_the_freeze_it_names_even_when_nothing_is_open() {
        let full = Ledger::of(6_000_000, &[freeze(Effective, 6_000_000, 6_000_000)]);
        assert_eq!(grant(&full, 4_000_000, 4_000_000, false), Ok(4_000_000));
        assert!(grant(&full, 7_000_000, 6_000_000, false).is_err());
        assert_eq!(
            grant(&full, 7_000_000, 6_000_000, true).map_err(|e| e.open),
            Err(0)
        );
    }

    #[test]
    fn excess_is_trimmed_from_the_latest_freezes_first() {
        let first = freeze(Effective, 3_000_000, 3_000_000);
        let second = freeze(Effective, 2_000_000, 2_000_000);
        let third = freeze(Partial, 1_000_000, 200_000);
        let measures = [first.clone(), second.clone(), third.clone()];
        // Amended down from 60,000.00 to 35,000.00: 25,000.00 too much.
        let ledger = Ledger::of(3_500_000, &measures);
        assert_eq!(ledger.excess(), 2_500_000);
        assert_eq!(
            excess_trims(&ledger, &measures),
            vec![
                Trim {
                    target: third.id,
                    from: 1_000_000,
                    to: 0
                },
                Trim {
                    target: second.id,
                    from: 2_000_000,
                    to: 500_000
                },
            ]
        );
    }

    #[test]
    fn releases_and_reductions_under_way_are_not_trimmed_again() {
        let first = freeze(Effective, 3_000_000, 3_000_000);
        let second = freeze(Effective, 3_000_000, 3_000_000);
        let reduction = follow_up(MeasureKind::Reduction, &second, 1_000_000);
        let measures = [first.clone(), second.clone(), reduction];
        let ledger = Ledger::of(4_000_000, &measures);
        // Until the bank reduces it, the freeze may still hold 30,000.00.
        assert_eq!(ledger.totals.secured(), 6_000_000);
        assert_eq!(ledger.projected, 4_000_000);
        assert!(excess_trims(&ledger, &measures).is_empty());
        assert!(follow_up_pending(second.id, &measures));
        assert!(!follow_up_pending(first.id, &measures));
    }

    #[test]
    fn a_freeze_whose_agency_refused_a_trim_is_not_trimmed_again() {
        let first = freeze(Effective, 3_000_000, 3_000_000);
        let second = freeze(Effective, 3_000_000, 3_000_000);
        let mut refused = follow_up(MeasureKind::Reduction, &second, 1_000_000);
        refused.state = Rejected;
        refused.reason_code = enforcement_proto::v1::ReasonCode::TargetNotActive as i32;
        let measures = [first.clone(), second, refused];
        let ledger = Ledger::of(4_000_000, &measures);
        assert_eq!(
            excess_trims(&ledger, &measures),
            vec![Trim {
                target: first.id,
                from: 3_000_000,
                to: 1_000_000
            }]
        );
    }

    #[test]
    fn seal_ups_count_as_live_but_hold_no_money() {
        let seal_up = measure(MeasureKind::SealUp, Effective, 0, 0);
        let release = follow_up(MeasureKind::Release, &seal_up, 0);
        let ledger = Ledger::of(1_000_000, &[seal_up, release]);
        assert_eq!(ledger.totals.secured(), 0);
        assert_eq!(ledger.live, 2);
    }
}
