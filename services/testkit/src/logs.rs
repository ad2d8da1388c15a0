//! The logs of the services a test runs in its own process: shown as the test's output (level
//! from `RUST_LOG`, default `warn`) and, from `info` up, kept in memory for the test to read
//! ([`logged`]). Both go through the same masking of personal data as every service's own log
//! ([`hub_runtime::redact`]), so what a test reads is what the services would have written.

use std::{
    collections::VecDeque,
    sync::{Mutex, Once},
};

use hub_runtime::redact::Redacting;
use tracing_subscriber::{
    EnvFilter, Layer, filter::LevelFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt,
};

/// Most lines kept; the oldest go first.
const KEPT: usize = 200_000;

static LINES: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// Installs the test process's log subscriber (once).
pub(crate) fn init() {
    init_with("warn");
}

/// Installs the process's log subscriber, showing what `default` lets through when `RUST_LOG` is
/// unset (once: the first call decides). The benchmark passes a quieter filter than the tests', so
/// that its figures are not lost among the broker's expected refusals.
pub fn init_with(default: &str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let shown = fmt::layer()
            .with_writer(Redacting(fmt::TestWriter::new()))
            .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into()));
        let kept = fmt::layer()
            .with_ansi(false)
            .with_writer(Redacting(Keep))
            .with_filter(LevelFilter::INFO);
        let _ = tracing_subscriber::registry()
            .with(shown)
            .with(kept)
            .try_init();
    });
}

/// Every line logged at `info` or above in this process so far (masked, as written).
pub fn logged() -> Vec<String> {
    LINES
        .lock()
        .map(|l| l.iter().cloned().collect())
        .unwrap_or_default()
}

/// Appends what it is given to [`LINES`], one entry per line.
#[derive(Clone, Copy, Debug, Default)]
struct Keep;

impl std::io::Write for Keep {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut lines) = LINES.lock() {
            for line in String::from_utf8_lossy(buf).lines() {
                if lines.len() >= KEPT {
                    lines.pop_front();
                }
                lines.push_back(line.to_string());
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl fmt::MakeWriter<'_> for Keep {
    type Writer = Keep;

    fn make_writer(&self) -> Keep {
        Keep
    }
}
