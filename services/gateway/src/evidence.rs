//! `Ops.Evidence`: a measure's evidence file, gathered from what the store kept
//! ([`crate::store::evidence`]): the instructions as published with the gateway's signature,
//! the reports as accepted with the adapter's signature and the agency system's seal inside,
//! and the public keys that verify them. `hubctl evidence` writes it out and checks it offline.

use enforcement_proto::{
    convert::{agency_kind_from_proto, timestamp},
    v1 as pb,
};
use tonic::Status;

use crate::{
    store::Store,
    validate::{self, invalid},
};

/// The evidence of `measure_id`, with `gateway_public_key` (hex, if the gateway signs), as of
/// `now`.
pub async fn gather(
    store: &Store,
    measure_id: &str,
    gateway_public_key: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<pb::EvidenceResponse, Status> {
    let id = validate::measure_id(measure_id).map_err(|e| invalid("measure_id", e))?;
    let measure = store
        .get(id)
        .await?
        .ok_or_else(|| Status::not_found(format!("no measure {id}")))?;
    let (sent, received) = store.evidence(id).await.map_err(crate::Error::from)?;
    let measure = measure.to_proto();
    let agency = measure.agency.as_ref().and_then(|a| {
        agency_kind_from_proto(a.kind).map(|k| (k.as_str().to_string(), a.code.clone()))
    });
    let agency_keys = match agency {
        Some(agency) => crate::keys::of(store, &[agency]).await?,
        None => Vec::new(),
    };
    Ok(pb::EvidenceResponse {
        measure: Some(measure),
        gateway_public_key: gateway_public_key.unwrap_or_default().to_string(),
        instructions: sent
            .into_iter()
            .map(|s| pb::SentInstruction {
                instruction_id: s.instruction_id.to_string(),
                payload: s.payload,
                signature: s.signature.unwrap_or_default(),
                routing_key: s.routing_key,
                published_at: Some(timestamp(s.published_at)),
            })
            .collect(),
        reports: received
            .into_iter()
            .filter_map(|r| {
                Some(pb::ReceivedReport {
                    report_id: r.report_id.to_string(),
                    body: r.body?,
                    key_id: r.key_id.unwrap_or_default(),
                    signature: r.signature.unwrap_or_default(),
                    received_at: Some(timestamp(r.received_at)),
                })
            })
            .collect(),
        agency_keys,
        exported_at: Some(timestamp(now)),
    })
}
