//! The case keeper: notices which cases need acting on and acts ([`super::settle`]).
//!
//! Every change of a measure is broadcast in-process ([`crate::events`]); the keeper takes the
//! case it belongs to as one to settle, so a bank's answer moves the case's orders on, releases
//! an excess and announces the ledger within moments. Besides, it sweeps the database every poll
//! for cases with audit entries it has not looked at (`cases.checked_event`), cases closing and
//! orders under way: what a crash, a missed broadcast or another gateway instance left. Two
//! instances settling one case take turns on its row lock and decide from what is stored, so
//! whatever one did the other sees and does not repeat.

use std::{collections::BTreeSet, time::Duration};

use hub_domain::Clock;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::{CaseState, instruct::Orders, settle};
use crate::{
    Error,
    events::{EventHub, Signal},
    store::Store,
};

/// Most cases read by one sweep.
const SWEEP_LIMIT: i64 = 1000;

/// The case keeper's settings.
pub struct Keeper {
    pub store: Store,
    pub clock: Clock,
    pub orders: Orders,
    /// How often to sweep.
    pub every: Duration,
}

impl Keeper {
    /// Settles cases as their measures change and at every sweep, until `shutdown`.
    pub async fn run(self, hub: EventHub, shutdown: CancellationToken) {
        let mut signals = hub.subscribe();
        let mut due: BTreeSet<(String, String)> = BTreeSet::new();
        let mut sweep = true;
        loop {
            if sweep {
                sweep = false;
                match self.store.cases_to_settle(SWEEP_LIMIT).await {
                    Ok(cases) => due.extend(cases),
                    Err(e) => tracing::warn!(error = %e, "finding cases to settle failed"),
                }
            }
            while let Some((court, case)) = due.pop_first() {
                if shutdown.is_cancelled() {
                    return;
                }
                if let Err(e) = self.settle(&court, &case).await {
                    tracing::warn!(error = %e, %court, %case, "settling a case failed; the next sweep retries");
                }
                // Changes that arrived meanwhile join the round, each case once.
                loop {
                    match signals.try_recv() {
                        Ok(Signal::Event(e)) => {
                            due.insert((e.court_code.clone(), e.case_number.clone()));
                        }
                        Ok(Signal::Case(_)) => {}
                        Ok(Signal::Resync)
                        | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                            sweep = true;
                        }
                        Err(_) => break,
                    }
                }
            }
            if sweep {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.every) => sweep = true,
                signal = signals.recv() => match signal {
                    Ok(Signal::Event(e)) => {
                        due.insert((e.court_code.clone(), e.case_number.clone()));
                    }
                    Ok(Signal::Case(_)) => {}
                    Ok(Signal::Resync) | Err(RecvError::Lagged(_)) => sweep = true,
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    /// Settles one case under its lock.
    async fn settle(&self, court: &str, case: &str) -> Result<(), Error> {
        let Some(mut tx) = self.store.lock_case(court, case).await? else {
            return Ok(());
        };
        let settled = if tx.row().state == CaseState::Closed {
            tx.checked().await?;
            settle::Settled::default()
        } else {
            settle::settle(&mut tx, &self.orders, self.clock.now()).await?
        };
        tx.commit().await?;
        if settled.recorded > 0 {
            tracing::info!(%court, %case, measures = settled.recorded, "the case keeper ordered measures");
        }
        Ok(())
    }
}
