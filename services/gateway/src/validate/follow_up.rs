//! Follow-up orders on a court's own measure: a release (解除) and a renewal (续行). Whether the
//! measure can be released or renewed is checked against it later.

use hub_domain::{CourtCode, IdempotencyKey, Period};
use tonic::Status;
use uuid::Uuid;

use enforcement_proto::v1 as pb;

use super::{Violations, court_and_key, free_text, measure_id, period};

/// Longest free-text reason accepted.
const MAX_REASON: usize = 500;

/// A validated Release request.
#[derive(Debug, Clone)]
pub struct ValidRelease {
    /// The asking court.
    pub court: CourtCode,
    /// Its idempotency key.
    pub idempotency_key: IdempotencyKey,
    /// The measure to release.
    pub target: Uuid,
    /// Why.
    pub reason: String,
    /// For a partial release: what the freeze keeps, in fen.
    pub keep_fen: Option<i64>,
}

impl ValidRelease {
    /// The request as normalised: its encoding identifies a repeat.
    pub fn normalised(&self) -> pb::ReleaseRequest {
        pb::ReleaseRequest {
            court_code: self.court.to_string(),
            idempotency_key: self.idempotency_key.to_string(),
            measure_id: self.target.to_string(),
            reason: self.reason.clone(),
            keep_fen: self.keep_fen.unwrap_or(0),
        }
    }
}

/// Checks a Release request.
pub fn release(req: &pb::ReleaseRequest) -> Result<ValidRelease, Status> {
    let mut v = Violations::default();
    let (court, idempotency_key) = court_and_key(&mut v, &req.court_code, &req.idempotency_key);
    let target = v.check("measure_id", measure_id(&req.measure_id));
    let reason = v.check("reason", free_text(&req.reason, MAX_REASON));
    let keep_fen = match req.keep_fen {
        0 => Some(None),
        fen => v
            .check(
                "keep_fen",
                hub_domain::Money::positive(fen).map(|m| Some(m.fen())),
            )
            .map(|kept| kept.filter(|k| *k > 0)),
    };
    let (court, idempotency_key, target, reason, keep_fen) = v.finish(all_parsed!(
        court,
        idempotency_key,
        target,
        reason,
        keep_fen
    ))?;
    Ok(ValidRelease {
        court,
        idempotency_key,
        target,
        reason,
        keep_fen,
    })
}

/// A validated Renew request; the period is checked against the target's kind later.
#[derive(Debug, Clone)]
pub struct ValidRenew {
    /// The asking court.
    pub court: CourtCode,
    /// Its idempotency key.
    pub idempotency_key: IdempotencyKey,
    /// The measure to renew.
    pub target: Uuid,
    /// The additional period.
    pub period: Period,
}

impl ValidRenew {
    /// The request as normalised: its encoding identifies a repeat.
    pub fn normalised(&self) -> pb::RenewRequest {
        pb::RenewRequest {
            court_code: self.court.to_string(),
            idempotency_key: self.idempotency_key.to_string(),
            measure_id: self.target.to_string(),
            period: Some(enforcement_proto::convert::period_to_proto(self.period)),
        }
    }
}

/// Checks a Renew request.
pub fn renew(req: &pb::RenewRequest) -> Result<ValidRenew, Status> {
    let mut v = Violations::default();
    let (court, idempotency_key) = court_and_key(&mut v, &req.court_code, &req.idempotency_key);
    let target = v.check("measure_id", measure_id(&req.measure_id));
    let period = period(&mut v, "period", req.period.as_ref());
    let (court, idempotency_key, target, period) =
        v.finish(all_parsed!(court, idempotency_key, target, period))?;
    Ok(ValidRenew {
        court,
        idempotency_key,
        target,
        period,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release_request(keep_fen: i64) -> pb::ReleaseRequest {
        pb::ReleaseRequest {
            court_code: "京0105".into(),
            idempotency_key: "release-1".into(),
            measure_id: Uuid::now_v7().to_string(),
            reason: "security given".into(),
            keep_fen,
        }
    }

    #[test]
    fn a_release_keeping_part_of_a_freeze_is_a_partial_release() {
        assert_eq!(release(&release_request(0)).expect("valid").keep_fen, None);
        let partial = release(&release_request(400_000)).expect("valid");
        assert_eq!(partial.keep_fen, Some(400_000));
        assert_eq!(partial.normalised().keep_fen, 400_000);
    }

    #[test]
    fn a_negative_amount_to_keep_is_refused_naming_the_field() {
        let status = release(&release_request(-1)).expect_err("negative");
        assert!(
            status.message().contains("keep_fen"),
            "{}",
            status.message()
        );
    }
}
