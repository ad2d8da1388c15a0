//! A real browser for tests of the dashboard: headless Chromium driven over W3C WebDriver by
//! `chromedriver` (Debian's `chromium` and `chromium-driver`, installed by
//! `scripts/services.sh`). WebDriver is a handful of JSON calls over HTTP, so the client is
//! reqwest and serde_json, no driver crate.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::{ChildProcess, eventually};

/// The ports a test's chromedriver may listen on (the first free one is taken).
const DRIVER_PORTS: std::ops::RangeInclusive<u16> = 22100..=22139;

/// `HUB_TEST_<NAME>` if set, else `default` (found on the PATH or at its path).
fn tool(name: &str, default: &str) -> PathBuf {
    std::env::var_os(format!("HUB_TEST_{name}"))
        .map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// A headless Chromium with one window, and the chromedriver that drives it.
pub struct Browser {
    driver: ChildProcess,
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
}

impl Browser {
    /// Starts chromedriver on a free port of [`DRIVER_PORTS`] and opens a headless Chromium
    /// window of 1400×1800.
    pub async fn start() -> anyhow::Result<Self> {
        let port = DRIVER_PORTS
            .clone()
            .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
            .ok_or_else(|| anyhow::anyhow!("no free port in {DRIVER_PORTS:?}"))?;
        let driver = tool("CHROMEDRIVER", "chromedriver");
        let port_arg = format!("--port={port}");
        let driver = ChildProcess::spawn("chromedriver", &driver, &[&port_arg], &[], None)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "starting chromedriver (scripts/services.sh installs chromium-driver): {e:#}"
                )
            })?;
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let status = format!("{base}/status");
        eventually("chromedriver ready", Duration::from_secs(30), || async {
            Ok(match http.get(&status).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .ok()
                    .filter(|v| v["value"]["ready"] == true)
                    .map(|_| ()),
                Err(_) => None,
            })
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}; log:\n{}", driver.log_tail()))?;
        let chromium = tool("CHROMIUM", "/usr/bin/chromium");
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=1400,1800",
                        "--no-first-run", "--disable-extensions",
                    ],
                },
            }},
        });
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await?
            .json()
            .await
            .context("chromedriver's answer to a new session")?;
        let id = created["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "chromedriver opened no session: {created}; log:\n{}",
                    driver.log_tail()
                )
            })?
            .to_string();
        Ok(Self {
            driver,
            http,
            session: format!("{base}/session/{id}"),
        })
    }

    /// A WebDriver command on the session: its `value`, or the error it names.
    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.session);
        let mut request = self.http.request(method, &url);
        if !body.is_null() {
            request = request.json(&body);
        }
        let answer: Value = request.send().await?.json().await?;
        let value = answer["value"].clone();
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            anyhow::bail!("WebDriver {path}: {error}: {}", value["message"]);
        }
        Ok(value)
    }

    /// Opens `url` in the window and waits for the page to load.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.command(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await
            .map(|_| ())
    }

    /// Runs `script` (a function body: `return …` gives its value) in the page.
    pub async fn eval(&self, script: &str) -> anyhow::Result<Value> {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// Saves a PNG of the window at `path`, creating its directory.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let png = self
            .command(reqwest::Method::GET, "/screenshot", Value::Null)
            .await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .context("decoding the screenshot")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Closes the window (and with it Chromium), then stops chromedriver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let closed = self
            .command(reqwest::Method::DELETE, "", Value::Null)
            .await
            .map(|_| ());
        let _ = self.driver.terminate().await;
        closed
    }
}

/// Where tests keep what they leave for people to look at (`target/test-artifacts`).
pub fn artifacts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts")
}
