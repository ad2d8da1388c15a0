//! `FreezeDeposits`: one order for many banks — "freeze up to X of this debtor's deposits".
//!
//! The order takes its accounts from an inquiry of deposits: one the court ran in the case, or
//! one the hub runs first (of the banks named, or of every connected bank) under a key derived
//! from the order's. It is recorded under the case's lock and settled at once, so that if the
//! inquiry has answered already the first freezes are recorded before the court hears back; the
//! rest follows as banks answer ([`crate::case::order`], [`crate::case::keeper`]).

use enforcement_proto::v1 as pb;
use hub_domain::{AgencyKind, IdempotencyKey, MeasureKind};
use prost::Message;
use tonic::Status;
use uuid::Uuid;

use super::CourtService;
use crate::{
    Error,
    case::{ledger::Ledger, refusal, settle, view, yuan},
    store::orders::{NewOrder, OrderRow},
    validate::{
        self,
        case::{Accounts, ValidFreezeDeposits},
        invalid,
    },
};

impl CourtService {
    pub(super) async fn place_order(
        &self,
        req: pb::FreezeDepositsRequest,
    ) -> Result<pb::CaseOrder, Error> {
        let now = self.clock.now();
        let valid = validate::case::freeze_deposits(&req, now)?;
        let request = valid.normalised.encode_to_vec();
        let court = valid.court.as_str();
        if let Some(order) = self
            .store
            .order_by_key(court, &valid.idempotency_key)
            .await?
        {
            return self.repeat(order, &request).await;
        }
        let case_number = valid.case_number.as_str();
        self.check_case_terms(&valid.court, case_number, valid.enforcement_fen)
            .await?;
        let inquiry = self.inquiry_for(&valid).await?;
        let (mut tx, _) = self
            .store
            .open_case(&valid.court, case_number, valid.enforcement_fen, now)
            .await?;
        // The same order sent twice at once: the second, let in after the first committed, finds
        // it.
        if let Some(order) = self
            .store
            .order_by_key(court, &valid.idempotency_key)
            .await?
        {
            tx.commit().await?;
            return self.repeat(order, &valid.normalised.encode_to_vec()).await;
        }
        let row = tx.row().clone();
        if !row.state.takes_measures() {
            return Err(refusal::closed(case_number, row.state).into());
        }
        if row.enforcement_amount_fen != valid.enforcement_fen {
            return Err(refusal::amount_mismatch(
                valid.enforcement_fen,
                row.enforcement_amount_fen,
            )
            .into());
        }
        let order = tx
            .add_order(
                &NewOrder {
                    id: Uuid::now_v7(),
                    key: valid.idempotency_key.clone(),
                    request,
                    amount_fen: valid.amount_fen,
                    inquiry_id: inquiry,
                },
                now,
            )
            .await?;
        let ledger = Ledger::of(row.enforcement_amount_fen, &tx.measures().await?);
        let message = format!(
            "order {} accepted: freeze up to {} of the debtor's deposits ({} open), allocated from inquiry {inquiry}",
            order.id,
            yuan(valid.amount_fen),
            yuan(ledger.open())
        );
        settle::record(
            &mut tx,
            &ledger,
            pb::EventKind::OrderProgress,
            message,
            None,
            now,
        )
        .await?;
        settle::settle(&mut tx, &self.orders(), now).await?;
        tx.commit().await?;
        tracing::info!(order = %order.id, %court, case = case_number, amount = valid.amount_fen, "case order recorded");
        self.order_view(order.id, court, case_number).await
    }

    /// The answer to a repeat of an order: the order as it stands, or the key's reuse refused.
    async fn repeat(&self, order: OrderRow, request: &[u8]) -> Result<pb::CaseOrder, Error> {
        if order.request != request {
            return Err(Status::already_exists(format!(
                "idempotency_key was already used by this court for a different order (order {}); choose a new key",
                order.id
            ))
            .into());
        }
        self.order_view(order.id, &order.court_code, &order.case_number)
            .await
    }

    /// An order of the court's case as it stands.
    async fn order_view(
        &self,
        id: Uuid,
        court: &str,
        case_number: &str,
    ) -> Result<pb::CaseOrder, Error> {
        let measures = self.store.case_measures(court, case_number).await?;
        self.store
            .case_orders(court, case_number)
            .await?
            .iter()
            .find(|(order, _)| order.id == id)
            .map(|(order, accounts)| view::order(order, accounts, &measures))
            .ok_or_else(|| Error::Corrupt(format!("order {id} vanished")))
    }

    /// The inquiry an order allocates from: the court's own, checked, or one the hub starts now.
    async fn inquiry_for(&self, valid: &ValidFreezeDeposits) -> Result<Uuid, Error> {
        let scope = match &valid.accounts {
            Accounts::Inquiry(id) => {
                let inquiry = self.own_measure(&valid.court, *id).await?;
                let usable = inquiry.kind == MeasureKind::Inquiry
                    && inquiry.case_number == valid.case_number.as_str()
                    && inquiry.agency.kind() == AgencyKind::Bank;
                if !usable {
                    return Err(invalid(
                        "inquiry_measure_id",
                        format!(
                            "must name an inquiry of banks this court ran in case {}",
                            valid.case_number
                        ),
                    )
                    .into());
                }
                return Ok(inquiry.id);
            }
            Accounts::AllBanks => {
                pb::inquire_request::Scope::AllOfKind(pb::AgencyKind::Bank as i32)
            }
            Accounts::Banks(codes) => pb::inquire_request::Scope::Agencies(pb::AgencyList {
                agencies: codes
                    .iter()
                    .map(|c| pb::AgencyRef {
                        kind: pb::AgencyKind::Bank as i32,
                        code: c.to_string(),
                    })
                    .collect(),
            }),
        };
        let order = &valid.normalised;
        let inquiry = pb::InquireRequest {
            court_code: order.court_code.clone(),
            idempotency_key: inquiry_key(&valid.idempotency_key),
            case: order.case.clone(),
            subject: order.subject.clone(),
            classes: vec![pb::AssetClass::Deposits as i32],
            scope: Some(scope),
            deadline_seconds: valid.deadline_seconds,
        };
        Ok(self.start_inquiry(&inquiry).await?.id)
    }
}

/// The key of the inquiry the hub runs for the order under `key`: derived from it, so that a
/// repeat of the order finds the same inquiry.
fn inquiry_key(key: &IdempotencyKey) -> String {
    let derived = format!("{key}#inquiry");
    if derived.chars().count() <= 128 {
        return derived;
    }
    // FNV-1a: a long key still maps to one short key of its own.
    let hash = key
        .as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("order-inquiry-{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hubs_inquiry_key_is_derived_from_the_orders_and_stays_a_valid_key() {
        let short = IdempotencyKey::parse("order-1").expect("key");
        assert_eq!(inquiry_key(&short), "order-1#inquiry");
        let long = IdempotencyKey::parse(&"k".repeat(128)).expect("key");
        let derived = inquiry_key(&long);
        assert!(IdempotencyKey::parse(&derived).is_ok(), "{derived}");
        assert_eq!(derived, inquiry_key(&long));
    }
}
