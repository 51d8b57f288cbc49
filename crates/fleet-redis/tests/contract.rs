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

/// The documented Redis ACL (`fleet_redis::acl`) is enough: every backend contract
/// passes as a user that may run only those commands on only the fleet's prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_contract_holds_for_a_user_with_only_the_fleets_acl() {
    use fleet_core::{Ledger, SealingKey};
    use fleet_redis::RedisLedger;

    // The README shows operators the same rules.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    assert!(
        readme.contains(fleet_redis::acl::ACL_COMMANDS),
        "README.md shows the ACL of fleet_redis::acl"
    );
    let url = require_redis().await;
    let prefix = unique_prefix("redis_acl");
    let user = format!("{prefix}-user");
    let password = format!("pw-{}", uuid_like(&prefix));
    let mut admin = fleet_redis::connect_manager(&url).await.unwrap();
    let mut setuser = redis::cmd("ACL");
    setuser.arg("SETUSER");
    for a in fleet_redis::acl::acl_setuser(&user, &password, &prefix) {
        setuser.arg(a);
    }
    let () = setuser
        .query_async(&mut admin)
        .await
        .expect("ACL SETUSER with the documented rules");
    let scheme_end = url.find("://").expect("a redis:// URL") + 3;
    let user_url = format!(
        "{}{user}:{password}@{}",
        &url[..scheme_end],
        &url[scheme_end..]
    );

    // Outside its prefix, the user is refused: the key pattern is in force.
    let mut as_user = fleet_redis::connect_manager(&user_url).await.unwrap();
    let refused: redis::RedisResult<Option<String>> = redis::cmd("GET")
        .arg("some-other-app:key")
        .query_async(&mut as_user)
        .await;
    assert!(refused.is_err(), "a key outside the prefix is refused");

    let key = SealingKey::from_bytes(&[9u8; 32]).unwrap();
    contract::token_cache_contract(|| {
        let (url, prefix, key) = (user_url.clone(), prefix.clone(), key.clone());
        async move {
            Arc::new(
                RedisTokenCache::connect(&url, prefix, Sealer::new(Some(key)))
                    .await
                    .expect("redis connects as the fleet user"),
            ) as Arc<dyn TokenCache>
        }
    })
    .await;
    contract::rate_limiter_contract(|config: LimiterConfig| {
        let (url, prefix) = (user_url.clone(), prefix.clone());
        async move {
            Arc::new(
                RedisRateLimiter::connect(&url, prefix, config)
                    .await
                    .expect("redis connects as the fleet user"),
            ) as Arc<dyn RateLimiter>
        }
    })
    .await;
    contract::ledger_contract(|| {
        let (url, prefix) = (user_url.clone(), prefix.clone());
        async move {
            Arc::new(
                RedisLedger::connect(&url, &prefix)
                    .await
                    .expect("redis connects as the fleet user"),
            ) as Arc<dyn Ledger>
        }
    })
    .await;
    // Wiping the prefix (SCAN + UNLINK) works as the user too.
    fleet_redis::delete_prefix(&as_user, &prefix).await.unwrap();
    let () = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query_async::<i64>(&mut admin)
        .await
        .map(drop)
        .unwrap();
}

/// A password-like suffix from the unique prefix (no extra dependency).
fn uuid_like(prefix: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    prefix.hash(&mut h);
    format!("{:016x}", h.finish())
}
