//! Mutual TLS at every gRPC server of the hub: the handshake refuses whoever cannot show a
//! valid, unrevoked certificate of the hub CA.

use std::net::SocketAddr;

use hub_domain::{AgencyId, CourtCode};
use hub_testkit::{TestHub, TestPki};
use hub_trust::{Identity, TlsFiles, Transport};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// Asks the health service at `addr` with `tls` (a client with the CA only when `cert` is
/// false): whether the server answered.
async fn health(addr: SocketAddr, tls: &TlsFiles, cert: bool) -> Result<(), String> {
    let endpoint = if cert {
        Transport::Tls(tls.clone())
            .endpoint(&addr.to_string(), None)
            .map_err(|e| e.to_string())?
    } else {
        let ca = std::fs::read_to_string(&tls.ca).map_err(|e| e.to_string())?;
        tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
            .and_then(|e| {
                e.tls_config(
                    tonic::transport::ClientTlsConfig::new()
                        .ca_certificate(tonic::transport::Certificate::from_pem(ca)),
                )
            })
            .map_err(|e| e.to_string())?
    };
    let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(|_| ())
        .map_err(|status| format!("{status:?}"))
}

/// The four refusals at the server at `addr`, after a valid certificate (`good`) got in.
async fn refuses_all_but_valid_certificates(
    pki: &TestPki,
    server: &str,
    addr: SocketAddr,
    identity: Identity,
) -> anyhow::Result<()> {
    let good = pki.files(&format!("good-{server}"), vec![identity.clone()], &[])?;
    health(addr, &good, true)
        .await
        .map_err(|e| anyhow::anyhow!("{server}: a valid certificate was refused: {e}"))?;

    let refused = |what: &str, result: Result<(), String>| {
        anyhow::ensure!(result.is_err(), "{server} let in {what}");
        Ok(())
    };
    refused(
        "a client without a certificate",
        health(addr, &good, false).await,
    )?;
    let foreign = pki.foreign(&format!("foreign-{server}"), vec![identity.clone()])?;
    refused(
        "a certificate of another CA",
        health(addr, &foreign, true).await,
    )?;
    let expired = pki.expired(&format!("expired-{server}"), vec![identity.clone()])?;
    refused("an expired certificate", health(addr, &expired, true).await)?;

    let revoked = pki.files(&format!("revoked-{server}"), vec![identity], &[])?;
    health(addr, &revoked, true)
        .await
        .map_err(|e| anyhow::anyhow!("{server}: refused before its revocation: {e}"))?;
    pki.revoke(&revoked)?;
    refused("a revoked certificate", health(addr, &revoked, true).await)?;
    // The revocation is of that certificate only.
    health(addr, &good, true).await.map_err(|e| {
        anyhow::anyhow!("{server}: refused a valid certificate after a revocation: {e}")
    })?;
    Ok(())
}

#[tokio::test]
async fn the_gateway_an_inbox_and_an_agency_system_refuse_missing_foreign_expired_and_revoked_certificates()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let court = Identity::Court(CourtCode::parse("京0105")?);
    let icbc = AgencyId::parse("bank.ICBC")?;
    let node = hub.bank("ICBC")?;

    refuses_all_but_valid_certificates(hub.pki(), "gateway", hub.gateway_addr(), court).await?;
    // The inbox is called by the agency's system, the system by the adapter.
    refuses_all_but_valid_certificates(
        hub.pki(),
        "inbox",
        node.inbox_addr(),
        Identity::System(icbc.clone()),
    )
    .await?;
    refuses_all_but_valid_certificates(hub.pki(), "system", node.addr(), Identity::Adapter(icbc))
        .await?;

    // Nothing of this disturbed the hub: a freeze still goes through, over TLS on every hop.
    let id = hub_testkit::fixtures::resident_id(901);
    let account = hub_testkit::fixtures::account_number(901);
    hub.open_account("ICBC", &account, "张三", &id, 2_000_000)
        .await?;
    let measure = hub
        .freeze(
            hub_testkit::fixtures::Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("张三", &id)
                .case(901)
                .key("after-handshakes"),
        )
        .await?;
    hub.wait_for_state(
        "京0105",
        &measure.measure_id,
        enforcement_proto::v1::MeasureState::Effective,
    )
    .await?;
    hub.shutdown().await
}
