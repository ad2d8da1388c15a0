//! Failpoints: places where a test build of the gateway can be told to die, to prove that
//! nothing is lost or doubled when the process is killed there.
//!
//! Compiled in only with the `failpoints` feature (the fault-injection suite builds the gateway
//! with it); in every other build [`hit`] is empty. With the feature, `GATEWAY_FAILPOINT=<name>:<n>`
//! aborts the process the `n`th time the named point is reached.

/// The relay has read committed outbox rows and is about to publish them.
pub const RELAY_BEFORE_PUBLISH: &str = "relay-before-publish";
/// The relay has published a batch (confirmed) and is about to commit its removal.
pub const RELAY_BEFORE_COMMIT: &str = "relay-before-commit";

/// Aborts the process if the failpoint `name` is armed and due.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    use std::sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    };
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let armed = ARMED.get_or_init(|| {
        let spec = std::env::var("GATEWAY_FAILPOINT").ok()?;
        let (point, n) = spec.split_once(':')?;
        Some((point.to_string(), n.parse().ok()?))
    });
    if let Some((point, n)) = armed
        && point == name
        && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n
    {
        eprintln!("failpoint {name} reached: aborting");
        std::process::abort();
    }
}

/// Does nothing: failpoints are compiled out of this build.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}
