//! Who is calling the gateway: the parties named in the verified client certificate.
//!
//! The TLS handshake has already refused every certificate the hub CA did not issue, or that
//! expired or was revoked; what is left here is what the certificate allows. A court acts only
//! for itself: a request whose `court_code` names another court is refused `PERMISSION_DENIED`
//! naming the field, before anything is read or written, and since every read is by the court
//! named, another court's measures are then simply absent. Only an operator's certificate opens
//! the Ops service. In the plain-text mode (`HUB_INSECURE_PLAINTEXT=1`) there is no certificate
//! and the request is believed, as the warning at start-up says.

use hub_domain::CourtCode;
use hub_trust::Identity;
use tonic::{Code, Request, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The caller of one request.
#[derive(Clone, Debug)]
pub enum Caller {
    /// Plain-text mode: nobody proved anything, everybody is believed.
    Unverified,
    /// The identities of the verified certificate (none if it names no party of the hub).
    Certified(Vec<Identity>),
}

impl Caller {
    /// The caller of `request`; `plaintext` is the gateway's mode.
    pub fn of<T>(request: &Request<T>, plaintext: bool) -> Self {
        if plaintext {
            Self::Unverified
        } else {
            Self::Certified(hub_trust::peer(request))
        }
    }

    /// Allows a court request naming `court_code` only if the certificate is that court's. A
    /// code that is not a court code at all is left to the request's own validation, which
    /// names the rule it breaks.
    pub fn may_act_for(&self, court_code: &str) -> Result<(), Status> {
        let Self::Certified(identities) = self else {
            return Ok(());
        };
        let courts: Vec<&CourtCode> = identities
            .iter()
            .filter_map(|i| match i {
                Identity::Court(court) => Some(court),
                _ => None,
            })
            .collect();
        if courts.is_empty() {
            return Err(Status::permission_denied(
                "the client certificate is not a court's: only courts use the court gateway",
            ));
        }
        let Ok(named) = CourtCode::parse(court_code) else {
            return Ok(());
        };
        if courts.contains(&&named) {
            return Ok(());
        }
        let own = courts
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let rule = format!(
            "names court {named}, but the client certificate is court {own}'s: a court acts only \
             for itself"
        );
        Err(Status::with_error_details(
            Code::PermissionDenied,
            format!("court_code: {rule}"),
            ErrorDetails::with_bad_request_violation("court_code", rule),
        ))
    }

    /// Allows the Ops service only to operators.
    pub fn may_operate(&self) -> Result<(), Status> {
        match self {
            Self::Unverified => Ok(()),
            Self::Certified(identities)
                if identities
                    .iter()
                    .any(|i| matches!(i, Identity::Operator(_))) =>
            {
                Ok(())
            }
            Self::Certified(_) => Err(Status::permission_denied(
                "the Ops service is for operators; the client certificate names no operator",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn court(code: &str) -> Identity {
        Identity::Court(CourtCode::parse(code).expect("court"))
    }

    #[test]
    fn a_court_acts_for_itself_only() {
        let caller = Caller::Certified(vec![court("京0105")]);
        assert!(caller.may_act_for("京0105").is_ok());
        let refused = caller.may_act_for("粤03").expect_err("another court");
        assert_eq!(refused.code(), Code::PermissionDenied);
        let details = refused.get_error_details();
        let field = details
            .bad_request()
            .and_then(|b| b.field_violations.first())
            .map(|v| v.field.clone());
        assert_eq!(field.as_deref(), Some("court_code"));
        // Not a court code: the request's validation says why.
        assert!(caller.may_act_for("").is_ok());
    }

    #[test]
    fn only_operators_operate_and_only_courts_order() {
        let operator = Caller::Certified(vec![Identity::Operator("王".into())]);
        let court = Caller::Certified(vec![court("京0105")]);
        assert!(operator.may_operate().is_ok());
        assert_eq!(
            court.may_operate().map_err(|s| s.code()),
            Err(Code::PermissionDenied)
        );
        assert_eq!(
            operator.may_act_for("京0105").map_err(|s| s.code()),
            Err(Code::PermissionDenied)
        );
        assert!(Caller::Unverified.may_operate().is_ok());
        assert!(Caller::Unverified.may_act_for("粤03").is_ok());
    }
}
