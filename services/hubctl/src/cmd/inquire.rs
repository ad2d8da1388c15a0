//! `hubctl inquire`: asks agencies what the subject holds (查询) and follows the answers.
//!
//! The hub records the inquiry and streams it: first the inquiry with the number of agencies
//! addressed, then each answer as it arrives, then the inquiry again once every agency has
//! answered or the deadline has passed. People see a progress bar on a terminal and a table at
//! the end; programs (`--json`) get one object per event.

use std::{future::Future, io::IsTerminal, time::Duration};

use clap::{ArgGroup, Args, ValueEnum};
use enforcement_proto::{convert, v1 as pb};
use hub_domain::MeasureState;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_stream::{Stream, StreamExt};

use crate::{
    Context, Output,
    cli::{Agency, AgencyKind, CaseArgs, SubjectArgs, parse},
    cmd::submit,
    court::Inquiry,
    error::{Failure, Server},
    format::{self, inquiry::agencies},
    json, wait,
};

/// `hubctl inquire`.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("scope").required(true).args(["agencies", "all"])))]
pub struct InquireArgs {
    #[command(flatten)]
    pub case: CaseArgs,
    #[command(flatten)]
    pub subject: SubjectArgs,

    /// The asset classes wanted, comma-separated; each must be held by the agencies asked
    /// (deposits: banks; real-estate: land registries; vehicles, whereabouts: public security).
    #[arg(long, value_name = "CLASS", value_delimiter = ',', required = true)]
    pub classes: Vec<AssetClass>,

    /// An agency to ask, as KIND:CODE (bank:ICBC, land:110105, police:BJ-PSB); repeat for
    /// several, all of one kind.
    #[arg(long = "agency", value_name = "KIND:CODE", value_parser = parse::agency)]
    pub agencies: Vec<Agency>,

    /// Ask every agency of this kind connected to the hub.
    #[arg(long, value_name = "KIND")]
    pub all: Option<AgencyKind>,

    /// Seconds to wait for answers before the inquiry closes without the rest [default: the
    /// hub's, 60].
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub deadline: Option<u32>,

    /// Idempotency key: repeating the inquiry with the same key follows the same inquiry again
    /// instead of asking twice [default: a fresh UUIDv7, printed].
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
}

/// The asset classes an inquiry asks about.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssetClass {
    /// Accounts and balances (banks).
    Deposits,
    /// Real property (land registries).
    RealEstate,
    /// Vehicles (public security).
    Vehicles,
    /// The subject's latest known whereabouts (public security).
    Whereabouts,
}

/// Sends the inquiry and follows it to its end. Exit 0 once it has finished, even with agencies
/// that did not answer (the summary counts them); 5 if the inquiry itself was rejected or failed.
pub async fn run(context: &Context, args: InquireArgs) -> Result<(), Failure> {
    let inquiry = Inquiry {
        case: submit::case_info(&args.case),
        subject: submit::subject(&args.subject)?,
        classes: args.classes.iter().map(|c| asset_class(*c)).collect(),
        scope: scope(&args)?,
        deadline_seconds: args.deadline.unwrap_or(0),
    };
    let mut court = context.court().await?;
    let key = submit::idempotency_key(args.key.clone(), context.out);
    let events = court.inquire(&key, inquiry).await?;
    let bar = !context.out.json && std::io::stderr().is_terminal();
    follow(events, &context.hub, &key, context.out, bar, wait::ctrl_c()).await
}

/// Who is asked: `--all KIND`, one `--agency`, or several.
fn scope(args: &InquireArgs) -> Result<pb::inquire_request::Scope, Failure> {
    use pb::inquire_request::Scope;
    let agency = |a: &Agency| submit::agency(agency_kind(a.kind), &a.code);
    match (args.all, args.agencies.as_slice()) {
        (Some(kind), []) => Ok(Scope::AllOfKind(agency_kind(kind) as i32)),
        (None, [one]) => Ok(Scope::Agency(agency(one))),
        (None, many) if !many.is_empty() => Ok(Scope::Agencies(pb::AgencyList {
            agencies: many.iter().map(agency).collect(),
        })),
        _ => Err(Failure::Usage(
            "name whom to ask: --agency KIND:CODE (repeatable) or --all KIND, not both".into(),
        )),
    }
}

fn agency_kind(kind: AgencyKind) -> pb::AgencyKind {
    match kind {
        AgencyKind::Bank => pb::AgencyKind::Bank,
        AgencyKind::Land => pb::AgencyKind::LandRegistry,
        AgencyKind::Police => pb::AgencyKind::PublicSecurity,
    }
}

fn asset_class(class: AssetClass) -> pb::AssetClass {
    match class {
        AssetClass::Deposits => pb::AssetClass::Deposits,
        AssetClass::RealEstate => pb::AssetClass::RealEstate,
        AssetClass::Vehicles => pb::AssetClass::Vehicles,
        AssetClass::Whereabouts => pb::AssetClass::Whereabouts,
    }
}

/// Reads the inquiry's stream to its end, printing as it goes; `interrupt` (Ctrl-C) stops the
/// following, not the inquiry. `bar` shows a progress bar on stderr.
async fn follow<S>(
    mut events: S,
    hub: &Server,
    key: &str,
    out: Output,
    bar: bool,
    interrupt: impl Future<Output = ()>,
) -> Result<(), Failure>
where
    S: Stream<Item = Result<pb::InquiryEvent, tonic::Status>> + Unpin,
{
    use pb::inquiry_event::Event;
    tokio::pin!(interrupt);
    let mut progress = Progress::new(bar);
    let mut inquiry: Option<pb::Measure> = None;
    let mut answers: Vec<pb::InquiryAnswerEvent> = Vec::new();
    let follow_up = |inquiry: &Option<pb::Measure>| {
        inquiry
            .as_ref()
            .map(|m| format!("hubctl answers {}", m.measure_id))
    };
    loop {
        let event = tokio::select! {
            () = &mut interrupt => return Err(Failure::Interrupted(follow_up(&inquiry))),
            event = events.next() => event,
        };
        let event = match event {
            Some(Ok(event)) => event,
            Some(Err(status)) => return Err(Failure::from_status(status, hub)),
            None => {
                return Err(Failure::Unavailable {
                    server: hub.clone(),
                    message: format!(
                        "it ended the inquiry stream before the inquiry finished (is it shutting down?){}",
                        follow_up(&inquiry)
                            .map(|c| format!("; see the answers with `{c}`"))
                            .unwrap_or_default()
                    ),
                });
            }
        };
        match event.event {
            Some(Event::Started(m)) => {
                out.json(&json::inquiry("started", Some(key), &m));
                out.text(started(&m, key));
                progress.start(&m, answers.len());
                inquiry = Some(m);
            }
            Some(Event::Answer(answer)) => {
                let id = inquiry.as_ref().map_or("", |m| m.measure_id.as_str());
                out.json(&json::answer(id, &answer));
                progress.answered(&answer);
                answers.push(answer);
            }
            Some(Event::Finished(m)) => {
                progress.finish();
                out.json(&json::inquiry("finished", Some(key), &m));
                out.text(format!(
                    "inquiry {} finished: {}",
                    m.measure_id,
                    finished_how(&m)
                ));
                out.text(format::inquiry::report(&m, &answers));
                return outcome(&m);
            }
            None => {}
        }
    }
}

/// What the court reads when the hub has recorded the inquiry.
fn started(m: &pb::Measure, key: &str) -> String {
    let progress = m.inquiry.unwrap_or_default();
    format!(
        "recorded inquiry {} (idempotency key {key}): asked {}; answers wait until {}",
        m.measure_id,
        agencies(m.agency.as_ref(), progress.addressed),
        format::timestamp(progress.deadline.as_ref()),
    )
}

/// `every agency answered`, `the deadline passed`, or the state.
fn finished_how(m: &pb::Measure) -> String {
    let unanswered = m.inquiry.as_ref().map_or(0, |p| p.unanswered);
    match convert::state_from_proto(m.state) {
        Some(MeasureState::Effective) => "every agency asked has answered".into(),
        Some(MeasureState::Partial) => format!(
            "the deadline passed with {} unanswered",
            agencies(m.agency.as_ref(), unanswered)
        ),
        _ => format::measure::summary(m),
    }
}

/// Exit 5 if the inquiry itself came to nothing.
fn outcome(m: &pb::Measure) -> Result<(), Failure> {
    match convert::state_from_proto(m.state) {
        Some(state @ (MeasureState::Rejected | MeasureState::Failed | MeasureState::Expired)) => {
            Err(Failure::Outcome(format!(
                "the inquiry {} was {state}{}",
                m.measure_id,
                format::reason(m.reason.as_ref())
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )))
        }
        _ => Ok(()),
    }
}

/// The progress bar on stderr: answers counted against the agencies addressed. Absent when
/// stderr is not a terminal or the output is JSON.
struct Progress {
    /// Whether to show a bar at all.
    enabled: bool,
    /// The bar, from the `started` event on.
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        Self { enabled, bar: None }
    }

    /// Shows the bar for the inquiry `m`, `answered` answers already in.
    fn start(&mut self, m: &pb::Measure, answered: usize) {
        if !self.enabled || self.bar.is_some() {
            return;
        }
        let addressed = m.inquiry.as_ref().map_or(0, |p| p.addressed);
        let bar =
            ProgressBar::with_draw_target(Some(u64::from(addressed)), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} answers {wide_bar} {pos}/{len} ({elapsed}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_position(answered as u64);
        bar.enable_steady_tick(Duration::from_millis(200));
        self.bar = Some(bar);
    }

    /// Counts one answer, naming its agency.
    fn answered(&self, answer: &pb::InquiryAnswerEvent) {
        let Some(bar) = &self.bar else { return };
        bar.inc(1);
        // An agency the registry had not listed may answer a broadcast: the hub counts it too.
        if bar.length().is_some_and(|len| bar.position() > len) {
            bar.set_length(bar.position());
        }
        bar.set_message(format!(
            "last: {} ({})",
            format::agency(answer.agency.as_ref()),
            format::inquiry::Outcome::of(answer)
                .as_str()
                .replace('_', " ")
        ));
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // An error or Ctrl-C must not leave a half-drawn bar above its message.
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cli, error::exit};

    fn inquiry(state: pb::MeasureState, answered: u32) -> pb::Measure {
        pb::Measure {
            measure_id: "0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70".into(),
            kind: pb::MeasureKind::Inquiry as i32,
            state: state as i32,
            agency: Some(pb::AgencyRef {
                kind: pb::AgencyKind::Bank as i32,
                code: String::new(),
            }),
            inquiry: Some(pb::InquiryProgress {
                addressed: 2,
                answered,
                found_nothing: answered,
                unanswered: 2 - answered,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn event(event: pb::inquiry_event::Event) -> Result<pb::InquiryEvent, tonic::Status> {
        Ok(pb::InquiryEvent { event: Some(event) })
    }

    fn answer(code: &str) -> pb::inquiry_event::Event {
        pb::inquiry_event::Event::Answer(pb::InquiryAnswerEvent {
            agency: Some(pb::AgencyRef {
                kind: pb::AgencyKind::Bank as i32,
                code: code.into(),
            }),
            state: pb::MeasureState::Effective as i32,
            ..Default::default()
        })
    }

    async fn run(
        events: Vec<Result<pb::InquiryEvent, tonic::Status>>,
        interrupt: impl Future<Output = ()>,
    ) -> Result<(), Failure> {
        follow(
            tokio_stream::iter(events).chain(tokio_stream::pending()),
            &Server::hub("http://hub"),
            "k-1",
            Output { json: true },
            false,
            interrupt,
        )
        .await
    }

    #[tokio::test]
    async fn an_inquiry_closed_at_the_deadline_is_still_a_success() {
        use pb::inquiry_event::Event;
        let result = run(
            vec![
                event(Event::Started(inquiry(pb::MeasureState::Dispatched, 0))),
                event(answer("B001")),
                event(Event::Finished(inquiry(pb::MeasureState::Partial, 1))),
            ],
            std::future::pending(),
        )
        .await;
        assert!(result.is_ok(), "{result:?}");
    }

    #[tokio::test]
    async fn a_rejected_inquiry_exits_5() {
        use pb::inquiry_event::Event;
        let failure = run(
            vec![
                event(Event::Started(inquiry(pb::MeasureState::Submitted, 0))),
                event(Event::Finished(inquiry(pb::MeasureState::Rejected, 0))),
            ],
            std::future::pending(),
        )
        .await
        .expect_err("rejected");
        assert_eq!(failure.exit_code(), exit::OUTCOME);
    }

    #[tokio::test]
    async fn ctrl_c_says_how_to_see_the_answers_later() {
        use pb::inquiry_event::Event;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let interrupt = async move {
            let _ = rx.await;
        };
        let events = vec![event(Event::Started(inquiry(
            pb::MeasureState::Dispatched,
            0,
        )))];
        let following = tokio::spawn(run(events, interrupt));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = tx.send(());
        let failure = following.await.expect("joined").expect_err("interrupted");
        assert_eq!(failure.exit_code(), exit::INTERRUPTED);
        assert!(
            failure
                .to_string()
                .contains("hubctl answers 0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70"),
            "{failure}"
        );
    }

    #[test]
    fn one_agency_several_or_all_of_a_kind() {
        use clap::Parser;
        let parse = |extra: &[&str]| {
            let mut args = vec![
                "hubctl",
                "inquire",
                "--case",
                "（2024）京0105执1号",
                "--person-name",
                "张三",
                "--resident-id",
                "11010519491231002X",
                "--enforcement-amount",
                "50000",
                "--officer",
                "王执行",
                "--classes",
                "deposits",
            ];
            args.extend(extra);
            cli::Cli::try_parse_from(args).map(|cli| match cli.command {
                cli::Command::Inquire(args) => args,
                other => panic!("not inquire: {other:?}"),
            })
        };
        let one = parse(&["--agency", "bank:ICBC"]).expect("one");
        assert!(matches!(
            scope(&one),
            Ok(pb::inquire_request::Scope::Agency(pb::AgencyRef { ref code, .. })) if code == "ICBC"
        ));
        let two = parse(&["--agency", "bank:ICBC", "--agency", "bank:ABC"]).expect("two");
        assert!(matches!(
            scope(&two),
            Ok(pb::inquire_request::Scope::Agencies(ref list)) if list.agencies.len() == 2
        ));
        let all = parse(&["--all", "land"]).expect("all");
        assert!(matches!(
            scope(&all),
            Ok(pb::inquire_request::Scope::AllOfKind(k)) if k == pb::AgencyKind::LandRegistry as i32
        ));
        assert!(parse(&[]).is_err(), "nobody asked");
        assert!(parse(&["--all", "bank", "--agency", "bank:ICBC"]).is_err());
        assert!(parse(&["--agency", "ICBC"]).is_err(), "no kind");
        assert!(parse(&["--agency", "court:ICBC"]).is_err(), "no such kind");
        let classes =
            parse(&["--all", "police", "--classes", "vehicles,whereabouts"]).expect("classes");
        assert_eq!(
            classes.classes,
            [
                AssetClass::Deposits,
                AssetClass::Vehicles,
                AssetClass::Whereabouts
            ]
        );
    }
}
