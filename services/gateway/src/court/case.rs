//! `GetCase`, `AmendCase`, `CloseCase`: a court reads its case as a whole, changes its
//! enforcement amount, or closes it. Amending and closing act under the case's lock and settle
//! the case before answering ([`crate::case::settle`]): an amendment down releases the excess at
//! once, a closing orders every release in the same transaction.

use enforcement_proto::v1 as pb;
use hub_domain::CourtCode;
use prost::Message;
use tonic::Status;

use super::CourtService;
use crate::{
    Error,
    case::{
        CaseState,
        instruct::Orders,
        ledger::Ledger,
        refusal,
        settle::{self, settle},
        view, yuan,
    },
    store::cases::CaseTx,
    validate::{self, invalid},
};

impl CourtService {
    /// The measures the hub orders itself for a case, with this service's instruction deadline.
    pub(super) fn orders(&self) -> Orders {
        Orders {
            instruction_deadline: self.instruction_deadline,
        }
    }

    pub(super) async fn read_case(&self, req: pb::GetCaseRequest) -> Result<pb::Case, Error> {
        let valid = validate::case::get_case(&req)?;
        self.case_view(valid.court.as_str(), valid.case_number.as_str())
            .await
    }

    /// The court's case with its measures and orders, as it stands.
    pub(super) async fn case_view(
        &self,
        court: &str,
        case_number: &str,
    ) -> Result<pb::Case, Error> {
        let row = self
            .store
            .case(court, case_number)
            .await?
            .ok_or_else(|| refusal::no_case(court, case_number))?;
        let measures = self.store.case_measures(court, case_number).await?;
        let ledger = Ledger::of(row.enforcement_amount_fen, &measures);
        let mut case = view::case(&row, &ledger);
        case.orders = self
            .store
            .case_orders(court, case_number)
            .await?
            .iter()
            .map(|(order, accounts)| view::order(order, accounts, &measures))
            .collect();
        case.measures = measures.iter().map(|m| m.to_proto()).collect();
        Ok(case)
    }

    /// Opens the court's case if this is its first measure and checks that a new measure stating
    /// `amount_fen` may be recorded in it: the case is open and the amount is the one in force.
    pub(super) async fn check_case_terms(
        &self,
        court: &CourtCode,
        case_number: &str,
        amount_fen: i64,
    ) -> Result<(), Error> {
        let (case, _) = self
            .store
            .open_case(court, case_number, amount_fen, self.clock.now())
            .await?;
        let row = case.row().clone();
        case.commit().await?;
        if !row.state.takes_measures() {
            return Err(refusal::closed(&row.case_number, row.state).into());
        }
        if row.enforcement_amount_fen != amount_fen {
            return Err(refusal::amount_mismatch(amount_fen, row.enforcement_amount_fen).into());
        }
        Ok(())
    }

    /// Locks the court's case, or `NOT_FOUND`.
    async fn locked(&self, court: &CourtCode, case_number: &str) -> Result<CaseTx, Error> {
        self.store
            .lock_case(court.as_str(), case_number)
            .await?
            .ok_or_else(|| refusal::no_case(court.as_str(), case_number).into())
    }

    /// Settles and commits `tx` (the relay is woken if measures were recorded), and answers the
    /// case as it now stands.
    async fn settled(&self, mut tx: CaseTx) -> Result<pb::Case, Error> {
        settle(&mut tx, &self.orders(), self.clock.now()).await?;
        let (court, case) = (tx.row().court_code.clone(), tx.row().case_number.clone());
        tx.commit().await?;
        self.case_view(&court, &case).await
    }

    pub(super) async fn amend_amount(&self, req: pb::AmendCaseRequest) -> Result<pb::Case, Error> {
        let valid = validate::case::amend(&req)?;
        let court = &valid.case.court;
        let case_number = valid.case.case_number.as_str();
        let request = valid.normalised.encode_to_vec();
        let mut tx = self.locked(court, case_number).await?;
        if tx
            .earlier_request(&valid.idempotency_key, &request)
            .await?
            .is_some()
        {
            tx.commit().await?;
            return self.case_view(court.as_str(), case_number).await;
        }
        let row = tx.row().clone();
        if !row.state.takes_measures() {
            return Err(refusal::closed(case_number, row.state).into());
        }
        if row.enforcement_amount_fen == valid.amount_fen {
            return Err(invalid(
                "enforcement_amount_fen",
                format!("is {} already: nothing to amend", yuan(valid.amount_fen)),
            )
            .into());
        }
        let now = self.clock.now();
        tx.update(valid.amount_fen, CaseState::Open, "", now)
            .await?;
        let ledger = Ledger::of(valid.amount_fen, &tx.measures().await?);
        let ruling = if valid.ruling_number.is_empty() {
            String::new()
        } else {
            format!(", ruling {}", valid.ruling_number)
        };
        let message = format!(
            "enforcement amount amended from {} to {} by {}{ruling}: {}",
            yuan(row.enforcement_amount_fen),
            yuan(valid.amount_fen),
            valid.officer,
            valid.reason
        );
        settle::record_request(
            &mut tx,
            &ledger,
            pb::EventKind::CaseAmended,
            message,
            (valid.idempotency_key.clone(), request),
            now,
        )
        .await?;
        tracing::info!(%court, case = case_number, from = row.enforcement_amount_fen, to = valid.amount_fen, "case amended");
        self.settled(tx).await
    }

    pub(super) async fn close_down(&self, req: pb::CloseCaseRequest) -> Result<pb::Case, Error> {
        let valid = validate::case::close(&req)?;
        let court = &valid.case.court;
        let case_number = valid.case.case_number.as_str();
        let request = valid.normalised.encode_to_vec();
        let mut tx = self.locked(court, case_number).await?;
        if tx
            .earlier_request(&valid.idempotency_key, &request)
            .await?
            .is_some()
        {
            tx.commit().await?;
            return self.case_view(court.as_str(), case_number).await;
        }
        let row = tx.row().clone();
        if row.state != CaseState::Open {
            return Err(Status::failed_precondition(format!(
                "case {case_number} is {} already ({})",
                row.state, row.close_reason
            ))
            .into());
        }
        let now = self.clock.now();
        let reason = format!("{} ({})", valid.reason, valid.officer);
        tx.update(row.enforcement_amount_fen, CaseState::Closing, &reason, now)
            .await?;
        let ledger = Ledger::of(row.enforcement_amount_fen, &tx.measures().await?);
        let message = format!(
            "closing: {reason}; every measure in force, waiting or under way is released ({} live)",
            ledger.live
        );
        settle::record_request(
            &mut tx,
            &ledger,
            pb::EventKind::CaseLedger,
            message,
            (valid.idempotency_key.clone(), request),
            now,
        )
        .await?;
        tracing::info!(%court, case = case_number, "case closing");
        self.settled(tx).await
    }
}
