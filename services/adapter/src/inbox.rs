//! The `AgencyInbox` service: notices the agency sends unprompted (a waiting freeze took effect,
//! incoming funds were frozen) are forwarded to the gateway as reports, with a broker confirm
//! before the agency gets its answer.

use enforcement_proto::{
    convert::{agency_kind_to_proto, timestamp},
    v1::{self as pb, agency_inbox_server::AgencyInbox},
};
use hub_domain::{AgencyId, Clock};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use hub_bus::signing::KeyedSigner;

use crate::{report::publish_report, worker::CurrentPublisher};

/// Most updates accepted in one notice.
const MAX_UPDATES: usize = 1000;

/// Forwards the agencies' notices to the hub.
#[derive(Clone)]
pub struct Inbox {
    /// The agencies whose notices are taken.
    agencies: Vec<AgencyId>,
    /// The current broker session's publisher; none while disconnected.
    publisher: CurrentPublisher,
    /// Where "now" comes from: reports are stamped with it.
    clock: Clock,
    /// Signs every report; none: unsigned.
    signer: Option<KeyedSigner>,
}

impl Inbox {
    /// An inbox for `agencies`, publishing on whatever broker session is current and stamping
    /// reports with `clock`'s time.
    pub fn new(
        agencies: Vec<AgencyId>,
        publisher: CurrentPublisher,
        clock: Clock,
        signer: Option<KeyedSigner>,
    ) -> Self {
        Self {
            agencies,
            publisher,
            clock,
            signer,
        }
    }

    /// The agency the notice is from, if it is one this inbox serves and the notice is sound.
    fn check(&self, notice: &pb::Notice) -> Result<&AgencyId, Status> {
        if Uuid::parse_str(&notice.notice_id).is_err() {
            return Err(Status::invalid_argument("notice_id must be a UUID"));
        }
        let agency = notice
            .agency
            .as_ref()
            .and_then(|a| {
                self.agencies.iter().find(|own| {
                    agency_kind_to_proto(own.kind) as i32 == a.kind && own.code.as_str() == a.code
                })
            })
            .ok_or_else(|| {
                Status::permission_denied(
                    "this inbox does not serve the agency named in the notice",
                )
            })?;
        if notice.updates.is_empty() || notice.updates.len() > MAX_UPDATES {
            return Err(Status::invalid_argument(format!(
                "updates must hold 1 to {MAX_UPDATES} changes"
            )));
        }
        if let Some((i, _)) = notice
            .updates
            .iter()
            .enumerate()
            .find(|(_, u)| Uuid::parse_str(&u.measure_id).is_err())
        {
            return Err(Status::invalid_argument(format!(
                "updates[{i}].measure_id must be a measure id (UUID)"
            )));
        }
        Ok(agency)
    }
}

#[tonic::async_trait]
impl AgencyInbox for Inbox {
    async fn notify(
        &self,
        request: Request<pb::Notice>,
    ) -> Result<Response<pb::NotifyResponse>, Status> {
        let notice = request.into_inner();
        let agency = self.check(&notice)?.clone();
        let Some(publisher) = self.publisher.borrow().clone() else {
            return Err(Status::unavailable(
                "the adapter is not connected to the hub's broker; retry",
            ));
        };
        let measure = notice.updates.first().map(|u| u.measure_id.clone());
        let report = pb::AgencyReport {
            // The notice id doubles as the report id, so a repeated notice is recognisable.
            report_id: notice.notice_id.clone(),
            agency: notice.agency.clone(),
            kind: pb::ReportKind::Notice as i32,
            instruction_id: String::new(),
            updates: notice.updates,
            answer: None,
            message: notice.message,
            sent_at: Some(timestamp(self.clock.now())),
            announcement: None,
            seal: None,
            // Unprompted: no delivery was taken, no instruction answered.
            received_at: None,
            answered_at: None,
        };
        let signer = self.signer.as_ref();
        match publish_report(
            &publisher,
            signer,
            &agency,
            &report,
            measure.as_deref(),
            None,
        )
        .await
        {
            Ok(()) => Ok(Response::new(pb::NotifyResponse {})),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "forwarding notice failed");
                Err(Status::unavailable(
                    "the hub's broker did not take the notice; retry",
                ))
            }
        }
    }
}
