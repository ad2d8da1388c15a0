//! The real `hubctl` binary against a whole hub: the scripted demo, a freeze followed to its
//! outcome with `--json --wait`, the exit codes and messages of refused requests, an inquiry of
//! every bank, the expiring list and its warnings, seal-ups, distraints and exit restrictions.

use std::{collections::BTreeMap, process::Output, time::Duration};

use enforcement_proto::{reference as admin, v1 as pb};
use hub_testkit::{
    TestHub,
    fixtures::{self, Freeze},
};
use serde_json::Value;

const COURT: &str = "京0105";

/// How long one hubctl run may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Runs hubctl against `hub`'s gateway with `args`.
pub(crate) async fn hubctl(hub: &TestHub, args: &[&str]) -> anyhow::Result<Output> {
    hubctl_at(hub, &format!("https://{}", hub.gateway_addr()), args).await
}

/// The courts hubctl acts for in these tests (the demo's two among them).
const COURTS: [&str; 2] = ["京0105", "粤03"];

/// hubctl against the gateway at `gateway`, with the certificates of `hub`'s PKI (`--pki`):
/// the courts' and an operator's, issued before it runs.
fn hubctl_command(hub: &TestHub, gateway: &str) -> anyhow::Result<tokio::process::Command> {
    for court in COURTS {
        hub.pki().court(court)?;
    }
    hub.pki().operator()?;
    let mut command = tokio::process::Command::new(hub_testkit::binary("hubctl")?);
    command
        .arg("--gateway")
        .arg(gateway)
        .env("HUBCTL_PKI", hub.pki().dir())
        .env_remove("HUBCTL_GATEWAY")
        .env_remove("HUBCTL_COURT")
        .env_remove("HUBCTL_BANK_URL")
        .env_remove("HUBCTL_TLS_CA")
        .env_remove("HUBCTL_TLS_CERT")
        .env_remove("HUBCTL_TLS_KEY")
        .env_remove("HUB_INSECURE_PLAINTEXT")
        .kill_on_drop(true);
    Ok(command)
}

/// Runs hubctl against the gateway at `gateway`. Asynchronous, so the hub in this process keeps
/// serving while hubctl talks to it.
async fn hubctl_at(hub: &TestHub, gateway: &str, args: &[&str]) -> anyhow::Result<Output> {
    let run = hubctl_command(hub, gateway)?.args(args).output();
    Ok(tokio::time::timeout(RUN_LIMIT, run).await??)
}

/// Stdout and stderr, for assertion messages.
pub(crate) fn shown(output: &Output) -> String {
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
pub(crate) fn json_lines(output: &Output) -> anyhow::Result<Vec<Value>> {
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
    let url = format!("https://127.0.0.1:{port}");
    let output = hubctl_at(&hub, &url, &["--court", COURT, "status", missing]).await?;
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

    let mut watch = hubctl_command(&hub, &format!("https://{}", hub.gateway_addr()))?
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

/// The case, subject and documents every order of these tests carries, after `command`.
fn order_args<'a>(command: &'a str, case: &'a str, subject: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--court",
        COURT,
        "--json",
        command,
        "--case",
        case,
        "--enforcement-amount",
        "50000",
        "--officer",
        "王执行",
    ];
    args.extend(subject);
    args
}

/// The JSON lines of a run that must have exited 0.
fn succeeded(output: &Output) -> anyhow::Result<Vec<Value>> {
    assert_eq!(output.status.code(), Some(0), "{}", shown(output));
    json_lines(output)
}

/// The last line of a `--wait` run: the measure as the agency left it.
fn outcome(lines: &[Value]) -> anyhow::Result<&Value> {
    let last = lines.last().ok_or_else(|| anyhow::anyhow!("no output"))?;
    anyhow::ensure!(last["stage"] == "outcome", "not an outcome: {last}");
    Ok(&last["measure"])
}

#[tokio::test]
async fn hubctl_inquire_all_banks_counts_twenty_answers_and_reports_each_balance()
-> anyhow::Result<()> {
    let banks: Vec<String> = (0..20).map(|i| format!("B{i:03}")).collect();
    let hub = TestHub::builder().bank_centre(banks).start().await?;
    let id = fixtures::resident_id(46);
    let someone_else = fixtures::resident_id(146);
    // 张三 holds one account at B003, two at B007 and one at B015, part of it frozen; the
    // account at B010 is someone else's.
    let accounts = [
        ("B003", fixtures::account_number(4601), 1_234_567),
        ("B007", fixtures::account_number(4602), 50_000),
        ("B007", fixtures::account_number(4603), 1),
        ("B015", fixtures::account_number(4604), 2_500_000),
    ];
    for (bank, account, balance) in &accounts {
        hub.open_account(bank, account, "张三", &id, *balance)
            .await?;
    }
    hub.open_account(
        "B010",
        &fixtures::account_number(4605),
        "李四",
        &someone_else,
        900_000,
    )
    .await?;
    let freeze = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("B015", &accounts[3].1)
                .held_by("张三", &id)
                .by(COURT)
                .case(46)
                .key("inq-freeze"),
        )
        .await?;
    hub.wait_for_state(COURT, &freeze.measure_id, pb::MeasureState::Effective)
        .await?;

    let case = fixtures::case_number(146);
    let mut args = order_args(
        "inquire",
        &case,
        &["--person-name", "张三", "--resident-id", &id],
    );
    args.extend([
        "--classes",
        "deposits",
        "--all",
        "bank",
        "--deadline",
        "120",
        "--key",
        "inquire-all-banks",
    ]);
    let output = hubctl(&hub, &args).await?;
    let lines = succeeded(&output)?;

    let started = lines
        .first()
        .ok_or_else(|| anyhow::anyhow!("nothing printed"))?;
    assert_eq!(started["event"], "started", "{}", shown(&output));
    assert_eq!(started["idempotency_key"], "inquire-all-banks");
    assert_eq!(started["measure"]["kind"], "inquiry");
    assert_eq!(started["measure"]["inquiry"]["addressed"], 20);
    let inquiry_id = started["measure"]["measure_id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no inquiry id"))?
        .to_owned();

    let finished = lines
        .last()
        .ok_or_else(|| anyhow::anyhow!("nothing printed"))?;
    assert_eq!(finished["event"], "finished", "{}", shown(&output));
    assert_eq!(finished["measure"]["state"], "effective");
    let progress = &finished["measure"]["inquiry"];
    assert_eq!(
        (
            &progress["addressed"],
            &progress["answered"],
            &progress["found"],
            &progress["found_nothing"],
            &progress["refused"],
            &progress["unanswered"],
        ),
        (
            &Value::from(20),
            &Value::from(20),
            &Value::from(3),
            &Value::from(17),
            &Value::from(0),
            &Value::from(0)
        ),
        "{}",
        shown(&output)
    );

    // One answer per bank, each with what that bank holds for 张三.
    let answers: BTreeMap<String, &Value> = lines
        .iter()
        .filter(|l| l["event"] == "answer")
        .map(|l| (l["agency"]["code"].as_str().unwrap_or("?").to_owned(), l))
        .collect();
    assert_eq!(
        lines.iter().filter(|l| l["event"] == "answer").count(),
        20,
        "{}",
        shown(&output)
    );
    assert_eq!(answers.len(), 20);
    for answer in answers.values() {
        assert_eq!(answer["measure_id"], inquiry_id.as_str());
        assert_eq!(answer["agency"]["kind"], "bank");
        assert_eq!(answer["state"], "effective");
    }
    let deposits = |bank: &str| -> Vec<(String, i64, i64)> {
        answers[bank]["holdings"]
            .as_array()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        (
                            h["account_number"].as_str().unwrap_or("?").to_owned(),
                            h["balance_fen"].as_i64().unwrap_or(-1),
                            h["frozen_fen"].as_i64().unwrap_or(-1),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(deposits("B003"), [(accounts[0].1.clone(), 1_234_567, 0)]);
    assert_eq!(
        deposits("B007"),
        [
            (accounts[1].1.clone(), 50_000, 0),
            (accounts[2].1.clone(), 1, 0)
        ]
    );
    assert_eq!(
        deposits("B015"),
        [(accounts[3].1.clone(), 2_500_000, 1_000_000)]
    );
    assert_eq!(answers["B015"]["outcome"], "found");
    assert_eq!(answers["B010"]["outcome"], "found_nothing");
    assert_eq!(deposits("B010"), []);

    // The same answers as a table, with amounts as on rulings.
    let listed = hubctl(&hub, &["--court", COURT, "answers", &inquiry_id]).await?;
    assert_eq!(listed.status.code(), Some(0), "{}", shown(&listed));
    let text = String::from_utf8_lossy(&listed.stdout);
    let row = |account: &str| {
        text.lines()
            .find(|line| line.contains(account))
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(
        row(&accounts[3].1),
        [
            "bank",
            "B015",
            "answered",
            "account",
            accounts[3].1.as_str(),
            "25,000.00",
            "10,000.00"
        ],
        "{}",
        shown(&listed)
    );
    assert_eq!(
        row(&accounts[2].1),
        ["account", accounts[2].1.as_str(), "0.01", "0.00"],
        "{}",
        shown(&listed)
    );
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["bank", "B010", "answered", "none", "-", "-"]),
        "{}",
        shown(&listed)
    );
    assert!(
        text.lines().any(|l| l
            == "summary: addressed 20, answered 20, found 3, found nothing 17, refused 0, unanswered 0"),
        "{}",
        shown(&listed)
    );
    // One inquiry, one freeze: nothing was recorded twice.
    assert_eq!(hub.gateway_rows("measures").await?, 2);
    hub.shutdown().await
}

#[tokio::test]
async fn hubctl_expiring_lists_a_freeze_in_force_and_watch_warns_days_before_it_lapses()
-> anyhow::Result<()> {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(47);
    let account = fixtures::account_number(47);
    hub.open_account("ICBC", &account, "张三", &id, 2_500_000)
        .await?;
    let freeze = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("张三", &id)
                .by(COURT)
                .case(47)
                .key("expiring-1"),
        )
        .await?;
    let freeze = hub
        .wait_for_state(COURT, &freeze.measure_id, pb::MeasureState::Effective)
        .await?;
    let expires = freeze
        .expires_at
        .as_ref()
        .map(|e| e.seconds)
        .ok_or_else(|| anyhow::anyhow!("no expiry"))?;
    // Whole days left, counted as hubctl counts them: before and after it ran.
    let expiry = time::OffsetDateTime::from_unix_timestamp(expires)?
        + time::Duration::nanoseconds(freeze.expires_at.as_ref().map_or(0, |e| e.nanos.into()));
    let most = (expiry - time::OffsetDateTime::now_utc()).whole_days();

    let listed = hubctl(
        &hub,
        &["--court", COURT, "--json", "expiring", "--within", "400"],
    )
    .await?;
    let least = (expiry - time::OffsetDateTime::now_utc()).whole_days();
    let lines = succeeded(&listed)?;
    assert_eq!(lines.len(), 1, "{}", shown(&listed));
    assert_eq!(lines[0]["measure_id"], freeze.measure_id.as_str());
    assert_eq!(lines[0]["kind"], "freeze");
    assert_eq!(lines[0]["state"], "effective");
    assert_eq!(lines[0]["held_fen"], 1_000_000);
    let days_left = lines[0]["days_left"].as_i64().unwrap_or(-1);
    assert!(
        (least..=most).contains(&days_left) && (363..=365).contains(&days_left),
        "{days_left} days left, expected {least}..={most}\n{}",
        shown(&listed)
    );

    // Not within the default 30 days.
    let soon = hubctl(&hub, &["--court", COURT, "--json", "expiring"]).await?;
    assert_eq!(succeeded(&soon)?.len(), 0, "{}", shown(&soon));

    // A week before expiry the hub warns; watch says so in words.
    let mut watch = hubctl_command(&hub, &format!("https://{}", hub.gateway_addr()))?
        .args(["--court", COURT, "watch", &freeze.measure_id])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = watch
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut watched = BufReader::new(stdout).lines();
    // The snapshot first, so the watch is open before time moves.
    let first = tokio::time::timeout(Duration::from_secs(30), watched.next_line()).await??;
    assert!(
        first.as_deref().is_some_and(|l| l.contains("snapshot")),
        "{first:?}"
    );
    let now = hub.clock().now().unix_timestamp();
    // Six and a half days before expiry.
    hub.clock()
        .advance(time::Duration::seconds(expires - now - 6 * 86_400 - 43_200));
    let expiry_date = time::OffsetDateTime::from_unix_timestamp(expires)?
        .to_offset(time::macros::offset!(+8))
        .date()
        .to_string();
    let warning = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = watched.next_line().await? {
            if line.contains("warning:") {
                return Ok(line);
            }
        }
        anyhow::bail!("the watch ended without a warning")
    })
    .await??;
    let tail = freeze.measure_id.rsplit('-').next().unwrap_or("?");
    assert!(
        warning.contains(&format!(
            "warning: freeze …{tail} (bank ICBC, {}) expires on {expiry_date}, in 6 days",
            freeze.asset
        )),
        "{warning}"
    );
    watch.kill().await?;

    // The list counts from this machine's clock, the hub's has moved: ask the hub's horizon.
    let listed = hubctl(&hub, &["--court", COURT, "expiring", "--within", "7"]).await?;
    assert_eq!(listed.status.code(), Some(0), "{}", shown(&listed));
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with(&freeze.measure_id) && l.contains(&expiry_date)),
        "{}",
        shown(&listed)
    );
    hub.shutdown().await
}

#[tokio::test]
async fn hubctl_seal_up_at_a_land_registry_takes_effect_with_a_registration_number()
-> anyhow::Result<()> {
    const REGISTRY: &str = "110105";
    const PROPERTY: &str = "110105-001-0001";
    let hub = TestHub::builder().land(&[REGISTRY]).start().await?;
    let id = fixtures::resident_id(48);
    hub.land_admin(REGISTRY)
        .await?
        .register_property(admin::RegisterPropertyRequest {
            agency_code: REGISTRY.into(),
            property_id: PROPERTY.into(),
            kind: "unit".into(),
            address: "北京市朝阳区某路1号".into(),
            holder_id: id.clone(),
            holder_name: "张三".into(),
            status: "registered".into(),
        })
        .await?;

    let case = fixtures::case_number(48);
    let mut args = order_args(
        "seal-up",
        &case,
        &["--person-name", "张三", "--resident-id", &id],
    );
    args.extend([
        "--registry",
        REGISTRY,
        "--property",
        PROPERTY,
        "--months",
        "36",
        "--key",
        "seal-up-1",
        "--wait",
        "--timeout",
        "60",
    ]);
    let output = hubctl(&hub, &args).await?;
    let lines = succeeded(&output)?;
    let measure = outcome(&lines)?;
    assert_eq!(measure["kind"], "seal_up");
    assert_eq!(measure["state"], "effective", "{}", shown(&output));
    assert_eq!(measure["agency"]["kind"], "land_registry");
    assert_eq!(measure["agency"]["code"], REGISTRY);
    assert_eq!(measure["asset"], PROPERTY);
    let registration = measure["registration_number"].as_str().unwrap_or_default();
    assert!(
        registration.starts_with("110105-CF"),
        "{registration}\n{}",
        shown(&output)
    );

    // The registry's own register agrees.
    let holds = hub
        .land_admin(REGISTRY)
        .await?
        .list_holds(admin::ListPropertyHoldsRequest {
            agency_code: REGISTRY.into(),
            property_id: PROPERTY.into(),
        })
        .await?
        .into_inner()
        .holds;
    assert_eq!(holds.len(), 1);
    assert_eq!(
        holds[0].measure_id,
        measure["measure_id"].as_str().unwrap_or("?")
    );
    assert_eq!(holds[0].registration_number, registration);
    assert_eq!((holds[0].period_months, holds[0].pre_seizure), (36, false));
    hub.shutdown().await
}

#[tokio::test]
async fn hubctl_restrict_exit_of_an_organisation_needs_a_named_person_and_binds_the_one_named()
-> anyhow::Result<()> {
    const UNIT: &str = "BJ-PSB";
    let hub = TestHub::builder().police(&[UNIT]).start().await?;
    let representative = fixtures::resident_id(49);
    let debtor = fixtures::resident_id(149);
    let mut police = hub.police_admin(UNIT).await?;
    for (id, name) in [(&representative, "李四"), (&debtor, "张三")] {
        police
            .register_person(admin::RegisterPersonRequest {
                agency_code: UNIT.into(),
                resident_id: id.clone(),
                name: name.into(),
            })
            .await?;
    }
    let case = fixtures::case_number(49);
    let organisation = [
        "--org-name",
        "某某有限公司",
        "--credit-code",
        "91350100M000100Y43",
    ];
    let restriction = |subject: &[&'static str]| {
        let mut args = vec![
            "--court",
            COURT,
            "--json",
            "restrict-exit",
            "--enforcement-amount",
            "50000",
            "--officer",
            "王执行",
            "--police",
            UNIT,
            "--months",
            "6",
        ];
        args.extend(subject);
        args
    };

    // Nobody named: the hub refuses, naming the field.
    let mut args = restriction(&organisation);
    args.extend(["--case", &case]);
    let output = hubctl(&hub, &args).await?;
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("  exit_restriction.person: is required for an organisation debtor"),
        "{}",
        shown(&output)
    );
    assert_eq!(hub.gateway_rows("measures").await?, 0);

    // Its legal representative named: the restriction binds them.
    let mut args = restriction(&organisation);
    args.extend([
        "--case",
        &case,
        "--person-name",
        "李四",
        "--person-id",
        &representative,
        "--role",
        "legal-representative",
        "--wait",
        "--timeout",
        "60",
    ]);
    let output = hubctl(&hub, &args).await?;
    let measure = outcome(&succeeded(&output)?)?.clone();
    assert_eq!(measure["kind"], "exit_restriction");
    assert_eq!(measure["state"], "effective", "{}", shown(&output));
    assert_eq!(measure["agency"]["code"], UNIT);
    let masked = |id: &str| format!("{}********{}", &id[..6], &id[14..]);
    assert_eq!(measure["asset"], masked(&representative).as_str());

    // A natural-person debtor is the person restricted, without naming anyone.
    let mut args = restriction(&[]);
    args.extend([
        "--case",
        &case,
        "--person-name",
        "张三",
        "--resident-id",
        &debtor,
        "--wait",
        "--timeout",
        "60",
    ]);
    let output = hubctl(&hub, &args).await?;
    let measure = outcome(&succeeded(&output)?)?.clone();
    assert_eq!(measure["state"], "effective", "{}", shown(&output));
    assert_eq!(measure["asset"], masked(&debtor).as_str());
    hub.shutdown().await
}

#[tokio::test]
async fn hubctl_distrain_holds_a_vehicle_of_the_subject_by_plate() -> anyhow::Result<()> {
    const UNIT: &str = "BJ-PSB";
    let hub = TestHub::builder().police(&[UNIT]).start().await?;
    let id = fixtures::resident_id(50);
    hub.police_admin(UNIT)
        .await?
        .register_vehicle(admin::RegisterVehicleRequest {
            agency_code: UNIT.into(),
            plate: "京A12345".into(),
            vin: "LSVAU2180N2183294".into(),
            holder_id: id.clone(),
            holder_name: "张三".into(),
        })
        .await?;
    let case = fixtures::case_number(50);
    let mut args = order_args(
        "distrain",
        &case,
        &["--person-name", "张三", "--resident-id", &id],
    );
    args.extend([
        "--police",
        UNIT,
        "--plate",
        "京A12345",
        "--months",
        "24",
        "--wait",
        "--timeout",
        "60",
    ]);
    let output = hubctl(&hub, &args).await?;
    let measure = outcome(&succeeded(&output)?)?.clone();
    assert_eq!(measure["kind"], "distraint");
    assert_eq!(measure["state"], "effective", "{}", shown(&output));
    assert_eq!(measure["asset"], "京A12345");

    // 25 months is more than the law allows: refused by the hub, naming the field.
    let mut args = order_args(
        "distrain",
        &case,
        &["--person-name", "张三", "--resident-id", &id],
    );
    args.extend(["--police", UNIT, "--plate", "京A12345", "--months", "25"]);
    let output = hubctl(&hub, &args).await?;
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("  distraint.period:"),
        "{}",
        shown(&output)
    );
    hub.shutdown().await
}

#[tokio::test]
async fn hubctl_inquire_exits_0_when_the_deadline_passes_and_counts_the_bank_that_did_not_answer()
-> anyhow::Result<()> {
    let mut hub = TestHub::with_banks(&["ICBC", "ABC"]).await?;
    let id = fixtures::resident_id(52);
    let account = fixtures::account_number(52);
    hub.open_account("ICBC", &account, "张三", &id, 700_000)
        .await?;
    // ABC's adapter is down: its question waits on the broker past the deadline.
    hub.stop_adapter("ABC").await?;

    let case = fixtures::case_number(52);
    let mut args = order_args(
        "inquire",
        &case,
        &["--person-name", "张三", "--resident-id", &id],
    );
    args.extend([
        "--classes",
        "deposits",
        "--agency",
        "bank:ICBC",
        "--agency",
        "bank:ABC",
        "--deadline",
        "2",
    ]);
    args.retain(|a| *a != "--json");
    let output = hubctl(&hub, &args).await?;
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("finished: the deadline passed with 1 bank unanswered")),
        "{}",
        shown(&output)
    );
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == [
                    "bank",
                    "ICBC",
                    "answered",
                    "account",
                    account.as_str(),
                    "7,000.00",
                    "0.00"
                ]),
        "{}",
        shown(&output)
    );
    assert!(!text.contains("bank ABC"), "{}", shown(&output));
    assert!(
        lines.last().is_some_and(|l| l.starts_with(
            "summary: addressed 2, answered 1, found 1, found nothing 0, refused 0, unanswered 1: \
             1 bank did not answer by the deadline ("
        ) && l.ends_with("+08:00)")),
        "{}",
        shown(&output)
    );
    hub.shutdown().await
}

/// `hubctl --json dlq list` once the dead letter of `measure_id` is listed: its JSON lines, the
/// dead letter's object among them.
async fn dlq_listed(hub: &TestHub, measure_id: &str) -> anyhow::Result<(Vec<Value>, Value)> {
    hub_testkit::eventually(
        "the dead letter listed",
        Duration::from_secs(15),
        move || async move {
            let output = hubctl(hub, &["--json", "dlq", "list"]).await?;
            let lines = succeeded(&output)?;
            let letter = lines
                .iter()
                .find(|l| l["measure_id"] == measure_id)
                .cloned();
            Ok(letter.map(|letter| (lines, letter)))
        },
    )
    .await
}

#[tokio::test]
async fn hubctl_dlq_lists_a_failed_freeze_replays_it_once_and_discards_only_when_told()
-> anyhow::Result<()> {
    // The adapter gives up quickly, so a bank that stays down makes the freeze a dead letter.
    let hub = TestHub::builder()
        .banks(&["ICBC"])
        .adapter_retries(20, 3)
        .start()
        .await?;
    let measure = hub.failed_freeze(COURT, "hubctl-dlq", 53).await?;
    let faults = hub.bank("ICBC")?.system().faults();

    // Listed with the measure, where it was going and why; no --court needed.
    let (lines, letter) = dlq_listed(&hub, &measure.measure_id).await?;
    assert_eq!(letter["type"], "instruction", "{letter}");
    assert_eq!(letter["routing_key"], "bank.ICBC", "{letter}");
    assert_eq!(letter["court_code"], COURT, "{letter}");
    assert!(
        letter["reason"]
            .as_str()
            .is_some_and(|r| r.contains("down for maintenance")),
        "{letter}"
    );
    assert_eq!(lines.last().map(|l| &l["waiting"]), Some(&Value::from(1)));
    let message_id = letter["message_id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no message id: {letter}"))?
        .to_owned();

    let table = hubctl(&hub, &["dlq", "list"]).await?;
    assert_eq!(table.status.code(), Some(0), "{}", shown(&table));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("1 dead letter waiting"), "{}", shown(&table));
    assert!(text.contains("PUBLISHED (UTC+08:00)"), "{}", shown(&table));
    assert!(text.contains(&message_id), "{}", shown(&table));

    let inspected = hubctl(&hub, &["dlq", "inspect", &message_id]).await?;
    assert_eq!(inspected.status.code(), Some(0), "{}", shown(&inspected));
    let text = String::from_utf8_lossy(&inspected.stdout);
    assert_eq!(
        field(&text, "measure"),
        Some(measure.measure_id.as_str()),
        "{}",
        shown(&inspected)
    );
    assert!(
        field(&text, "summary").is_some_and(|s| s.starts_with("freeze of 10,000.00 yuan")),
        "{}",
        shown(&inspected)
    );

    // Without --yes and with no terminal to ask on (output() gives the child no stdin), a
    // discard is refused before anything is sent.
    let unasked = hubctl(&hub, &["dlq", "discard", &message_id]).await?;
    assert_eq!(unasked.status.code(), Some(2), "{}", shown(&unasked));
    assert!(
        String::from_utf8_lossy(&unasked.stderr).contains("pass --yes"),
        "{}",
        shown(&unasked)
    );

    // The bank is back: the replay is carried out and the bank's answer makes it effective.
    faults.fail_next(0);
    let replayed = hubctl(&hub, &["dlq", "replay", &message_id]).await?;
    assert_eq!(replayed.status.code(), Some(0), "{}", shown(&replayed));
    assert!(
        String::from_utf8_lossy(&replayed.stdout).contains(&format!(
            "replayed instruction {message_id} (measure {}, court {COURT}): sent again to bank.ICBC",
            measure.measure_id
        )),
        "{}",
        shown(&replayed)
    );
    let effective = hub
        .wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(effective.held_fen, 1_000_000);

    // It left the queue: a second replay is refused with the gateway's sentence.
    let again = hubctl(&hub, &["dlq", "replay", &message_id]).await?;
    assert_eq!(again.status.code(), Some(3), "{}", shown(&again));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains(&format!("no dead letter {message_id}"))
            && stderr.contains("replayed or discarded already"),
        "{}",
        shown(&again)
    );

    let unknown = hubctl(&hub, &["dlq", "discard", "no-such-message", "--yes"]).await?;
    assert_eq!(unknown.status.code(), Some(3), "{}", shown(&unknown));

    let empty = hubctl(&hub, &["--json", "dlq", "list"]).await?;
    assert_eq!(
        succeeded(&empty)?,
        [serde_json::json!({ "waiting": 0, "listed": 0 })]
    );
    hub.shutdown().await
}
