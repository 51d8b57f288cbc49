//! The shared backend contract suites (`fleet_testkit::contract`), run against the
//! in-process backends: plain, sealed, and with refresh tokens in a file.

mod common;

use std::future::ready;
use std::sync::Arc;

use fleet_core::{RateLimiter, Sealer, SealingKey, TokenCache};
use fleet_memory::{MemoryRateLimiter, MemoryTokenCache};
use fleet_testkit::contract::{limiter_config, rate_limiter_contract, token_cache_contract};

/// Handles are clones of `cache`: one shared store, as the suite requires.
async fn run_token_suite(cache: MemoryTokenCache) {
    token_cache_contract(|| ready(Arc::new(cache.clone()) as Arc<dyn TokenCache>)).await;
}

#[tokio::test]
async fn memory_token_cache_meets_the_contract() {
    run_token_suite(MemoryTokenCache::new(Sealer::plain())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_memory_token_cache_meets_the_contract_on_threads() {
    let key = SealingKey::from_bytes(&[42; 32]).unwrap();
    run_token_suite(MemoryTokenCache::new(Sealer::new(Some(key)))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_token_cache_meets_the_contract() {
    let dir = common::TempDir::new("contract");
    let key = SealingKey::from_bytes(&[7; 32]).unwrap();
    let cache =
        MemoryTokenCache::persistent(dir.path().join("tokens.json"), Sealer::new(Some(key)))
            .unwrap();
    run_token_suite(cache.clone()).await;
    // The suite left refresh tokens behind; they are in the file, not just in memory.
    let written = std::fs::read_to_string(cache.path().unwrap()).unwrap();
    assert!(written.contains("\"version\": 1"), "{written}");
    assert!(written.contains("v1.sealed."), "{written}");
}

#[tokio::test]
async fn memory_rate_limiter_meets_the_contract() {
    let limiter = MemoryRateLimiter::new(limiter_config());
    rate_limiter_contract(|config| {
        assert_eq!(
            config,
            limiter_config(),
            "the suite builds every handle with limiter_config()"
        );
        ready(Arc::new(limiter.clone()) as Arc<dyn RateLimiter>)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_rate_limiter_meets_the_contract_on_threads() {
    let limiter = MemoryRateLimiter::new(limiter_config());
    rate_limiter_contract(|_| ready(Arc::new(limiter.clone()) as Arc<dyn RateLimiter>)).await;
}
