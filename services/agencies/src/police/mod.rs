//! The reference public security system (公安): the population register and sightings, the
//! vehicle register, distraints (扣押) of vehicles and exit restrictions (限制出境) on persons.
//!
//! One process serves several public security units (agency codes such as `BJ-PSB`) from one
//! PostgreSQL schema, every row tagged with its unit: an instruction's `agency.code` chooses the
//! unit, and an instruction for a unit not served is refused with `INVALID_ARGUMENT` before
//! anything is read. It serves the partner contract (`AgencyBackend`) the adapter calls and an
//! administration API (`PoliceAdmin`) for recording persons, sightings and vehicles. Unprompted
//! changes (a distraint or restriction lapsing, the next distraint taking effect) go to the
//! adapter's inbox through [`crate::notices`].
//!
//! Distraints and exit restrictions share one `holds` table and the rules of [`crate::holds`]:
//! a distraint is exclusive (a second court's waits, 轮候), an exit restriction is not (several
//! courts may each bar one person from leaving, and every restriction is EFFECTIVE). Keeping both
//! in one table makes release, renewal and lapse one piece of code; `kind` and `exclusive` tell
//! them apart.

mod admin;
pub mod distraint;
pub mod exit_restriction;
pub mod inquiry;

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

/// Public security's trade: vehicle distraints, exit restrictions, and vehicle and whereabouts
/// inquiries.
#[derive(Clone, Copy, Debug)]
pub struct Police;

/// A reference public security system's configuration (`POLICE_*` environment variables or
/// flags).
pub type PoliceConfig = AgencyConfig<Police>;

/// The system's state shared by its services and background tasks.
pub type PublicSecurity = Office<Police>;

/// A reference public security system ready to serve.
pub type PoliceApplication = Application<Police>;

impl Trade for Police {
    const KIND: pb::AgencyKind = pb::AgencyKind::PublicSecurity;
    const UNIT: &'static str = "public security unit";
    const NAME: &'static str = "public security system";
    const CODE_FIELD: &'static str = "agency_code";
    const SCOPE: &'static str = "public security carries out vehicle distraints, exit \
                                 restrictions, their release and renewal, and vehicle and \
                                 whereabouts inquiries only";
    const DUE_CODES: &'static str =
        "SELECT DISTINCT agency_code FROM holds WHERE state = 'effective' AND expires_at <= $1";

    async fn carry_out(
        desk: Desk<'_>,
        instruction: &pb::Instruction,
        action: &Action,
    ) -> Result<Option<Carried>, sqlx::Error> {
        let mut holds = Holds::from(desk);
        Ok(match action {
            Action::Distraint(order) => Some((
                distraint::distrain(&mut holds, instruction, order).await?,
                None,
                "distraint",
            )),
            Action::ExitRestriction(order) => Some((
                exit_restriction::restrict(&mut holds, instruction, order).await?,
                None,
                "exit_restriction",
            )),
            Action::Inquiry(order) => {
                let (changes, answer) = inquiry::inquire(&mut holds, instruction, order).await?;
                Some((changes, answer, "inquiry"))
            }
            _ => holds.release_or_renew(instruction, action).await?,
        })
    }

    async fn lapse_due(desk: Desk<'_>, limit: i64) -> Result<Vec<Lapse>, sqlx::Error> {
        Holds::from(desk).lapse_due(limit).await
    }
}

impl System for Police {
    const ADMIN_SERVICE: &'static str = admin_pb::police_admin_server::SERVICE_NAME;

    const SETTINGS: Settings = Settings {
        prefix: "POLICE",
        codes: "POLICE_CODES",
        listen: "POLICE_LISTEN",
        database_url: "POLICE_DATABASE_URL",
        database_schema: "POLICE_DATABASE_SCHEMA",
        inbox_url: "POLICE_INBOX_URL",
        fixture: "POLICE_FIXTURE",
        notice_poll_ms: "POLICE_NOTICE_POLL_MS",
        lapse_poll_ms: "POLICE_LAPSE_POLL_MS",
        seal_key: "POLICE_SEAL_KEY",
        seal_key_id: "POLICE_SEAL_KEY_ID",
        default_listen: "127.0.0.1:20082",
        default_schema: Some("police"),
        default_inbox_url: "http://127.0.0.1:20092",
        tls_ca: "POLICE_TLS_CA",
        tls_cert: "POLICE_TLS_CERT",
        tls_key: "POLICE_TLS_KEY",
        tls_deny_list: "POLICE_TLS_DENY_LIST",
    };

    fn migrator() -> &'static Migrator {
        static MIGRATOR: Migrator = sqlx::migrate!("./migrations/police");
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

    fn administration(routes: Routes, office: PublicSecurity) -> Routes {
        routes.add_service(admin_pb::police_admin_server::PoliceAdminServer::new(
            office,
        ))
    }
}
