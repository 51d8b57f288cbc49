//! Helpers of the auth tests: an in-process simulator, sources pointing at it, providers
//! with fast polling, and a scripted browser for the login flow.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use fleet_core::{Sealer, Secret, TokenCache};
use fleet_memory::MemoryTokenCache;
use uipath_client::auth::{login, LoginOptions, LoginOutcome, TokenOptions, TokenProvider};
use uipath_client::{AuthConfig, ClientError, Deployment, SourceConfig};
use uipath_sim::config::{
    SimConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_LOGIN_CLIENT_ID, DEMO_ORG, DEMO_TENANT,
};
use uipath_sim::server::RunningSim;
use uipath_sim::stats::StatsSnapshot;
use url::Url;

pub async fn start(config: SimConfig) -> RunningSim {
    RunningSim::start(config).await.expect("simulator starts")
}

pub async fn demo() -> RunningSim {
    start(SimConfig::default()).await
}

pub fn stats(sim: &RunningSim) -> StatsSnapshot {
    sim.sim.stats.snapshot()
}

/// Successful grants of `grant_type` so far.
pub fn grants(sim: &RunningSim, grant_type: &str) -> u64 {
    stats(sim)
        .token_grants
        .get(grant_type)
        .copied()
        .unwrap_or_default()
}

/// Failed token requests with OAuth `error` so far.
pub fn token_errors(sim: &RunningSim, error: &str) -> u64 {
    stats(sim)
        .token_errors
        .get(error)
        .copied()
        .unwrap_or_default()
}

/// Every request the token endpoint answered, whatever the status.
pub fn token_requests(sim: &RunningSim) -> u64 {
    stats(sim)
        .requests
        .get("identity/token")
        .map(|by_status| by_status.values().sum())
        .unwrap_or_default()
}

pub fn cloud_source(sim: &RunningSim, auth: AuthConfig) -> SourceConfig {
    SourceConfig {
        name: "demo".into(),
        deployment: Deployment::Cloud {
            base_url: Url::parse(&sim.base_url()).unwrap(),
            organization: DEMO_ORG.into(),
            tenant: DEMO_TENANT.into(),
        },
        auth,
        token_url: None,
        timeout_secs: 30,
    }
}

pub fn client_credentials(scopes: &[&str]) -> AuthConfig {
    client_credentials_with(DEMO_CLIENT_SECRET, scopes)
}

pub fn client_credentials_with(secret: &str, scopes: &[&str]) -> AuthConfig {
    AuthConfig::ClientCredentials {
        client_id: DEMO_CLIENT_ID.into(),
        client_secret: Secret::new(secret),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

/// The demo public app with user scopes, listening on any free loopback port.
pub fn refresh_token_auth(scopes: &[&str]) -> AuthConfig {
    AuthConfig::RefreshToken {
        client_id: DEMO_LOGIN_CLIENT_ID.into(),
        client_secret: None,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        redirect_uri: Url::parse("http://127.0.0.1:0/callback").unwrap(),
    }
}

pub fn memory_cache() -> MemoryTokenCache {
    MemoryTokenCache::new(Sealer::plain())
}

/// Options with fast polling and short locks, so contention resolves quickly.
pub fn fast_options() -> TokenOptions {
    TokenOptions {
        poll_interval: Duration::from_millis(10),
        lock_ttl: Duration::from_secs(10),
        request_timeout: Duration::from_secs(5),
        ..TokenOptions::default()
    }
}

pub fn provider(source: &SourceConfig, cache: impl TokenCache + 'static) -> TokenProvider {
    TokenProvider::new(
        source,
        Arc::new(cache),
        reqwest::Client::new(),
        fast_options(),
    )
    .expect("provider")
}

/// Runs the login flow with a scripted browser: a reqwest client that opens the URL and
/// follows the identity server's redirect back to the login listener.
pub async fn browser_login(
    source: &SourceConfig,
    cache: Arc<dyn TokenCache>,
) -> Result<LoginOutcome, ClientError> {
    let (tx, rx) = tokio::sync::oneshot::channel::<Url>();
    let browser = async move {
        let Ok(url) = rx.await else {
            return None; // login failed before showing a URL
        };
        let response = reqwest::get(url)
            .await
            .expect("the browser reaches the pages");
        let status = response.status();
        Some((status, response.text().await.unwrap_or_default()))
    };
    let options = LoginOptions {
        timeout: Duration::from_secs(30),
        ..LoginOptions::default()
    };
    let (outcome, page) = tokio::join!(
        login(source, cache, options, move |url| {
            let _ = tx.send(url.clone());
        }),
        browser
    );
    if outcome.is_ok() {
        let (status, text) = page.expect("the browser opened the URL");
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("close this tab"), "{text}");
    }
    outcome
}

/// Reads `entity` from Data Service with `token`; returns the HTTP status.
pub async fn read_dataservice(sim: &RunningSim, token: &Secret, entity: &str) -> u16 {
    let url = format!(
        "{}/{DEMO_ORG}/{DEMO_TENANT}/dataservice_/api/EntityService/{entity}/read?limit=5",
        sim.base_url()
    );
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token.expose())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// GETs `/odata/{entity}` of the demo tenant with `token`; returns the HTTP status.
pub async fn read_odata(sim: &RunningSim, token: &Secret, entity: &str) -> u16 {
    let url = format!(
        "{}/odata/{entity}?$top=1",
        sim.orchestrator_url(DEMO_ORG, DEMO_TENANT)
    );
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token.expose())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
