//! The simulated UiPath identity server: the OAuth token and authorize endpoints of
//! `/identity_`, standalone Orchestrator's ROPC `Account/Authenticate`, personal access
//! tokens, and [`Identity::verify`], which the resource servers call for every request.
//!
//! Guarantees (the facts of the reference fact sheet §1 that clients depend on):
//! - `client_credentials` never returns a refresh token; user-only scopes
//!   (`DataService.*`) are refused with `unauthorized_client`, `offline_access` with
//!   `invalid_scope`.
//! - Refresh tokens rotate and are single-use; replaying a spent one revokes its family.
//! - Authorization codes are single-use, expire, and are bound to their client, redirect
//!   URI and PKCE (S256) challenge.
//! - A token is valid only while the server-side store says so: expiry and revocation are
//!   exact, whatever the token's own `exp` claim says.
//! - No secret, code or token appears in an error body, a log line or `Debug` output.
//!
//! Code map: `config` (what the server knows), `http` (routes), `token_endpoint`
//! (form parsing, client authentication), `grants` (the three OAuth grants), `authorize`,
//! `ropc`, `store` (token state), `tokens` (JWT encoding), `pkce`, `params`, `error`.

mod authorize;
pub mod config;
mod error;
mod grants;
mod http;
mod legacy;
mod params;
mod pkce;
mod ropc;
mod store;
mod token_endpoint;
mod tokens;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use config::{
    AppConfig, IdentityConfig, IdentityConfigError, MachineConfig, PatConfig, UserConfig,
    UserKeyConfig, LEGACY_CLIENT_ID, ROBOT_SCOPE,
};

use crate::auth::{Principal, PrincipalKind, TokenRejection};
use crate::stats::Stats;
use store::{AccessRecord, Store};
use tokens::{Claims, Signer};

/// The `iss` claim of every token. Not a real host: the simulator does not know the URL
/// it is reached at, and clients must not depend on the issuer.
const ISSUER: &str = "uipath-sim/identity_";

/// A configured personal access token, resolved once at start.
struct Pat {
    principal: Principal,
    expires_at: Option<Instant>,
}

/// The identity server: configuration, signing key and token store. Shared as
/// `Arc<Identity>` by the routes and the resource servers.
pub struct Identity {
    config: IdentityConfig,
    stats: Arc<Stats>,
    signer: Signer,
    /// One std mutex for all token state: every critical section is a few map operations
    /// and an HMAC, never an `.await`, and rotation needs check-and-spend to be atomic.
    store: Mutex<Store>,
    /// Keyed by the token itself: PATs are configured, not minted, so there is no `jti`.
    pats: HashMap<String, Pat>,
    /// User Keys revoked from the control API (by the key itself; never logged).
    revoked_user_keys: Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Identity {
    pub fn new(config: IdentityConfig, stats: Arc<Stats>) -> Self {
        let started = Instant::now();
        let pats = config
            .personal_access_tokens
            .iter()
            .map(|pat| {
                // A PAT acts for its user, so it sees the user's folders.
                let folders = config
                    .user(&pat.org, &pat.user)
                    .and_then(|u| u.folders.clone());
                let principal = Principal {
                    kind: PrincipalKind::User,
                    client_id: None,
                    user: Some(pat.user.clone()),
                    org: Some(pat.org.clone()),
                    tenant: None,
                    scopes: pat.scopes.iter().cloned().collect(),
                    folders,
                };
                let expires_at = pat
                    .expires_in_secs
                    .map(|s| started + Duration::from_secs(s));
                (
                    pat.token.clone(),
                    Pat {
                        principal,
                        expires_at,
                    },
                )
            })
            .collect();
        Self {
            config,
            stats,
            signer: Signer::random(),
            store: Mutex::new(Store::new()),
            pats,
            revoked_user_keys: Mutex::new(Default::default()),
        }
    }

    /// The axum routes of the identity server; state is the shared `Identity`.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        http::router(Arc::clone(self))
    }

    /// Resolves a bearer token (without the "Bearer " prefix) to its principal.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenRejection> {
        if token.is_empty() {
            return Err(TokenRejection::Missing);
        }
        let now = Instant::now();
        if let Some(pat) = self.pats.get(token) {
            return match pat.expires_at {
                Some(at) if at <= now => Err(TokenRejection::Expired),
                _ => Ok(pat.principal.clone()),
            };
        }
        let claims = self.signer.decode(token).ok_or(TokenRejection::Invalid)?;
        match self.lock().access(&claims.jti) {
            Some(record) if record.revoked => Err(TokenRejection::Revoked),
            Some(record) if record.expires_at <= now => Err(TokenRejection::Expired),
            Some(record) => Ok(record.principal.clone()),
            // Ours (the signature says so) but purged: purging only drops expired entries.
            None if claims.exp <= tokens::unix_now() => Err(TokenRejection::Expired),
            None => Err(TokenRejection::Invalid),
        }
    }

    /// Revokes every live access token (of one client when given); returns how many.
    /// Personal access tokens are configuration, not issued tokens, and are not affected.
    pub fn revoke_access_tokens(&self, client_id: Option<&str>) -> usize {
        let count = self.lock().revoke_access(client_id, Instant::now());
        tracing::info!(
            client_id = client_id.unwrap_or("*"),
            count,
            "revoked access tokens"
        );
        count
    }

    /// Revokes every refresh-token family (of one client when given); returns how many
    /// families. Access tokens already minted from them stay valid until they expire.
    pub fn revoke_refresh_families(&self, client_id: Option<&str>) -> usize {
        let count = self.lock().revoke_families(client_id, Instant::now());
        tracing::info!(
            client_id = client_id.unwrap_or("*"),
            count,
            "revoked refresh families"
        );
        count
    }

    /// Revokes the User Keys (of one user when given), as "Revoke Access" on the API
    /// access page does; returns how many. Tokens already issued stay valid until they
    /// expire (UiPath does not say otherwise).
    pub fn revoke_user_keys(&self, user: Option<&str>) -> usize {
        let mut revoked = self
            .revoked_user_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut count = 0;
        for k in &self.config.user_keys {
            if user.is_none_or(|u| u.eq_ignore_ascii_case(&k.user)) && revoked.insert(k.key.clone())
            {
                count += 1;
            }
        }
        tracing::info!(user = user.unwrap_or("*"), count, "revoked user keys");
        count
    }

    fn user_key_revoked(&self, key: &str) -> bool {
        self.revoked_user_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key)
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // Nothing panics while holding the lock, but a poisoned store is still consistent
        // (every mutation is a single map operation), so recover rather than cascade.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Mints an access token for `principal`, valid `ttl_secs`, and records it in `store`.
    fn mint_access(
        &self,
        store: &mut Store,
        principal: Principal,
        ttl_secs: u64,
        family: Option<u64>,
        now: Instant,
    ) -> String {
        let iat = tokens::unix_now();
        let claims = Claims {
            iss: ISSUER.to_owned(),
            sub: principal
                .user
                .clone()
                .or_else(|| principal.client_id.clone())
                .unwrap_or_default(),
            client_id: principal.client_id.clone(),
            prt_id: principal.org.clone(),
            scope: principal.scopes.iter().cloned().collect(),
            // The clock behind `iat` is floored to the second, so `exp` never lies later
            // than the store's expiry; `verify` relies on that after a purge.
            exp: iat + ttl_secs,
            iat,
            nbf: iat,
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        let token = self.signer.encode(&claims);
        let expires_at = now + Duration::from_secs(ttl_secs);
        store.insert_access(
            claims.jti,
            AccessRecord {
                principal,
                expires_at,
                revoked: false,
                family,
            },
            now,
        );
        token
    }
}
