//! Inquiries of deposits (查询): every open account of the subject, with its balance and what is
//! frozen on it.

use enforcement_proto::v1 as pb;

use super::ledger::Ledger;
use crate::outcome::{Changes, done};

impl Ledger<'_> {
    /// Answers an inquiry for deposits: every account of the subject, with balance and frozen.
    pub async fn inquire(
        &mut self,
        instruction: &pb::Instruction,
    ) -> Result<(Changes, pb::InquiryAnswer), sqlx::Error> {
        let holder_id = subject_id(instruction.subject.as_ref()).unwrap_or_default();
        let holdings: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT a.account_number, a.balance_fen, \
                 COALESCE(SUM(f.frozen_fen) FILTER (WHERE f.state IN ('effective', 'partial')), 0)::int8 \
             FROM accounts a LEFT JOIN freezes f \
                 ON f.bank_code = a.bank_code AND f.account_number = a.account_number \
             WHERE a.bank_code = $1 AND a.holder_id = $2 AND NOT a.closed \
             GROUP BY a.account_number, a.balance_fen ORDER BY a.account_number",
        )
        .bind(self.bank_code)
        .bind(&holder_id)
        .fetch_all(&mut *self.conn)
        .await?;
        let note = if holdings.is_empty() {
            "no accounts held by the subject".to_string()
        } else {
            format!("{} account(s) found", holdings.len())
        };
        let answer = pb::InquiryAnswer {
            holdings: holdings
                .into_iter()
                .map(|(account_number, balance_fen, frozen_fen)| pb::Holding {
                    asset: Some(pb::holding::Asset::Deposit(pb::DepositHolding {
                        account_number,
                        balance_fen,
                        frozen_fen,
                    })),
                })
                .collect(),
        };
        let changes = Changes::outcome(done(&instruction.measure_id, "", None, note, self.now));
        Ok((changes, answer))
    }
}

/// The subject's identity number or credit code, as the order names it.
fn subject_id(subject: Option<&pb::Subject>) -> Option<String> {
    match subject.and_then(|s| s.party.as_ref())? {
        pb::subject::Party::Person(p) => Some(p.resident_id.clone()),
        pb::subject::Party::Organisation(o) => Some(o.credit_code.clone()),
    }
}
