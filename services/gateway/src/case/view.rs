//! What the court sees of a case and of its case-level orders: the wire `Case` and `CaseOrder`.

use enforcement_proto::convert;
use enforcement_proto::{convert::timestamp, v1 as pb};
use hub_domain::{AgencyKind, MeasureState};

use super::{CaseState, OrderState, ledger::Ledger, order};
use crate::store::{
    MeasureRow,
    cases::CaseRow,
    orders::{OrderAccountRow, OrderRow},
};

/// The wire form of a case state.
pub fn case_state(state: CaseState) -> pb::CaseState {
    match state {
        CaseState::Open => pb::CaseState::Open,
        CaseState::Closing => pb::CaseState::Closing,
        CaseState::Closed => pb::CaseState::Closed,
    }
}

/// The wire form of an order state.
pub fn order_state(state: OrderState) -> pb::CaseOrderState {
    match state {
        OrderState::Inquiring => pb::CaseOrderState::Inquiring,
        OrderState::Placing => pb::CaseOrderState::Placing,
        OrderState::Secured => pb::CaseOrderState::Secured,
        OrderState::Exhausted => pb::CaseOrderState::Exhausted,
        OrderState::Cancelled => pb::CaseOrderState::Cancelled,
    }
}

/// The case ledger as the court sees it, without measures and orders (as on watch events).
pub fn case(row: &CaseRow, ledger: &Ledger) -> pb::Case {
    pb::Case {
        court_code: row.court_code.clone(),
        case_number: row.case_number.clone(),
        enforcement_amount_fen: row.enforcement_amount_fen,
        frozen_fen: ledger.totals.frozen,
        pending_fen: ledger.totals.pending,
        deducted_fen: ledger.totals.deducted,
        open_fen: ledger.open(),
        excess_fen: ledger.excess_now(),
        state: case_state(row.state) as i32,
        live_measures: ledger.live,
        measures: Vec::new(),
        orders: Vec::new(),
        version: u64::try_from(row.version).unwrap_or(0),
        opened_at: Some(timestamp(row.opened_at)),
        updated_at: Some(timestamp(row.updated_at)),
        close_reason: row.close_reason.clone(),
    }
}

/// A case-level order with its parts, as the case's `measures` stand.
pub fn order(
    row: &OrderRow,
    accounts: &[OrderAccountRow],
    measures: &[MeasureRow],
) -> pb::CaseOrder {
    let progress = order::progress(accounts, measures);
    let parts = accounts
        .iter()
        .filter(|a| a.measure_id.is_some())
        .map(|a| part(a, measures))
        .collect();
    pb::CaseOrder {
        order_id: row.id.to_string(),
        court_code: row.court_code.clone(),
        case_number: row.case_number.clone(),
        amount_fen: row.amount_fen,
        state: order_state(row.state) as i32,
        frozen_fen: progress.frozen,
        pending_fen: progress.pending,
        inquiry_measure_id: row.inquiry_id.to_string(),
        parts,
        message: row.message.clone(),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
        accounts_left: u32::try_from(accounts.iter().filter(|a| a.measure_id.is_none()).count())
            .unwrap_or(u32::MAX),
    }
}

fn part(account: &OrderAccountRow, measures: &[MeasureRow]) -> pb::CaseOrderPart {
    let measure = account
        .measure_id
        .and_then(|id| measures.iter().find(|m| m.id == id));
    pb::CaseOrderPart {
        agency: Some(pb::AgencyRef {
            kind: convert::agency_kind_to_proto(AgencyKind::Bank) as i32,
            code: account.agency_code.clone(),
        }),
        account: hub_domain::AccountNumber::parse(&account.account_number)
            .map(|n| n.masked())
            .unwrap_or_default(),
        available_fen: account.available_fen,
        measure_id: account
            .measure_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        state: measure.map_or(pb::MeasureState::Unspecified as i32, |m| {
            convert::state_to_proto(m.state) as i32
        }),
        amount_fen: measure.map_or(0, MeasureRow::amount),
        held_fen: measure.map_or(0, |m| {
            if m.state == MeasureState::Effective || m.state == MeasureState::Partial {
                m.held_fen
            } else {
                0
            }
        }),
    }
}
