//! An operator's session with the hub: the gateway's `Ops` client, every call with its errors
//! already mapped to [`Failure`]. Operators act for no court, so nothing here needs `--court`.

use enforcement_proto::v1::{self as pb, ops_client::OpsClient};
use tonic::transport::Channel;

use crate::{
    connect,
    error::{Failure, Server},
};

/// The hub's dead-letter operations.
#[derive(Clone)]
pub struct Ops {
    client: OpsClient<Channel>,
    hub: Server,
}

impl Ops {
    /// Connects to the gateway at `hub`.
    pub async fn connect(hub: Server) -> Result<Self, Failure> {
        let channel = connect::channel(&hub, connect::Party::Operator).await?;
        Ok(Self {
            client: OpsClient::new(channel),
            hub,
        })
    }

    fn failure(&self, status: tonic::Status) -> Failure {
        Failure::from_status(status, &self.hub)
    }

    /// The oldest `limit` dead letters and how many wait in all.
    pub async fn list(&mut self, limit: u32) -> Result<pb::ListDeadLettersResponse, Failure> {
        match self
            .client
            .list_dead_letters(pb::ListDeadLettersRequest { limit })
            .await
        {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// One dead letter, with its payload decoded into a summary.
    pub async fn inspect(&mut self, message_id: &str) -> Result<pb::DeadLetter, Failure> {
        match self.client.inspect_dead_letter(request(message_id)).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// Sends a dead letter again to where it was going; it leaves the queue.
    pub async fn replay(&mut self, message_id: &str) -> Result<pb::DeadLetter, Failure> {
        match self.client.replay_dead_letter(request(message_id)).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// Removes a dead letter for good.
    pub async fn discard(&mut self, message_id: &str) -> Result<pb::DeadLetter, Failure> {
        match self.client.discard_dead_letter(request(message_id)).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }
}

impl Ops {
    /// Registers an agency's public key.
    pub async fn add_key(&mut self, key: pb::AgencyKey) -> Result<pb::AgencyKey, Failure> {
        match self.client.add_agency_key(key).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// Enrols an agency as publishing as its broker user.
    pub async fn enrol(
        &mut self,
        request: pb::EnrolAgencyRequest,
    ) -> Result<pb::AgencyEnrolment, Failure> {
        match self.client.enrol_agency(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// Records an enrolled agency suspended or resumed.
    pub async fn set_suspended(
        &mut self,
        request: pb::SetAgencySuspendedRequest,
    ) -> Result<pb::AgencyEnrolment, Failure> {
        match self.client.set_agency_suspended(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// The keys registered.
    pub async fn list_keys(
        &mut self,
        request: pb::ListAgencyKeysRequest,
    ) -> Result<pb::ListAgencyKeysResponse, Failure> {
        match self.client.list_agency_keys(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// Walks the audit chains.
    pub async fn verify_audit(&mut self) -> Result<pb::VerifyAuditResponse, Failure> {
        match self.client.verify_audit(pb::VerifyAuditRequest {}).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// The overdue measures, longest overdue first.
    pub async fn list_overdue(&mut self, limit: u32) -> Result<pb::ListOverdueResponse, Failure> {
        match self
            .client
            .list_overdue(pb::ListOverdueRequest { limit })
            .await
        {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// A measure's hops through the hub, in order.
    pub async fn trace(&mut self, measure_id: &str) -> Result<pb::TraceResponse, Failure> {
        let request = pb::TraceRequest {
            measure_id: measure_id.to_owned(),
        };
        match self.client.trace(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// A measure's evidence.
    pub async fn evidence(&mut self, measure_id: &str) -> Result<pb::EvidenceResponse, Failure> {
        let request = pb::EvidenceRequest {
            measure_id: measure_id.to_owned(),
        };
        match self.client.evidence(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// Ends a key's validity.
    pub async fn retire_key(
        &mut self,
        request: pb::RetireAgencyKeyRequest,
    ) -> Result<pb::AgencyKey, Failure> {
        match self.client.retire_agency_key(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }
}

impl Ops {
    /// Every agency in the registry now.
    pub async fn agency_figures(&mut self) -> Result<pb::AgencyFiguresResponse, Failure> {
        match self
            .client
            .agency_figures(pb::AgencyFiguresRequest {})
            .await
        {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// The ranking of `month` (`YYYY-MM`).
    pub async fn ranking(&mut self, month: &str) -> Result<pb::RankingResponse, Failure> {
        let request = pb::RankingRequest {
            month: month.to_owned(),
        };
        match self.client.ranking(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }
}

fn request(message_id: &str) -> pb::DeadLetterRequest {
    pb::DeadLetterRequest {
        message_id: message_id.to_owned(),
    }
}
