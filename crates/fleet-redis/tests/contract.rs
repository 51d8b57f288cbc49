//! The shared backend contract suites (`fleet_testkit::contract`) against Redis: every
//! handle is a new connection onto one key prefix, as separate workers would be.

use std::sync::Arc;

use fleet_core::{LimiterConfig, RateLimiter, Sealer, TokenCache};
use fleet_redis::{RedisRateLimiter, RedisTokenCache};
use fleet_testkit::{contract, require_redis, unique_prefix};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_token_cache_meets_the_contract() {
    let url = require_redis().await;
    let prefix = unique_prefix("redis_token_cache_contract");
    contract::token_cache_contract(|| {
        let (url, prefix) = (url.clone(), prefix.clone());
        async move {
            Arc::new(
                RedisTokenCache::connect(&url, prefix, Sealer::plain())
                    .await
                    .expect("redis connects"),
            ) as Arc<dyn TokenCache>
        }
    })
    .await;
    // Refresh tokens have no expiry: leave none behind.
    let conn = fleet_redis::connect_manager(&url).await.unwrap();
    fleet_redis::delete_prefix(&conn, &prefix).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_rate_limiter_meets_the_contract() {
    let url = require_redis().await;
    let prefix = unique_prefix("redis_rate_limiter_contract");
    contract::rate_limiter_contract(|config: LimiterConfig| {
        let (url, prefix) = (url.clone(), prefix.clone());
        async move {
            Arc::new(
                RedisRateLimiter::connect(&url, prefix, config)
                    .await
                    .expect("redis connects"),
            ) as Arc<dyn RateLimiter>
        }
    })
    .await;
}
