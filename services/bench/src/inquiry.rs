//! (f): an inquiry of many banks behind one adapter, first answer to last.

use std::time::{Duration, Instant};

use anyhow::Context;
use enforcement_proto::v1 as pb;
use hub_testkit::{TestHub, fixtures};

use crate::Args;

/// One inquiry of the inquiry run.
pub struct InquiryTiming {
    pub answers: usize,
    /// From the Inquire call to the first answer on its stream, in seconds.
    pub to_first: f64,
    /// From the first answer to the last, in seconds.
    pub spread: f64,
}

/// Inquiry runs of `inquiry_banks` banks behind one adapter.
const INQUIRIES: u32 = 3;

/// (f): a hub whose one bank system serves `inquiry_banks` banks through one adapter; three
/// inquiries of a subject across all of them, each followed on its stream to the summary.
pub async fn inquiry_spread(args: &Args) -> anyhow::Result<Vec<InquiryTiming>> {
    let codes: Vec<String> = (0..args.inquiry_banks)
        .map(|i| format!("Q{i:04}"))
        .collect();
    let mut builder = TestHub::builder().bank_centre(codes.clone());
    if let Some((amqp, api)) = args.broker() {
        builder = builder.broker(amqp, api);
    }
    let hub = builder.start().await?;
    let mut timings = Vec::new();
    for run in 0..INQUIRIES {
        let holder = fixtures::resident_id(900_000 + run);
        // The subject holds an account at one bank in three hundred or so.
        for (n, code) in codes.iter().step_by(300).enumerate() {
            hub.open_account(
                code,
                &fixtures::account_number(900_000 + run * 100 + n as u32),
                "张三",
                &holder,
                100_000,
            )
            .await?;
        }
        let request = pb::InquireRequest {
            court_code: "京0105".into(),
            idempotency_key: format!("inquiry-{run}"),
            case: Some(fixtures::case(&fixtures::case_number(900 + run), 1_000_000)),
            subject: Some(fixtures::person("张三", &holder)),
            classes: vec![pb::AssetClass::Deposits as i32],
            scope: Some(pb::inquire_request::Scope::AllOfKind(
                pb::AgencyKind::Bank as i32,
            )),
            deadline_seconds: 120,
        };
        let asked = Instant::now();
        let mut stream = hub.court().await?.inquire(request).await?.into_inner();
        let (mut first, mut last, mut answers) = (None, None, 0);
        let followed = tokio::time::timeout(Duration::from_secs(180), async {
            while let Some(event) = stream.message().await? {
                match event.event {
                    Some(pb::inquiry_event::Event::Answer(_)) => {
                        let now = Instant::now();
                        first.get_or_insert(now);
                        last = Some(now);
                        answers += 1;
                    }
                    Some(pb::inquiry_event::Event::Finished(_)) => break,
                    _ => {}
                }
            }
            Ok::<_, anyhow::Error>(())
        })
        .await;
        followed.context("the inquiry did not finish within 180 s")??;
        let (Some(first), Some(last)) = (first, last) else {
            anyhow::bail!("the inquiry finished without an answer");
        };
        anyhow::ensure!(
            answers == codes.len(),
            "{answers} answers from {} banks",
            codes.len()
        );
        timings.push(InquiryTiming {
            answers,
            to_first: (first - asked).as_secs_f64(),
            spread: (last - first).as_secs_f64(),
        });
    }
    hub.shutdown().await?;
    Ok(timings)
}
