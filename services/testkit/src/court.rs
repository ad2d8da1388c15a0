//! Shortcuts for what tests do as a court or as a bank clerk.

use enforcement_proto::{reference as admin, v1 as pb};

use crate::{
    TestHub,
    fixtures::{self, Freeze},
};

impl TestHub {
    /// Opens an account at a bank of the hub.
    pub async fn open_account(
        &self,
        bank: &str,
        account: &str,
        holder_name: &str,
        holder_id: &str,
        balance_fen: i64,
    ) -> anyhow::Result<admin::Account> {
        Ok(self
            .bank_admin(bank)
            .await?
            .open_account(admin::OpenAccountRequest {
                bank_code: bank.into(),
                account_number: account.into(),
                holder_name: holder_name.into(),
                holder_id: holder_id.into(),
                balance_fen,
            })
            .await?
            .into_inner())
    }

    /// Credits funds to an account.
    pub async fn credit(
        &self,
        bank: &str,
        account: &str,
        amount_fen: i64,
    ) -> anyhow::Result<admin::Account> {
        Ok(self
            .bank_admin(bank)
            .await?
            .credit(admin::CreditRequest {
                bank_code: bank.into(),
                account_number: account.into(),
                amount_fen,
            })
            .await?
            .into_inner())
    }

    /// An account as the bank holds it.
    pub async fn account(&self, bank: &str, account: &str) -> anyhow::Result<admin::Account> {
        Ok(self
            .bank_admin(bank)
            .await?
            .get_account(admin::AccountRequest {
                bank_code: bank.into(),
                account_number: account.into(),
            })
            .await?
            .into_inner())
    }

    /// Every freeze a bank holds, in order of receipt.
    pub async fn ledger(&self, bank: &str) -> anyhow::Result<Vec<admin::LedgerFreeze>> {
        Ok(self
            .bank_admin(bank)
            .await?
            .list_freezes(admin::ListFreezesRequest {
                bank_code: bank.into(),
                account_number: String::new(),
            })
            .await?
            .into_inner()
            .freezes)
    }

    /// Submits a measure and returns it as recorded.
    pub async fn submit(&self, request: pb::SubmitRequest) -> anyhow::Result<pb::Measure> {
        self.court_as(&request.court_code)
            .await?
            .submit(request)
            .await?
            .into_inner()
            .measure
            .ok_or_else(|| anyhow::anyhow!("Submit answered without a measure"))
    }

    /// Submits every request at once, each on its own connection, and returns the measures in
    /// the order of `requests`.
    pub async fn submit_all(
        &self,
        requests: Vec<pb::SubmitRequest>,
    ) -> anyhow::Result<Vec<pb::Measure>> {
        let mut calls = tokio::task::JoinSet::new();
        for (i, request) in requests.into_iter().enumerate() {
            let mut court = self.court_as(&request.court_code).await?;
            calls.spawn(async move { (i, court.submit(request).await) });
        }
        let mut measures = Vec::new();
        while let Some(done) = calls.join_next().await {
            let (i, response) = done?;
            let measure = response?
                .into_inner()
                .measure
                .ok_or_else(|| anyhow::anyhow!("Submit answered without a measure"))?;
            measures.push((i, measure));
        }
        measures.sort_by_key(|(i, _)| *i);
        Ok(measures.into_iter().map(|(_, m)| m).collect())
    }

    /// Submits a freeze and returns it as recorded.
    pub async fn freeze(&self, freeze: Freeze) -> anyhow::Result<pb::Measure> {
        self.submit(freeze.request()).await
    }

    /// A case as its court sees it (`GetCase`).
    pub async fn case(&self, court: &str, case_number: &str) -> anyhow::Result<pb::Case> {
        Ok(self
            .court_as(court)
            .await?
            .get_case(pb::GetCaseRequest {
                court_code: court.into(),
                case_number: case_number.into(),
            })
            .await?
            .into_inner())
    }

    /// What every bank of `banks` holds frozen for `case_number`, in all.
    pub async fn frozen_for_case(&self, banks: &[&str], case_number: &str) -> anyhow::Result<i64> {
        let mut total = 0;
        for bank in banks {
            total += self
                .ledger(bank)
                .await?
                .iter()
                .filter(|f| f.case_number == case_number)
                .map(|f| f.frozen_fen)
                .sum::<i64>();
        }
        Ok(total)
    }

    /// One measure, as its court sees it.
    pub async fn measure(&self, court: &str, measure_id: &str) -> anyhow::Result<pb::Measure> {
        Ok(self
            .court_as(court)
            .await?
            .get(pb::GetRequest {
                court_code: court.into(),
                measure_id: measure_id.into(),
            })
            .await?
            .into_inner())
    }
}

impl TestHub {
    /// A freeze of 10,000.00 at bank ICBC on a fresh account (`seed` picks the account and the
    /// holder) while the bank answers only errors: the adapter gives up, the measure ends
    /// `FAILED` and its instruction becomes a dead letter. Returns the failed measure. The bank
    /// stays down until `faults().fail_next(0)`.
    pub async fn failed_freeze(
        &self,
        court: &str,
        key: &str,
        seed: u32,
    ) -> anyhow::Result<pb::Measure> {
        let id = fixtures::resident_id(seed);
        let account = fixtures::account_number(seed);
        self.open_account("ICBC", &account, "张三", &id, 2_500_000)
            .await?;
        self.bank("ICBC")?.system().faults().fail_next(1_000);
        let measure = self
            .freeze(
                Freeze::of(1_000_000)
                    .at("ICBC", &account)
                    .held_by("张三", &id)
                    .by(court)
                    .case(seed)
                    .key(key),
            )
            .await?;
        self.wait_for_state(court, &measure.measure_id, pb::MeasureState::Failed)
            .await
    }

    /// Publishes raw bytes to the test's broker, as a partner or an attacker could, and waits
    /// for the broker's confirm.
    pub async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        meta: &hub_bus::MessageMeta,
    ) -> anyhow::Result<hub_bus::Published> {
        let connection = hub_bus::connect(&self.sandbox().amqp_url(), "test").await?;
        let publisher = hub_bus::Publisher::open(&connection).await?;
        let published = publisher
            .publish(exchange, routing_key, payload, meta)
            .await?;
        let _ = connection.close(200, "done".into()).await;
        Ok(published)
    }

    /// The first dead letter the operators' service lists, once there is one.
    pub async fn first_dead_letter(
        &self,
        what: &str,
        timeout: std::time::Duration,
    ) -> anyhow::Result<pb::DeadLetter> {
        let ops = self.ops().await?;
        crate::eventually(what, timeout, || {
            let mut ops = ops.clone();
            async move {
                let listed = ops
                    .list_dead_letters(pb::ListDeadLettersRequest::default())
                    .await?
                    .into_inner();
                Ok(listed.dead_letters.into_iter().next())
            }
        })
        .await
    }
}
