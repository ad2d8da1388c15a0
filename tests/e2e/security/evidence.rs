//! Evidence: `hubctl evidence` of a freeze that took effect in part and then in full exports its
//! instruction signed by the gateway and both reports (the outcome and the later notice) signed
//! by the bank's adapter and sealed by its system, and the file verifies offline; one byte changed
//! in the instruction, in a report or in a signature, or another gateway key trusted, and it does
//! not.

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use enforcement_proto::v1 as pb;
use hub_testkit::{TestHub, fixtures, fixtures::Freeze};
use serde_json::Value;

use crate::hubctl::{hubctl, json_lines, shown};

const COURT: &str = "京0105";

/// `hubctl --json evidence --verify <file>` (and the trusted gateway key, if given): whether it
/// verified, and its output.
async fn verify(
    hub: &TestHub,
    file: &std::path::Path,
    key: Option<&str>,
) -> anyhow::Result<(bool, String)> {
    let path = file.display().to_string();
    let mut args = vec!["--json", "evidence", "--verify", path.as_str()];
    if let Some(key) = key {
        args.extend(["--gateway-public-key", key]);
    }
    let out = hubctl(hub, &args).await?;
    let text = shown(&out);
    let verified = json_lines(&out)?
        .first()
        .and_then(|v| v["verified"].as_bool())
        .unwrap_or(false);
    assert_eq!(verified, out.status.success(), "{text}");
    if !verified {
        assert_eq!(out.status.code(), Some(5), "{text}");
    }
    Ok((verified, text))
}

/// The file with `change` applied to its JSON.
fn altered(original: &Value, change: impl FnOnce(&mut Value)) -> Value {
    let mut copy = original.clone();
    change(&mut copy);
    copy
}

/// `field` (base64) of `v` with its byte at `at` flipped.
fn flip(v: &mut Value, field: &str, at: usize) {
    let mut bytes = BASE64
        .decode(v[field].as_str().unwrap_or_default())
        .unwrap_or_default();
    let at = at.min(bytes.len().saturating_sub(1));
    if let Some(b) = bytes.get_mut(at) {
        *b ^= 0x01;
    }
    v[field] = Value::from(BASE64.encode(bytes));
}

#[tokio::test]
async fn a_freeze_s_evidence_verifies_offline_and_one_changed_byte_fails_it() -> anyhow::Result<()>
{
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let (id, account) = (fixtures::resident_id(7), fixtures::account_number(7));
    hub.open_account("ICBC", &account, "张三", &id, 500_000)
        .await?;
    let freeze = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("张三", &id)
                .by(COURT)
                .case(7)
                .key("evidence-7"),
        )
        .await?;
    hub.wait_for_state(COURT, &freeze.measure_id, pb::MeasureState::Partial)
        .await?;
    // Incoming funds: the bank's notice brings the freeze to its full amount.
    hub.credit("ICBC", &account, 500_000).await?;
    let effective = hub
        .wait_for_state(COURT, &freeze.measure_id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(effective.held_fen, 1_000_000);

    let dir = std::env::temp_dir().join(format!("hub-evidence-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("evidence.json");
    let path = file.display().to_string();
    let out = hubctl(
        &hub,
        &["--json", "evidence", &freeze.measure_id, "--out", &path],
    )
    .await?;
    assert!(out.status.success(), "{}", shown(&out));
    let summary = json_lines(&out)?.first().cloned().unwrap_or_default();
    assert_eq!(summary["verified"], true, "{summary}");
    assert_eq!(summary["instructions"], 1, "{summary}");
    assert_eq!(
        summary["reports"], 2,
        "the outcome and the notice: {summary}"
    );

    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    assert_eq!(exported["measure_id"], freeze.measure_id.as_str());
    assert_eq!(exported["gateway_public_key"], hub.gateway_public_key());
    let (ok, text) = verify(&hub, &file, Some(&hub.gateway_public_key())).await?;
    assert!(ok, "{text}");

    // Each of these alone makes the file fail.
    let other_key = hub_bus::signing::Signer::generate()?.public_hex();
    let cases: Vec<(&str, Value, Option<String>, &str)> = vec![
        (
            "a byte of the instruction",
            altered(&exported, |v| {
                flip(&mut v["instructions"][0], "payload", 40)
            }),
            None,
            "the gateway's signature does not verify",
        ),
        (
            "a byte of the notice",
            altered(&exported, |v| flip(&mut v["reports"][1], "body", 20)),
            None,
            "the adapter's signature does not verify",
        ),
        (
            "a digit of the outcome's signature",
            altered(&exported, |v| {
                let sig = v["reports"][0]["signature"].as_str().unwrap_or_default();
                let first = if sig.starts_with('0') { "1" } else { "0" };
                v["reports"][0]["signature"] = Value::from(format!("{first}{}", &sig[1..]));
            }),
            None,
            "the adapter's signature does not verify",
        ),
        (
            "another gateway key trusted",
            exported.clone(),
            Some(other_key),
            "is not the one trusted",
        ),
    ];
    for (what, file_json, key, reason) in cases {
        let bad = dir.join("altered.json");
        std::fs::write(&bad, serde_json::to_string_pretty(&file_json)?)?;
        let (ok, text) = verify(&hub, &bad, key.as_deref()).await?;
        assert!(!ok, "{what}: verified all the same");
        assert!(text.contains(reason), "{what}: {text}");
    }
    std::fs::remove_dir_all(&dir)?;
    hub.shutdown().await
}
