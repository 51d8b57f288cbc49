//! The request pipeline against a misbehaving simulator: transient faults are retried
//! until the slice is complete, permanent ones come back with the right error and
//! disposition, a 429 pauses the whole tenant, and a revoked token is replaced once
//! without the caller noticing.

mod paging_common;

use std::time::Duration;

use fleet_core::dataset::by_name;
use fleet_core::ratelimit::FamilyBudgets;
use fleet_core::{BucketKey, Budget, EndpointFamily, LimiterConfig, Priority, RateLimiter};
use paging_common::*;
use serde_json::json;
use uipath_client::client::ClientOptions;
use uipath_client::odata::{Cursor, SliceSpec};
use uipath_client::{ClientError, Disposition};

fn jobs(key: String) -> SliceSpec {
    SliceSpec::new(by_name("jobs").unwrap())
        .folder(key)
        .range(Some(day(2025, 3, 1)), Some(day(2025, 5, 1)))
        .page_size(50)
}

fn jobs_bucket(h: &Harness) -> BucketKey {
    BucketKey::new(h.client.source().tenant_key(), EndpointFamily::Jobs)
}

#[tokio::test]
async fn a_slice_comes_back_complete_through_server_errors_cut_and_broken_bodies() {
    let sim = start(unlimited_config()).await;
    let options = ClientOptions {
        attempts: 10,
        ..fast_options()
    };
    let h = harness(&sim, all_scopes(), generous_limits(), options);
    control(
        &sim,
        reqwest::Method::PUT,
        "/_sim/faults",
        json!({"error_rate": 0.2, "drop_rate": 0.05, "truncate_rate": 0.1, "malformed_rate": 0.15,
               "paths": ["odata/Jobs"], "seed": 3}),
    )
    .await;
    let (part, key) = folder(&sim, "Finance");
    let spec = jobs(key).page_size(20);
    let (records, _) = read_all(&h.client, &spec).await.unwrap();
    let expected = truth(&sim, "Jobs", part, spec.from, spec.to);
    assert_eq!(records, expected);
    for kind in ["error", "drop", "truncate", "malformed"] {
        assert!(faults(&sim, kind) > 0, "no {kind} fault was injected");
    }
    let stats = h.client.stats();
    let injected = faults(&sim, "error")
        + faults(&sim, "drop")
        + faults(&sim, "truncate")
        + faults(&sim, "malformed");
    assert_eq!(stats.retries, injected, "one retry per fault");
    assert_eq!(
        stats.malformed,
        faults(&sim, "truncate") + faults(&sim, "malformed")
    );
    assert_eq!(stats.transport_errors, faults(&sim, "drop"));
}

#[tokio::test]
async fn a_page_that_stays_malformed_is_given_up() {
    let sim = start(unlimited_config()).await;
    let h = reader(&sim);
    control(
        &sim,
        reqwest::Method::PUT,
        "/_sim/faults",
        json!({"malformed_rate": 1.0}),
    )
    .await;
    let (_, key) = folder(&sim, "HR");
    let err = h
        .client
        .fetch_page(&jobs(key), &Cursor::Start, Priority::Backfill)
        .await
        .unwrap_err();
    match &err {
        ClientError::Exhausted { attempts, last } => {
            assert_eq!(*attempts, 4);
            assert!(matches!(**last, ClientError::Malformed { .. }), "{last}");
        }
        other => panic!("expected Exhausted, got {other}"),
    }
    assert_eq!(err.disposition(), Disposition::GiveUp);
    assert_eq!(faults(&sim, "malformed"), 4);
    assert_eq!(h.client.stats().retries, 3);
}

#[tokio::test]
async fn persistent_server_errors_exhaust_into_a_retry_later() {
    let sim = start(unlimited_config()).await;
    let h = reader(&sim);
    control(
        &sim,
        reqwest::Method::PUT,
        "/_sim/faults",
        json!({"error_rate": 1.0, "error_statuses": [503]}),
    )
    .await;
    let err = h
        .client
        .fetch_page(
            &SliceSpec::new(by_name("machines").unwrap()),
            &Cursor::Start,
            Priority::Sync,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Exhausted { attempts: 4, last } if matches!(**last, ClientError::Server { status: 503, .. })),
        "{err}"
    );
    assert_eq!(err.disposition(), Disposition::Retry { after: None });
}

#[tokio::test]
async fn folder_and_scope_mistakes_are_final_and_named() {
    let sim = start(unlimited_config()).await;
    let h = reader(&sim);
    let jobs_def = by_name("jobs").unwrap();

    let err = h
        .client
        .fetch_page(&SliceSpec::new(jobs_def), &Cursor::Start, Priority::Sync)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::FolderRequired { .. }), "{err}");
    assert_eq!(err.disposition(), Disposition::GiveUp);

    let unknown = uuid::Uuid::new_v4().to_string();
    let spec = SliceSpec::new(jobs_def).folder(unknown.clone());
    let err = h
        .client
        .fetch_page(&spec, &Cursor::Start, Priority::Sync)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::FolderNotFound { folder, .. } if *folder == unknown),
        "{err}"
    );
    assert_eq!(err.disposition(), Disposition::GiveUp);
    assert_eq!(h.client.stats().retries, 0, "nothing final is retried");

    // An application granted only Jobs and Folders cannot read audit logs.
    let narrow = harness(
        &sim,
        app_auth(&["OR.Jobs.Read", "OR.Folders.Read"]),
        generous_limits(),
        fast_options(),
    );
    let audit = SliceSpec::new(by_name("audit-logs").unwrap());
    let err = narrow
        .client
        .fetch_page(&audit, &Cursor::Start, Priority::Sync)
        .await
        .unwrap_err();
    match &err {
        ClientError::Forbidden { path, message } => {
            assert_eq!(path, "/odata/AuditLogs");
            assert!(message.contains("OR.Audit"), "{message}");
        }
        other => panic!("expected Forbidden, got {other}"),
    }
    assert_eq!(err.disposition(), Disposition::GiveUp);
    assert_eq!(
        narrow.client.folders().await.unwrap().len(),
        8,
        "what is granted still works"
    );
}

#[tokio::test]
async fn a_429_storm_pauses_the_tenant_and_the_request_waits_it_out() {
    let sim = start(unlimited_config()).await;
    let h = reader(&sim);
    let (part, key) = folder(&sim, "Finance");
    let spec = jobs(key);
    h.client.folders().await.unwrap(); // token in hand before the storm
    control(
        &sim,
        reqwest::Method::POST,
        "/_sim/faults/storm",
        json!({"seconds": 1.0, "retry_after_secs": 1}),
    )
    .await;
    let page = h
        .client
        .fetch_page(&spec, &Cursor::Start, Priority::Sync)
        .await
        .unwrap();
    assert_eq!(
        page.records,
        truth(&sim, "Jobs", part, spec.from, spec.to)[..50]
    );
    let stats = h.client.stats();
    assert!(stats.throttled >= 1, "{stats:?}");
    assert_eq!(stats.throttled, faults(&sim, "storm"));
    assert!(
        stats.permit_wait_ms > 0,
        "the pause was waited out: {stats:?}"
    );
    assert_eq!(
        (stats.deferred, stats.retries),
        (0, 0),
        "a 429 is not a failed attempt"
    );
}

#[tokio::test]
async fn a_long_storm_defers_every_worker_of_the_tenant() {
    let sim = start(unlimited_config()).await;
    let options = ClientOptions {
        max_wait: Duration::from_secs(1),
        ..fast_options()
    };
    let h = harness(&sim, all_scopes(), generous_limits(), options.clone());
    let (_, key) = folder(&sim, "Finance");
    h.client.folders().await.unwrap();
    control(
        &sim,
        reqwest::Method::POST,
        "/_sim/faults/storm",
        json!({"seconds": 60.0, "retry_after_secs": 30}),
    )
    .await;
    let err = h
        .client
        .fetch_page(&jobs(key.clone()), &Cursor::Start, Priority::Backfill)
        .await
        .unwrap_err();
    match err.disposition() {
        Disposition::Defer { after } => assert!(after > Duration::from_secs(25), "{after:?}"),
        other => panic!("expected Defer, got {other:?} from {err}"),
    }
    assert!(
        matches!(err, ClientError::Deferred { paused: true, .. }),
        "{err}"
    );
    let paused = h
        .limiter
        .paused_for(&jobs_bucket(&h))
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        paused > Duration::from_secs(25),
        "the tenant's Jobs bucket is paused: {paused:?}"
    );
    assert_eq!(
        faults(&sim, "storm"),
        1,
        "one 429, then nothing more was sent"
    );

    // Another worker sharing the limiter defers without sending anything.
    let cache = std::sync::Arc::new(fleet_memory::MemoryTokenCache::new(
        fleet_core::Sealer::plain(),
    ));
    let other = uipath_client::UipathClient::new(
        source(&sim, all_scopes()),
        cache,
        h.limiter.clone(),
        options,
    )
    .unwrap();
    let err = other
        .fetch_page(&jobs(key), &Cursor::Start, Priority::Sync)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Deferred { paused: true, .. }),
        "{err}"
    );
    assert_eq!(other.stats().sent, 0);
    assert_eq!(faults(&sim, "storm"), 1);
    // The pause is the Jobs bucket's only: once the storm is over, other families of the
    // tenant go through at once while Jobs stays paused.
    control(
        &sim,
        reqwest::Method::DELETE,
        "/_sim/faults/storm",
        json!({}),
    )
    .await;
    assert_eq!(h.client.folders().await.unwrap().len(), 8);
    assert!(h
        .limiter
        .paused_for(&jobs_bucket(&h))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn an_exhausted_budget_defers_before_sending() {
    let sim = start(unlimited_config()).await;
    let limits = LimiterConfig {
        default: FamilyBudgets {
            jobs: Some(Budget::per_minute(2)),
            ..FamilyBudgets::default()
        },
        ..LimiterConfig::default()
    };
    let options = ClientOptions {
        max_wait: Duration::from_millis(200),
        ..fast_options()
    };
    let h = harness(&sim, all_scopes(), limits, options);
    let (_, key) = folder(&sim, "Finance");
    let spec = jobs(key);
    let first = h
        .client
        .fetch_page(&spec, &Cursor::Start, Priority::Sync)
        .await
        .unwrap();
    let err = h
        .client
        .fetch_page(&spec, first.next.as_ref().unwrap(), Priority::Sync)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Deferred { paused: false, .. }),
        "{err}"
    );
    assert!(
        matches!(err.disposition(), Disposition::Defer { after } if after > Duration::from_millis(200))
    );
    assert_eq!(
        served(&sim, "odata/Jobs"),
        1,
        "the deferred request was never sent"
    );
    assert_eq!(h.client.stats().deferred, 1);
}

#[tokio::test]
async fn a_token_revoked_mid_read_is_replaced_once_transparently() {
    let sim = start(unlimited_config()).await;
    let h = reader(&sim);
    let (part, key) = folder(&sim, "Finance");
    let spec = jobs(key);
    let first = h
        .client
        .fetch_page(&spec, &Cursor::Start, Priority::Backfill)
        .await
        .unwrap();
    let revoked = control(
        &sim,
        reqwest::Method::POST,
        "/_sim/tokens/revoke",
        json!({}),
    )
    .await;
    assert_eq!(revoked["revoked"], 1);
    let (rest, _) = read_from(&h.client, &spec, first.next.clone().unwrap())
        .await
        .unwrap();
    let mut all = first.records;
    all.extend(rest);
    assert_eq!(all, truth(&sim, "Jobs", part, spec.from, spec.to));
    let stats = h.client.stats();
    assert_eq!(
        (stats.unauthorized, stats.refreshes, stats.retries),
        (1, 1, 0)
    );
    assert_eq!(
        sim_stats(&sim).token_grants.get("client_credentials"),
        Some(&2)
    );
}
