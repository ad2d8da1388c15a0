//! Hub binaries run as processes of their own, for tests that kill them.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::watch,
};

/// Lines of a child's log kept for the failure message of a test.
const KEPT_LINES: usize = 200;

/// A hub binary running as a child process. Its log goes to the test's output when
/// `HUB_TEST_CHILD_LOGS` is set, and its last lines are kept for diagnosis either way.
pub struct ChildProcess {
    name: String,
    child: Child,
    addr: Option<SocketAddr>,
    lines: Arc<Mutex<Vec<String>>>,
    /// The first lines it logged (start-up: what it connected to, whether it leads the relay).
    first_lines: Arc<Mutex<Vec<String>>>,
}

impl ChildProcess {
    /// Starts `binary` with `env`. With `ready`, waits (up to 60 s) for a log line containing
    /// it, and takes the service's address from that line's `addr=` field.
    pub async fn spawn(
        name: &str,
        binary: &Path,
        args: &[&str],
        env: &[(String, String)],
        ready: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command
            .args(args)
            .env("NO_COLOR", "1")
            .env(
                "RUST_LOG",
                std::env::var("HUB_TEST_CHILD_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stderr = child.stderr.take().context("child without stderr")?;
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let (addr_tx, mut addr_rx) = watch::channel::<Option<SocketAddr>>(None);
        let echo = std::env::var_os("HUB_TEST_CHILD_LOGS").is_some();
        let wanted = ready.is_some();
        let ready = ready.map(str::to_string);
        let kept = lines.clone();
        let first_lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let first = first_lines.clone();
        let label = name.to_string();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let line = strip_ansi(&line);
                if echo {
                    eprintln!("[{label}] {line}");
                }
                if let Some(marker) = &ready
                    && line.contains(marker.as_str())
                    && let Some(addr) = field_addr(&line)
                {
                    addr_tx.send_replace(Some(addr));
                }
                if let Ok(mut first) = first.lock()
                    && first.len() < KEPT_LINES
                {
                    first.push(line.clone());
                }
                if let Ok(mut kept) = kept.lock() {
                    if kept.len() >= KEPT_LINES {
                        kept.remove(0);
                    }
                    kept.push(line);
                }
            }
        });
        let mut process = Self {
            name: name.to_string(),
            child,
            addr: None,
            lines,
            first_lines,
        };
        if wanted {
            let waited =
                tokio::time::timeout(Duration::from_secs(60), addr_rx.wait_for(Option::is_some))
                    .await;
            match waited {
                Ok(Ok(addr)) => process.addr = *addr,
                _ => {
                    let status = process.child.try_wait();
                    anyhow::bail!(
                        "{name} did not report its address (process: {status:?}); last log lines:\n{}",
                        process.log_tail()
                    )
                }
            }
        }
        Ok(process)
    }

    /// The address the service reported.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Kills the process with SIGKILL: no draining, no acknowledgements.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child
            .kill()
            .await
            .with_context(|| format!("killing {}", self.name))
    }

    /// Asks the process to stop with SIGTERM and waits for it (up to 60 s).
    pub async fn terminate(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().context("the process has already exited")?;
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await?;
        anyhow::ensure!(sent.success(), "could not signal {}", self.name);
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .with_context(|| format!("{} did not stop within 60 s", self.name))?
            .with_context(|| format!("waiting for {}", self.name))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Whether the process logged a line containing `text`, among its first lines or its last.
    pub fn has_logged(&self, text: &str) -> bool {
        [&self.first_lines, &self.lines].iter().any(|lines| {
            lines
                .lock()
                .map(|l| l.iter().any(|line| line.contains(text)))
                .unwrap_or(false)
        })
    }

    /// The lines kept of what the process logged: its first and its last, each once.
    pub fn logged(&self) -> Vec<String> {
        let mut all = self
            .first_lines
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        if let Ok(last) = self.lines.lock() {
            let new = last.iter().filter(|line| !all.contains(line)).cloned();
            all.extend(new.collect::<Vec<_>>());
        }
        all
    }

    /// The last lines the process logged.
    pub fn log_tail(&self) -> String {
        self.lines.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}

/// A binary of this workspace, built next to the test executable (`cargo build --bins`).
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = profile_dir()?.join(name);
    anyhow::ensure!(
        path.exists(),
        "{} not found: build the binaries first (cargo build --workspace --bins, with --release \
         for the benchmark)",
        path.display()
    );
    Ok(path)
}

/// The gateway built with failpoints
/// (`cargo build -p hub-gateway --bin gateway-failpoints --features failpoints`).
pub fn gateway_with_failpoints() -> anyhow::Result<PathBuf> {
    let path = profile_dir()?.join("gateway-failpoints");
    anyhow::ensure!(
        path.exists(),
        "{} not found: build it first (cargo build -p hub-gateway --bin gateway-failpoints --features failpoints)",
        path.display()
    );
    Ok(path)
}

/// `target/<profile>`, the directory of the profile's binaries: a test executable lives in its
/// `deps`, a binary (the benchmark) beside them.
fn profile_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the executable")?;
    let dir = exe.parent().context("unexpected executable location")?;
    Ok(if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    }
    .to_path_buf())
}

/// The `addr=` field of a log line.
fn field_addr(line: &str) -> Option<SocketAddr> {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("addr="))
        .and_then(|a| a.trim_matches('"').parse().ok())
}

/// A log line without terminal colour codes.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip to the end of the escape sequence (a letter).
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_read_from_a_log_line() {
        let line = strip_ansi(
            "\u{1b}[2m2026-11-26T20:00:00Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m hub_gateway: gateway serving \u{1b}[3maddr\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:40123",
        );
        assert_eq!(
            field_addr(&line),
            Some(SocketAddr::from(([127, 0, 0, 1], 40123)))
        );
    }
}
