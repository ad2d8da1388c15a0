//! The `AgencyInbox` service: notices the agency sends unprompted (a waiting freeze took effect,
//! incoming funds were frozen) are forwarded to the gateway as reports, with a broker confirm
//! before the agency gets its answer.

use enforcement_proto::{
    convert::{agency_kind_to_proto, timestamp},
    v1::{self as pb, agency_inbox_server::AgencyInbox},
};
use hub_bus::{MessageMeta, Published, topology::OUTCOMES_EXCHANGE};
use hub_domain::AgencyId;
use prost::Message;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::worker::CurrentPublisher;

/// Most updates accepted in one notice.
const MAX_UPDATES: usize = 1000;

/// Forwards the agency's notices to the hub.
#[derive(Clone)]
pub struct Inbox {
    agency: AgencyId,
    publisher: CurrentPublisher,
}

impl Inbox {
    /// An inbox for `agency`, publishing on whatever broker session is current.
    pub fn new(agency: AgencyId, publisher: CurrentPublisher) -> Self {
        Self { agency, publisher }
    }

    fn check(&self, notice: &pb::Notice) -> Result<(), Status> {
        if Uuid::parse_str(&notice.notice_id).is_err() {
            return Err(Status::invalid_argument("notice_id must be a UUID"));
        }
        let own = pb::AgencyRef {
            kind: agency_kind_to_proto(self.agency.kind) as i32,
            code: self.agency.code.to_string(),
        };
        if notice.agency.as_ref() != Some(&own) {
            return Err(Status::permission_denied(format!(
                "this inbox serves agency {} only",
                self.agency
            )));
        }
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
        Ok(())
    }
}

#[tonic::async_trait]
impl AgencyInbox for Inbox {
    async fn notify(
        &self,
        request: Request<pb::Notice>,
    ) -> Result<Response<pb::NotifyResponse>, Status> {
        let notice = request.into_inner();
        self.check(&notice)?;
        let Some(publisher) = self.publisher.borrow().clone() else {
            return Err(Status::unavailable(
                "the adapter is not connected to the hub's broker; retry",
            ));
        };
        let report = pb::AgencyReport {
            // The notice id doubles as the report id, so a repeated notice is recognisable.
            report_id: notice.notice_id.clone(),
            agency: notice.agency.clone(),
            kind: pb::ReportKind::Notice as i32,
            instruction_id: String::new(),
            updates: notice.updates,
            answer: None,
            message: notice.message,
            sent_at: Some(timestamp(OffsetDateTime::now_utc())),
        };
        let meta = MessageMeta {
            message_id: report.report_id.clone(),
            correlation_id: report.updates.first().map(|u| u.measure_id.clone()),
            kind: "enforcement.v1.AgencyReport".into(),
            timestamp: u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0),
            headers: Vec::new(),
        };
        match publisher
            .publish(
                OUTCOMES_EXCHANGE,
                &self.agency.routing_key(),
                &report.encode_to_vec(),
                &meta,
            )
            .await
        {
            Ok(Published::Confirmed) => Ok(Response::new(pb::NotifyResponse {})),
            Ok(Published::Returned { reply_text, .. }) => {
                tracing::error!(%reply_text, "notice unroutable: the gateway's queue is missing");
                Err(Status::unavailable(
                    "the hub is not taking reports yet; retry",
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, "forwarding notice failed");
                Err(Status::unavailable(
                    "the hub's broker did not take the notice; retry",
                ))
            }
        }
    }
}
