//! The real `hubctl` binary against a whole hub: the scripted demo, a freeze followed to its
//! outcome with `--json --wait`, and the exit codes and messages of refused requests.

use std::{process::Output, time::Duration};

use hub_testkit::{TestHub, fixtures};
use serde_json::Value;

const COURT: &str = "京0105";

/// How long one hubctl run may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Runs hubctl against `hub`'s gateway with `args`.
async fn hubctl(hub: &TestHub, args: &[&str]) -> anyhow::Result<Output> {
    hubctl_at(&format!("http://{}", hub.gateway_addr()), args).await
}

/// Runs hubctl against the gateway at `gateway`. Asynchronous, so the hub in this process keeps
/// serving while hubctl talks to it.
async fn hubctl_at(gateway: &str, args: &[&str]) -> anyhow::Result<Output> {
    let run = tokio::process::Command::new(hub_testkit::binary("hubctl")?)
        .arg("--gateway")
        .arg(gateway)
        .args(args)
        .env_remove("HUBCTL_GATEWAY")
        .env_remove("HUBCTL_COURT")
        .env_remove("HUBCTL_BANK_URL")
        .kill_on_drop(true)
        .output();
    Ok(tokio::time::timeout(RUN_LIMIT, run).await??)
}

/// Stdout and stderr, for assertion messages.
fn shown(output: &Output) -> String {
    format!(
        "exit status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The value of the line labelled `label` in a readable measure block.
fn field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(label)?.strip_prefix(' '))
        .map(str::trim)
}

/// Each stdout line as a JSON object.
fn json_lines(output: &Output) -> anyhow::Result<Vec<Value>> {
    String::from_utf8(output.stdout.clone())?
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| Ok(serde_json::from_str(line)?))
        .collect()
}

fn bank_url(hub: &TestHub) -> anyhow::Result<String> {
    Ok(format!("http://{}", hub.bank("ICBC")?.addr()))
}

/// Opens an account of 张三 with `hubctl bank open` and checks that it succeeded.
async fn open_account(
    hub: &TestHub,
    bank_url: &str,
    account: &str,
    resident_id: &str,
    global: &[&str],
    balance: &str,
) -> anyhow::Result<Output> {
    let mut args = global.to_vec();
    args.extend([
        "bank",
        "open",
        "--bank-url",
        bank_url,
        "--account",
        account,
        "--holder-name",
        "张三",
        "--holder-id",
        resident_id,
        "--balance",
        balance,
    ]);
    let opened = hubctl(hub, &args).await?;
    assert_eq!(opened.status.code(), Some(0), "{}", shown(&opened));
    Ok(opened)
}

/// The arguments of a freeze of 10,000.00 on `account` of 张三 with `resident_id`.
fn freeze_args<'a>(case: &'a str, account: &'a str, resident_id: &'a str) -> Vec<&'a str> {
    vec![
        "--court",
        COURT,
        "freeze",
        "--case",
        case,
        "--bank",
        "ICBC",
        "--account",
        account,
        "--amount",
        "10,000.00",
        "--months",
        "12",
        "--person-name",
        "张三",
        "--resident-id",
        resident_id,
        "--enforcement-amount",
        "50000",
        "--officer",
        "王执行",
    ]
}

#[tokio::test]
async fn hubctl_demo_walks_through_every_step_and_exits_0() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let url = bank_url(&hub)?;

    let output = hubctl(&hub, &["demo", "--bank-url", &url]).await?;

    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "Step 1.",
        "effective: 10,000.00 of 10,000.00 held",
        "partial: 5,000.00 of 30,000.00 held",
        "partial: 25,000.00 of 30,000.00 held",
        "waiting at position 1",
        "released",
        "effective: 8,000.00 of 8,000.00 held",
        "expiry moved from",
        "All 5 steps",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?}\n{}",
            shown(&output)
        );
    }
    hub.shutdown().await
}

#[tokio::test]
async fn hubctl_demo_with_json_prints_one_matched_object_per_step() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let url = bank_url(&hub)?;

    let output = hubctl(&hub, &["--json", "demo", "--bank-url", &url]).await?;

    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let lines = json_lines(&output)?;
    let steps: Vec<&Value> = lines.iter().filter(|l| l["matched"] == true).collect();
    assert_eq!(steps.len(), 5, "{}", shown(&output));
    // Step 4: the release, the released freeze, and the freeze promoted without a request.
    let states: Vec<&str> = steps[3]["measures"]
        .as_array()
        .map(|ms| ms.iter().filter_map(|m| m["state"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(states, ["effective", "released", "effective"]);
    assert_eq!(
        lines.last().map(|l| &l["result"]),
        Some(&Value::from("matched"))
    );
    hub.shutdown().await
}

#[tokio::test]
async fn hubctl_freeze_with_json_and_wait_reports_the_effective_freeze() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let url = bank_url(&hub)?;
    let id = fixtures::resident_id(41);
    let account = fixtures::account_number(41);
    let case = fixtures::case_number(41);

    let opened = open_account(&hub, &url, &account, &id, &["--json"], "25,000.00").await?;
    assert_eq!(json_lines(&opened)?[0]["balance_fen"], 2_500_000);

    let mut args = vec!["--json"];
    args.extend(freeze_args(&case, &account, &id));
    args.extend(["--key", "hubctl-freeze-1", "--wait", "--timeout", "60"]);
    let output = hubctl(&hub, &args).await?;

    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let lines = json_lines(&output)?;
    assert_eq!(lines.len(), 2, "{}", shown(&output));
    assert_eq!(lines[0]["stage"], "submitted");
    assert_eq!(lines[0]["idempotency_key"], "hubctl-freeze-1");
    assert_eq!(lines[0]["duplicate"], false);
    let outcome = &lines[1];
    assert_eq!(outcome["stage"], "outcome");
    let measure = &outcome["measure"];
    assert_eq!(measure["state"], "effective", "{}", shown(&output));
    assert_eq!(measure["kind"], "freeze");
    assert_eq!(measure["held_fen"], 1_000_000);
    assert_eq!(measure["requested_fen"], 1_000_000);
    let measure_id = measure["measure_id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no measure id"))?
        .to_owned();
    assert_eq!(measure_id.len(), 36, "the full id: {measure_id}");
    assert!(
        measure["expires_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "expiry in RFC 3339 UTC: {}",
        measure["expires_at"]
    );

    // The same key again creates nothing and answers with the original.
    let again = hubctl(&hub, &args).await?;
    assert_eq!(again.status.code(), Some(0), "{}", shown(&again));
    let again = json_lines(&again)?;
    assert_eq!(again[0]["duplicate"], true);
    assert_eq!(again[0]["measure"]["measure_id"], measure_id.as_str());
    assert_eq!(hub.gateway_rows("measures").await?, 1);

    // Readable output: amounts as on rulings, states as words, times in UTC+08:00.
    let status = hubctl(&hub, &["--court", COURT, "status", &measure_id]).await?;
    assert_eq!(status.status.code(), Some(0), "{}", shown(&status));
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(
        field(&text, "state"),
        Some("effective"),
        "{}",
        shown(&status)
    );
    assert_eq!(
        field(&text, "held"),
        Some("10,000.00"),
        "{}",
        shown(&status)
    );
    assert!(
        field(&text, "expires").is_some_and(|t| t.ends_with("+08:00")),
        "{}",
        shown(&status)
    );

    let list = hubctl(&hub, &["--court", COURT, "list", "--case", &case]).await?;
    assert_eq!(list.status.code(), Some(0), "{}", shown(&list));
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.lines().any(|line| {
            line.contains(measure_id.rsplit('-').next().unwrap_or("?"))
                && line.contains("effective")
                && line.contains("10,000.00")
        }),
        "{}",
        shown(&list)
    );
    hub.shutdown().await
}

#[tokio::test]
async fn hubctl_refuses_an_invalid_resident_id_with_exit_code_2_naming_the_field()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let account = fixtures::account_number(42);
    let case = fixtures::case_number(42);

    // The reference number with a wrong check character (3 instead of X).
    let output = hubctl(&hub, &freeze_args(&case, &account, "110105194912310023")).await?;

    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("  subject.person.resident_id: check character is 3, expected X"),
        "{}",
        shown(&output)
    );
    assert_eq!(hub.gateway_rows("measures").await?, 0);
    hub.shutdown().await
}

#[tokio::test]
async fn hubctl_exit_codes_tell_not_found_bad_amounts_and_an_unreachable_hub_apart()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;

    let missing = "0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70";
    let output = hubctl(&hub, &["--court", COURT, "status", missing]).await?;
    assert_eq!(output.status.code(), Some(3), "{}", shown(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&format!("no measure {missing}")),
        "{}",
        shown(&output)
    );

    let output = hubctl(
        &hub,
        &["--court", COURT, "release", missing, "--reason", "paid"],
    )
    .await?;
    assert_eq!(output.status.code(), Some(3), "{}", shown(&output));

    let id = fixtures::resident_id(43);
    let account = fixtures::account_number(43);
    let case = fixtures::case_number(43);
    let mut args = freeze_args(&case, &account, &id);
    let amount = args
        .iter()
        .position(|a| *a == "10,000.00")
        .ok_or_else(|| anyhow::anyhow!("no amount"))?;
    args[amount] = "10.001";
    let output = hubctl(&hub, &args).await?;
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("more than two decimal places"),
        "{}",
        shown(&output)
    );
    assert_eq!(hub.gateway_rows("measures").await?, 0);

    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let output = hubctl_at(&url, &["--court", COURT, "status", missing]).await?;
    assert_eq!(output.status.code(), Some(4), "{}", shown(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains(&format!("cannot reach the hub at {url}: is it running?")),
        "{}",
        shown(&output)
    );
    hub.shutdown().await
}

#[tokio::test]
async fn hubctl_watch_prints_each_change_of_a_case_until_ctrl_c() -> anyhow::Result<()> {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(44);
    let account = fixtures::account_number(44);
    let case = fixtures::case_number(44);
    hub.open_account("ICBC", &account, "张三", &id, 2_500_000)
        .await?;

    let mut watch = tokio::process::Command::new(hub_testkit::binary("hubctl")?)
        .arg("--gateway")
        .arg(format!("http://{}", hub.gateway_addr()))
        .args(["--court", COURT, "--json", "watch", "--case", &case])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = watch
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();

    let mut args = vec!["--json"];
    args.extend(freeze_args(&case, &account, &id));
    args.push("--wait");
    let frozen = hubctl(&hub, &args).await?;
    assert_eq!(frozen.status.code(), Some(0), "{}", shown(&frozen));
    let freeze_id = json_lines(&frozen)?
        .last()
        .and_then(|l| l["measure"]["measure_id"].as_str().map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("no measure id\n{}", shown(&frozen)))?;

    let released = hubctl(
        &hub,
        &[
            "--court",
            COURT,
            "--json",
            "release",
            &freeze_id,
            "--reason",
            "debt paid in full",
            "--wait",
        ],
    )
    .await?;
    assert_eq!(released.status.code(), Some(0), "{}", shown(&released));
    let outcome = json_lines(&released)?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no outcome\n{}", shown(&released)))?;
    assert_eq!(outcome["measure"]["kind"], "release");
    assert_eq!(outcome["measure"]["state"], "effective");
    assert_eq!(outcome["measure"]["target_measure_id"], freeze_id.as_str());

    // The watch shows the freeze going through its states, up to released.
    let mut seen = Vec::new();
    let followed = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            let event: Value = serde_json::from_str(&line)?;
            let measure = &event["measure"];
            let state = measure["state"].as_str().unwrap_or_default().to_owned();
            if measure["measure_id"] == freeze_id.as_str() {
                seen.push(state.clone());
                if state == "released" {
                    return Ok(());
                }
            }
        }
        anyhow::bail!("the watch ended early")
    })
    .await;
    assert!(
        matches!(followed, Ok(Ok(()))),
        "{followed:?}; freeze states seen: {seen:?}"
    );
    assert!(seen.contains(&"effective".to_owned()), "{seen:?}");

    // Ctrl-C ends the watch with exit code 0.
    let pid = watch
        .id()
        .ok_or_else(|| anyhow::anyhow!("watch exited early"))?;
    let signal = tokio::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .await?;
    assert!(signal.success());
    let status = tokio::time::timeout(Duration::from_secs(10), watch.wait()).await??;
    assert_eq!(status.code(), Some(0));
    hub.shutdown().await
}

#[tokio::test]
async fn hubctl_deduct_takes_the_frozen_funds_to_the_courts_account() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let url = bank_url(&hub)?;
    let id = fixtures::resident_id(45);
    let account = fixtures::account_number(45);
    let case = fixtures::case_number(45);
    open_account(&hub, &url, &account, &id, &[], "25000").await?;

    let mut args = vec!["--json"];
    args.extend(freeze_args(&case, &account, &id));
    args.push("--wait");
    let frozen = hubctl(&hub, &args).await?;
    assert_eq!(frozen.status.code(), Some(0), "{}", shown(&frozen));
    let freeze_id = json_lines(&frozen)?
        .last()
        .and_then(|l| l["measure"]["measure_id"].as_str().map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("no measure id\n{}", shown(&frozen)))?;

    let deducted = hubctl(
        &hub,
        &[
            "--court",
            COURT,
            "--json",
            "deduct",
            "--case",
            &case,
            "--bank",
            "ICBC",
            "--account",
            &account,
            "--amount",
            "10,000.00",
            "--from-freeze",
            &freeze_id,
            "--person-name",
            "张三",
            "--resident-id",
            &id,
            "--enforcement-amount",
            "50000",
            "--officer",
            "王执行",
            "--to-bank-name",
            "中国工商银行北京东城支行",
            "--to-account",
            "0200001409000012345",
            "--to-account-name",
            "北京市东城区人民法院",
            "--wait",
        ],
    )
    .await?;
    assert_eq!(deducted.status.code(), Some(0), "{}", shown(&deducted));
    let outcome = json_lines(&deducted)?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no outcome\n{}", shown(&deducted)))?;
    assert_eq!(outcome["measure"]["kind"], "deduction");
    assert_eq!(
        outcome["measure"]["state"],
        "effective",
        "{}",
        shown(&deducted)
    );
    assert_eq!(outcome["measure"]["held_fen"], 1_000_000);

    let freeze = hubctl(&hub, &["--court", COURT, "--json", "status", &freeze_id]).await?;
    assert_eq!(freeze.status.code(), Some(0), "{}", shown(&freeze));
    assert_eq!(json_lines(&freeze)?[0]["state"], "deducted");

    let shown_account = hubctl(
        &hub,
        &[
            "--json",
            "bank",
            "show",
            "--bank-url",
            &url,
            "--account",
            &account,
        ],
    )
    .await?;
    let ledger = json_lines(&shown_account)?;
    assert_eq!(
        ledger[0]["balance_fen"],
        1_500_000,
        "{}",
        shown(&shown_account)
    );
    assert_eq!(ledger[0]["frozen_fen"], 0);
    hub.shutdown().await
}
