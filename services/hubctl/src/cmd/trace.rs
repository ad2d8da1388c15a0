//! `hubctl trace <measure-id>`: a measure's timeline through the hub (for operators, no
//! --court): accepted, published, delivered, agency answered, report sent, applied, each with
//! when (China Standard Time, to the millisecond), who recorded it, and the time since the hop
//! before. With `--json`, one object per hop.

use clap::Args;
use enforcement_proto::{convert, v1 as pb};
use serde_json::json;

use crate::{
    Context,
    error::Failure,
    format::{self, layout},
    json,
};

/// `hubctl trace`.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct TraceArgs {
    /// The measure's id.
    #[arg(value_name = "MEASURE_ID")]
    pub measure_id: String,
}

/// Prints the measure's hops in order.
pub async fn run(context: &Context, args: TraceArgs) -> Result<(), Failure> {
    let traced = context.ops().await?.trace(&args.measure_id).await?;
    let since = since_previous(&traced.hops);
    for (hop, since_ms) in traced.hops.iter().zip(&since) {
        context.out.json(&json!({
            "measure_id": traced.measure_id,
            "hop": hop.name,
            "at": json::time(hop.at.as_ref()),
            "service": hop.service,
            "trace_id": hop.trace_id,
            "since_previous_ms": since_ms,
        }));
    }
    context.out.text(format!(
        "measure {}  trace {}",
        traced.measure_id,
        if traced.trace_id.is_empty() {
            "-"
        } else {
            &traced.trace_id
        }
    ));
    context.out.text(table(&traced.hops, &since));
    Ok(())
}

/// Milliseconds from each hop's time to the one before (`None` for the first).
fn since_previous(hops: &[pb::TraceHop]) -> Vec<Option<i64>> {
    let times: Vec<_> = hops
        .iter()
        .map(|h| convert::instant_opt(h.at.as_ref()))
        .collect();
    times
        .iter()
        .enumerate()
        .map(|(i, at)| {
            let previous = times.get(i.checked_sub(1)?)?.as_ref()?;
            let ms = (*at.as_ref()? - *previous).whole_milliseconds();
            i64::try_from(ms).ok()
        })
        .collect()
}

/// The hops as a table, one line each.
fn table(hops: &[pb::TraceHop], since: &[Option<i64>]) -> String {
    let header = ["HOP", "AT (UTC+08:00)", "SINCE PREVIOUS", "BY", "TRACE"];
    let rows = hops
        .iter()
        .zip(since)
        .map(|(hop, since)| {
            vec![
                format::words(&hop.name),
                convert::instant_opt(hop.at.as_ref())
                    .map_or_else(|| "-".into(), format::local_time_ms),
                since.map_or_else(|| "-".into(), |ms| format!("+{ms} ms")),
                hop.service.clone(),
                if hop.trace_id.is_empty() {
                    "-".into()
                } else {
                    hop.trace_id.clone()
                },
            ]
        })
        .collect::<Vec<_>>();
    layout::table(&header, &rows, &[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(name: &str, seconds: i64, nanos: i32) -> pb::TraceHop {
        pb::TraceHop {
            name: name.into(),
            at: Some(prost_types::Timestamp { seconds, nanos }),
            service: "gateway".into(),
            trace_id: String::new(),
        }
    }

    #[test]
    fn each_hop_after_the_first_counts_the_milliseconds_since_the_one_before() {
        let hops = [
            hop("accepted", 100, 0),
            hop("published", 100, 4_000_000),
            hop("delivered", 101, 6_500_000),
        ];
        assert_eq!(since_previous(&hops), [None, Some(4), Some(1002)]);
        let text = table(&hops, &since_previous(&hops));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[1].starts_with("accepted"), "{text}");
        assert!(
            lines[2].contains("+4 ms") && lines[3].contains("+1002 ms"),
            "{text}"
        );
        assert!(
            lines[1].contains("1970-01-01 08:01:40.000 +08:00"),
            "{text}"
        );
    }
}
