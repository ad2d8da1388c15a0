//! `hubctl audit verify`: walks the gateway's audit chains and names the first entry altered,
//! removed or reordered, or says each chain is whole and how long it is. Exits 0 only when every
//! chain is whole.

use clap::Subcommand;

use crate::{Context, error::Failure};

/// `hubctl audit …`.
#[derive(Subcommand, Debug, Clone)]
pub enum AuditCommand {
    /// Verifies the hash chains over the audit log (measure_events, case_events).
    Verify,
}

/// Runs one `audit` subcommand.
pub async fn run(context: &Context, command: AuditCommand) -> Result<(), Failure> {
    let AuditCommand::Verify = command;
    let chains = context.ops().await?.verify_audit().await?;
    let mut broken = Vec::new();
    for chain in &chains.chains {
        context.out.json(&serde_json::json!({
            "source": chain.source,
            "intact": chain.intact,
            "length": chain.length,
            "entries": chain.entries,
            "head": chain.head,
            "broken_seq": chain.intact.then_some(()).map_or(serde_json::Value::from(chain.broken_seq), |()| serde_json::Value::Null),
            "broken_entry_id": chain.intact.then_some(()).map_or(serde_json::Value::from(chain.broken_entry_id), |()| serde_json::Value::Null),
            "problem": chain.problem,
        }));
        if chain.intact {
            context.out.text(format!(
                "{}: whole, {} links over {} entries, head {}",
                chain.source, chain.length, chain.entries, chain.head
            ));
        } else {
            let line = format!(
                "{}: BROKEN at link {}, entry {}: {}",
                chain.source, chain.broken_seq, chain.broken_entry_id, chain.problem
            );
            context.out.text(&line);
            broken.push(line);
        }
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(Failure::Outcome(format!(
            "the audit log was tampered with: {}",
            broken.join("; ")
        )))
    }
}
