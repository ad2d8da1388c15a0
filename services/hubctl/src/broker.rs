//! The broker's side of enrolling a partner agency: its queue declared over AMQP (by the one
//! topology of [`hub_bus::topology`]), its broker user and that user's permissions through
//! RabbitMQ's management API.
//!
//! An agency's user may read its own queues and publish to the outcomes exchange (and a copy
//! of a message it cannot process to the dead-letter exchange), nothing else: it configures
//! nothing, so it cannot declare, bind or delete, and cannot read another agency's queue or
//! publish instructions.

use hub_bus::topology::{
    AgencyQueue, DEAD_LETTER_EXCHANGE, OUTCOMES_EXCHANGE, QueuePolicy, declare_agency,
};
use serde_json::{Value, json};

use crate::error::Failure;

/// RabbitMQ's permissions of one user in one vhost, as regular expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub configure: String,
    pub write: String,
    pub read: String,
}

/// What an agency's broker user may do: read `queues`, publish reports and dead letters.
pub fn agency_permissions(queues: &[AgencyQueue]) -> Permissions {
    let names: Vec<String> = queues.iter().map(|q| regex_escape(&q.queue)).collect();
    Permissions {
        configure: "^$".into(),
        write: format!(
            "^({}|{})$",
            regex_escape(OUTCOMES_EXCHANGE),
            regex_escape(DEAD_LETTER_EXCHANGE)
        ),
        read: format!("^({})$", names.join("|")),
    }
}

fn regex_escape(name: &str) -> String {
    name.chars()
        .flat_map(|c| {
            let special = matches!(
                c,
                '.' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '^' | '$' | '\\'
            );
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// `s` percent-encoded for a path segment of the management API (a vhost, a user name).
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// A password for a new broker user: 24 random bytes, hex.
pub fn new_password() -> Result<String, Failure> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes)
        .map_err(|e| Failure::Unexpected(format!("no randomness for a password: {e}")))?;
    Ok(hub_bus::signing::to_hex(&bytes))
}

/// The broker, administered: an AMQP URL with rights to declare, and the management API.
pub struct Broker {
    http: reqwest::Client,
    api: String,
    admin: (String, String),
    amqp_url: String,
    vhost: String,
}

impl Broker {
    /// The broker of `amqp_url` (whose vhost the agency lives in), administered through the
    /// management API at `api` as `admin` (`user:password`).
    pub fn new(amqp_url: &str, api: &str, admin: &str) -> Result<Self, Failure> {
        let uri: lapin::uri::AMQPUri = hub_bus::split_ca(amqp_url)
            .0
            .parse()
            .map_err(|e| Failure::Usage(format!("--amqp-url {amqp_url:?}: {e}")))?;
        let (user, password) = admin
            .split_once(':')
            .ok_or_else(|| Failure::Usage("--broker-admin must be USER:PASSWORD".into()))?;
        Ok(Self {
            http: reqwest::Client::new(),
            api: api.trim_end_matches('/').to_string(),
            admin: (user.to_string(), password.to_string()),
            amqp_url: amqp_url.to_string(),
            vhost: uri.vhost,
        })
    }

    /// The AMQP URL an agency's adapter connects with: the administered one's address and
    /// vhost, with the agency's user and password.
    pub fn url_for(&self, user: &str, password: &str) -> String {
        let rest = self
            .amqp_url
            .split_once("://")
            .map_or(self.amqp_url.as_str(), |(_, rest)| rest);
        let (scheme, _) = self.amqp_url.split_once("://").unwrap_or(("amqp", ""));
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        format!("{scheme}://{}:{}@{host}", segment(user), segment(password))
    }

    /// Declares the agencies' queues and their bindings, as an adapter would.
    pub async fn declare(
        &self,
        queues: &[AgencyQueue],
        policy: QueuePolicy,
    ) -> Result<(), Failure> {
        let broker = |e: lapin::Error| {
            Failure::Unexpected(format!("declaring the agency's queue at the broker: {e}"))
        };
        let connection = hub_bus::connect(&self.amqp_url, "hubctl agency enrol")
            .await
            .map_err(broker)?;
        let channel = connection.create_channel().await.map_err(broker)?;
        let declared = async {
            for queue in queues {
                declare_agency(&channel, queue, &policy).await?;
            }
            Ok::<_, lapin::Error>(())
        }
        .await;
        let _ = connection.close(200, "declared".into()).await;
        declared.map_err(broker)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<reqwest::Response, Failure> {
        let url = format!("{}/api/{path}", self.api);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .basic_auth(&self.admin.0, Some(&self.admin.1));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| {
            Failure::Unexpected(format!(
                "cannot reach the broker's management API at {}: {e}",
                self.api
            ))
        })?;
        if response.status().is_success()
            || response.status() == reqwest::StatusCode::NOT_FOUND
                && method == reqwest::Method::DELETE
        {
            Ok(response)
        } else {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            Err(Failure::Unexpected(format!(
                "the broker's management API refused {method} /api/{path}: {status} {text}"
            )))
        }
    }

    /// Creates `user` with `password` (or sets its password), with no tags: it cannot log in
    /// to the management UI.
    pub async fn create_user(&self, user: &str, password: &str) -> Result<(), Failure> {
        self.call(
            reqwest::Method::PUT,
            &format!("users/{}", segment(user)),
            Some(json!({ "password": password, "tags": "" })),
        )
        .await
        .map(|_| ())
    }

    /// Gives `user` `permissions` in the vhost.
    pub async fn grant(&self, user: &str, permissions: &Permissions) -> Result<(), Failure> {
        self.call(
            reqwest::Method::PUT,
            &format!("permissions/{}/{}", segment(&self.vhost), segment(user)),
            Some(json!({
                "configure": permissions.configure,
                "write": permissions.write,
                "read": permissions.read,
            })),
        )
        .await
        .map(|_| ())
    }

    /// Takes every permission of `user` in the vhost away and closes its connections (the
    /// broker's own tracking of them, so at once): it can neither take nor send anything until
    /// granted again.
    pub async fn revoke(&self, user: &str) -> Result<(), Failure> {
        self.call(
            reqwest::Method::DELETE,
            &format!("permissions/{}/{}", segment(&self.vhost), segment(user)),
            None,
        )
        .await?;
        self.call(
            reqwest::Method::DELETE,
            &format!("connections/username/{}", segment(user)),
            None,
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agency_user_reads_its_queues_and_writes_only_reports_and_dead_letters() {
        let p = agency_permissions(&[
            AgencyQueue::new("bank", "ICBC"),
            AgencyQueue::new("bank", "ICBC-SH"),
        ]);
        assert_eq!(p.configure, "^$");
        assert_eq!(p.write, r"^(enforcement\.outcomes|enforcement\.dead)$");
        assert_eq!(p.read, r"^(agency\.bank\.ICBC|agency\.bank\.ICBC-SH)$");
    }

    #[test]
    fn the_adapter_url_keeps_the_address_and_vhost() -> Result<(), Failure> {
        let broker = Broker::new(
            "amqp://guest:guest@127.0.0.1:5672/%2f",
            "http://127.0.0.1:15672/",
            "guest:guest",
        )?;
        assert_eq!(broker.vhost, "/");
        assert_eq!(
            broker.url_for("adapter.bank.ICBC", "p@ss"),
            "amqp://adapter.bank.ICBC:p%40ss@127.0.0.1:5672/%2f"
        );
        Ok(())
    }
}
