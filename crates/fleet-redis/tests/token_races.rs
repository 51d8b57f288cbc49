//! Races between workers: every task has its *own* Redis connection, as separate worker
//! processes would, and all start at once behind a barrier. The cache's atomic steps
//! must pick exactly one winner.

mod common;

use std::sync::Arc;
use std::time::Duration;

use fleet_core::{AccessToken, Sealer, Secret, TokenCache, TokenKey};
use fleet_redis::RedisTokenCache;
use fleet_testkit::unique_prefix;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use common::{manager, now_ms, sealer};

const TASKS: usize = 16;

fn key() -> TokenKey {
    TokenKey::new(
        "https://id.example/connect/token",
        "client-race",
        ["OR.Jobs"],
    )
}

/// `TASKS` caches on separate connections sharing one prefix, and a barrier for them.
async fn workers(test: &str, sealer: Sealer) -> (Vec<RedisTokenCache>, Arc<Barrier>, String) {
    let prefix = unique_prefix(test);
    let mut caches = Vec::with_capacity(TASKS);
    for _ in 0..TASKS {
        caches.push(RedisTokenCache::new(
            manager().await,
            prefix.clone(),
            sealer.clone(),
        ));
    }
    (caches, Arc::new(Barrier::new(TASKS)), prefix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_many_takes_the_lock() {
    let (caches, barrier, _) = workers("lock_race", Sealer::plain()).await;
    let mut tasks = JoinSet::new();
    for cache in caches.clone() {
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            cache
                .try_lock(&key(), Duration::from_secs(30))
                .await
                .unwrap()
        });
    }
    let winners: Vec<_> = tasks.join_all().await.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "{winners:?}");
    // The winner's lock is the one held: only it can release it.
    caches[0].unlock(&key(), &winners[0]).await.unwrap();
    assert!(caches[1]
        .try_lock(&key(), Duration::from_secs(30))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_many_rotates_a_spent_refresh_token() {
    let (caches, barrier, prefix) = workers("rotate_race", sealer(3)).await;
    let spent = Secret::new("rt-spent");
    assert!(caches[0]
        .store_refresh_token(&key(), &spent, true)
        .await
        .unwrap());
    let mut tasks = JoinSet::new();
    for (i, cache) in caches.iter().cloned().enumerate() {
        let (barrier, spent) = (barrier.clone(), spent.clone());
        tasks.spawn(async move {
            let next = Secret::new(format!("rt-next-{i}"));
            barrier.wait().await;
            let won = cache
                .rotate_refresh_token(&key(), &spent, &next)
                .await
                .unwrap();
            won.then_some(next)
        });
    }
    let winners: Vec<Secret> = tasks.join_all().await.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1);
    assert_eq!(
        caches[5].refresh_token(&key()).await.unwrap(),
        Some(winners[0].clone())
    );
    // Refresh tokens have no expiry: leave none behind.
    fleet_redis::delete_prefix(&manager().await, &prefix)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_leave_the_latest_token() {
    let (caches, barrier, _) = workers("put_race", Sealer::plain()).await;
    let base = now_ms() + 60_000;
    let mut tasks = JoinSet::new();
    for (i, cache) in caches.iter().cloned().enumerate() {
        let barrier = barrier.clone();
        tasks.spawn(async move {
            // Interleave old and new so the latest is not simply the last to arrive.
            let rank = (i * 7) % TASKS;
            let t = AccessToken {
                token: Secret::new(format!("token-{rank}")),
                expires_at_ms: base + rank as u64 * 1_000,
            };
            barrier.wait().await;
            cache.put(&key(), &t).await.unwrap();
        });
    }
    tasks.join_all().await;
    let cached = caches[0].get(&key()).await.unwrap().unwrap();
    assert_eq!(cached.token.expose(), format!("token-{}", TASKS - 1));
    assert_eq!(cached.expires_at_ms, base + (TASKS as u64 - 1) * 1_000);
}
