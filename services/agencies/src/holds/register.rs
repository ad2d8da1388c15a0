//! The hold register in PostgreSQL: finding, locking, registering, saving and listing holds.
//! The waiting line's rules (release, renewal, promotion, lapse) are in [`super::line`].

use enforcement_proto::v1 as pb;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{HoldKind, HoldRow, HoldState, NewHold, registration_number};
use crate::{office::Desk, outcome::date, stored::parse_id};

/// How the holds of one agency are kept, inside the caller's transaction.
pub struct Holds<'a> {
    /// The caller's transaction.
    pub conn: &'a mut PgConnection,
    /// The agency whose holds these are; no query sees another agency's rows.
    pub agency_code: &'a str,
    /// The transaction's "now", from the clock (see [`crate::stored::now`]).
    pub now: OffsetDateTime,
}

impl<'a> From<Desk<'a>> for Holds<'a> {
    fn from(desk: Desk<'a>) -> Self {
        Self {
            conn: desk.conn,
            agency_code: desk.agency_code,
            now: desk.now,
        }
    }
}

impl Holds<'_> {
    /// Locks an asset's row; `false` if the agency has no such asset.
    pub async fn lock_asset(
        &mut self,
        kind: HoldKind,
        asset_id: &str,
    ) -> Result<bool, sqlx::Error> {
        let found: Option<String> = sqlx::query_scalar(kind.lock_asset_sql())
            .bind(self.agency_code)
            .bind(asset_id)
            .fetch_optional(&mut *self.conn)
            .await?;
        Ok(found.is_some())
    }

    /// The holds of `kind` on an asset that are in force or waiting, in order of receipt, locked.
    /// The asset must be locked first.
    pub async fn live(
        &mut self,
        kind: HoldKind,
        asset_id: &str,
    ) -> Result<Vec<HoldRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            hold_columns!(),
            " FROM holds WHERE agency_code = $1 AND kind = $2 AND asset_id = $3 \
              AND state IN ('effective', 'waiting') ORDER BY seq FOR UPDATE"
        ))
        .bind(self.agency_code)
        .bind(kind.as_str())
        .bind(asset_id)
        .fetch_all(&mut *self.conn)
        .await
    }

    /// One hold of the agency, locked.
    pub(super) async fn hold(&mut self, measure_id: Uuid) -> Result<Option<HoldRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            hold_columns!(),
            " FROM holds WHERE agency_code = $1 AND measure_id = $2 FOR UPDATE"
        ))
        .bind(self.agency_code)
        .bind(measure_id)
        .fetch_optional(&mut *self.conn)
        .await
    }

    /// What a hold is on, without locking it (so that its asset can be locked first).
    pub(super) async fn asset_of(
        &mut self,
        measure_id: Uuid,
    ) -> Result<Option<(HoldKind, String)>, sqlx::Error> {
        let found: Option<(String, String)> = sqlx::query_as(
            "SELECT kind, asset_id FROM holds WHERE agency_code = $1 AND measure_id = $2",
        )
        .bind(self.agency_code)
        .bind(measure_id)
        .fetch_optional(&mut *self.conn)
        .await?;
        found
            .map(|(kind, asset)| {
                HoldKind::try_from(kind)
                    .map(|k| (k, asset))
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))
            })
            .transpose()
    }

    /// A hold already registered for `measure_id` (by this or any agency of the process): the hub
    /// sent the measure again under a new instruction id. Answered with the hold as it stands
    /// rather than registered twice.
    pub async fn already_held(
        &mut self,
        measure_id: &str,
    ) -> Result<Option<pb::MeasureUpdate>, sqlx::Error> {
        let row: Option<HoldRow> = sqlx::query_as(concat!(
            "SELECT ",
            hold_columns!(),
            " FROM holds WHERE measure_id = $1"
        ))
        .bind(parse_id(measure_id))
        .fetch_optional(&mut *self.conn)
        .await?;
        Ok(row.map(|h| {
            h.update(
                pb::UpdateCause::Executed,
                format!(
                    "this measure was registered earlier as {} {}; it is {} now",
                    h.label(),
                    h.registration_number,
                    h.state.as_str()
                ),
                self.now,
            )
        }))
    }

    /// Writes a hold's changed fields.
    pub async fn save(&mut self, h: &HoldRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE holds SET state = $3, pre_seizure = $4, waiting_position = $5, \
                 registration_number = $6, revision = $7, effective_at = $8, expires_at = $9, \
                 ended_at = $10 \
             WHERE agency_code = $1 AND measure_id = $2",
        )
        .bind(&h.agency_code)
        .bind(h.measure_id)
        .bind(h.state.as_str())
        .bind(h.pre_seizure)
        .bind(h.waiting_position)
        .bind(&h.registration_number)
        .bind(h.revision)
        .bind(h.effective_at)
        .bind(h.expires_at)
        .bind(h.ended_at)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Registers a hold for the instruction: EFFECTIVE if the asset is free (or the hold is not
    /// exclusive), else WAITING behind what is there. The asset must be locked first.
    pub async fn place(
        &mut self,
        instruction: &pb::Instruction,
        new: NewHold,
    ) -> Result<pb::MeasureUpdate, sqlx::Error> {
        let live = if new.kind.exclusive() {
            self.live(new.kind, &new.asset_id).await?
        } else {
            Vec::new()
        };
        // Drawn under the asset's lock, so on one asset the order of `seq` is the order of receipt.
        let seq: i64 = sqlx::query_scalar("SELECT nextval('hold_seq')")
            .fetch_one(&mut *self.conn)
            .await?;
        let mut hold = HoldRow {
            agency_code: self.agency_code.to_string(),
            measure_id: parse_id(&instruction.measure_id),
            instruction_id: parse_id(&instruction.instruction_id),
            seq,
            asset_id: new.asset_id,
            court_code: instruction.court_code.clone(),
            case_number: instruction
                .case
                .as_ref()
                .map(|c| c.case_number.clone())
                .unwrap_or_default(),
            subject_id: new.subject.id,
            subject_name: new.subject.name,
            kind: new.kind,
            exclusive: new.kind.exclusive(),
            pre_seizure: new.pre_seizure,
            state: HoldState::Waiting,
            waiting_position: 0,
            period_months: i32::try_from(new.period.months()).unwrap_or(i32::MAX),
            period_days: i32::try_from(new.period.days()).unwrap_or(i32::MAX),
            registration_number: registration_number(
                self.agency_code,
                new.kind,
                new.pre_seizure,
                seq,
            ),
            revision: 1,
            received_at: self.now,
            effective_at: None,
            expires_at: None,
            ended_at: None,
        };
        let note = if live.is_empty() {
            hold.take_effect(self.now);
            format!(
                "{} registered as {}, in force until {}",
                hold.label(),
                hold.registration_number,
                date(hold.expires_at)
            )
        } else {
            let waiting = live
                .iter()
                .filter(|h| h.state == HoldState::Waiting)
                .count();
            hold.waiting_position = i32::try_from(waiting + 1).unwrap_or(i32::MAX);
            format!(
                "{} already bound by an earlier court's {}; {} registered as waiting (轮候) at position {}",
                new.kind.asset_words(),
                new.kind.words(),
                hold.registration_number,
                hold.waiting_position
            )
        };
        sqlx::query(concat!(
            "INSERT INTO holds (",
            hold_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 $17, $18, $19, $20, $21, $22)"
        ))
        .bind(&hold.agency_code)
        .bind(hold.measure_id)
        .bind(hold.instruction_id)
        .bind(hold.seq)
        .bind(&hold.asset_id)
        .bind(&hold.court_code)
        .bind(&hold.case_number)
        .bind(&hold.subject_id)
        .bind(&hold.subject_name)
        .bind(hold.kind.as_str())
        .bind(hold.exclusive)
        .bind(hold.pre_seizure)
        .bind(hold.state.as_str())
        .bind(hold.waiting_position)
        .bind(hold.period_months)
        .bind(hold.period_days)
        .bind(&hold.registration_number)
        .bind(hold.revision)
        .bind(hold.received_at)
        .bind(hold.effective_at)
        .bind(hold.expires_at)
        .bind(hold.ended_at)
        .execute(&mut *self.conn)
        .await?;
        Ok(hold.update(pb::UpdateCause::Executed, note, self.now))
    }

    /// Every hold of the agency, optionally of one kind and one asset, in order of receipt.
    pub async fn list(
        &mut self,
        kind: Option<HoldKind>,
        asset_id: Option<&str>,
    ) -> Result<Vec<HoldRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            hold_columns!(),
            " FROM holds WHERE agency_code = $1 AND ($2::text IS NULL OR kind = $2) \
              AND ($3::text IS NULL OR asset_id = $3) ORDER BY seq"
        ))
        .bind(self.agency_code)
        .bind(kind.map(HoldKind::as_str))
        .bind(asset_id)
        .fetch_all(&mut *self.conn)
        .await
    }
}
