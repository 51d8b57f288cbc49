//! Who is calling: the principal a bearer token stands for, and the checks every resource
//! server (Orchestrator OData, Data Service) makes with it.
//!
//! The identity server ([`crate::identity`]) mints tokens and resolves them to a
//! [`Principal`]; the resource servers only ever see this type.

use std::collections::BTreeSet;

use axum::http::{header, HeaderMap};

/// Whether the token was issued to an application (client credentials: application scopes)
/// or to a user (authorization code, refresh token, ROPC, personal access token: user
/// scopes). Data Service only admits users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    Application,
    User,
}

/// The resolved identity behind a valid access token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// The external application the token was issued to, if any (ROPC has none).
    pub client_id: Option<String>,
    /// The user the token acts for, if any.
    pub user: Option<String>,
    /// The organization the token is bound to; `None` admits any (standalone).
    pub org: Option<String>,
    /// The tenant the token is bound to; `None` admits every tenant of the organization.
    pub tenant: Option<String>,
    /// Granted scopes, e.g. `OR.Jobs.Read`, `DataService.Data.Read`.
    pub scopes: BTreeSet<String>,
    /// Fully qualified names of the folders this principal may read; `None` means all.
    /// Access to a folder does not extend to its subfolders unless they are listed too.
    pub folders: Option<Vec<String>>,
}

impl Principal {
    /// True when the principal holds `family` (e.g. `OR.Jobs`) or its `.Read` variant.
    /// ROPC tokens carry the pseudo-scope `*` (they act with the user's full permissions).
    pub fn can_read(&self, family: &str) -> bool {
        self.scopes.contains("*")
            || self.scopes.contains(family)
            || self.scopes.contains(&format!("{family}.Read"))
    }

    /// True when the principal may use `scope` exactly (e.g. `DataService.Data.Write`).
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.contains("*") || self.scopes.contains(scope)
    }

    /// True when the principal may see the folder with this fully qualified name.
    pub fn can_see_folder(&self, fully_qualified_name: &str) -> bool {
        match &self.folders {
            None => true,
            Some(list) => list
                .iter()
                .any(|f| f.eq_ignore_ascii_case(fully_qualified_name)),
        }
    }
}

/// Why a bearer token was not accepted. All of these are HTTP 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not one this identity server issued")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
}

/// The token in an `Authorization: Bearer …` header (scheme name in any letter case);
/// `None` when the header is absent, not text, another scheme, or empty.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_parse_in_any_scheme_case_and_reject_the_rest() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            h
        };
        assert_eq!(bearer_token(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&with("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&with("Basic abc")), None);
        assert_eq!(bearer_token(&with("Bearer ")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
