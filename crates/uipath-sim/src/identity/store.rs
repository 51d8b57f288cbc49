//! The server-side token store: live access tokens, refresh-token families and
//! authorization codes. A token is valid only while the store says so, which is what
//! makes revocation (fault injection, refresh-token reuse) work.
//!
//! Guarantees:
//! - Refresh tokens are single-use. Presenting a spent one revokes its whole family: every
//!   refresh token of the family and every access token minted from it.
//! - Authorization codes are single-use; reusing a redeemed code revokes what it minted.
//! - The store stays bounded: expired entries are purged whenever the store has doubled
//!   since the last purge (amortised O(1) per insert).
//!
//! The store itself is not synchronised; [`super::Identity`] keeps it behind one std mutex
//! so a check-then-spend sequence (rotation) is atomic.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use crate::auth::Principal;

/// Below this many entries the store never bothers to purge.
const MIN_PURGE_AT: usize = 1024;

/// What a user authorized an app to do; shared by every token of the family it starts.
#[derive(Debug, Clone)]
pub(crate) struct UserGrant {
    pub client_id: String,
    pub username: String,
    pub org: String,
    pub folders: Option<Vec<String>>,
    /// Scopes as authorized, including `openid`/`profile`/`offline_access`.
    pub scopes: Vec<String>,
}

pub(crate) struct AccessRecord {
    pub principal: Principal,
    pub expires_at: Instant,
    pub revoked: bool,
    /// The refresh family (authorization-code grant) the token came from, if any.
    pub family: Option<u64>,
}

struct RefreshRecord {
    family: u64,
    grant: Arc<UserGrant>,
    expires_at: Instant,
    /// Spent tokens stay until they expire: a second presentation is the theft signal.
    spent: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeRecord {
    pub grant: UserGrant,
    pub redirect_uri: String,
    pub challenge: Option<String>,
    pub expires_at: Instant,
    /// Set once any exchange attempt has seen the code.
    consumed: bool,
    /// The family minted by the successful exchange, revoked if the code is replayed.
    family: Option<u64>,
}

impl CodeRecord {
    pub fn new(
        grant: UserGrant,
        redirect_uri: String,
        challenge: Option<String>,
        expires_at: Instant,
    ) -> Self {
        Self {
            grant,
            redirect_uri,
            challenge,
            expires_at,
            consumed: false,
            family: None,
        }
    }
}

/// Why a code or refresh token was refused; all are `invalid_grant` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrantRejection {
    Unknown,
    Expired,
    /// Already used; the family it belongs to has just been revoked.
    Reused,
    WrongClient,
}

#[derive(Default)]
pub(crate) struct Store {
    /// Keyed by the token's `jti`, so the store never holds bearer strings.
    access: HashMap<String, AccessRecord>,
    refresh: HashMap<String, RefreshRecord>,
    codes: HashMap<String, CodeRecord>,
    next_family: u64,
    purge_at: usize,
}

impl Store {
    pub fn new() -> Self {
        Self {
            purge_at: MIN_PURGE_AT,
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.access.len() + self.refresh.len() + self.codes.len()
    }

    /// Drops expired entries once the store has doubled since the last purge.
    fn maybe_purge(&mut self, now: Instant) {
        if self.len() < self.purge_at {
            return;
        }
        self.access.retain(|_, r| r.expires_at > now);
        self.refresh.retain(|_, r| r.expires_at > now);
        self.codes.retain(|_, r| r.expires_at > now);
        self.purge_at = (self.len() * 2).max(MIN_PURGE_AT);
    }

    pub fn new_family(&mut self) -> u64 {
        self.next_family += 1;
        self.next_family
    }

    pub fn insert_access(&mut self, jti: String, record: AccessRecord, now: Instant) {
        self.maybe_purge(now);
        self.access.insert(jti, record);
    }

    pub fn access(&self, jti: &str) -> Option<&AccessRecord> {
        self.access.get(jti)
    }

    pub fn insert_code(&mut self, code: String, record: CodeRecord, now: Instant) {
        self.maybe_purge(now);
        self.codes.insert(code, record);
    }

    /// Consumes `code` (any attempt does, as in IdentityServer, so a failed PKCE check
    /// cannot be retried with another guess) and returns it if it was fresh. A replayed
    /// code revokes the family its first exchange minted.
    pub fn consume_code(&mut self, code: &str, now: Instant) -> Result<CodeRecord, GrantRejection> {
        let record = self.codes.get_mut(code).ok_or(GrantRejection::Unknown)?;
        if record.expires_at <= now {
            self.codes.remove(code);
            return Err(GrantRejection::Expired);
        }
        if record.consumed {
            if let Some(family) = record.family {
                self.revoke_family(family);
            }
            return Err(GrantRejection::Reused);
        }
        record.consumed = true;
        Ok(record.clone())
    }

    /// Remembers which family the successful exchange of `code` started.
    pub fn bind_code(&mut self, code: &str, family: u64) {
        if let Some(record) = self.codes.get_mut(code) {
            record.family = Some(family);
        }
    }

    pub fn insert_refresh(
        &mut self,
        token: String,
        family: u64,
        grant: Arc<UserGrant>,
        expires_at: Instant,
        now: Instant,
    ) {
        self.maybe_purge(now);
        self.refresh.insert(
            token,
            RefreshRecord {
                family,
                grant,
                expires_at,
                spent: false,
            },
        );
    }

    /// Checks that `token` may be rotated by `client_id` without spending it, so a request
    /// refused for another reason (a scope too wide) leaves it usable. A spent token
    /// revokes its family here.
    pub fn check_refresh(
        &mut self,
        token: &str,
        client_id: &str,
        now: Instant,
    ) -> Result<(u64, Arc<UserGrant>), GrantRejection> {
        let record = self.refresh.get(token).ok_or(GrantRejection::Unknown)?;
        // Checked before `spent`: another client must not be able to revoke a family.
        if record.grant.client_id != client_id {
            return Err(GrantRejection::WrongClient);
        }
        if record.expires_at <= now {
            self.refresh.remove(token);
            return Err(GrantRejection::Expired);
        }
        if record.spent {
            let family = record.family;
            self.revoke_family(family);
            return Err(GrantRejection::Reused);
        }
        Ok((record.family, Arc::clone(&record.grant)))
    }

    /// Marks `token` spent. Call under the same lock as [`Store::check_refresh`].
    pub fn spend_refresh(&mut self, token: &str) {
        if let Some(record) = self.refresh.get_mut(token) {
            record.spent = true;
        }
    }

    /// Removes the family's refresh tokens and revokes its access tokens.
    pub fn revoke_family(&mut self, family: u64) {
        self.refresh.retain(|_, r| r.family != family);
        for record in self.access.values_mut() {
            if record.family == Some(family) {
                record.revoked = true;
            }
        }
    }

    /// Revokes live access tokens (of one client when given); returns how many.
    pub fn revoke_access(&mut self, client_id: Option<&str>, now: Instant) -> usize {
        let mut count = 0;
        for record in self.access.values_mut() {
            let matches =
                client_id.is_none_or(|c| record.principal.client_id.as_deref() == Some(c));
            if matches && !record.revoked && record.expires_at > now {
                record.revoked = true;
                count += 1;
            }
        }
        count
    }

    /// Removes every family with a usable refresh token (of one client when given);
    /// returns how many. Access tokens already minted stay valid: this models losing
    /// the refresh grant, while [`Store::revoke_access`] models losing the access token.
    pub fn revoke_families(&mut self, client_id: Option<&str>, now: Instant) -> usize {
        let families: HashSet<u64> = self
            .refresh
            .values()
            .filter(|r| !r.spent && r.expires_at > now)
            .filter(|r| client_id.is_none_or(|c| r.grant.client_id == c))
            .map(|r| r.family)
            .collect();
        self.refresh.retain(|_, r| !families.contains(&r.family));
        families.len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::*;
    use crate::auth::PrincipalKind;

    fn grant(client: &str) -> Arc<UserGrant> {
        Arc::new(UserGrant {
            client_id: client.into(),
            username: "ana".into(),
            org: "org".into(),
            folders: None,
            scopes: vec!["offline_access".into()],
        })
    }

    fn access(family: Option<u64>, client: &str, expires_at: Instant) -> AccessRecord {
        let principal = Principal {
            kind: PrincipalKind::User,
            client_id: Some(client.into()),
            user: None,
            org: None,
            tenant: None,
            scopes: BTreeSet::new(),
            folders: None,
        };
        AccessRecord {
            principal,
            expires_at,
            revoked: false,
            family,
        }
    }

    #[test]
    fn reuse_revokes_the_family_but_not_other_families() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let mut store = Store::new();
        let (f1, f2) = (store.new_family(), store.new_family());
        store.insert_refresh("rt1".into(), f1, grant("c"), later, now);
        store.insert_refresh("other".into(), f2, grant("c"), later, now);
        store.insert_access("at1".into(), access(Some(f1), "c", later), now);
        store.insert_access("at2".into(), access(Some(f2), "c", later), now);

        assert_eq!(
            store.check_refresh("rt1", "other-client", now).unwrap_err(),
            GrantRejection::WrongClient
        );
        assert_eq!(store.check_refresh("rt1", "c", now).unwrap().0, f1);
        store.spend_refresh("rt1");
        store.insert_refresh("rt2".into(), f1, grant("c"), later, now);

        assert_eq!(
            store.check_refresh("rt1", "c", now).unwrap_err(),
            GrantRejection::Reused
        );
        assert_eq!(
            store.check_refresh("rt2", "c", now).unwrap_err(),
            GrantRejection::Unknown
        );
        assert!(store.access("at1").unwrap().revoked);
        assert!(!store.access("at2").unwrap().revoked);
        assert!(store.check_refresh("other", "c", now).is_ok());
    }

    #[test]
    fn codes_are_single_use_and_expire() {
        let now = Instant::now();
        let mut store = Store::new();
        let record = CodeRecord::new(
            (*grant("c")).clone(),
            "https://x/cb".into(),
            None,
            now + Duration::from_secs(5),
        );
        store.insert_code("code".into(), record.clone(), now);
        assert!(store.consume_code("code", now).is_ok());
        assert_eq!(
            store.consume_code("code", now).unwrap_err(),
            GrantRejection::Reused
        );
        store.insert_code("old".into(), record, now);
        let after = now + Duration::from_secs(6);
        assert_eq!(
            store.consume_code("old", after).unwrap_err(),
            GrantRejection::Expired
        );
        assert_eq!(
            store.consume_code("old", after).unwrap_err(),
            GrantRejection::Unknown
        );
    }

    #[test]
    fn stays_bounded_when_tokens_expire() {
        let start = Instant::now();
        let mut store = Store::new();
        for i in 0..100_000u64 {
            // Each token lives 10 "ticks" of a simulated clock.
            let now = start + Duration::from_millis(i);
            let expires = now + Duration::from_millis(10);
            store.insert_access(i.to_string(), access(None, "c", expires), now);
        }
        assert!(
            store.len() <= 2 * MIN_PURGE_AT,
            "store grew to {}",
            store.len()
        );
    }

    #[test]
    fn revocation_counts_only_live_tokens_of_the_client() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let mut store = Store::new();
        store.insert_access("a".into(), access(None, "c1", later), now);
        store.insert_access("b".into(), access(None, "c2", later), now);
        store.insert_access("old".into(), access(None, "c1", now), now);
        assert_eq!(store.revoke_access(Some("c1"), now), 1);
        assert_eq!(store.revoke_access(None, now), 1);
        assert_eq!(store.revoke_access(None, now), 0);

        let f = store.new_family();
        store.insert_refresh("r".into(), f, grant("c1"), later, now);
        assert_eq!(store.revoke_families(Some("c2"), now), 0);
        assert_eq!(store.revoke_families(Some("c1"), now), 1);
        assert_eq!(
            store.check_refresh("r", "c1", now).unwrap_err(),
            GrantRejection::Unknown
        );
    }
}
