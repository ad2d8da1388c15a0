//! A court's session with the hub: the `CourtGateway` client, the court it acts for, and every
//! call with its errors already mapped to [`Failure`].

use std::time::Duration;

use enforcement_proto::v1::{self as pb, court_gateway_client::CourtGatewayClient};
use hub_domain::CourtCode;
use tonic::{Streaming, transport::Channel};

use crate::{
    connect,
    error::{Failure, Server},
    wait::{self, Check, Waited},
};

/// Largest page `List` and `ListExpiring` serve; fewer round trips for long lists.
const LIST_PAGE: u32 = 1000;

/// The hub, as seen by one court.
#[derive(Clone)]
pub struct Court {
    client: CourtGatewayClient<Channel>,
    code: CourtCode,
    hub: Server,
}

impl Court {
    /// Connects to the hub at `hub` on behalf of court `code`.
    pub async fn connect(hub: Server, code: CourtCode) -> Result<Self, Failure> {
        let channel = connect::channel(&hub, connect::Party::Court(&code)).await?;
        Ok(Self {
            client: CourtGatewayClient::new(channel),
            code,
            hub,
        })
    }

    /// A session for another court: its own connection, with that court's certificate.
    pub async fn acting_for(&self, code: CourtCode) -> Result<Self, Failure> {
        Self::connect(self.hub.clone(), code).await
    }

    /// The court acted for.
    pub fn code(&self) -> &CourtCode {
        &self.code
    }

    fn failure(&self, status: tonic::Status) -> Failure {
        Failure::from_status(status, &self.hub)
    }

    /// Submits a new measure.
    pub async fn submit(
        &mut self,
        key: &str,
        case: pb::CaseInfo,
        subject: pb::Subject,
        agency: pb::AgencyRef,
        measure: pb::submit_request::Measure,
    ) -> Result<Submitted, Failure> {
        let request = pb::SubmitRequest {
            court_code: self.code.to_string(),
            idempotency_key: key.to_owned(),
            case: Some(case),
            subject: Some(subject),
            agency: Some(agency),
            measure: Some(measure),
        };
        let response = self.client.submit(request).await;
        self.submitted(key, response)
    }

    /// Orders the release of `measure_id`.
    pub async fn release(
        &mut self,
        key: &str,
        measure_id: &str,
        reason: &str,
    ) -> Result<Submitted, Failure> {
        self.release_keeping(key, measure_id, reason, 0).await
    }

    /// Orders the release of `measure_id`, or with `keep_fen` its reduction to that amount.
    pub async fn release_keeping(
        &mut self,
        key: &str,
        measure_id: &str,
        reason: &str,
        keep_fen: i64,
    ) -> Result<Submitted, Failure> {
        let request = pb::ReleaseRequest {
            court_code: self.code.to_string(),
            idempotency_key: key.to_owned(),
            measure_id: measure_id.to_owned(),
            reason: reason.to_owned(),
            keep_fen,
        };
        let response = self.client.release(request).await;
        self.submitted(key, response)
    }

    /// Orders the renewal of `measure_id` by `months` and `days`.
    pub async fn renew(
        &mut self,
        key: &str,
        measure_id: &str,
        months: u32,
        days: u32,
    ) -> Result<Submitted, Failure> {
        let request = pb::RenewRequest {
            court_code: self.code.to_string(),
            idempotency_key: key.to_owned(),
            measure_id: measure_id.to_owned(),
            period: Some(pb::Period { months, days }),
        };
        let response = self.client.renew(request).await;
        self.submitted(key, response)
    }

    fn submitted(
        &self,
        key: &str,
        response: Result<tonic::Response<pb::SubmitResponse>, tonic::Status>,
    ) -> Result<Submitted, Failure> {
        let response = response.map_err(|s| self.failure(s))?.into_inner();
        let measure = response.measure.ok_or_else(|| {
            Failure::Unexpected(format!(
                "{} accepted the request but did not return the measure",
                self.hub
            ))
        })?;
        Ok(Submitted {
            key: key.to_owned(),
            duplicate: response.duplicate,
            measure,
        })
    }

    /// One measure as it stands.
    pub async fn get(&mut self, measure_id: &str) -> Result<pb::Measure, Failure> {
        let request = pb::GetRequest {
            court_code: self.code.to_string(),
            measure_id: measure_id.to_owned(),
        };
        match self.client.get(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// Every measure of the court in `case_number`, following all pages.
    pub async fn list_case(&mut self, case_number: &str) -> Result<Vec<pb::Measure>, Failure> {
        let mut measures = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = pb::ListRequest {
                court_code: self.code.to_string(),
                case_number: case_number.to_owned(),
                page_size: LIST_PAGE,
                page_token: std::mem::take(&mut page_token),
            };
            let page = match self.client.list(request).await {
                Ok(response) => response.into_inner(),
                Err(status) => return Err(self.failure(status)),
            };
            measures.extend(page.measures);
            if page.next_page_token.is_empty() {
                return Ok(measures);
            }
            page_token = page.next_page_token;
        }
    }

    /// Starts (or, with a key used before, follows again) an inquiry; the stream reports it,
    /// each answer, and its end.
    pub async fn inquire(
        &mut self,
        key: &str,
        inquiry: Inquiry,
    ) -> Result<Streaming<pb::InquiryEvent>, Failure> {
        let request = pb::InquireRequest {
            court_code: self.code.to_string(),
            idempotency_key: key.to_owned(),
            case: Some(inquiry.case),
            subject: Some(inquiry.subject),
            classes: inquiry.classes.into_iter().map(|c| c as i32).collect(),
            scope: Some(inquiry.scope),
            deadline_seconds: inquiry.deadline_seconds,
        };
        match self.client.inquire(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// An inquiry and the answers it has received so far.
    pub async fn answers(&mut self, measure_id: &str) -> Result<pb::ListAnswersResponse, Failure> {
        let request = pb::ListAnswersRequest {
            court_code: self.code.to_string(),
            measure_id: measure_id.to_owned(),
        };
        match self.client.list_answers(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// The court's measures in force expiring within `days`, soonest first, following all pages.
    pub async fn expiring(&mut self, days: u32) -> Result<Vec<pb::Measure>, Failure> {
        let mut measures = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = pb::ListExpiringRequest {
                court_code: self.code.to_string(),
                within_days: days,
                page_size: LIST_PAGE,
                page_token: std::mem::take(&mut page_token),
            };
            let page = match self.client.list_expiring(request).await {
                Ok(response) => response.into_inner(),
                Err(status) => return Err(self.failure(status)),
            };
            measures.extend(page.measures);
            if page.next_page_token.is_empty() {
                return Ok(measures);
            }
            page_token = page.next_page_token;
        }
    }

    /// The court's case as a whole: its ledger, measures and orders.
    pub async fn case(&mut self, case_number: &str) -> Result<pb::Case, Failure> {
        let request = pb::GetCaseRequest {
            court_code: self.code.to_string(),
            case_number: case_number.to_owned(),
        };
        match self.client.get_case(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// Amends the enforcement amount of the court's case.
    pub async fn amend_case(
        &mut self,
        mut request: pb::AmendCaseRequest,
    ) -> Result<pb::Case, Failure> {
        request.court_code = self.code.to_string();
        match self.client.amend_case(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// Closes the court's case: every measure still in force is released.
    pub async fn close_case(
        &mut self,
        mut request: pb::CloseCaseRequest,
    ) -> Result<pb::Case, Failure> {
        request.court_code = self.code.to_string();
        match self.client.close_case(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// Places a case-level order: freeze up to an amount of the debtor's deposits.
    pub async fn freeze_deposits(
        &mut self,
        mut request: pb::FreezeDepositsRequest,
    ) -> Result<pb::CaseOrder, Failure> {
        request.court_code = self.code.to_string();
        match self.client.freeze_deposits(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// Opens a watch stream on one measure or one case.
    pub async fn watch(
        &mut self,
        target: pb::watch_request::Target,
    ) -> Result<Streaming<pb::MeasureEvent>, Failure> {
        let request = pb::WatchRequest {
            court_code: self.code.to_string(),
            target: Some(target),
        };
        match self.client.watch(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.failure(status)),
        }
    }

    /// Watches `measure_id` until `check` says it is done (or wrong), for at most `timeout`.
    /// `expecting` completes "measure … did not …" in the timeout message.
    pub async fn wait_for(
        &mut self,
        measure_id: &str,
        expecting: &str,
        timeout: Duration,
        check: impl FnMut(&pb::Measure) -> Check,
    ) -> Result<Waited, Failure> {
        let stream = self
            .watch(pb::watch_request::Target::MeasureId(measure_id.to_owned()))
            .await?;
        wait::until(stream, &self.hub, measure_id, expecting, timeout, check).await
    }
}

/// The hub's answer to a submission, release or renewal.
#[derive(Clone, Debug)]
pub struct Submitted {
    /// The idempotency key the request was sent with.
    pub key: String,
    /// Whether the key had been used before and `measure` is the original.
    pub duplicate: bool,
    /// The measure as recorded.
    pub measure: pb::Measure,
}

/// What an inquiry asks, and of whom.
#[derive(Clone, Debug)]
pub struct Inquiry {
    /// The case and its documents.
    pub case: pb::CaseInfo,
    /// Whose holdings to look for.
    pub subject: pb::Subject,
    /// The asset classes wanted.
    pub classes: Vec<pb::AssetClass>,
    /// One agency, a list, or every agency of a kind.
    pub scope: pb::inquire_request::Scope,
    /// Seconds to wait for answers; 0 for the hub's default.
    pub deadline_seconds: u32,
}
