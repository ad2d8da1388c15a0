//! Acting on one locked case, in the transaction that holds its lock: the steps of its orders,
//! the release of any excess, the releases of a closing case, and the announcement of its ledger
//! when it changed. The keeper calls this whenever one of the case's measures changed; AmendCase,
//! CloseCase and FreezeDeposits call it too, so that their answer already shows what they set in
//! motion. Every decision is recomputed from the case as it stands under the lock, so acting
//! twice changes nothing the second time.

use enforcement_proto::v1 as pb;
use hub_domain::{MeasureKind, MeasureState};
use prost::Message;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    CaseState, OrderState,
    instruct::{FollowUp, Orders},
    ledger::{self, Ledger},
    order::{self, Step},
    view, yuan,
};
use crate::{
    Error,
    store::{
        MeasureRow,
        cases::{CaseTx, NewCaseEvent},
        orders::{OrderAccountRow, OrderRow},
    },
};

/// What acting on a case did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Measures recorded (the relay has work).
    pub recorded: usize,
}

/// Acts on the case `tx` holds (see the module's header), then marks its measures' audit
/// entries as looked at.
pub async fn settle(
    tx: &mut CaseTx,
    orders: &Orders,
    now: OffsetDateTime,
) -> Result<Settled, Error> {
    let mut settled = Settled::default();
    let mut measures = tx.measures().await?;
    match tx.row().state {
        CaseState::Open => {
            let stepped = step_orders(tx, orders, now).await?;
            if stepped > 0 {
                measures = tx.measures().await?;
            }
            let released = release_excess(tx, orders, &measures, now).await?;
            if released > 0 {
                measures = tx.measures().await?;
            }
            settled.recorded += stepped + released;
        }
        CaseState::Closing => {
            let closed = close(tx, orders, &measures, now).await?;
            if closed > 0 {
                measures = tx.measures().await?;
            }
            settled.recorded += closed;
        }
        CaseState::Closed => {}
    }
    let ledger = Ledger::of(tx.row().enforcement_amount_fen, &measures);
    if tx.row().state == CaseState::Closing && ledger.live == 0 {
        let row = tx.row().clone();
        tx.update(
            row.enforcement_amount_fen,
            CaseState::Closed,
            &row.close_reason,
            now,
        )
        .await?;
        let message = format!(
            "case closed ({}): every measure has ended and nothing is held",
            row.close_reason
        );
        record(tx, &ledger, pb::EventKind::CaseClosed, message, None, now).await?;
    }
    announce(tx, &ledger, now).await?;
    tx.checked().await?;
    Ok(settled)
}

/// Writes a case-level audit entry with the ledger after the change.
pub async fn record(
    tx: &mut CaseTx,
    ledger: &Ledger,
    kind: pb::EventKind,
    message: String,
    measure_id: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let snapshot = view::case(tx.row(), ledger).encode_to_vec();
    tx.record_event(
        NewCaseEvent {
            kind: kind as i32,
            message,
            snapshot,
            measure_id,
            ..NewCaseEvent::default()
        },
        now,
    )
    .await
}

/// Writes the case-level audit entry of a court's request (its key and canonical encoding kept,
/// so that a repeat finds it), with the ledger after the change.
pub async fn record_request(
    tx: &mut CaseTx,
    ledger: &Ledger,
    kind: pb::EventKind,
    message: String,
    request: (hub_domain::IdempotencyKey, Vec<u8>),
    now: OffsetDateTime,
) -> Result<(), Error> {
    let snapshot = view::case(tx.row(), ledger).encode_to_vec();
    tx.record_event(
        NewCaseEvent {
            kind: kind as i32,
            message,
            snapshot,
            request: Some(request),
            ..NewCaseEvent::default()
        },
        now,
    )
    .await
}

/// Announces the ledger on the case's watch stream if it changed since it was last announced.
async fn announce(tx: &mut CaseTx, ledger: &Ledger, now: OffsetDateTime) -> Result<(), Error> {
    let totals = [
        ledger.totals.frozen,
        ledger.totals.pending,
        ledger.totals.deducted,
    ];
    let row = tx.row();
    if totals == [row.frozen_fen, row.pending_fen, row.deducted_fen] {
        return Ok(());
    }
    let message = format!(
        "frozen {}, pending {}, deducted {}: {} open of {}",
        yuan(ledger.totals.frozen),
        yuan(ledger.totals.pending),
        yuan(ledger.totals.deducted),
        yuan(ledger.open()),
        yuan(ledger.enforcement)
    );
    tx.announced(totals).await?;
    record(tx, ledger, pb::EventKind::CaseLedger, message, None, now).await
}

/// Releases or reduces the latest freezes while the case's projected total exceeds its amount.
async fn release_excess(
    tx: &mut CaseTx,
    orders: &Orders,
    measures: &[MeasureRow],
    now: OffsetDateTime,
) -> Result<usize, Error> {
    let enforcement = tx.row().enforcement_amount_fen;
    let ledger = Ledger::of(enforcement, measures);
    let trims = ledger::excess_trims(&ledger, measures);
    let mut recorded = 0;
    for trim in trims {
        let Some(target) = measures.iter().find(|m| m.id == trim.target) else {
            continue;
        };
        let unsupported = measures.iter().any(|f| {
            f.target_measure_id == Some(target.id)
                && f.kind == MeasureKind::Reduction
                && f.reason_code == pb::ReasonCode::NotSupported as i32
        });
        let follow_up = if trim.to == 0 || unsupported {
            FollowUp::Release
        } else {
            FollowUp::Reduce(trim.to)
        };
        let why = format!(
            "the case's secured total {} exceeds its enforcement amount {}",
            yuan(ledger.projected),
            yuan(enforcement)
        );
        let done = tx_follow_up(tx, orders, target, follow_up, &why, "excess", now).await?;
        recorded += 1;
        let what = match follow_up {
            FollowUp::Release => format!(
                "{why}: the hub released {} {} ({} on {}), the latest freeze",
                target.kind.label(),
                target.id,
                yuan(trim.from),
                target.asset_display
            ),
            FollowUp::Reduce(to) => format!(
                "{why}: the hub reduced freeze {} on {} from {} to {}, releasing {}",
                target.id,
                target.asset_display,
                yuan(trim.from),
                yuan(to),
                yuan(trim.from - to)
            ),
        };
        let after = Ledger::of(enforcement, &tx.measures().await?);
        record(
            tx,
            &after,
            pb::EventKind::ExcessReleased,
            what,
            Some(done.id),
            now,
        )
        .await?;
    }
    Ok(recorded)
}

/// Records `follow_up` of `target` under a fresh hub key of `purpose`.
async fn tx_follow_up(
    tx: &mut CaseTx,
    orders: &Orders,
    target: &MeasureRow,
    follow_up: FollowUp,
    why: &str,
    purpose: &str,
    now: OffsetDateTime,
) -> Result<MeasureRow, Error> {
    orders
        .follow_up(
            tx,
            target,
            follow_up,
            why,
            format!("hub:{purpose}:{}", Uuid::now_v7()),
            now,
        )
        .await
}

/// Releases every measure of a closing case that is in force, waiting or under way and not
/// being released yet; cancels its orders.
async fn close(
    tx: &mut CaseTx,
    orders: &Orders,
    measures: &[MeasureRow],
    now: OffsetDateTime,
) -> Result<usize, Error> {
    for order in tx.live_orders().await? {
        let row = tx
            .set_order(
                order.id,
                OrderState::Cancelled,
                "cancelled: the case was closed",
                now,
            )
            .await?;
        order_event(tx, &row, "cancelled: the case was closed".into(), now).await?;
    }
    let reason = tx.row().close_reason.clone();
    let mut recorded = 0;
    for m in measures {
        let being_released = measures.iter().any(|f| {
            f.target_measure_id == Some(m.id)
                && f.kind == MeasureKind::Release
                && !f.state.came_to_nothing()
        });
        let refused = measures.iter().any(|f| {
            f.target_measure_id == Some(m.id)
                && f.kind == MeasureKind::Release
                && f.state == MeasureState::Rejected
        });
        // A release the agency refused is not sent again (it has ended the measure on its own
        // side, and its notice or the gateway's lapse will end it here); one that failed
        // technically is.
        if !m.kind.has_period() || m.state.is_final() || being_released || refused {
            continue;
        }
        let why = format!("case closed: {reason}");
        tx_follow_up(tx, orders, m, FollowUp::Release, &why, "close", now).await?;
        recorded += 1;
    }
    Ok(recorded)
}

/// Moves every live order of the case one step.
async fn step_orders(
    tx: &mut CaseTx,
    orders: &Orders,
    now: OffsetDateTime,
) -> Result<usize, Error> {
    let mut recorded = 0;
    for order in tx.live_orders().await? {
        recorded += step_order(tx, orders, order, now).await?;
    }
    Ok(recorded)
}

async fn step_order(
    tx: &mut CaseTx,
    orders: &Orders,
    mut order: OrderRow,
    now: OffsetDateTime,
) -> Result<usize, Error> {
    let request = pb::FreezeDepositsRequest::decode(order.request.as_slice())
        .map_err(|e| Error::Corrupt(format!("the stored request of order {}: {e}", order.id)))?;
    let mut said = Vec::new();
    if order.state == OrderState::Inquiring {
        let measures = tx.measures().await?;
        let inquiry = measures.iter().find(|m| m.id == order.inquiry_id);
        let finished = inquiry.is_some_and(|m| {
            !matches!(
                m.state,
                MeasureState::Submitted | MeasureState::Dispatched | MeasureState::Delivered
            )
        });
        if !finished {
            return Ok(0);
        }
        let answers = tx.store().answers(order.inquiry_id).await?;
        let found = order::candidates(&answers);
        let accounts: Vec<OrderAccountRow> = found
            .iter()
            .enumerate()
            .map(|(rank, c)| OrderAccountRow {
                order_id: order.id,
                rank: i32::try_from(rank).unwrap_or(i32::MAX),
                agency_code: c.agency_code.clone(),
                account_number: c.account_number.clone(),
                available_fen: c.available_fen,
                frozen_before: c.frozen_before,
                measure_id: None,
            })
            .collect();
        tx.set_order_accounts(order.id, &accounts).await?;
        let banks: std::collections::BTreeSet<&str> =
            found.iter().map(|c| c.agency_code.as_str()).collect();
        said.push(format!(
            "the inquiry found {} account{} with funds available at {} bank{}",
            found.len(),
            if found.len() == 1 { "" } else { "s" },
            banks.len(),
            if banks.len() == 1 { "" } else { "s" }
        ));
        order = tx
            .set_order(order.id, OrderState::Placing, &said.join("; "), now)
            .await?;
    }
    let mut recorded = 0;
    let measures = tx.measures().await?;
    let accounts = tx.order_accounts(order.id).await?;
    let ledger = Ledger::of(tx.row().enforcement_amount_fen, &measures);
    let mut finish = None;
    for step in order::steps(order.amount_fen, &accounts, &measures, ledger.open()) {
        match step {
            Step::Trim { part, to, why } => {
                if let Some(target) = measures.iter().find(|m| m.id == part) {
                    let key = format!("hub:order:{}:trim:{part}", order.id);
                    let reason = format!("{why}; the rest is asked of the next account");
                    orders
                        .follow_up(tx, target, FollowUp::Reduce(to), &reason, key, now)
                        .await?;
                    recorded += 1;
                    said.push(why);
                }
            }
            Step::Release { part, why } => {
                if let Some(target) = measures.iter().find(|m| m.id == part) {
                    let key = format!("hub:order:{}:release:{part}", order.id);
                    orders
                        .follow_up(tx, target, FollowUp::Release, &why, key, now)
                        .await?;
                    recorded += 1;
                    said.push(why);
                }
            }
            Step::Ask { rank, amount, why } => {
                let Some(account) = accounts.iter().find(|a| a.rank == rank) else {
                    continue;
                };
                let asset = format!("bank.{}:{}", account.agency_code, account.account_number);
                let existing = measures.iter().find(|m| {
                    m.kind == MeasureKind::Freeze && m.asset_key == asset && !m.state.is_final()
                });
                let measure = match existing {
                    Some(own) => {
                        said.push(format!(
                            "{} has the court's own freeze {} already: it counts towards the order",
                            order::account_name(account),
                            own.id
                        ));
                        own.id
                    }
                    None => {
                        let key = format!("hub:order:{}:{rank}", order.id);
                        let freeze = orders
                            .freeze(
                                tx,
                                &request,
                                tx.row().enforcement_amount_fen,
                                &account.agency_code,
                                &account.account_number,
                                amount,
                                key,
                                now,
                            )
                            .await?;
                        recorded += 1;
                        said.push(why);
                        freeze.id
                    }
                };
                tx.set_account_measure(order.id, rank, measure).await?;
            }
            Step::Finish { state, why } => {
                said.push(why);
                finish = Some(state);
            }
        }
    }
    if said.is_empty() {
        return Ok(recorded);
    }
    let message = said.join("; ");
    let state = finish.unwrap_or(order.state);
    let row = tx.set_order(order.id, state, &message, now).await?;
    order_event(tx, &row, message, now).await?;
    Ok(recorded)
}

/// Writes an ORDER_PROGRESS entry with the order (and the ledger) as they now stand.
async fn order_event(
    tx: &mut CaseTx,
    order: &OrderRow,
    message: String,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let measures = tx.measures().await?;
    let accounts = tx.order_accounts(order.id).await?;
    let ledger = Ledger::of(tx.row().enforcement_amount_fen, &measures);
    let snapshot = view::case(tx.row(), &ledger).encode_to_vec();
    let order_snapshot = view::order(order, &accounts, &measures).encode_to_vec();
    tx.record_event(
        NewCaseEvent {
            kind: pb::EventKind::OrderProgress as i32,
            message,
            snapshot,
            order: Some(order_snapshot),
            ..NewCaseEvent::default()
        },
        now,
    )
    .await
}
