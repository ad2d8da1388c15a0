//! A case-level order, "freeze up to X of this debtor's deposits", decided step by step. Pure:
//! given the order, its accounts and the case's measures, what to do next.
//!
//! The accounts come from an inquiry's answers, ranked: accounts no court has frozen before
//! (a freeze there takes effect at once; on an account already frozen it would wait), then the
//! largest available balance first, so that X is secured on as few accounts as possible. Each
//! step:
//!
//! 1. A freeze of the order that came back partial is trimmed to what it holds (a reduction, or
//!    a release if it holds nothing); one that came back waiting holds nothing now and is
//!    released. Until the bank has carried that out the freeze still claims its whole amount,
//!    so the next step waits for it: the banks together never hold more than X.
//! 2. While a freeze is unanswered or a trim under way, nothing more is asked.
//! 3. Then, if the order's freezes claim less than X, the rest is asked of the next accounts —
//!    each for what it had available, never more in all than the case has open.
//! 4. The order is secured when its freezes claim X (or the case has nothing more open), and
//!    exhausted when the accounts run out first.

use enforcement_proto::v1 as pb;
use hub_domain::{AccountNumber, MeasureKind, MeasureState};
use uuid::Uuid;

use super::{
    OrderState,
    ledger::{claim, follow_ups},
    yuan,
};
use crate::store::{MeasureRow, orders::OrderAccountRow};

/// An account an inquiry found, as a candidate for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The bank's code.
    pub agency_code: String,
    pub account_number: String,
    /// Balance less frozen.
    pub available_fen: i64,
    /// Whether something was frozen on it already.
    pub frozen_before: bool,
}

/// The deposit accounts in `answers` with something available, best first.
pub fn candidates(answers: &[pb::InquiryAnswerEvent]) -> Vec<Candidate> {
    let mut found: Vec<Candidate> = answers
        .iter()
        .filter(|a| a.state == pb::MeasureState::Effective as i32)
        .filter_map(|a| a.agency.as_ref().map(|agency| (agency, &a.holdings)))
        .filter(|(agency, _)| agency.kind == pb::AgencyKind::Bank as i32)
        .flat_map(|(agency, holdings)| {
            holdings.iter().filter_map(move |h| match &h.asset {
                Some(pb::holding::Asset::Deposit(d)) if d.balance_fen > d.frozen_fen => {
                    Some(Candidate {
                        agency_code: agency.code.clone(),
                        account_number: d.account_number.clone(),
                        available_fen: d.balance_fen - d.frozen_fen,
                        frozen_before: d.frozen_fen > 0,
                    })
                }
                _ => None,
            })
        })
        .collect();
    found.sort_by(|a, b| {
        (
            a.frozen_before,
            std::cmp::Reverse(a.available_fen),
            &a.agency_code,
        )
            .cmp(&(
                b.frozen_before,
                std::cmp::Reverse(b.available_fen),
                &b.agency_code,
            ))
            .then_with(|| a.account_number.cmp(&b.account_number))
    });
    found.dedup_by(|a, b| a.agency_code == b.agency_code && a.account_number == b.account_number);
    found
}

/// One thing to do for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Reduce a freeze of the order to what it holds.
    Trim { part: Uuid, to: i64, why: String },
    /// Release a freeze of the order that holds nothing.
    Release { part: Uuid, why: String },
    /// Freeze `amount` on the account of `rank`.
    Ask { rank: i32, amount: i64, why: String },
    /// The order is done.
    Finish { state: OrderState, why: String },
}

/// What the order's freezes hold and may still take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Held by them now.
    pub frozen: i64,
    /// What they may still take.
    pub pending: i64,
}

/// The order's freezes, as the case's `measures` have them.
pub fn progress(accounts: &[OrderAccountRow], measures: &[MeasureRow]) -> Progress {
    parts(accounts, measures).fold(Progress::default(), |p, (_, m)| {
        let c = claim(m, measures);
        Progress {
            frozen: p.frozen + c.frozen,
            pending: p.pending + c.pending,
        }
    })
}

fn parts<'a>(
    accounts: &'a [OrderAccountRow],
    measures: &'a [MeasureRow],
) -> impl Iterator<Item = (&'a OrderAccountRow, &'a MeasureRow)> {
    accounts.iter().filter_map(|a| {
        a.measure_id
            .and_then(|id| measures.iter().find(|m| m.id == id))
            .map(|m| (a, m))
    })
}

/// Where an account is, for sentences: `CCB 6222****0001`.
pub fn account_name(a: &OrderAccountRow) -> String {
    let masked = AccountNumber::parse(&a.account_number)
        .map(|n| n.masked())
        .unwrap_or_else(|_| "****".into());
    format!("{} {masked}", a.agency_code)
}

/// The next steps of an order for up to `amount`, given its `accounts` (best first), the case's
/// `measures` and what the case has `open`.
pub fn steps(
    amount: i64,
    accounts: &[OrderAccountRow],
    measures: &[MeasureRow],
    open: i64,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut settling = false;
    let mut moved_on = Vec::new();
    for (account, m) in parts(accounts, measures) {
        // Trimmed or released once already (even if that came to nothing, e.g. a bank that does
        // not reduce): never again, or the order would ask the bank for ever.
        let tried = measures.iter().any(|f| {
            f.target_measure_id == Some(m.id)
                && matches!(f.kind, MeasureKind::Release | MeasureKind::Reduction)
        });
        let under_way =
            follow_ups(m.id, measures).any(|f| !f.state.is_final() && !f.state.is_in_force());
        if under_way
            || matches!(
                m.state,
                MeasureState::Submitted | MeasureState::Dispatched | MeasureState::Delivered
            )
        {
            settling = true;
            continue;
        }
        if tried {
            continue;
        }
        let name = account_name(account);
        match m.state {
            MeasureState::Partial if m.held_fen > 0 => {
                steps.push(Step::Trim {
                    part: m.id,
                    to: m.held_fen,
                    why: format!(
                        "{name} held {} of {}: trimmed to what it holds",
                        yuan(m.held_fen),
                        yuan(m.amount())
                    ),
                });
                moved_on.push(name);
                settling = true;
            }
            MeasureState::Partial => {
                steps.push(Step::Release {
                    part: m.id,
                    why: format!("{name} held nothing of {}: released", yuan(m.amount())),
                });
                moved_on.push(name);
                settling = true;
            }
            MeasureState::Waiting => {
                steps.push(Step::Release {
                    part: m.id,
                    why: format!(
                        "{name} is frozen by an earlier order and the freeze waits in line holding nothing: released"
                    ),
                });
                moved_on.push(name);
                settling = true;
            }
            _ => {}
        }
    }
    if settling {
        return steps;
    }
    let claimed: i64 = parts(accounts, measures)
        .map(|(_, m)| claim(m, measures).total())
        .sum();
    let remaining = amount - claimed;
    if remaining <= 0 {
        return vec![Step::Finish {
            state: OrderState::Secured,
            why: format!("secured: {} frozen across its freezes", yuan(claimed)),
        }];
    }
    if open <= 0 {
        return vec![Step::Finish {
            state: OrderState::Secured,
            why: format!(
                "the case is secured in full: {} by this order, the rest by the case's other measures",
                yuan(claimed)
            ),
        }];
    }
    let mut left = remaining.min(open);
    for a in accounts.iter().filter(|a| a.measure_id.is_none()) {
        if left <= 0 {
            break;
        }
        let ask = left.min(a.available_fen);
        if ask <= 0 {
            continue;
        }
        steps.push(Step::Ask {
            rank: a.rank,
            amount: ask,
            why: format!("{} asked of {}", yuan(ask), account_name(a)),
        });
        left -= ask;
    }
    if steps.is_empty() {
        return vec![Step::Finish {
            state: OrderState::Exhausted,
            why: format!(
                "the accounts found are exhausted: {} secured of {}",
                yuan(claimed),
                yuan(amount)
            ),
        }];
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::ledger::tests::measure;
    use MeasureState::*;

    fn answer(bank: &str, accounts: &[(&str, i64, i64)]) -> pb::InquiryAnswerEvent {
        pb::InquiryAnswerEvent {
            agency: Some(pb::AgencyRef {
                kind: pb::AgencyKind::Bank as i32,
                code: bank.into(),
            }),
            state: pb::MeasureState::Effective as i32,
            holdings: accounts
                .iter()
                .map(|(number, balance, frozen)| pb::Holding {
                    asset: Some(pb::holding::Asset::Deposit(pb::DepositHolding {
                        account_number: (*number).into(),
                        balance_fen: *balance,
                        frozen_fen: *frozen,
                    })),
                })
                .collect(),
            reason: None,
            at: None,
        }
    }

    fn accounts(candidates: &[Candidate]) -> Vec<OrderAccountRow> {
        let order = Uuid::now_v7();
        candidates
            .iter()
            .enumerate()
            .map(|(rank, c)| OrderAccountRow {
                order_id: order,
                rank: i32::try_from(rank).unwrap_or(0),
                agency_code: c.agency_code.clone(),
                account_number: c.account_number.clone(),
                available_fen: c.available_fen,
                frozen_before: c.frozen_before,
                measure_id: None,
            })
            .collect()
    }

    fn asked(steps: &[Step]) -> Vec<(i32, i64)> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Ask { rank, amount, .. } => Some((*rank, *amount)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn accounts_already_frozen_come_last_and_the_largest_balance_first() {
        let found = candidates(&[
            answer("ICBC", &[("1", 4_000_000, 0), ("4", 9_000_000, 100)]),
            answer("CCB", &[("2", 3_000_000, 0)]),
            answer("BOC", &[("3", 5_000_000, 0), ("5", 0, 0)]),
        ]);
        let order: Vec<(&str, i64)> = found
            .iter()
            .map(|c| (c.account_number.as_str(), c.available_fen))
            .collect();
        assert_eq!(
            order,
            vec![
                ("3", 5_000_000),
                ("1", 4_000_000),
                ("2", 3_000_000),
                ("4", 8_999_900)
            ]
        );
    }

    #[test]
    fn an_order_is_first_asked_of_as_few_accounts_as_cover_it() {
        // A 40,000.00, B 30,000.00, C 50,000.00; the case needs 60,000.00.
        let found = candidates(&[
            answer("A", &[("1", 4_000_000, 0)]),
            answer("B", &[("2", 3_000_000, 0)]),
            answer("C", &[("3", 5_000_000, 0)]),
        ]);
        let steps = steps(6_000_000, &accounts(&found), &[], 6_000_000);
        assert_eq!(asked(&steps), vec![(0, 5_000_000), (1, 1_000_000)]);
    }

    #[test]
    fn an_order_never_asks_more_than_the_case_has_open() {
        let found = candidates(&[answer("A", &[("1", 9_000_000, 0)])]);
        let steps = steps(6_000_000, &accounts(&found), &[], 2_000_000);
        assert_eq!(asked(&steps), vec![(0, 2_000_000)]);
    }

    #[test]
    fn a_partial_freeze_is_trimmed_to_what_it_holds_before_the_rest_is_asked_elsewhere() {
        let found = candidates(&[
            answer("A", &[("1", 8_000_000, 0)]),
            answer("B", &[("2", 7_000_000, 0)]),
        ]);
        let mut accounts = accounts(&found);
        let mut at_a = measure(MeasureKind::Freeze, Partial, 6_000_000, 500_000);
        accounts[0].measure_id = Some(at_a.id);

        let first = steps(6_000_000, &accounts, std::slice::from_ref(&at_a), 0);
        assert!(
            matches!(&first[..], [Step::Trim { to: 500_000, .. }]),
            "{first:?}"
        );

        // The reduction is under way: wait for it.
        let mut reduction = measure(MeasureKind::Reduction, Dispatched, 500_000, 0);
        reduction.target_measure_id = Some(at_a.id);
        let waiting = steps(6_000_000, &accounts, &[at_a.clone(), reduction.clone()], 0);
        assert!(waiting.is_empty(), "{waiting:?}");

        // Carried out: A holds 5,000.00 for good, and B is asked for the rest.
        reduction.state = Effective;
        at_a.state = Effective;
        at_a.amount_fen = Some(500_000);
        let next = steps(6_000_000, &accounts, &[at_a, reduction], 5_500_000);
        assert_eq!(asked(&next), vec![(1, 5_500_000)]);
    }

    #[test]
    fn a_refused_or_waiting_freeze_moves_the_order_to_the_next_account() {
        let found = candidates(&[
            answer("A", &[("1", 8_000_000, 0)]),
            answer("B", &[("2", 7_000_000, 0)]),
        ]);
        let mut accounts = accounts(&found);
        let refused = measure(MeasureKind::Freeze, Rejected, 6_000_000, 0);
        accounts[0].measure_id = Some(refused.id);
        assert_eq!(
            asked(&steps(6_000_000, &accounts, &[refused], 6_000_000)),
            vec![(1, 6_000_000)]
        );

        let waiting = measure(MeasureKind::Freeze, Waiting, 6_000_000, 0);
        accounts[0].measure_id = Some(waiting.id);
        let released = steps(6_000_000, &accounts, &[waiting], 0);
        assert!(
            matches!(&released[..], [Step::Release { .. }]),
            "{released:?}"
        );
    }

    #[test]
    fn an_order_is_secured_when_its_freezes_claim_its_amount_and_exhausted_when_accounts_run_out() {
        let found = candidates(&[answer("A", &[("1", 2_000_000, 0)])]);
        let mut accounts = accounts(&found);
        let held = measure(MeasureKind::Freeze, Effective, 2_000_000, 2_000_000);
        accounts[0].measure_id = Some(held.id);
        assert!(matches!(
            &steps(2_000_000, &accounts, std::slice::from_ref(&held), 0)[..],
            [Step::Finish {
                state: OrderState::Secured,
                ..
            }]
        ));
        assert!(matches!(
            &steps(6_000_000, &accounts, &[held], 4_000_000)[..],
            [Step::Finish {
                state: OrderState::Exhausted,
                ..
            }]
        ));
    }

    #[test]
    fn an_order_waits_while_any_of_its_freezes_is_unanswered() {
        let found = candidates(&[
            answer("A", &[("1", 2_000_000, 0)]),
            answer("B", &[("2", 9_000_000, 0)]),
        ]);
        let mut accounts = accounts(&found);
        let pending = measure(MeasureKind::Freeze, Dispatched, 2_000_000, 0);
        accounts[1].measure_id = Some(pending.id);
        assert!(steps(6_000_000, &accounts, &[pending], 4_000_000).is_empty());
    }
}
