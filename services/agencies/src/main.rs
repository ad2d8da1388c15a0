//! `agency`: runs a reference agency system.

use clap::{Parser, Subcommand};
use hub_agencies::bank::{BankApplication, BankConfig};
use hub_agencies::land::{LandApplication, LandConfig};
use hub_agencies::police::{PoliceApplication, PoliceConfig};
use hub_domain::Clock;

/// Runs a reference agency system of the enforcement hub.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    agency: Agency,
}

#[derive(Subcommand)]
enum Agency {
    /// A bank: accounts, freezes, deductions.
    Bank(BankConfig),
    /// A land registry: properties, seal-ups, pre-seizures; one process serves several regions.
    Land(LandConfig),
    /// Public security: persons, vehicles, distraints, exit restrictions; one process serves
    /// several units.
    Police(PoliceConfig),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    hub_runtime::init_tracing();
    let shutdown = hub_runtime::cancel_on_signal();
    match Cli::parse().agency {
        Agency::Bank(config) => {
            BankApplication::build(config, Clock::system())
                .await?
                .run_until_stopped(shutdown)
                .await
        }
        Agency::Land(config) => {
            LandApplication::build(config, Clock::system())
                .await?
                .run_until_stopped(shutdown)
                .await
        }
        Agency::Police(config) => {
            PoliceApplication::build(config, Clock::system())
                .await?
                .run_until_stopped(shutdown)
                .await
        }
    }
}
