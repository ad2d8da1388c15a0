//! `hubctl evidence`: a measure's evidence as one file, and its verification offline.
//!
//! `hubctl evidence <measure-id> [--out FILE]` asks the gateway (`Ops.Evidence`, operators only)
//! for every instruction it published for the measure, byte for byte with its signature, every
//! report it accepted on it, byte for byte with the adapter's signature and the agency system's
//! seal inside, and the public keys; writes them as JSON (bytes in base64) and verifies the file.
//! `hubctl evidence --verify FILE` checks a file with nothing but the file (and, if given, the
//! gateway key the reader already trusts): each signature and seal, each key's validity at the
//! time, and that every piece concerns the measure. One byte changed anywhere fails it.
//!
//! The file holds personal data (the instructions name the subject): keep it as the case file
//! is kept.

use std::path::PathBuf;

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use clap::Args;
use enforcement_proto::{seal::canonical_outcome, v1 as pb};
use hub_bus::signing::Verifier;
use prost::Message;
use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{Context, error::Failure, json};

/// The format tag every evidence file carries.
pub const FORMAT: &str = "enforcement-hub-evidence/1";

/// `hubctl evidence`.
#[derive(Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["measure_id", "verify"])))]
pub struct EvidenceArgs {
    /// The measure whose evidence to export (for operators, no --court).
    #[arg(value_name = "MEASURE_ID")]
    pub measure_id: Option<String>,
    /// Where to write it [default: evidence-<measure-id>.json].
    #[arg(long, value_name = "FILE", requires = "measure_id")]
    pub out: Option<PathBuf>,
    /// Verify this evidence file offline instead.
    #[arg(long, value_name = "FILE", conflicts_with = "measure_id")]
    pub verify: Option<PathBuf>,
    /// The gateway's public key you trust (64 hex digits): the file's must be it.
    #[arg(long, value_name = "HEX")]
    pub gateway_public_key: Option<String>,
}

/// Exports, or verifies.
pub async fn run(context: &Context, args: EvidenceArgs) -> Result<(), Failure> {
    let trusted = args.gateway_public_key.as_deref();
    if let Some(file) = &args.verify {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::Usage(format!("reading {}: {e}", file.display())))?;
        return report(context, &verify_text(&text, trusted), file);
    }
    let measure_id = args.measure_id.clone().unwrap_or_default();
    let evidence = context.ops().await?.evidence(&measure_id).await?;
    let file_json = to_json(&evidence);
    let file = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("evidence-{measure_id}.json")));
    let text = serde_json::to_string_pretty(&file_json)
        .map_err(|e| Failure::Unexpected(format!("writing the evidence: {e}")))?;
    std::fs::write(&file, format!("{text}\n"))
        .map_err(|e| Failure::Usage(format!("writing {}: {e}", file.display())))?;
    report(context, &verify_text(&text, trusted), &file)
}

/// Prints what verification found; fails (exit 5) if anything did not verify.
fn report(context: &Context, checked: &Checked, file: &std::path::Path) -> Result<(), Failure> {
    for line in &checked.lines {
        context.out.text(format!("  {line}"));
    }
    context.out.json(&json!({
        "file": file.display().to_string(),
        "verified": checked.failures.is_empty(),
        "instructions": checked.instructions,
        "reports": checked.reports,
        "checks": checked.lines,
        "failures": checked.failures,
    }));
    if checked.failures.is_empty() {
        context.out.text(format!(
            "{}: verified — {} instruction(s) signed by the gateway, {} report(s) signed by the \
             agency's adapter and sealed by its system",
            file.display(),
            checked.instructions,
            checked.reports
        ));
        Ok(())
    } else {
        Err(Failure::Outcome(format!(
            "{}: NOT verified: {}",
            file.display(),
            checked.failures.join("; ")
        )))
    }
}

/// The evidence as the file holds it.
pub fn to_json(e: &pb::EvidenceResponse) -> Value {
    let measure = e.measure.clone().unwrap_or_default();
    json!({
        "format": FORMAT,
        "measure_id": measure.measure_id,
        "measure": json::measure(&measure),
        "exported_at": json::time(e.exported_at.as_ref()),
        "gateway_public_key": e.gateway_public_key,
        "instructions": e.instructions.iter().map(|i| json!({
            "instruction_id": i.instruction_id,
            "routing_key": i.routing_key,
            "published_at": json::time(i.published_at.as_ref()),
            "payload": BASE64.encode(&i.payload),
            "signature": i.signature,
        })).collect::<Vec<_>>(),
        "reports": e.reports.iter().map(|r| json!({
            "report_id": r.report_id,
            "received_at": json::time(r.received_at.as_ref()),
            "body": BASE64.encode(&r.body),
            "key_id": r.key_id,
            "signature": r.signature,
        })).collect::<Vec<_>>(),
        "agency_keys": e.agency_keys.iter().map(|k| json!({
            "agency_kind": k.agency_kind,
            "agency_code": k.agency_code,
            "key_id": k.key_id,
            "public_key": k.public_key,
            "valid_from": json::time(k.valid_from.as_ref()),
            "valid_until": json::time(k.valid_until.as_ref()),
        })).collect::<Vec<_>>(),
    })
}

/// What verifying a file found.
#[derive(Debug, Default)]
pub struct Checked {
    pub instructions: usize,
    pub reports: usize,
    /// One line per piece checked.
    pub lines: Vec<String>,
    /// Why it does not verify; empty if it does.
    pub failures: Vec<String>,
}

impl Checked {
    fn fail(&mut self, what: String) {
        self.lines.push(format!("FAILED {what}"));
        self.failures.push(what);
    }
}

/// A registered key as the file gives it.
struct FileKey {
    agency: String,
    key_id: String,
    verifier: Verifier,
    valid_from: Option<OffsetDateTime>,
    valid_until: Option<OffsetDateTime>,
}

fn time_of(v: &Value) -> Option<OffsetDateTime> {
    v.as_str()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
}

fn text_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_default()
}

/// Verifies an evidence file's text, trusting `gateway_key` if given (else the file's own).
pub fn verify_text(text: &str, gateway_key: Option<&str>) -> Checked {
    let mut checked = Checked::default();
    let file: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            checked.fail(format!("the file is not JSON: {e}"));
            return checked;
        }
    };
    if file["format"] != FORMAT {
        checked.fail(format!("not an evidence file of format {FORMAT}"));
        return checked;
    }
    let measure_id = text_of(&file, "measure_id").to_string();
    let own = text_of(&file, "gateway_public_key");
    if let Some(trusted) = gateway_key
        && !trusted.eq_ignore_ascii_case(own)
    {
        checked.fail(format!(
            "the file's gateway key {own} is not the one trusted ({trusted})"
        ));
    }
    let gateway = Verifier::from_hex(gateway_key.unwrap_or(own)).ok();
    let mut keys = Vec::new();
    for k in file["agency_keys"].as_array().into_iter().flatten() {
        let agency = format!(
            "{}.{}",
            text_of(k, "agency_kind"),
            text_of(k, "agency_code")
        );
        match Verifier::from_hex(text_of(k, "public_key")) {
            Ok(verifier) => keys.push(FileKey {
                agency,
                key_id: text_of(k, "key_id").to_string(),
                verifier,
                valid_from: time_of(&k["valid_from"]),
                valid_until: time_of(&k["valid_until"]),
            }),
            Err(_) => checked.fail(format!(
                "agency key {} is not an Ed25519 key",
                text_of(k, "key_id")
            )),
        }
    }
    for i in file["instructions"].as_array().into_iter().flatten() {
        checked.instructions += 1;
        let id = text_of(i, "instruction_id");
        let Ok(payload) = BASE64.decode(text_of(i, "payload")) else {
            checked.fail(format!("instruction {id}: its payload is not base64"));
            continue;
        };
        let Some(gateway) = &gateway else {
            checked.fail(format!(
                "instruction {id}: no gateway key to verify it with"
            ));
            continue;
        };
        if gateway
            .verify(&payload, Some(text_of(i, "signature")))
            .is_err()
        {
            checked.fail(format!(
                "instruction {id}: the gateway's signature does not verify"
            ));
            continue;
        }
        match pb::Instruction::decode(payload.as_slice()) {
            Ok(decoded) if decoded.instruction_id == id && decoded.measure_id == measure_id => {
                checked
                    .lines
                    .push(format!("ok instruction {id}, signed by the gateway"));
            }
            Ok(_) => checked.fail(format!(
                "instruction {id}: it is not for measure {measure_id}"
            )),
            Err(e) => checked.fail(format!("instruction {id}: it does not decode: {e}")),
        }
    }
    for r in file["reports"].as_array().into_iter().flatten() {
        checked.reports += 1;
        let id = text_of(r, "report_id");
        let at = time_of(&r["received_at"]);
        let Ok(body) = BASE64.decode(text_of(r, "body")) else {
            checked.fail(format!("report {id}: its body is not base64"));
            continue;
        };
        let report = match pb::AgencyReport::decode(body.as_slice()) {
            Ok(report) => report,
            Err(e) => {
                checked.fail(format!("report {id}: it does not decode: {e}"));
                continue;
            }
        };
        let agency = report.agency.as_ref().map_or_else(String::new, |a| {
            let kind = enforcement_proto::convert::agency_kind_from_proto(a.kind)
                .map_or("unknown", |k| k.as_str());
            format!("{kind}.{}", a.code)
        });
        let key = |key_id: &str| {
            keys.iter().find(|k| {
                k.agency == agency
                    && k.key_id == key_id
                    && at.is_some_and(|at| {
                        k.valid_from.is_none_or(|f| f <= at) && k.valid_until.is_none_or(|u| at < u)
                    })
            })
        };
        let key_id = text_of(r, "key_id");
        let Some(signing) = key(key_id) else {
            checked.fail(format!(
                "report {id}: no key {key_id:?} of {agency} valid when it was received"
            ));
            continue;
        };
        if signing
            .verifier
            .verify(&body, Some(text_of(r, "signature")))
            .is_err()
        {
            checked.fail(format!(
                "report {id}: the adapter's signature does not verify"
            ));
            continue;
        }
        if report.report_id != id {
            checked.fail(format!("report {id}: its body is another report's"));
            continue;
        }
        let concerns = report.updates.iter().any(|u| u.measure_id == measure_id)
            || file["instructions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|i| text_of(i, "instruction_id") == report.instruction_id);
        if !concerns {
            checked.fail(format!("report {id}: it is not about measure {measure_id}"));
            continue;
        }
        let sealed = match &report.seal {
            None if report.kind == pb::ReportKind::Outcome as i32 => {
                checked.fail(format!(
                    "report {id}: the outcome is not sealed by the agency"
                ));
                continue;
            }
            None => String::new(),
            Some(seal) => {
                let bytes = canonical_outcome(
                    &seal.key_id,
                    report.agency.as_ref(),
                    &report.instruction_id,
                    &report.updates,
                    report.answer.as_ref(),
                );
                match key(&seal.key_id) {
                    Some(k) if k.verifier.verify_raw(&bytes, &seal.signature).is_ok() => {
                        format!(", sealed by {agency}'s system with {}", seal.key_id)
                    }
                    Some(_) => {
                        checked.fail(format!("report {id}: the agency's seal does not verify"));
                        continue;
                    }
                    None => {
                        checked.fail(format!(
                            "report {id}: no seal key {:?} of {agency} valid then",
                            seal.key_id
                        ));
                        continue;
                    }
                }
            }
        };
        checked.lines.push(format!(
            "ok report {id}, signed by {agency}'s adapter with {key_id}{sealed}"
        ));
    }
    if checked.instructions == 0 {
        checked.fail("the file holds no instruction".into());
    }
    checked
}
