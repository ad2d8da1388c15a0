//! `gateway`: the court-facing service of the enforcement hub.

use clap::Parser;
use hub_domain::Clock;
use hub_gateway::{Application, Config};

/// The court-facing gRPC gateway of the enforcement hub.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    hub_runtime::init_tracing();
    let cli = Cli::parse();
    let app = Application::build(cli.config, Clock::system()).await?;
    app.run_until_stopped(hub_runtime::cancel_on_signal()).await
}
