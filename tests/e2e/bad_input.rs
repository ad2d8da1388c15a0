//! Bad input at the edge and on the bus: each refused with a clear error, nothing half-written.

use std::time::Duration;

use enforcement_proto::v1 as pb;
use hub_bus::{MessageMeta, topology};
use hub_testkit::{
    TestHub,
    fixtures::{self, Freeze},
};
use prost::{
    Message,
    bytes::{Buf, BufMut},
};
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
};
use tonic_types::StatusExt;

const COURT: &str = "京0105";

fn freeze() -> pb::SubmitRequest {
    Freeze::of(1_000_000)
        .at("ICBC", &fixtures::account_number(70))
        .held_by("张三", &fixtures::resident_id(70))
        .by(COURT)
        .case(70)
        .key("bad-input")
        .request()
}

fn fields(status: &Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// Sends bytes as they are, so a test can send what no well-behaved client would.
#[derive(Clone, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

async fn submit_raw(hub: &TestHub, bytes: Vec<u8>) -> anyhow::Result<Result<Vec<u8>, Status>> {
    let channel = hub_trust::Transport::Tls(hub.pki().court(COURT)?)
        .endpoint(&hub.gateway_addr().to_string(), None)?
        .connect()
        .await?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await?;
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static("/enforcement.v1.CourtGateway/Submit");
    Ok(grpc
        .unary(tonic::Request::new(bytes), path, Raw)
        .await
        .map(tonic::Response::into_inner))
}

async fn nothing_recorded(hub: &TestHub) -> anyhow::Result<()> {
    assert_eq!(hub.gateway_rows("measures").await?, 0);
    assert_eq!(hub.gateway_rows("outbox").await?, 0);
    assert_eq!(hub.gateway_rows("measure_events").await?, 0);
    Ok(())
}

#[tokio::test]
async fn malformed_oversized_and_out_of_range_requests_are_refused_and_nothing_is_written()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;

    // A string field that is not UTF-8.
    let mut bytes = freeze().encode_to_vec();
    assert_eq!(&bytes[..3], &[0x0a, 7, 0xe4], "court_code comes first");
    bytes[2] = 0xff;
    let status = submit_raw(&hub, bytes).await?.expect_err("not UTF-8");
    assert!(
        status.message().contains("court_code") && status.message().contains("UTF-8"),
        "{status:?}"
    );

    // Bytes that are not a protobuf message at all.
    let status = submit_raw(&hub, vec![0xff; 64])
        .await?
        .expect_err("garbage");
    assert!(status.message().contains("decode"), "{status:?}");

    // A request of 2 MB.
    let mut huge = freeze();
    if let Some(case) = huge.case.as_mut() {
        case.officer = "王".repeat(700_000);
    }
    let status = hub
        .court()
        .await?
        .submit(huge)
        .await
        .expect_err("too large");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");

    // An enum value the contract does not have, and a control character in a name.
    let mut unknown_kind = freeze();
    if let Some(agency) = unknown_kind.agency.as_mut() {
        agency.kind = 42;
    }
    let status = hub
        .court()
        .await?
        .submit(unknown_kind)
        .await
        .expect_err("kind 42");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), vec!["agency.kind"]);
    let mut bell = freeze();
    if let Some(case) = bell.case.as_mut() {
        case.officer = "王\u{7}法官".into();
    }
    let status = hub
        .court()
        .await?
        .submit(bell)
        .await
        .expect_err("control character");
    assert_eq!(fields(&status), vec!["case.officer"]);
    assert!(status.message().contains("control"), "{status:?}");

    // Repeated fields far beyond reason.
    let inquiry = |scope, classes| pb::InquireRequest {
        court_code: COURT.into(),
        idempotency_key: "huge".into(),
        case: Some(fixtures::case(&fixtures::case_number(70), 1_000_000)),
        subject: Some(fixtures::person("张三", &fixtures::resident_id(70))),
        classes,
        scope: Some(scope),
        deadline_seconds: 60,
    };
    let many = pb::inquire_request::Scope::Agencies(pb::AgencyList {
        agencies: (0..5000)
            .map(|i| fixtures::bank(&format!("B{i}")))
            .collect(),
    });
    let status = hub
        .court()
        .await?
        .inquire(inquiry(many, vec![pb::AssetClass::Deposits as i32]))
        .await
        .expect_err("5,000 agencies");
    assert!(
        fields(&status).contains(&"agencies".to_string()),
        "{status:?}"
    );
    let status = hub
        .court()
        .await?
        .inquire(inquiry(
            pb::inquire_request::Scope::Agency(fixtures::bank("ICBC")),
            vec![pb::AssetClass::Deposits as i32; 100_000],
        ))
        .await
        .expect_err("100,000 classes");
    assert_eq!(fields(&status), vec!["classes"]);

    nothing_recorded(&hub).await?;
    // And the hub still works.
    hub.open_account(
        "ICBC",
        &fixtures::account_number(70),
        "张三",
        &fixtures::resident_id(70),
        2_000_000,
    )
    .await?;
    let measure = hub.submit(freeze()).await?;
    hub.wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Effective)
        .await?;
    hub.shutdown().await
}

#[tokio::test]
async fn an_oversized_message_on_an_agency_queue_goes_to_dead_letters_unread() -> anyhow::Result<()>
{
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let meta = MessageMeta {
        message_id: "oversized".into(),
        kind: "enforcement.v1.Instruction".into(),
        ..MessageMeta::default()
    };
    hub.publish_raw(
        topology::INSTRUCTIONS_EXCHANGE,
        "bank.ICBC",
        &vec![0x0a; 3 << 20],
        &meta,
    )
    .await?;
    let letter = hub
        .first_dead_letter(
            "the oversized message dead-lettered",
            Duration::from_secs(20),
        )
        .await?;
    let mut ops = hub.ops().await?;
    assert_eq!(letter.message_id, "oversized");
    assert!(
        letter.reason.starts_with("oversized instruction"),
        "{}",
        letter.reason
    );
    assert_eq!(letter.size_bytes, 3 << 20);
    ops.discard_dead_letter(pb::DeadLetterRequest {
        message_id: "oversized".into(),
    })
    .await?;
    hub.shutdown().await
}
