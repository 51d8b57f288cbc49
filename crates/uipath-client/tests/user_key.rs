//! The legacy User Key and machine credentials against the simulator: a User Key buys
//! 24-hour tokens shared through the token cache (one exchange per lifetime however many
//! workers ask, memory and Redis backends), a revoked key is a named error that says what
//! to do and never shows the key, and a machine's client id/secret is recognised from the
//! robot scopes the identity server grants it.

mod auth_common;

use std::sync::Arc;
use std::time::Duration;

use auth_common::*;
use fleet_core::{Sealer, Secret, TokenCache};
use fleet_redis::RedisTokenCache;
use fleet_testkit::{require_redis, unique_prefix};
use uipath_client::auth::{ManualClock, TokenProvider};
use uipath_client::{AuthConfig, ClientError, Disposition, SourceConfig};
use uipath_sim::config::{SimConfig, DEMO_ORG, DEMO_TENANT, DEMO_USER};
use uipath_sim::identity::{MachineConfig, UserKeyConfig};
use uipath_sim::server::RunningSim;
use url::Url;

const KEY: &str = "user-key-8a71c2e9";
const MACHINE_SECRET: &str = "machine-secret-5e0d";
const DAY: Duration = Duration::from_secs(24 * 3600);

async fn sim() -> RunningSim {
    let mut c = SimConfig::default();
    c.identity.user_keys = vec![UserKeyConfig {
        key: KEY.into(),
        user: DEMO_USER.into(),
        org: DEMO_ORG.into(),
        tenant: DEMO_TENANT.into(),
    }];
    c.identity.machines = vec![MachineConfig {
        client_id: "machine-1".into(),
        client_secret: MACHINE_SECRET.into(),
        org: DEMO_ORG.into(),
    }];
    start(c).await
}

fn user_key_source(sim: &RunningSim) -> SourceConfig {
    let mut source = cloud_source(
        sim,
        AuthConfig::UserKey {
            user_key: Secret::new(KEY),
            client_id: uipath_client::source::USER_KEY_CLIENT_ID.into(),
        },
    );
    source.token_url = Some(Url::parse(&sim.user_key_url()).unwrap());
    source
}

/// Eight workers (two callers each) at once, on a shared cache and clock, for `rounds`
/// token lifetimes: every caller gets a token, and the key is exchanged once per lifetime.
async fn once_per_lifetime(cache: Arc<dyn TokenCache>) {
    let sim = sim().await;
    let source = user_key_source(&sim);
    let clock = Arc::new(ManualClock::new());
    let providers: Vec<Arc<TokenProvider>> = (0..8)
        .map(|_| {
            Arc::new(
                TokenProvider::new(
                    &source,
                    cache.clone(),
                    reqwest::Client::new(),
                    fast_options(),
                )
                .unwrap()
                .with_clock(clock.clone()),
            )
        })
        .collect();
    for round in 1..=3u64 {
        let mut tasks = tokio::task::JoinSet::new();
        for p in providers.iter().chain(providers.iter()) {
            let p = p.clone();
            tasks.spawn(async move { p.bearer().await });
        }
        let tokens: Vec<_> = tasks
            .join_all()
            .await
            .into_iter()
            .map(|r| r.expect("every caller gets a token"))
            .collect();
        assert!(tokens.iter().all(|t| *t == tokens[0]), "round {round}");
        // The token carries the user's rights: Orchestrator reads with it.
        assert_eq!(read_odata(&sim, &tokens[0].token, "Users").await, 200);
        assert_eq!(grants(&sim, "user_key"), round, "round {round}");
        clock.advance(DAY);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_key_is_exchanged_once_per_lifetime_across_workers_in_memory() {
    once_per_lifetime(Arc::new(memory_cache())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_key_is_exchanged_once_per_lifetime_across_workers_in_redis() {
    let redis = require_redis().await;
    let prefix = unique_prefix("user_key_once_per_lifetime");
    let cache = RedisTokenCache::connect(&redis, &prefix, Sealer::plain())
        .await
        .expect("redis");
    once_per_lifetime(Arc::new(cache)).await;
}

#[tokio::test]
async fn a_revoked_user_key_is_named_with_the_fix_and_never_shown() {
    let sim = sim().await;
    let source = user_key_source(&sim);
    sim.sim.identity.revoke_user_keys(None);
    let e = provider(&source, memory_cache())
        .bearer()
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::UserKeyRevoked { .. }), "{e:?}");
    assert_eq!(e.disposition(), Disposition::GiveUp);
    let text = e.to_string();
    assert!(
        text.contains("API access") && text.contains("external application"),
        "{text}"
    );
    assert!(
        !text.contains(KEY) && !format!("{e:?}").contains(KEY),
        "{text}"
    );
    // One request, no retry loop on a refusal.
    assert_eq!(token_errors(&sim, "invalid_grant"), 1);
}

#[tokio::test]
async fn machine_credentials_get_the_migration_error() {
    let sim = sim().await;
    let source = cloud_source(
        &sim,
        AuthConfig::ClientCredentials {
            client_id: "machine-1".into(),
            client_secret: Secret::new(MACHINE_SECRET),
            scopes: vec!["OR.Jobs.Read".into(), "OR.Folders.Read".into()],
        },
    );
    let e = provider(&source, memory_cache())
        .bearer()
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::MachineCredentials { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("External Applications") && text.contains("OR.Folders.Read OR.Jobs.Read"),
        "{text}"
    );
    assert!(!text.contains(MACHINE_SECRET), "{text}");
}
