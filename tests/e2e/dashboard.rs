//! The operators' dashboard on the gateway's HTTP port: opened in a real headless Chromium, it
//! shows every agency, follows an adapter that stops and a queue that fills without a reload,
//! lists the dead letters and replays one with the operator token, and shows the month's
//! ranking; its HTTP interface refuses what it must.

use std::time::Duration;

use enforcement_proto::v1 as pb;
use hub_testkit::{
    TestHub,
    browser::{Browser, artifacts_dir},
    eventually, fixtures,
    fixtures::Freeze,
};
use serde_json::Value;

const COURT: &str = "京0105";
const TOKEN: &str = "operator-t0ken";

/// A freeze of 1,000.00 at `bank` on a fresh account with 5,000.00.
async fn freeze(hub: &TestHub, bank: &str, seed: u32) -> anyhow::Result<pb::SubmitRequest> {
    let (id, account) = (fixtures::resident_id(seed), fixtures::account_number(seed));
    hub.open_account(bank, &account, "张三", &id, 500_000)
        .await?;
    Ok(Freeze::of(100_000)
        .at(bank, &account)
        .held_by("张三", &id)
        .by(COURT)
        .case(seed)
        .key(&format!("dashboard-{seed}"))
        .request())
}

/// Every agency row of the page: (agency, status, queue depth).
async fn agencies(browser: &Browser) -> anyhow::Result<Vec<(String, String, String)>> {
    let rows = browser
        .eval(
            "return Array.from(document.querySelectorAll('#agencies tr[data-agency]')).map(r => \
             [r.dataset.agency, r.dataset.status, \
              r.querySelector('[data-field=queue_depth]').textContent]);",
        )
        .await?;
    Ok(rows
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let text = |i: usize| r[i].as_str().unwrap_or_default().to_string();
            (text(0), text(1), text(2))
        })
        .collect())
}

/// Waits until the page shows `agency` with `status` and `depth` waiting.
async fn until_shown(
    browser: &Browser,
    agency: &str,
    status: &str,
    depth: &str,
) -> anyhow::Result<()> {
    let what = format!("{agency} shown as {status} with {depth} waiting");
    eventually(&what, Duration::from_secs(30), || async {
        Ok(agencies(browser)
            .await?
            .iter()
            .any(|(a, s, d)| a == agency && s == status && d == depth)
            .then_some(()))
    })
    .await
}

/// A text of the page, by CSS selector (empty if nothing matches).
async fn text(browser: &Browser, selector: &str) -> anyhow::Result<String> {
    let script = format!(
        "const e = document.querySelector({}); return e ? e.textContent : '';",
        serde_json::to_string(selector)?
    );
    Ok(browser
        .eval(&script)
        .await?
        .as_str()
        .unwrap_or_default()
        .to_string())
}

#[tokio::test]
async fn the_dashboard_in_chromium_shows_every_agency_and_follows_a_stopped_adapter_live()
-> anyhow::Result<()> {
    let mut hub = TestHub::builder()
        .banks(&["ICBC", "CCB"])
        .land(&["110105"])
        .police(&["BJ-PSB"])
        .adapter_retries(20, 3)
        .dashboard_token(TOKEN)
        .start()
        .await?;
    // Two freezes carried out at ICBC, and one that fails there and becomes a dead letter.
    let done = hub
        .submit_all(vec![
            freeze(&hub, "ICBC", 1).await?,
            freeze(&hub, "ICBC", 2).await?,
        ])
        .await?;
    for m in &done {
        hub.wait_for_state(COURT, &m.measure_id, pb::MeasureState::Effective)
            .await?;
    }
    let failed = hub.failed_freeze(COURT, "dashboard-dead", 30).await?;
    hub.bank("ICBC")?.system().faults().fail_next(0);

    let http = hub
        .gateway_http_addr()
        .ok_or_else(|| anyhow::anyhow!("no gateway HTTP address"))?;
    let browser = Browser::start().await?;
    let shown = async {
        browser.goto(&format!("http://{http}/dashboard")).await?;
        for agency in ["bank.CCB", "bank.ICBC", "land.110105", "police.BJ-PSB"] {
            until_shown(&browser, agency, "connected", "0").await?;
        }
        assert_eq!(agencies(&browser).await?.len(), 4, "every agency, once");
        // The dead letter, with its reason.
        eventually("the dead letter listed", Duration::from_secs(20), || async {
            let reason = text(&browser, "#dead-letters tr[data-message] [data-field=reason]").await?;
            Ok((!reason.is_empty()).then_some(reason))
        })
        .await
        .map(|reason| assert!(reason.contains("down for maintenance"), "{reason}"))?;
        assert_eq!(text(&browser, "#dead-count").await?, "1 waiting");
        // The month's ranking: the court's three freezes, two of them effective.
        let court = eventually("the court ranked", Duration::from_secs(20), || async {
            let row = browser
                .eval(&format!(
                    "const r = document.querySelector('#ranking-courts tr[data-court=\"{COURT}\"]'); \
                     return r ? Array.from(r.cells).map(c => c.textContent) : null;"
                ))
                .await?;
            Ok((!row.is_null()).then_some(row))
        })
        .await?;
        assert_eq!(court[1], "3", "measures: {court}");
        assert_eq!(court[2], "2", "effective: {court}");
        assert_eq!(court[4], "66.66 %", "effective rate: {court}");

        // From here on the page must follow by itself: a reload would lose this mark.
        browser.eval("window.sameDocument = 'yes'; return true;").await?;
        hub.stop_adapter("CCB").await?;
        until_shown(&browser, "bank.CCB", "no consumer", "0").await?;
        let waiting = vec![
            freeze(&hub, "CCB", 11).await?,
            freeze(&hub, "CCB", 12).await?,
            freeze(&hub, "CCB", 13).await?,
        ];
        let waiting = hub.submit_all(waiting).await?;
        until_shown(&browser, "bank.CCB", "no consumer", "3").await?;
        assert_eq!(text(&browser, "#live").await?, "live");
        browser
            .screenshot(&artifacts_dir().join("dashboard-no-consumer.png"))
            .await?;
        assert_eq!(
            browser.eval("return window.sameDocument;").await?,
            Value::from("yes"),
            "the page was not reloaded"
        );

        // A wrong token replays nothing; the operator's replays the dead letter once.
        browser
            .eval(
                "document.getElementById('token').value = 'wrong'; \
                 document.querySelector('#dead-letters tr[data-message] button').click(); \
                 return true;",
            )
            .await?;
        eventually("the wrong token refused", Duration::from_secs(10), || async {
            let note = text(&browser, "#dead-note").await?;
            Ok(note.contains("refused").then_some(note))
        })
        .await
        .map(|note| assert!(note.contains("operator token"), "{note}"))?;
        assert_eq!(text(&browser, "#dead-count").await?, "1 waiting");
        browser
            .eval(&format!(
                "document.getElementById('token').value = '{TOKEN}'; \
                 document.querySelector('#dead-letters tr[data-message] button').click(); \
                 return true;"
            ))
            .await?;
        eventually("the dead letter replayed", Duration::from_secs(20), || async {
            Ok((text(&browser, "#dead-count").await? == "0 waiting").then_some(()))
        })
        .await?;
        assert!(text(&browser, "#dead-note").await?.starts_with("Replayed"));
        hub.wait_for_state(COURT, &failed.measure_id, pb::MeasureState::Effective)
            .await?;

        // CCB returns: the page shows it consumed and its queue drained.
        hub.start_adapter("CCB").await?;
        until_shown(&browser, "bank.CCB", "connected", "0").await?;
        for m in &waiting {
            hub.wait_for_state(COURT, &m.measure_id, pb::MeasureState::Effective)
                .await?;
        }
        browser
            .screenshot(&artifacts_dir().join("dashboard.png"))
            .await?;
        assert_eq!(
            browser.eval("return window.sameDocument;").await?,
            Value::from("yes")
        );
        Ok::<_, anyhow::Error>(())
    }
    .await;
    let closed = browser.close().await;
    shown?;
    closed?;
    // Replayed once: the account holds the one freeze.
    let account = fixtures::account_number(30);
    assert_eq!(hub.account("ICBC", &account).await?.frozen_fen, 1_000_000);
    hub.shutdown().await
}

/// The first `snapshot` event of the dashboard's stream.
async fn first_snapshot(url: &str) -> anyhow::Result<Value> {
    let mut events = reqwest::get(url).await?.error_for_status()?;
    let mut body = String::new();
    let data = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let chunk = events
                .chunk()
                .await?
                .ok_or_else(|| anyhow::anyhow!("the event stream ended"))?;
            body.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(event) = body.split("\n\n").find(|e| e.contains("event: snapshot")) {
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                return Ok::<_, anyhow::Error>(data);
            }
        }
    })
    .await??;
    Ok(serde_json::from_str(&data)?)
}

#[tokio::test]
async fn the_dashboard_streams_snapshots_and_replays_only_with_a_configured_token()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let http = hub
        .gateway_http_addr()
        .ok_or_else(|| anyhow::anyhow!("no gateway HTTP address"))?;
    let base = format!("http://{http}/dashboard");

    let page = reqwest::get(&base).await?;
    assert_eq!(page.status(), 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = page.text().await?;
    assert!(html.contains("<title>Enforcement hub — operations</title>"));
    // Nothing from elsewhere: no address in it but SVG's namespace, no external script or sheet.
    let elsewhere = html.replace("http://www.w3.org/2000/svg", "");
    assert!(
        !elsewhere.contains("http://") && !elsewhere.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    assert!(!html.contains("<script src") && !html.contains("<link"));

    let snapshot = first_snapshot(&format!("{base}/events")).await?;
    let agencies = snapshot["agencies"].as_array().cloned().unwrap_or_default();
    assert_eq!(agencies.len(), 1, "{snapshot}");
    assert_eq!(agencies[0]["agency"], "bank.ICBC");
    assert_eq!(agencies[0]["status"], "connected");
    assert_eq!(snapshot["dead_letters"]["total"], 0);
    assert_eq!(snapshot["overdue"]["total"], 0);
    assert_eq!(snapshot["replay"], false);
    assert_eq!(snapshot["errors"].as_array().map(Vec::len), Some(0));

    let http = reqwest::Client::new();
    let refused = http
        .post(format!("{base}/api/dead-letters/any/replay"))
        .bearer_auth("guess")
        .send()
        .await?;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await?;
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("GATEWAY_DASHBOARD_TOKEN")),
        "{body}"
    );
    let bad_month = http
        .get(format!("{base}/api/ranking/2026-13"))
        .send()
        .await?;
    assert_eq!(bad_month.status(), 400);
    let body: Value = bad_month.json().await?;
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("month must be from 01 to 12")),
        "{body}"
    );
    let ranking: Value = http
        .get(format!("{base}/api/ranking/2026-11"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(ranking["month"], "2026-11");
    hub.shutdown().await
}
