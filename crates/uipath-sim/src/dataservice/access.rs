//! Who may call the Data Service: the bearer token must resolve to a **user** principal of
//! the URL's organization (and tenant, when the token is bound to one) holding the scope
//! the endpoint needs. Data Service scopes are user scopes only — UiPath refuses them to
//! client-credentials applications — so an application principal is refused with 403 even
//! if its scope list happens to name them.
//!
//! Order of checks, matching what a client sees from the real service: no or bad token →
//! 401; token of another organization or tenant → 401; application token → 403; missing
//! scope → 403.

use axum::http::HeaderMap;
use uuid::Uuid;

use super::ops::ApiError;
use super::{user_id, Verifier};
use crate::auth::{Principal, PrincipalKind, TokenRejection};

/// What an endpoint needs from the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Entity descriptors: `DataService.Schema.Read`, or (leniently) `DataService.Data.Read`.
    Schema,
    /// Record reads and queries: `DataService.Data.Read`.
    Read,
    /// Inserts, updates and deletes: `DataService.Data.Write`.
    Write,
}

pub(crate) const SCHEMA_READ: &str = "DataService.Schema.Read";
pub(crate) const DATA_READ: &str = "DataService.Data.Read";
pub(crate) const DATA_WRITE: &str = "DataService.Data.Write";

/// Resolves and checks the caller for a request to `org`/`tenant`.
pub(crate) fn authorize(
    verify: &Verifier,
    headers: &HeaderMap,
    org: &str,
    tenant: &str,
    need: Need,
) -> Result<Principal, ApiError> {
    let token = crate::auth::bearer_token(headers)
        .ok_or_else(|| ApiError::Unauthorized(TokenRejection::Missing.to_string()))?;
    let principal =
        verify(token).map_err(|rejection| ApiError::Unauthorized(rejection.to_string()))?;
    if principal
        .org
        .as_deref()
        .is_some_and(|o| !o.eq_ignore_ascii_case(org))
    {
        return Err(ApiError::Unauthorized(
            "the token was issued for another organization".into(),
        ));
    }
    if principal
        .tenant
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case(tenant))
    {
        return Err(ApiError::Unauthorized(
            "the token was issued for another tenant".into(),
        ));
    }
    if principal.kind != PrincipalKind::User {
        return Err(ApiError::Forbidden(
            "Data Service accepts only user tokens (authorization code, refresh token or personal access token); \
             its scopes are user scopes"
                .into(),
        ));
    }
    let allowed = match need {
        Need::Schema => principal.has(SCHEMA_READ) || principal.has(DATA_READ),
        Need::Read => principal.has(DATA_READ),
        Need::Write => principal.has(DATA_WRITE),
    };
    if !allowed {
        let scope = match need {
            Need::Schema => SCHEMA_READ,
            Need::Read => DATA_READ,
            Need::Write => DATA_WRITE,
        };
        return Err(ApiError::Forbidden(format!(
            "the token lacks the {scope} scope"
        )));
    }
    Ok(principal)
}

/// The Id recorded in `CreatedBy`/`UpdatedBy` for this caller.
pub(crate) fn user_of(principal: &Principal) -> Uuid {
    let name = principal
        .user
        .as_deref()
        .or(principal.client_id.as_deref())
        .unwrap_or("");
    user_id(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::sync::Arc;

    fn principal(kind: PrincipalKind, scopes: &[&str], org: Option<&str>) -> Principal {
        Principal {
            kind,
            client_id: Some("app".into()),
            user: Some("alice".into()),
            org: org.map(Into::into),
            tenant: None,
            scopes: scopes
                .iter()
                .map(|s| s.to_string())
                .collect::<BTreeSet<_>>(),
            folders: None,
        }
    }

    fn check(p: Principal, auth: Option<&str>, need: Need) -> Result<Principal, ApiError> {
        let verify: Verifier = Arc::new(move |token: &str| {
            if token == "good" {
                Ok(p.clone())
            } else {
                Err(TokenRejection::Invalid)
            }
        });
        let mut headers = HeaderMap::new();
        if let Some(value) = auth {
            headers.insert(axum::http::header::AUTHORIZATION, value.parse().unwrap());
        }
        authorize(&verify, &headers, "Org", "Tenant", need)
    }

    #[test]
    fn the_checks_run_in_the_documented_order() {
        let user = principal(PrincipalKind::User, &[DATA_READ], Some("org"));
        assert!(check(user.clone(), Some("bearer good"), Need::Read).is_ok());
        assert!(check(user.clone(), Some("Bearer good"), Need::Schema).is_ok());
        assert!(matches!(
            check(user.clone(), None, Need::Read),
            Err(ApiError::Unauthorized(_))
        ));
        assert!(matches!(
            check(user.clone(), Some("Basic good"), Need::Read),
            Err(ApiError::Unauthorized(_))
        ));
        assert!(matches!(
            check(user.clone(), Some("Bearer bad"), Need::Read),
            Err(ApiError::Unauthorized(_))
        ));
        assert!(matches!(
            check(user.clone(), Some("Bearer good"), Need::Write),
            Err(ApiError::Forbidden(_))
        ));
        let foreign = principal(PrincipalKind::User, &[DATA_READ], Some("other"));
        assert!(matches!(
            check(foreign, Some("Bearer good"), Need::Read),
            Err(ApiError::Unauthorized(_))
        ));
        let app = principal(PrincipalKind::Application, &[DATA_READ], None);
        assert!(matches!(
            check(app, Some("Bearer good"), Need::Read),
            Err(ApiError::Forbidden(_))
        ));
        let ropc = principal(PrincipalKind::User, &["*"], None);
        assert!(check(ropc, Some("Bearer good"), Need::Write).is_ok());
    }
}
