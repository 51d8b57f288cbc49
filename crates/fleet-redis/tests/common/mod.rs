//! Helpers shared by this crate's integration tests (each test binary uses a subset).
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use fleet_core::ratelimit::FamilyBudgets;
use fleet_core::{Budget, LimiterConfig, Sealer, SealingKey};
use redis::aio::ConnectionManager;

/// A new connection to the test Redis; panics with a how-to-fix message if it is down.
pub async fn manager() -> ConnectionManager {
    let url = fleet_testkit::require_redis().await;
    fleet_redis::connect_manager(&url)
        .await
        .expect("connecting to the test redis")
}

/// A sealer with a fixed key made of `byte`.
pub fn sealer(byte: u8) -> Sealer {
    Sealer::new(Some(SealingKey::from_bytes(&[byte; 32]).unwrap()))
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Every key under `prefix`.
pub async fn keys(conn: &ConnectionManager, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn.clone())
        .await
        .unwrap();
    keys.sort();
    keys
}

/// A key's remaining time to live in ms (-1: no expiry, -2: no key).
pub async fn pttl(conn: &ConnectionManager, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut conn.clone())
        .await
        .unwrap()
}

/// A limiter config giving `tenant` the budget `jobs` for the Jobs family, nothing else.
pub fn limiter_config(
    tenant: &str,
    jobs: Budget,
    headroom: f64,
    backfill_share: f64,
) -> LimiterConfig {
    let mut config = LimiterConfig {
        headroom,
        backfill_share,
        ..LimiterConfig::default()
    };
    config.tenants.insert(
        tenant.to_owned(),
        FamilyBudgets {
            jobs: Some(jobs),
            queue_items: None,
            other: None,
        },
    );
    config.validate().unwrap();
    config
}
