//! The gateway's one error type, and what a court is told of each error.
//!
//! A court is told exactly what it must change in its request; of the hub's own trouble it
//! learns only that it should retry (or that operators must look), never the internals, which
//! are logged in full instead.

use tonic::Status;
use uuid::Uuid;

/// What can go wrong while serving a court.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request was refused for a reason the court can act on: the status says which field
    /// or which rule (`INVALID_ARGUMENT` with field details, `NOT_FOUND`,
    /// `FAILED_PRECONDITION`, …).
    #[error("refused: {}", .0.message())]
    Refused(Box<Status>),
    /// The court used the idempotency key before, for a different request.
    #[error("idempotency key already used for a different request (measure {0})")]
    KeyReused(Uuid),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The broker failed or could not be reached (operators' calls on dead letters).
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
    /// Something the gateway stored cannot be read back: a bug or a tampered row.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        Self::Refused(Box::new(status))
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            // A row that does not decode is not an outage: retrying will not help.
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                Self::Corrupt(e.to_string())
            }
            e => Self::Database(e),
        }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Refused(status) => *status,
            Error::KeyReused(original) => Status::already_exists(format!(
                "idempotency_key was already used by this court for a different request (measure {original}); choose a new key"
            )),
            Error::Database(e) => {
                tracing::error!(error = %e, "database error");
                Status::unavailable("the hub's database is unavailable; retry shortly")
            }
            Error::Broker(e) => {
                tracing::error!(error = %e, "broker error");
                Status::unavailable("the hub's broker is unavailable; retry shortly")
            }
            Error::Corrupt(what) => {
                tracing::error!(%what, "stored data is unreadable");
                Status::internal("the hub cannot read its own record of this; operators must look")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn a_database_failure_is_answered_without_its_detail() {
        let status = Status::from(Error::from(sqlx::Error::PoolTimedOut));
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(
            status.message(),
            "the hub's database is unavailable; retry shortly"
        );
    }

    #[test]
    fn a_reused_key_names_the_original_measure() {
        let id = Uuid::now_v7();
        let status = Status::from(Error::KeyReused(id));
        assert_eq!(status.code(), Code::AlreadyExists);
        assert!(status.message().contains(&id.to_string()));
    }

    #[test]
    fn a_row_that_does_not_decode_is_internal_not_unavailable() {
        let e = sqlx::Error::ColumnDecode {
            index: "state".into(),
            source: "\"frozen\" is not a known measure state".into(),
        };
        let status = Status::from(Error::from(e));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("frozen"));
    }

    #[test]
    fn a_refusal_reaches_the_court_as_it_is() {
        let status = Status::from(Error::from(Status::not_found("no measure x")));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "no measure x");
    }
}
