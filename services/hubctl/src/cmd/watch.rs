//! `hubctl watch`: every change of one measure or of a whole case, one line each, until Ctrl-C.

use clap::{ArgGroup, Args};
use enforcement_proto::v1 as pb;
use tokio_stream::StreamExt;
use uuid::Uuid;

use crate::{Context, cli::parse, error::Failure, format, json, wait};

/// `hubctl watch`.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("target").required(true).args(["measure_id", "case_number"])))]
pub struct WatchArgs {
    /// The measure to watch.
    #[arg(value_name = "MEASURE_ID", value_parser = parse::measure_id)]
    pub measure_id: Option<Uuid>,

    /// Watch every measure of this case instead.
    #[arg(long = "case", value_name = "CASE_NO")]
    pub case_number: Option<String>,
}

/// Prints the measures as they stand, then each change as it happens. Ends with exit code 0 on
/// Ctrl-C or when the hub ends the stream.
pub async fn run(context: &Context, args: WatchArgs) -> Result<(), Failure> {
    let target = match (args.measure_id, args.case_number) {
        (Some(id), _) => pb::watch_request::Target::MeasureId(id.to_string()),
        (None, Some(case)) => pb::watch_request::Target::CaseNumber(case.trim().to_owned()),
        (None, None) => {
            return Err(Failure::Usage(
                "name a measure id or --case <CASE_NO> to watch".into(),
            ));
        }
    };
    let mut court = context.court().await?;
    let mut events = court.watch(target).await?;
    let interrupted = wait::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let event = tokio::select! {
            () = &mut interrupted => return Ok(()),
            event = events.next() => event,
        };
        let event = match event {
            Some(Ok(event)) => event,
            Some(Err(status)) => return Err(Failure::from_status(status, &context.hub)),
            None => {
                context
                    .out
                    .note(format!("{} ended the watch stream", context.hub));
                return Ok(());
            }
        };
        let line = if context.out.json {
            json::event(&event).to_string()
        } else {
            format::event::line(&event)
        };
        if !context.out.line(line) {
            // Whoever read our output has gone; so can we.
            return Ok(());
        }
    }
}
