//! `hubctl keygen`: a new key pair, for the gateway's instruction signatures or for an agency's
//! reports (adapter) and seals (its system).

use crate::{Context, error::Failure};

/// Prints a new seed and its public key.
pub fn run(context: &Context) -> Result<(), Failure> {
    let signer = hub_bus::signing::Signer::generate()
        .map_err(|e| Failure::Unexpected(format!("no randomness from the system: {e}")))?;
    context.out.json(&serde_json::json!({
        "signing_key": signer.seed_hex(),
        "public_key": signer.public_hex(),
    }));
    context.out.text(format!(
        "GATEWAY_SIGNING_KEY={}\nADAPTER_GATEWAY_PUBLIC_KEY={}\n\nKeep the signing key secret: give it to the gateway only. Give the public key to every adapter.\n\nFor an agency: the seed is its ADAPTER_SIGNING_KEY (or BANK_SEAL_KEY, LAND_SEAL_KEY, POLICE_SEAL_KEY for its system); register the public key with `hubctl agency key add`.",
        signer.seed_hex(),
        signer.public_hex()
    ));
    Ok(())
}
