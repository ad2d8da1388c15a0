//! `adapter`: connects one agency's system to the enforcement hub.

use clap::Parser;
use hub_adapter::{Application, Config};
use hub_domain::Clock;

/// Connects one agency's system to the enforcement hub.
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
