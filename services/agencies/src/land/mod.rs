//! The reference land registry (不动产登记机构): properties, seal-ups (查封), pre-seizures (预查封)
//! and the waiting line (轮候) on each property.
//!
//! One process serves several registry regions (agency codes such as `110105`) from one
//! PostgreSQL schema, every row tagged with its region: an instruction's `agency.code` chooses the
//! region, and an instruction for a region not served is refused with `INVALID_ARGUMENT` before
//! anything is read. It serves the partner contract (`AgencyBackend`) the adapter calls and an
//! administration API (`LandAdmin`) for recording properties and registering title. Unprompted
//! changes (a seal-up lapsing and the next taking effect, a pre-seizure converting) go to the
//! adapter's inbox through [`crate::notices`].
//!
//! The hold rules shared with public security (waiting, release, renewal, lapse) are in
//! [`crate::holds`] and the office around them in [`crate::office`]; what is particular to real
//! estate (who may be sealed up, pre-seizure and its conversion on title registration,
//! real-estate inquiries) is in [`seal_up`].

mod admin;
pub mod seal_up;

use std::path::Path;

use enforcement_proto::{
    reference as admin_pb,
    v1::{self as pb, instruction::Action},
};
use hub_domain::AgencyCode;
use sqlx::{PgPool, migrate::Migrator};
use time::OffsetDateTime;
use tonic::service::Routes;

use crate::{
    application::{Application, System},
    config::{AgencyConfig, Settings},
    holds::Holds,
    office::{Carried, Desk, Office, Trade},
    outcome::Lapse,
};

/// The land registry's trade: seal-ups, pre-seizures and real-estate inquiries.
#[derive(Clone, Copy, Debug)]
pub struct Land;

/// A reference land registry's configuration (`LAND_*` environment variables or flags).
pub type LandConfig = AgencyConfig<Land>;

/// The registry's state shared by its services and background tasks.
pub type Registry = Office<Land>;

/// A reference land registry ready to serve.
pub type LandApplication = Application<Land>;

impl Trade for Land {
    const KIND: pb::AgencyKind = pb::AgencyKind::LandRegistry;
    const UNIT: &'static str = "registry region";
    const NAME: &'static str = "land registry";
    const CODE_FIELD: &'static str = "agency_code";
    const SCOPE: &'static str = "a land registry carries out seal-ups, pre-seizures, their \
                                 release and renewal, and real-estate inquiries only";
    const DUE_CODES: &'static str =
        "SELECT DISTINCT agency_code FROM holds WHERE state = 'effective' AND expires_at <= $1";

    async fn carry_out(
        desk: Desk<'_>,
        instruction: &pb::Instruction,
        action: &Action,
    ) -> Result<Option<Carried>, sqlx::Error> {
        let mut holds = Holds::from(desk);
        Ok(match action {
            Action::SealUp(order) => Some((
                seal_up::seal_up(&mut holds, instruction, order).await?,
                None,
                "seal_up",
            )),
            Action::Inquiry(order) => {
                let (changes, answer) = seal_up::inquire(&mut holds, instruction, order).await?;
                Some((changes, answer, "inquiry"))
            }
            _ => holds.release_or_renew(instruction, action).await?,
        })
    }

    async fn lapse_due(desk: Desk<'_>, limit: i64) -> Result<Vec<Lapse>, sqlx::Error> {
        Holds::from(desk).lapse_due(limit).await
    }
}

impl System for Land {
    const ADMIN_SERVICE: &'static str = admin_pb::land_admin_server::SERVICE_NAME;

    const SETTINGS: Settings = Settings {
        prefix: "LAND",
        codes: "LAND_CODES",
        listen: "LAND_LISTEN",
        database_url: "LAND_DATABASE_URL",
        database_schema: "LAND_DATABASE_SCHEMA",
        inbox_url: "LAND_INBOX_URL",
        fixture: "LAND_FIXTURE",
        notice_poll_ms: "LAND_NOTICE_POLL_MS",
        lapse_poll_ms: "LAND_LAPSE_POLL_MS",
        seal_key: "LAND_SEAL_KEY",
        seal_key_id: "LAND_SEAL_KEY_ID",
        default_listen: "127.0.0.1:20081",
        default_schema: Some("land"),
        default_inbox_url: "http://127.0.0.1:20091",
        tls_ca: "LAND_TLS_CA",
        tls_cert: "LAND_TLS_CERT",
        tls_key: "LAND_TLS_KEY",
        tls_deny_list: "LAND_TLS_DENY_LIST",
    };

    fn migrator() -> &'static Migrator {
        static MIGRATOR: Migrator = sqlx::migrate!("./migrations/land");
        &MIGRATOR
    }

    async fn load_fixture(
        pool: &PgPool,
        codes: &[AgencyCode],
        path: &Path,
        now: OffsetDateTime,
    ) -> anyhow::Result<usize> {
        admin::load_fixture(pool, codes, path, now).await
    }

    fn administration(routes: Routes, office: Registry) -> Routes {
        routes.add_service(admin_pb::land_admin_server::LandAdminServer::new(office))
    }
}
