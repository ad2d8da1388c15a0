//! The monthly ranking and the agencies' figures over a scripted month: two courts freeze at
//! three banks — some freezes refused (no such account), some answered a day late (the bank's
//! adapter stopped, the clock moved past the deadline, the adapter started again), one never
//! answered — and `Ops.Ranking`, `hubctl ops ranking --json` and `hubctl ops agencies` show
//! exactly the figures the test computes from what it submitted.

use std::{collections::BTreeMap, time::Duration};

use enforcement_proto::v1 as pb;
use hub_domain::CHINA_STANDARD_TIME;
use hub_testkit::{
    TestHub, eventually,
    fixtures::{self, Freeze},
};
use serde_json::Value;
use time::OffsetDateTime;
use tonic::Code;
use tonic_types::StatusExt;

use crate::hubctl::{hubctl, shown};

const COURT_A: &str = "京0105";
const COURT_B: &str = "粤03";
/// The default response deadline of a freeze: one working day.
const DAY_MS: i64 = 86_400_000;

/// How a bank answers one of the scripted freezes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Answer {
    /// Within the deadline.
    OnTime,
    /// After it: the adapter was stopped while the clock moved 25 hours on.
    Late,
    /// Not at all by the time the ranking is asked for.
    Never,
}

/// One freeze the test submits, and what it expects of it.
#[derive(Clone, Debug)]
struct Order {
    court: &'static str,
    case_number: &'static str,
    enforcement_fen: i64,
    bank: &'static str,
    serial: u32,
    amount_fen: i64,
    /// The account's balance, or `None` for an account the bank does not have (refused).
    balance_fen: Option<i64>,
    answer: Answer,
}

impl Order {
    fn answered(&self) -> bool {
        self.answer != Answer::Never
    }

    fn refused(&self) -> bool {
        self.answered() && self.balance_fen.is_none()
    }

    /// What the bank holds once it has answered.
    fn held(&self) -> i64 {
        match (self.answered(), self.balance_fen) {
            (true, Some(balance)) => balance.min(self.amount_fen),
            _ => 0,
        }
    }

    fn freeze(&self) -> Freeze {
        Freeze::of(self.amount_fen)
            .at(self.bank, &fixtures::account_number(self.serial))
            .held_by("张三", &fixtures::resident_id(self.serial))
            .by(self.court)
            .case_number(self.case_number)
            .enforcement(self.enforcement_fen)
            .key(&format!("ranking-{}", self.serial))
    }
}

/// The script: court A at ICBC and CCB on time (one refused, one partial), court B at CCB on
/// time, at BOC late (one refused), and at CCB never answered.
fn script() -> Vec<Order> {
    let a = |bank, serial, amount_fen, balance_fen, answer| Order {
        court: COURT_A,
        case_number: "（2024）京0105执901号",
        enforcement_fen: 10_000_000,
        bank,
        serial,
        amount_fen,
        balance_fen,
        answer,
    };
    let b = |bank, serial, amount_fen, balance_fen, answer| Order {
        court: COURT_B,
        case_number: "（2024）粤03执902号",
        enforcement_fen: 5_000_000,
        bank,
        serial,
        amount_fen,
        balance_fen,
        answer,
    };
    vec![
        a("ICBC", 901, 3_000_000, Some(5_000_000), Answer::OnTime),
        a("ICBC", 902, 1_000_000, None, Answer::OnTime),
        a("CCB", 903, 2_000_000, Some(1_000_000), Answer::OnTime),
        b("CCB", 904, 1_500_000, Some(9_000_000), Answer::OnTime),
        b("BOC", 905, 2_500_000, Some(9_000_000), Answer::Late),
        b("BOC", 906, 500_000, None, Answer::Late),
        b("CCB", 907, 500_000, Some(9_000_000), Answer::Never),
    ]
}

/// The script's inquiry: court A asks every bank, and every bank answers at once. It counts once
/// per bank asked, and once for the court, effective when every bank has answered.
struct Inquiry {
    court: &'static str,
    banks: [&'static str; 3],
}

const INQUIRY: Inquiry = Inquiry {
    court: COURT_A,
    banks: ["ICBC", "CCB", "BOC"],
};

/// `part / whole` in basis points, rounded down, 0 over nothing.
fn bp(part: i64, whole: i64) -> i64 {
    if whole == 0 { 0 } else { part * 10_000 / whole }
}

/// An agency's row: (code, measures, on time, late, unanswered, on-time rate, rejected).
type AgencyRow = (String, i64, i64, i64, i64, i64, i64);

/// A court's row: (court, measures, effective, rejected, effective rate, enforcement, secured,
/// secured rate).
type CourtRow = (String, i64, i64, i64, i64, i64, i64, i64);

/// The agencies' rows the ranking must show, in rank order.
fn expected_agencies(orders: &[Order]) -> Vec<AgencyRow> {
    let mut by_bank: BTreeMap<&str, Vec<&Order>> = BTreeMap::new();
    for o in orders {
        by_bank.entry(o.bank).or_default().push(o);
    }
    let mut rows: Vec<_> = by_bank
        .into_iter()
        .map(|(bank, os)| {
            let count = |f: &dyn Fn(&Order) -> bool| os.iter().filter(|o| f(o)).count() as i64;
            let inquired = INQUIRY.banks.iter().filter(|b| **b == bank).count() as i64;
            let measures = os.len() as i64 + inquired;
            let on_time = count(&|o| o.answer == Answer::OnTime) + inquired;
            (
                bank.to_string(),
                measures,
                on_time,
                count(&|o| o.answer == Answer::Late),
                count(&|o| o.answer == Answer::Never),
                bp(on_time, measures),
                count(&|o| o.refused()),
            )
        })
        .collect();
    rows.sort_by(|x, y| y.5.cmp(&x.5).then(y.1.cmp(&x.1)).then(x.0.cmp(&y.0)));
    rows
}

/// The courts' rows the ranking must show, in rank order.
fn expected_courts(orders: &[Order]) -> Vec<CourtRow> {
    let mut by_court: BTreeMap<&str, Vec<&Order>> = BTreeMap::new();
    for o in orders {
        by_court.entry(o.court).or_default().push(o);
    }
    let mut rows: Vec<_> = by_court
        .into_iter()
        .map(|(court, os)| {
            let inquired = i64::from(INQUIRY.court == court);
            let measures = os.len() as i64 + inquired;
            let effective = os.iter().filter(|o| o.held() > 0).count() as i64 + inquired;
            let rejected = os.iter().filter(|o| o.refused()).count() as i64;
            let enforcement = os[0].enforcement_fen;
            let secured: i64 = os.iter().map(|o| o.held()).sum();
            (
                court.to_string(),
                measures,
                effective,
                rejected,
                bp(effective, measures),
                enforcement,
                secured,
                bp(secured, enforcement),
            )
        })
        .collect();
    rows.sort_by(|x, y| y.4.cmp(&x.4).then(y.1.cmp(&x.1)).then(x.0.cmp(&y.0)));
    rows
}

/// The month (`YYYY-MM`, China Standard Time) of an instant.
fn month_of(at: OffsetDateTime) -> String {
    let local = at.to_offset(CHINA_STANDARD_TIME);
    format!("{:04}-{:02}", local.year(), u8::from(local.month()))
}

/// Moves the clock so that the script's 25 hours stay inside one month: to the 2nd of next
/// month at 08:00 CST when fewer than three days of this one are left.
fn keep_within_a_month(hub: &TestHub) -> anyhow::Result<()> {
    let now = hub.clock().now().to_offset(CHINA_STANDARD_TIME);
    let in_three_days = now + time::Duration::days(3);
    if in_three_days.month() != now.month() {
        let next = in_three_days
            .date()
            .replace_day(2)?
            .with_time(time::macros::time!(8:00))
            .assume_offset(CHINA_STANDARD_TIME);
        hub.clock().advance(next - now);
    }
    Ok(())
}

async fn wait_answered(hub: &TestHub, order: &Order, measure_id: &str) -> anyhow::Result<()> {
    let want = match order.balance_fen {
        None => pb::MeasureState::Rejected,
        Some(balance) if balance < order.amount_fen => pb::MeasureState::Partial,
        Some(_) => pb::MeasureState::Effective,
    };
    hub.wait_for_state(order.court, measure_id, want).await?;
    Ok(())
}

#[tokio::test]
async fn the_ranking_of_a_scripted_month_equals_what_the_court_submitted_and_the_banks_answered()
-> anyhow::Result<()> {
    let mut hub = TestHub::builder()
        .banks(&["ICBC", "CCB", "BOC"])
        // Instructions stay valid through the script's 25 hours, so the late ones are answered
        // rather than expired.
        .instruction_deadline(3 * 86_400, 60)
        .start()
        .await?;
    keep_within_a_month(&hub)?;
    let month = month_of(hub.clock().now());
    let orders = script();
    for o in &orders {
        if let Some(balance) = o.balance_fen {
            hub.open_account(
                o.bank,
                &fixtures::account_number(o.serial),
                "张三",
                &fixtures::resident_id(o.serial),
                balance,
            )
            .await?;
        }
    }

    // On time: answered as soon as they arrive.
    for o in orders.iter().filter(|o| o.answer == Answer::OnTime) {
        let m = hub.freeze(o.freeze()).await?;
        wait_answered(&hub, o, &m.measure_id).await?;
    }
    // The inquiry of every bank, answered by all.
    let mut stream = hub
        .court_as(INQUIRY.court)
        .await?
        .inquire(pb::InquireRequest {
            court_code: INQUIRY.court.into(),
            idempotency_key: "ranking-inquiry".into(),
            case: Some(fixtures::case(
                orders[0].case_number,
                orders[0].enforcement_fen,
            )),
            subject: Some(fixtures::person("张三", &fixtures::resident_id(901))),
            classes: vec![pb::AssetClass::Deposits as i32],
            scope: Some(pb::inquire_request::Scope::AllOfKind(
                pb::AgencyKind::Bank as i32,
            )),
            deadline_seconds: 60,
        })
        .await?
        .into_inner();
    let finished = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = stream.message().await? {
            if let Some(pb::inquiry_event::Event::Finished(m)) = event.event {
                return Ok(m);
            }
        }
        anyhow::bail!("the inquiry's stream ended without its summary")
    })
    .await??;
    assert_eq!(finished.state, pb::MeasureState::Effective as i32);
    assert_eq!(orders[0].court, INQUIRY.court);

    // Late: BOC's adapter away while a day and an hour pass.
    hub.stop_adapter("BOC").await?;
    let mut late = Vec::new();
    for o in orders.iter().filter(|o| o.answer == Answer::Late) {
        let m = hub.freeze(o.freeze()).await?;
        hub.wait_for_state(o.court, &m.measure_id, pb::MeasureState::Dispatched)
            .await?;
        late.push((o, m.measure_id));
    }
    hub.clock().advance(time::Duration::hours(25));
    hub.start_adapter("BOC").await?;
    for (o, id) in &late {
        wait_answered(&hub, o, id).await?;
    }
    // Never: CCB's adapter gone for good.
    hub.stop_adapter("CCB").await?;
    for o in orders.iter().filter(|o| o.answer == Answer::Never) {
        let m = hub.freeze(o.freeze()).await?;
        hub.wait_for_state(o.court, &m.measure_id, pb::MeasureState::Dispatched)
            .await?;
    }

    let mut ops = hub.ops().await?;
    let ranking = ops
        .ranking(pb::RankingRequest {
            month: month.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(ranking.month, month);

    let agencies: Vec<_> = ranking
        .agencies
        .iter()
        .map(|a| {
            assert_eq!(a.agency_kind, "bank");
            (
                a.agency_code.clone(),
                a.measures,
                a.on_time,
                a.late,
                a.unanswered,
                i64::from(a.on_time_rate_bp),
                a.rejected,
            )
        })
        .collect();
    assert_eq!(agencies, expected_agencies(&orders));
    for a in &ranking.agencies {
        assert_eq!(a.failed, 0, "{}", a.agency_code);
        match a.agency_code.as_str() {
            // Answered within seconds of publication.
            "ICBC" | "CCB" => assert!(
                (1..60_000).contains(&a.median_response_ms),
                "{}: {}",
                a.agency_code,
                a.median_response_ms
            ),
            // Published, then 25 hours passed before the adapter took them.
            _ => assert!(
                (DAY_MS + 3_600_000..DAY_MS + 3_700_000).contains(&a.median_response_ms),
                "{}: {}",
                a.agency_code,
                a.median_response_ms
            ),
        }
    }

    let courts: Vec<_> = ranking
        .courts
        .iter()
        .map(|c| {
            assert_eq!(c.cases, 1, "{}", c.court_code);
            assert_eq!(c.deducted_fen, 0);
            assert_eq!(c.frozen_fen, c.secured_fen);
            (
                c.court_code.clone(),
                c.measures,
                c.effective,
                c.rejected,
                i64::from(c.effective_rate_bp),
                c.enforcement_fen,
                c.secured_fen,
                i64::from(c.secured_rate_bp),
            )
        })
        .collect();
    assert_eq!(courts, expected_courts(&orders));

    // The same figures through hubctl, as JSON.
    let output = hubctl(&hub, &["--json", "ops", "ranking", "--month", &month]).await?;
    assert!(output.status.success(), "{}", shown(&output));
    let json: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(json["month"], month.as_str());
    let json_agencies: Vec<_> = json["agencies"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|a| {
                    (
                        a["agency_code"].as_str().unwrap_or_default().to_string(),
                        a["measures"].as_i64().unwrap_or(-1),
                        a["on_time"].as_i64().unwrap_or(-1),
                        a["late"].as_i64().unwrap_or(-1),
                        a["unanswered"].as_i64().unwrap_or(-1),
                        a["on_time_rate_bp"].as_i64().unwrap_or(-1),
                        a["rejected"].as_i64().unwrap_or(-1),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        json_agencies,
        expected_agencies(&orders),
        "{}",
        shown(&output)
    );
    let json_courts: Vec<_> = json["courts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["court_code"].as_str().unwrap_or_default().to_string(),
                        c["measures"].as_i64().unwrap_or(-1),
                        c["effective"].as_i64().unwrap_or(-1),
                        c["rejected"].as_i64().unwrap_or(-1),
                        c["effective_rate_bp"].as_i64().unwrap_or(-1),
                        c["enforcement_fen"].as_i64().unwrap_or(-1),
                        c["secured_fen"].as_i64().unwrap_or(-1),
                        c["secured_rate_bp"].as_i64().unwrap_or(-1),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(json_courts, expected_courts(&orders), "{}", shown(&output));

    // The text ranking prints amounts as on rulings.
    let output = hubctl(&hub, &["ops", "ranking", "--month", &month]).await?;
    assert!(output.status.success(), "{}", shown(&output));
    let text = String::from_utf8(output.stdout.clone())?;
    for court in expected_courts(&orders) {
        let line = text
            .lines()
            .find(|l| l.contains(&court.0))
            .unwrap_or_default();
        assert!(
            line.contains(&hub_domain::Money::from_fen(court.6)?.to_string()),
            "{line}\n{}",
            shown(&output)
        );
    }

    // The agencies now: CCB without its adapter holds the unanswered freeze in its queue; BOC's
    // answers came within the hour, ICBC's more than a day ago.
    let figures = eventually("CCB seen disconnected", Duration::from_secs(20), || {
        let mut ops = ops.clone();
        async move {
            let f = ops
                .agency_figures(pb::AgencyFiguresRequest {})
                .await?
                .into_inner();
            let ccb = f.agencies.iter().find(|a| a.agency_code == "CCB");
            Ok(ccb
                .is_some_and(|c| !c.connected && c.queue_depth == 1)
                .then_some(f))
        }
    })
    .await?;
    let by_code: BTreeMap<&str, &pb::AgencyFigures> = figures
        .agencies
        .iter()
        .map(|a| (a.agency_code.as_str(), a))
        .collect();
    assert_eq!(by_code.len(), 3);
    let ccb = by_code["CCB"];
    assert_eq!((ccb.in_flight, ccb.consumers), (1, 0));
    assert!(ccb.oldest_waiting.is_some());
    let boc = by_code["BOC"];
    assert!(boc.connected);
    assert_eq!((boc.queue_depth, boc.in_flight), (0, 0));
    assert!(boc.oldest_waiting.is_none());
    for w in [boc.last_hour, boc.last_day] {
        let w = w.unwrap_or_default();
        assert_eq!((w.answered, w.rejected, w.failed), (2, 1, 0));
        assert_eq!((w.refusal_rate_bp, w.error_rate_bp), (5_000, 0));
        assert!(w.p50_response_ms > DAY_MS && w.p95_response_ms >= w.p50_response_ms);
    }
    let icbc = by_code["ICBC"];
    assert!(icbc.connected);
    let day = icbc.last_day.unwrap_or_default();
    assert_eq!((day.answered, day.p50_response_ms), (0, 0));

    let output = hubctl(&hub, &["ops", "agencies"]).await?;
    assert!(output.status.success(), "{}", shown(&output));
    let text = String::from_utf8(output.stdout.clone())?;
    let row = |code: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("bank.{code} ")))
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert!(text.starts_with("AGENCY"), "{}", shown(&output));
    // AGENCY CONNECTED QUEUE CONSUMERS IN-FLIGHT …
    assert_eq!(
        &row("CCB")[..5],
        ["bank.CCB", "no", "1", "0", "1"],
        "{text}"
    );
    assert_eq!(
        &row("BOC")[..5],
        ["bank.BOC", "yes", "0", "1", "0"],
        "{text}"
    );
    assert!(row("BOC").contains(&"50.00%".to_string()), "{text}");

    // A queue no adapter has declared (gone here) is said to be missing; the agencies counted
    // after it (ICBC) are still counted.
    hub.sandbox().delete_queue("agency.bank.CCB").await?;
    let figures = ops
        .agency_figures(pb::AgencyFiguresRequest {})
        .await?
        .into_inner();
    let of = |code: &str| figures.agencies.iter().find(|a| a.agency_code == code);
    let ccb = of("CCB").expect("CCB listed");
    assert_eq!(
        (ccb.queue_exists, ccb.connected, ccb.queue_depth),
        (false, false, 0)
    );
    let icbc = of("ICBC").expect("ICBC listed");
    assert_eq!(
        (icbc.queue_exists, icbc.connected, icbc.consumers),
        (true, true, 1)
    );
    let output = hubctl(&hub, &["ops", "agencies"]).await?;
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("bank.CCB   no (no queue)"),
        "{}",
        shown(&output)
    );
    hub.shutdown().await
}

#[tokio::test]
async fn a_month_with_nothing_is_empty_and_a_month_that_is_not_one_is_refused() -> anyhow::Result<()>
{
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let mut ops = hub.ops().await?;
    let empty = ops
        .ranking(pb::RankingRequest {
            month: "2021-02".into(),
        })
        .await?
        .into_inner();
    assert!(empty.agencies.is_empty() && empty.courts.is_empty());
    assert_eq!(
        empty.from.as_ref().map(|t| t.seconds),
        Some(time::macros::datetime!(2021-01-31 16:00 UTC).unix_timestamp())
    );
    assert_eq!(
        empty.until.as_ref().map(|t| t.seconds),
        Some(time::macros::datetime!(2021-02-28 16:00 UTC).unix_timestamp())
    );

    for bad in ["2026-13", "2026-1", "November"] {
        let refused = ops
            .ranking(pb::RankingRequest { month: bad.into() })
            .await
            .expect_err("a bad month is refused");
        assert_eq!(refused.code(), Code::InvalidArgument, "{bad}");
        let details = refused.get_error_details();
        let violation = &details
            .bad_request()
            .expect("a bad request")
            .field_violations[0];
        assert_eq!(violation.field, "month");
        assert!(
            violation.description.contains("YYYY-MM") || violation.description.contains("01 to 12"),
            "{bad}: {}",
            violation.description
        );
    }

    let output = hubctl(&hub, &["--json", "ops", "ranking", "--month", "2021-02"]).await?;
    assert!(output.status.success(), "{}", shown(&output));
    let json: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(json["agencies"], serde_json::json!([]));
    assert_eq!(json["courts"], serde_json::json!([]));
    assert_eq!(json["from"], "2021-01-31T16:00:00Z");

    let output = hubctl(&hub, &["ops", "ranking", "--month", "2026-13"]).await?;
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("month"),
        "{}",
        shown(&output)
    );
    hub.shutdown().await
}
