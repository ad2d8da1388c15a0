//! `hubctl`: parses the command line and hands it to the library, which does the work and
//! chooses the exit code.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    hubctl::run(hubctl::cli::Cli::parse()).await
}
