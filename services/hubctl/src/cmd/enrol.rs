//! `hubctl agency enrol|suspend|resume`: a partner agency joins in one step, and can be
//! stopped and let in again.
//!
//! Enrolment declares the agency's queue with its bindings, creates its broker user with the
//! permissions of [`crate::broker::agency_permissions`], records the user at the gateway (whose
//! reports from then on count only when the broker says that user sent them) and, given its
//! keys, registers them. It prints the AMQP URL the agency's adapter connects with.
//! Suspension takes the user's permissions away and closes its connections; the queue keeps
//! what arrives for the agency until it is resumed.

use clap::Args;
use enforcement_proto::v1 as pb;
use hub_bus::topology::{AgencyQueue, QueuePolicy};
use serde_json::json;

use crate::{Context, broker::Broker, error::Failure};

/// Where the broker is and how hubctl administers it.
#[derive(Args, Debug, Clone)]
pub struct BrokerArgs {
    /// An AMQP URL with the right to declare queues, in the vhost the hub uses (the agency's
    /// adapter gets the same address and vhost with its own user).
    #[arg(
        long,
        env = "HUBCTL_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        value_name = "URL"
    )]
    pub amqp_url: String,
    /// RabbitMQ's management API.
    #[arg(
        long,
        env = "HUBCTL_BROKER_API",
        default_value = "http://127.0.0.1:15672",
        value_name = "URL"
    )]
    pub broker_api: String,
    /// An administrator of the broker, `USER:PASSWORD`.
    #[arg(
        long,
        env = "HUBCTL_BROKER_ADMIN",
        default_value = "guest:guest",
        value_name = "USER:PASSWORD",
        hide_env_values = true
    )]
    pub broker_admin: String,
}

/// `hubctl agency enrol`.
#[derive(Args, Debug, Clone)]
pub struct EnrolArgs {
    /// `bank`, `land` or `police`.
    #[arg(long, value_name = "KIND")]
    pub kind: String,
    /// The agency's code; several, comma-separated, for an adapter serving several (one broker
    /// user for all).
    #[arg(long, value_name = "CODE", value_delimiter = ',', required = true)]
    pub code: Vec<String>,
    /// The broker user its adapter connects as (default `adapter.<kind>.<first code>`).
    #[arg(long, value_name = "NAME")]
    pub broker_user: Option<String>,
    /// Its password (default: a new random one, printed once).
    #[arg(long, value_name = "PASSWORD", hide_env_values = true)]
    pub broker_password: Option<String>,
    /// Deliveries of one instruction before it is dead-lettered, as the gateway's
    /// `GATEWAY_DELIVERY_LIMIT` and the adapter's.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub delivery_limit: u32,
    /// The id of the adapter's report-signing key (`ADAPTER_SIGNING_KEY_ID`), with
    /// --signing-public-key.
    #[arg(long, value_name = "KEY_ID", requires = "signing_public_key")]
    pub signing_key_id: Option<String>,
    /// The adapter's Ed25519 public key, 64 hex digits (from `hubctl keygen`).
    #[arg(long, value_name = "HEX", requires = "signing_key_id")]
    pub signing_public_key: Option<String>,
    /// The id of the agency system's sealing key (`BANK_SEAL_KEY_ID`, …), with
    /// --seal-public-key.
    #[arg(long, value_name = "KEY_ID", requires = "seal_public_key")]
    pub seal_key_id: Option<String>,
    /// The agency system's Ed25519 public key, 64 hex digits.
    #[arg(long, value_name = "HEX", requires = "seal_key_id")]
    pub seal_public_key: Option<String>,
    #[command(flatten)]
    pub broker: BrokerArgs,
}

/// `hubctl agency suspend|resume`.
#[derive(Args, Debug, Clone)]
pub struct SuspendArgs {
    /// `bank`, `land` or `police`.
    #[arg(long, value_name = "KIND")]
    pub kind: String,
    /// The agency's code; several, comma-separated.
    #[arg(long, value_name = "CODE", value_delimiter = ',', required = true)]
    pub code: Vec<String>,
    #[command(flatten)]
    pub broker: BrokerArgs,
}

/// Enrols the agency: its queue, its broker user, its record at the gateway, its keys.
pub async fn enrol(context: &Context, args: EnrolArgs) -> Result<(), Failure> {
    let first = args
        .code
        .first()
        .ok_or_else(|| Failure::Usage("--code is required".into()))?;
    let user = args
        .broker_user
        .clone()
        .unwrap_or_else(|| format!("adapter.{}.{first}", args.kind));
    let password = match &args.broker_password {
        Some(p) => p.clone(),
        None => crate::broker::new_password()?,
    };
    // The gateway checks the kind and codes first, so nothing is provisioned for a typo.
    let mut ops = context.ops().await?;
    let mut enrolled = Vec::new();
    for code in &args.code {
        enrolled.push(
            ops.enrol(pb::EnrolAgencyRequest {
                agency_kind: args.kind.clone(),
                agency_code: code.clone(),
                broker_user: user.clone(),
            })
            .await?,
        );
    }
    let queues: Vec<AgencyQueue> = args
        .code
        .iter()
        .map(|c| AgencyQueue::new(&args.kind, c))
        .collect();
    let broker = Broker::new(
        &args.broker.amqp_url,
        &args.broker.broker_api,
        &args.broker.broker_admin,
    )?;
    broker
        .declare(
            &queues,
            QueuePolicy {
                delivery_limit: args.delivery_limit,
            },
        )
        .await?;
    broker.create_user(&user, &password).await?;
    broker
        .grant(&user, &crate::broker::agency_permissions(&queues))
        .await?;
    let keys = [
        (&args.signing_key_id, &args.signing_public_key),
        (&args.seal_key_id, &args.seal_public_key),
    ];
    for (id, key) in keys {
        let (Some(id), Some(key)) = (id, key) else {
            continue;
        };
        for code in &args.code {
            ops.add_key(pb::AgencyKey {
                key_id: id.clone(),
                agency_kind: args.kind.clone(),
                agency_code: code.clone(),
                public_key: key.trim().to_string(),
                // From now, by the gateway's clock.
                valid_from: None,
                valid_until: None,
            })
            .await?;
        }
    }
    let url = broker.url_for(&user, &password);
    context.out.json(&json!({
        "agencies": enrolled.iter().map(|e| format!("{}.{}", e.agency_kind, e.agency_code)).collect::<Vec<_>>(),
        "queues": queues.iter().map(|q| q.queue.clone()).collect::<Vec<_>>(),
        "broker_user": user,
        "broker_password": password,
        "amqp_url": url,
    }));
    let names: Vec<String> = queues.iter().map(|q| q.queue.clone()).collect();
    context.out.text(format!(
        "enrolled {kind} {codes}: queue {queues} declared, broker user {user} may read it and \
         publish reports only\nits adapter connects with ADAPTER_AMQP_URL={url}\n(the password \
         is shown this once)",
        kind = args.kind,
        codes = args.code.join(", "),
        queues = names.join(", "),
    ));
    Ok(())
}

/// Suspends or resumes enrolled agencies.
pub async fn suspend(context: &Context, args: SuspendArgs, suspended: bool) -> Result<(), Failure> {
    let mut ops = context.ops().await?;
    let broker = Broker::new(
        &args.broker.amqp_url,
        &args.broker.broker_api,
        &args.broker.broker_admin,
    )?;
    let mut resumed: Vec<(String, Vec<AgencyQueue>)> = Vec::new();
    for code in &args.code {
        let enrolment = ops
            .set_suspended(pb::SetAgencySuspendedRequest {
                agency_kind: args.kind.clone(),
                agency_code: code.clone(),
                suspended,
            })
            .await?;
        let user = enrolment.broker_user.clone();
        let agency = format!("{}.{}", enrolment.agency_kind, enrolment.agency_code);
        if suspended {
            broker.revoke(&user).await?;
            context.out.json(&json!({
                "agency": agency, "broker_user": user, "suspended": true,
            }));
            context.out.text(format!(
                "{agency} suspended: broker user {user} has no permissions and its connections \
                 are closed; its queue keeps what arrives"
            ));
        } else {
            let queue = AgencyQueue::new(&enrolment.agency_kind, &enrolment.agency_code);
            match resumed.iter_mut().find(|(u, _)| *u == user) {
                Some((_, queues)) => queues.push(queue),
                None => resumed.push((user.clone(), vec![queue])),
            }
            context.out.json(&json!({
                "agency": agency, "broker_user": user, "suspended": false,
            }));
            context.out.text(format!(
                "{agency} resumed: broker user {user} may read its queue again"
            ));
        }
    }
    // A user serving several agencies gets back the queues of all those resumed together.
    for (user, queues) in &resumed {
        broker
            .grant(user, &crate::broker::agency_permissions(queues))
            .await?;
    }
    Ok(())
}
