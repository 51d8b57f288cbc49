//! The auth flows against the real simulator: the shared-token protocol (reuse, refresh
//! ahead, compare-and-delete invalidation, one grant for a crowd), refresh-token rotation
//! and revocation, the login flow, ROPC, PATs, and the identity server's refusals mapped
//! to errors that say what to do.

mod auth_common;

use std::sync::Arc;
use std::time::Duration;

use auth_common::*;
use fleet_core::{Secret, TokenCache};
use uipath_client::auth::{login, Clock as _, LoginOptions, ManualClock, TokenProvider};
use uipath_client::{AuthConfig, ClientError, Deployment, Disposition, SourceConfig};
use uipath_sim::config::{SimConfig, DEMO_ORG, DEMO_PASSWORD, DEMO_TENANT, DEMO_USER};
use uipath_sim::faults::FaultConfig;
use uipath_sim::identity::PatConfig;
use url::Url;

const HOUR_MS: u64 = 3_600_000;

#[tokio::test]
async fn client_credentials_token_is_fetched_once_and_reused() {
    let sim = demo().await;
    let source = cloud_source(&sim, client_credentials(&["OR.Folders.Read OR.Jobs.Read"]));
    let cache = memory_cache();
    let p = provider(&source, cache.clone());
    assert_eq!(p.key().scopes, ["OR.Folders.Read", "OR.Jobs.Read"]);

    let t1 = p.bearer().await.unwrap();
    assert_eq!(grants(&sim, "client_credentials"), 1);
    assert_eq!(read_odata(&sim, &t1.token, "Folders").await, 200);
    assert_eq!(p.bearer().await.unwrap(), t1);
    // Another provider of the same source and cache (another worker) reuses it too.
    assert_eq!(provider(&source, cache.clone()).bearer().await.unwrap(), t1);
    assert_eq!(grants(&sim, "client_credentials"), 1);
    assert_eq!(token_requests(&sim), 1);
    assert_eq!(cache.get(p.key()).await.unwrap(), Some(t1.clone()));
    let debug = format!("{p:?}");
    assert!(
        !debug.contains(uipath_sim::config::DEMO_CLIENT_SECRET),
        "{debug}"
    );
    assert!(!debug.contains(t1.token.expose()), "{debug}");
}

#[tokio::test]
async fn refreshes_ahead_of_expiry_and_never_waits_on_someone_elses_refresh() {
    let sim = demo().await;
    let source = cloud_source(&sim, client_credentials(&["OR.Jobs.Read"]));
    let cache = memory_cache();
    let clock = Arc::new(ManualClock::new());
    let p = provider(&source, cache.clone()).with_clock(clock.clone());

    let t1 = p.bearer().await.unwrap();
    // Expiry counts from when the request was sent.
    assert_eq!(t1.expires_at_ms, clock.now_ms() + HOUR_MS);

    // Just before the refresh-ahead margin (5 minutes): still the same token.
    clock.advance(Duration::from_secs(3600 - 301));
    assert_eq!(p.bearer().await.unwrap(), t1);
    assert_eq!(grants(&sim, "client_credentials"), 1);

    // Inside the margin while another worker holds the refresh lock: the still-valid token
    // comes back at once (the timeout only guards against a hang).
    clock.advance(Duration::from_secs(2));
    let held = cache
        .try_lock(p.key(), Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the lock is free");
    let t = tokio::time::timeout(Duration::from_secs(5), p.bearer())
        .await
        .expect("no waiting on a refresh ahead of expiry")
        .unwrap();
    assert_eq!(t, t1);
    assert_eq!(grants(&sim, "client_credentials"), 1);
    cache.unlock(p.key(), &held).await.unwrap();

    // Inside the margin with the lock free: refreshed before it expires.
    let t2 = p.bearer().await.unwrap();
    assert_ne!(t2, t1);
    assert_eq!(t2.expires_at_ms, clock.now_ms() + HOUR_MS);
    assert_eq!(grants(&sim, "client_credentials"), 2);
    assert_eq!(p.bearer().await.unwrap(), t2);
    assert_eq!(cache.get(p.key()).await.unwrap(), Some(t2));
    assert_eq!(grants(&sim, "client_credentials"), 2);
}

#[tokio::test]
async fn invalidate_removes_only_the_token_that_failed() {
    let sim = demo().await;
    let source = cloud_source(&sim, client_credentials(&["OR.Jobs.Read"]));
    let cache = memory_cache();
    let a = provider(&source, cache.clone());
    let b = provider(&source, cache.clone());

    let t1 = a.bearer().await.unwrap();
    assert_eq!(b.bearer().await.unwrap(), t1);
    // Worker b meets a 401 with t1 and gets t2.
    b.invalidate(&t1).await.unwrap();
    let t2 = b.bearer().await.unwrap();
    assert_ne!(t2, t1);
    assert_eq!(grants(&sim, "client_credentials"), 2);

    // Worker a's late 401 with t1 must not discard t2.
    a.invalidate(&t1).await.unwrap();
    assert_eq!(cache.get(a.key()).await.unwrap(), Some(t2.clone()));
    assert_eq!(a.bearer().await.unwrap(), t2);
    assert_eq!(grants(&sim, "client_credentials"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_workers_at_once_cost_exactly_one_grant() {
    let sim = demo().await;
    // A slow identity server widens the race: everyone asks while the one request is out.
    sim.sim.faults.set_config(FaultConfig {
        latency_ms: 300,
        include_identity: true,
        paths: vec!["connect/token".into()],
        ..FaultConfig::default()
    });
    let source = cloud_source(&sim, client_credentials(&["OR.Jobs.Read"]));
    let cache = memory_cache();
    let providers: Vec<Arc<TokenProvider>> = (0..16)
        .map(|_| Arc::new(provider(&source, cache.clone())))
        .collect();
    // Four concurrent callers per worker: in-process single flight as well.
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for p in &providers {
        for _ in 0..4 {
            let (p, barrier) = (p.clone(), barrier.clone());
            tasks.spawn(async move {
                barrier.wait().await;
                p.bearer().await
            });
        }
    }
    let tokens: Vec<_> = tasks
        .join_all()
        .await
        .into_iter()
        .map(|r| r.expect("every caller gets a token"))
        .collect();
    assert_eq!(tokens.len(), 64);
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    assert_eq!(grants(&sim, "client_credentials"), 1);
    assert_eq!(token_requests(&sim), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_tokens_rotate_once_per_lifetime_and_are_never_replayed() {
    let sim = demo().await;
    let source = cloud_source(
        &sim,
        refresh_token_auth(&["DataService.Data.Read", "OR.Jobs.Read"]),
    );
    let cache = memory_cache();
    let outcome = browser_login(&source, Arc::new(cache.clone()))
        .await
        .unwrap();
    assert_eq!(grants(&sim, "authorization_code"), 1);
    let key = outcome.key.clone();
    assert!(key.scopes.is_empty(), "the family key has no scopes");
    let mut previous = cache.refresh_token(&key).await.unwrap().expect("stored");

    // The login's access token is in the cache: using it costs nothing.
    let p = provider(&source, cache.clone());
    assert_eq!(p.key(), &key);
    let mut current = p.bearer().await.unwrap();
    assert_eq!(current, outcome.access_token);
    assert_eq!(grants(&sim, "refresh_token"), 0);

    for lifetime in 1..=3u64 {
        // The token ends (as after a 401); eight workers want a new one at once.
        p.invalidate(&current).await.unwrap();
        let workers: Vec<Arc<TokenProvider>> = (0..8)
            .map(|_| Arc::new(provider(&source, cache.clone())))
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for w in workers {
            tasks.spawn(async move { w.bearer().await });
        }
        let tokens: Vec<_> = tasks
            .join_all()
            .await
            .into_iter()
            .map(|r| r.expect("refresh works"))
            .collect();
        assert!(tokens.iter().all(|t| *t == tokens[0]));
        assert_ne!(tokens[0], current);
        current = tokens[0].clone();
        assert_eq!(grants(&sim, "refresh_token"), lifetime);
        let rotated = cache
            .refresh_token(&key)
            .await
            .unwrap()
            .expect("rotated, not lost");
        assert_ne!(rotated, previous, "the successor is stored");
        previous = rotated;
    }
    assert_eq!(token_errors(&sim, "invalid_grant"), 0);
    assert_eq!(
        read_dataservice(&sim, &current.token, "Customer").await,
        200
    );
}

#[tokio::test]
async fn a_revoked_family_means_login_required_without_a_retry_loop() {
    let sim = demo().await;
    let source = cloud_source(&sim, refresh_token_auth(&["DataService.Data.Read"]));
    let cache = memory_cache();
    let outcome = browser_login(&source, Arc::new(cache.clone()))
        .await
        .unwrap();
    let revoked: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/_sim/tokens/revoke-refresh", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["families"], 1);

    let p = provider(&source, cache.clone());
    p.invalidate(&outcome.access_token).await.unwrap();
    let e = p.bearer().await.unwrap_err();
    assert!(matches!(e, ClientError::LoginRequired { .. }), "{e}");
    assert_eq!(e.disposition(), Disposition::GiveUp);
    assert!(e.to_string().contains("uipath-fleet login"), "{e}");
    assert_eq!(token_errors(&sim, "invalid_grant"), 1);
    assert_eq!(cache.refresh_token(&outcome.key).await.unwrap(), None);

    // Every later call fails fast, without asking the identity server again.
    let asked = token_requests(&sim);
    for p in [p, provider(&source, cache.clone())] {
        match p.bearer().await.unwrap_err() {
            ClientError::LoginRequired { reason, .. } => assert_eq!(reason, "none stored"),
            other => panic!("{other}"),
        }
    }
    assert_eq!(token_requests(&sim), asked);
    assert_eq!(token_errors(&sim, "invalid_grant"), 1);
}

#[tokio::test]
async fn no_refresh_token_stored_means_login_required() {
    let sim = demo().await;
    let source = cloud_source(&sim, refresh_token_auth(&["DataService.Data.Read"]));
    let e = provider(&source, memory_cache())
        .bearer()
        .await
        .unwrap_err();
    match e {
        ClientError::LoginRequired { reason, client_id } => {
            assert_eq!(reason, "none stored");
            assert_eq!(client_id, uipath_sim::config::DEMO_LOGIN_CLIENT_ID);
        }
        other => panic!("{other}"),
    }
    assert_eq!(token_requests(&sim), 0);
}

#[tokio::test]
async fn identity_refusals_name_the_cause_and_the_fix() {
    let sim = demo().await;
    let bearer = |auth: AuthConfig| {
        let source = cloud_source(&sim, auth);
        async move {
            provider(&source, memory_cache())
                .bearer()
                .await
                .unwrap_err()
        }
    };

    let e = bearer(client_credentials_with("not-the-secret", &["OR.Jobs.Read"])).await;
    assert!(
        matches!(&e, ClientError::InvalidClient { client_id } if client_id == "fleet-demo"),
        "{e}"
    );
    assert!(!format!("{e} {e:?}").contains("not-the-secret"));
    assert_eq!(e.disposition(), Disposition::GiveUp);

    let e = bearer(client_credentials(&["OR.Jobs.Read", "OR.Settings.Write"])).await;
    assert!(matches!(e, ClientError::InvalidScope { .. }), "{e}");
    assert!(e.to_string().contains("OR.Settings.Write"), "{e}");
    assert_eq!(e.disposition(), Disposition::GiveUp);

    let e = bearer(client_credentials(&["DataService.Data.Read"])).await;
    assert!(matches!(e, ClientError::UnauthorizedClient { .. }), "{e}");
    assert!(e.to_string().contains("uipath-fleet login"), "{e}");
    assert_eq!(e.disposition(), Disposition::GiveUp);

    // Refusals are final: one request each, no retries.
    assert_eq!(token_requests(&sim), 3);
    assert_eq!(grants(&sim, "client_credentials"), 0);
}

#[tokio::test]
async fn a_wrong_token_url_is_named_as_such() {
    let sim = demo().await;
    let base = sim.base_url();
    for wrong in [
        // The classic: the standalone path on the cloud answers 200 with an HTML page.
        format!("{base}/identity/connect/token"),
        format!("{base}/{DEMO_ORG}/{DEMO_TENANT}/orchestrator_/"),
        format!("{base}/identity_/connect/nothing-here"),
    ] {
        let mut source = cloud_source(&sim, client_credentials(&["OR.Jobs.Read"]));
        source.token_url = Some(Url::parse(&wrong).unwrap());
        let e = provider(&source, memory_cache())
            .bearer()
            .await
            .unwrap_err();
        match &e {
            ClientError::WrongTokenUrl { url, .. } => assert_eq!(url, &wrong),
            other => panic!("{wrong}: {other}"),
        }
        assert!(e.to_string().contains("identity_/connect/token"), "{e}");
    }
    assert_eq!(grants(&sim, "client_credentials"), 0);
}

#[tokio::test]
async fn server_errors_are_retried_a_couple_of_times_then_reported() {
    let sim = demo().await;
    sim.sim.faults.set_config(FaultConfig {
        error_rate: 1.0,
        error_statuses: vec![503],
        include_identity: true,
        paths: vec!["connect/token".into()],
        ..FaultConfig::default()
    });
    let source = cloud_source(&sim, client_credentials(&["OR.Jobs.Read"]));
    let p = provider(&source, memory_cache());
    let e = p.bearer().await.unwrap_err();
    assert!(matches!(e, ClientError::Server { status: 503, .. }), "{e}");
    assert_eq!(e.disposition(), Disposition::Retry { after: None });
    assert_eq!(
        stats(&sim).faults.get("error").copied(),
        Some(3),
        "one try and two retries"
    );

    sim.sim.faults.set_config(FaultConfig::default());
    p.bearer().await.unwrap();
    assert_eq!(grants(&sim, "client_credentials"), 1);
}

#[tokio::test]
async fn ropc_logs_in_to_standalone_orchestrator() {
    let mut config = SimConfig::default();
    config.identity.standalone = true;
    let sim = start(config).await;
    let source = |password: &str| SourceConfig {
        name: "onprem".into(),
        deployment: Deployment::Standalone {
            base_url: Url::parse(&sim.base_url()).unwrap(),
            tenancy_name: DEMO_TENANT.into(),
        },
        auth: AuthConfig::Ropc {
            username: DEMO_USER.into(),
            password: Secret::new(password),
        },
        token_url: None,
        timeout_secs: 30,
    };
    let good = source(DEMO_PASSWORD);
    good.validate().unwrap();
    let p = provider(&good, memory_cache());
    assert_eq!(p.key().principal, DEMO_USER);
    let before = uipath_client::auth::unix_now_ms();
    let t = p.bearer().await.unwrap();
    let after = uipath_client::auth::unix_now_ms();
    // Standalone tokens last 30 minutes, counted from when the request was sent.
    let expected = (before + 1_800_000)..=(after + 1_800_000);
    assert!(
        expected.contains(&t.expires_at_ms),
        "{expected:?} {}",
        t.expires_at_ms
    );
    assert_eq!(p.bearer().await.unwrap(), t);
    assert_eq!(grants(&sim, "password"), 1);
    let status = reqwest::Client::new()
        .get(format!("{}/odata/Folders?$top=1", sim.base_url()))
        .bearer_auth(t.token.expose())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);

    let e = provider(&source("wrong"), memory_cache())
        .bearer()
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::RopcFailed { .. }), "{e}");
    assert!(e.to_string().contains("Login failed"), "{e}");
    assert!(!format!("{e} {e:?}").contains("wrong\""));
}

#[tokio::test]
async fn a_personal_access_token_is_a_static_bearer() {
    let mut config = SimConfig::default();
    config.identity.personal_access_tokens.push(PatConfig {
        token: "pat-0123456789".into(),
        user: DEMO_USER.into(),
        org: DEMO_ORG.into(),
        scopes: vec!["OR.Folders.Read".into()],
        expires_in_secs: None,
    });
    let sim = start(config).await;
    let source = cloud_source(
        &sim,
        AuthConfig::PersonalAccessToken {
            token: Secret::new("pat-0123456789"),
        },
    );
    let p = provider(&source, memory_cache());
    assert!(!p.key().principal.contains("0123456789"));
    let t = p.bearer().await.unwrap();
    assert_eq!(t.token.expose(), "pat-0123456789");
    assert_eq!(read_odata(&sim, &t.token, "Folders").await, 200);
    p.invalidate(&t).await.unwrap();
    assert_eq!(p.bearer().await.unwrap(), t);
    assert_eq!(token_requests(&sim), 0);
}

#[tokio::test]
async fn login_completes_and_its_refresh_token_reaches_data_service() {
    let sim = demo().await;
    let source = cloud_source(&sim, refresh_token_auth(&["DataService.Data.Read"]));
    let cache = memory_cache();
    let outcome = browser_login(&source, Arc::new(cache.clone()))
        .await
        .unwrap();
    assert_ne!(
        outcome.redirect_uri.port(),
        Some(0),
        "the real port is used"
    );
    assert!(outcome
        .granted_scopes
        .contains(&"offline_access".to_string()));
    assert_eq!(grants(&sim, "authorization_code"), 1);

    // A worker started later, with only the refresh token (a fresh in-memory access map).
    let p = provider(&source, cache.clone());
    p.invalidate(&outcome.access_token).await.unwrap();
    let t = p.bearer().await.unwrap();
    assert_eq!(grants(&sim, "refresh_token"), 1);
    assert_eq!(read_dataservice(&sim, &t.token, "Customer").await, 200);
}

#[tokio::test]
async fn login_refuses_a_foreign_state_and_reports_a_refusal() {
    let sim = demo().await;
    let source = cloud_source(&sim, refresh_token_auth(&["DataService.Data.Read"]));
    let cache = memory_cache();

    for (tamper, expected) in [
        ("code=stolen&state=forged", "another state"),
        (
            "error=access_denied&error_description=the+user+said+no",
            "access_denied",
        ),
    ] {
        let (tx, rx) = tokio::sync::oneshot::channel::<Url>();
        let forger = async move {
            let url = rx.await.unwrap();
            let redirect = url
                .query_pairs()
                .find(|(k, _)| k == "redirect_uri")
                .map(|(_, v)| v.into_owned())
                .unwrap();
            // A request on another path is answered 404 and does not end the wait.
            let other = Url::parse(&redirect).unwrap().join("/favicon.ico").unwrap();
            assert_eq!(reqwest::get(other).await.unwrap().status(), 404);
            reqwest::get(format!("{redirect}?{tamper}"))
                .await
                .unwrap()
                .status()
        };
        let options = LoginOptions {
            timeout: Duration::from_secs(30),
            ..LoginOptions::default()
        };
        let (result, status) = tokio::join!(
            login(&source, Arc::new(cache.clone()), options, move |u| {
                let _ = tx.send(u.clone());
            }),
            forger
        );
        assert_eq!(status, 200);
        match result {
            Err(ClientError::LoginRequired { reason, .. }) => {
                assert!(reason.contains(expected), "{reason}")
            }
            other => panic!("{:?}", other.map(|o| o.key)),
        }
    }
    let family = uipath_client::auth::family_key(&source);
    assert_eq!(cache.refresh_token(&family).await.unwrap(), None);
    assert_eq!(token_requests(&sim), 0);

    // Login is only for refresh-token sources.
    let cc = cloud_source(&sim, client_credentials(&["OR.Jobs.Read"]));
    let e = login(
        &cc,
        Arc::new(cache.clone()),
        LoginOptions::default(),
        |_| panic!("no URL for a client-credentials source"),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ClientError::Config(_)), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_giving_up_mid_refresh_does_not_lose_the_rotated_refresh_token() {
    let sim = demo().await;
    let source = cloud_source(&sim, refresh_token_auth(&["DataService.Data.Read"]));
    let cache = memory_cache();
    let outcome = browser_login(&source, Arc::new(cache.clone()))
        .await
        .unwrap();
    let first = cache.refresh_token(&outcome.key).await.unwrap().unwrap();
    // A slow identity server, and a caller that gives up while the refresh is out.
    sim.sim.faults.set_config(FaultConfig {
        latency_ms: 400,
        include_identity: true,
        paths: vec!["connect/token".into()],
        ..FaultConfig::default()
    });
    let p = provider(&source, cache.clone());
    p.invalidate(&outcome.access_token).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(50), p.bearer())
            .await
            .is_err(),
        "the caller gave up first"
    );

    // The refresh finishes anyway: its successor and the access token reach the cache
    // (and the lock is released), so nobody waits for a lapse and the next refresh spends
    // a live token instead of replaying the spent one.
    let key = outcome.key.clone();
    fleet_testkit::wait_until(
        "the rotated refresh token to be stored",
        Duration::from_secs(10),
        Duration::from_millis(20),
        || {
            let (cache, key, first) = (cache.clone(), key.clone(), first.clone());
            async move {
                let stored = cache.refresh_token(&key).await.unwrap();
                let access = cache.get(&key).await.unwrap();
                stored.is_some_and(|s| s != first) && access.is_some()
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(grants(&sim, "refresh_token"), 1);
    sim.sim.faults.set_config(FaultConfig::default());
    let t = tokio::time::timeout(Duration::from_secs(5), p.bearer())
        .await
        .expect("the lock was released")
        .unwrap();
    assert_eq!(cache.get(&key).await.unwrap(), Some(t));
    assert_eq!(grants(&sim, "refresh_token"), 1);
    let again = provider(&source, cache.clone());
    again
        .invalidate(&again.bearer().await.unwrap())
        .await
        .unwrap();
    again.bearer().await.unwrap();
    assert_eq!(token_errors(&sim, "invalid_grant"), 0);
    assert_eq!(grants(&sim, "refresh_token"), 2);
}
