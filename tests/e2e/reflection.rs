//! Standard gRPC tooling: every service answers server reflection, so grpcurl, Evans or Postman
//! can list and describe its methods without the `.proto` files.

use std::net::SocketAddr;

use hub_testkit::TestHub;
use prost::Message;
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

/// Asks the server at `addr` one reflection question, over mutual TLS with the test's operator
/// certificate, and returns its answer.
async fn ask(
    hub: &TestHub,
    addr: SocketAddr,
    request: MessageRequest,
) -> anyhow::Result<MessageResponse> {
    let channel = hub_trust::Transport::Tls(hub.pki().operator()?)
        .endpoint(&addr.to_string(), None)?
        .connect()
        .await?;
    let mut client = ServerReflectionClient::new(channel);
    let question = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([question]))
        .await?
        .into_inner();
    let answer = answers
        .message()
        .await?
        .ok_or_else(|| anyhow::anyhow!("no reflection answer from {addr}"))?;
    answer
        .message_response
        .ok_or_else(|| anyhow::anyhow!("empty reflection answer from {addr}"))
}

/// The services the server at `addr` lists.
async fn services(hub: &TestHub, addr: SocketAddr) -> anyhow::Result<Vec<String>> {
    match ask(hub, addr, MessageRequest::ListServices(String::new())).await? {
        MessageResponse::ListServicesResponse(list) => {
            let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
            names.sort();
            Ok(names)
        }
        other => anyhow::bail!("unexpected answer to list services: {other:?}"),
    }
}

#[tokio::test]
async fn every_service_lists_its_grpc_services_by_reflection() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let reflection = "grpc.reflection.v1.ServerReflection";
    let health = "grpc.health.v1.Health";
    // Each lists what it serves, and nothing else of the contract.
    let gateway = services(&hub, hub.gateway_addr()).await?;
    assert_eq!(
        gateway,
        [
            "enforcement.v1.CourtGateway",
            "enforcement.v1.Ops",
            health,
            reflection
        ]
    );
    let bank = hub.bank("ICBC")?;
    let adapter = services(&hub, bank.inbox_addr()).await?;
    assert_eq!(adapter, ["enforcement.v1.AgencyInbox", health, reflection]);
    let system = services(&hub, bank.addr()).await?;
    assert_eq!(
        system,
        [
            "enforcement.reference.v1.BankAdmin",
            "enforcement.v1.AgencyBackend",
            health,
            reflection
        ]
    );
    hub.shutdown().await
}

#[tokio::test]
async fn the_gateway_describes_its_methods_by_reflection() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let answer = ask(
        &hub,
        hub.gateway_addr(),
        MessageRequest::FileContainingSymbol("enforcement.v1.CourtGateway".into()),
    )
    .await?;
    let MessageResponse::FileDescriptorResponse(files) = answer else {
        anyhow::bail!("unexpected answer: {answer:?}");
    };
    let files = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()))
        .collect::<Result<Vec<_>, _>>()?;
    let court = files
        .iter()
        .flat_map(|f| &f.service)
        .find(|s| s.name() == "CourtGateway")
        .ok_or_else(|| anyhow::anyhow!("CourtGateway not described"))?;
    let methods: Vec<&str> = court.method.iter().map(|m| m.name()).collect();
    for method in ["Submit", "Get", "List", "Watch", "Release", "Renew"] {
        assert!(methods.contains(&method), "{method} not in {methods:?}");
    }
    // A symbol the hub does not have is refused, not answered with something else.
    let missing = ask(
        &hub,
        hub.gateway_addr(),
        MessageRequest::FileContainingSymbol("enforcement.v1.NoSuchService".into()),
    )
    .await
    .expect_err("no such symbol");
    let status = missing
        .downcast_ref::<tonic::Status>()
        .ok_or_else(|| anyhow::anyhow!("not a gRPC status: {missing:#}"))?;
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    hub.shutdown().await
}
