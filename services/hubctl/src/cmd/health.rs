//! `hubctl health`: whether a hub service (gateway, adapter, reference agency) is serving, by the
//! standard gRPC health service. Exit 0 when serving; for health checks and start-up scripts.

use clap::Args;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    Context, connect,
    error::{Failure, Server},
};

/// Which service to probe.
#[derive(Args, Debug)]
pub struct HealthArgs {
    /// The service's gRPC address, e.g. http://127.0.0.1:20051.
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// A gRPC service name to ask about; empty for the server as a whole.
    #[arg(long, default_value = "", value_name = "NAME")]
    pub service: String,
}

/// Asks the service at `args.url` whether it is serving.
pub async fn run(context: &Context, args: HealthArgs) -> Result<(), Failure> {
    let server = Server::service(&args.url).with(&context.hub.credentials);
    let channel = connect::channel(&server, connect::Party::Operator).await?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: args.service.clone(),
        })
        .await
        .map_err(|status| Failure::from_status(status, &server))?
        .into_inner();
    let status = ServingStatus::try_from(response.status).unwrap_or(ServingStatus::Unknown);
    context.out.json(&serde_json::json!({
        "url": args.url,
        "service": args.service,
        "status": status.as_str_name(),
    }));
    context.out.text(format!(
        "{}: {}",
        args.url,
        status.as_str_name().to_lowercase().replace('_', " ")
    ));
    if status == ServingStatus::Serving {
        Ok(())
    } else {
        Err(Failure::Unavailable {
            server,
            message: format!("not serving ({})", status.as_str_name()),
        })
    }
}
