//! Unit tests that need the cache's insides or virtual time; the behaviour every backend
//! shares is in `tests/contract.rs`.

use super::*;

fn key(scopes: &[&str]) -> TokenKey {
    TokenKey::new(
        "https://id.example/connect/token",
        "client-1",
        scopes.iter().copied(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_lock_lapses_on_tokio_time() {
    let cache = MemoryTokenCache::new(Sealer::plain());
    let k = key(&["A"]);
    let held = cache
        .try_lock(&k, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    tokio::time::advance(Duration::from_millis(29_999)).await;
    assert_eq!(
        cache.try_lock(&k, Duration::from_secs(30)).await.unwrap(),
        None
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    let next = cache
        .try_lock(&k, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(next, held);
    // The lapsed holder's unlock must not release the new holder's lock.
    cache.unlock(&k, &held).await.unwrap();
    assert_eq!(
        cache.try_lock(&k, Duration::from_secs(30)).await.unwrap(),
        None
    );
    // A TTL too long to represent does not panic, and holds.
    let forever = key(&["B"]);
    assert!(cache
        .try_lock(&forever, Duration::MAX)
        .await
        .unwrap()
        .is_some());
    tokio::time::advance(Duration::from_secs(100 * 24 * 3600)).await;
    assert_eq!(
        cache
            .try_lock(&forever, Duration::from_secs(1))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn debug_shows_counts_not_tokens() {
    let cache = MemoryTokenCache::new(Sealer::plain());
    let k = key(&["A"]);
    let token = AccessToken {
        token: Secret::new("access-secret-xyz"),
        expires_at_ms: now_ms() + 60_000,
    };
    cache.put(&k, &token).await.unwrap();
    cache
        .store_refresh_token(&k, &Secret::new("refresh-secret-xyz"), true)
        .await
        .unwrap();
    let shown = format!("{cache:?}");
    assert!(shown.contains("access_tokens: 1"), "{shown}");
    assert!(!shown.contains("secret-xyz"), "{shown}");
    assert_eq!(cache.path(), None);
}

#[tokio::test]
async fn a_stored_token_sealed_with_another_key_is_an_error_not_a_mismatch() {
    let sealer = |b: u8| Sealer::new(Some(fleet_core::SealingKey::from_bytes(&[b; 32]).unwrap()));
    let cache = MemoryTokenCache::new(sealer(1));
    let k = key(&[]);
    cache
        .store_refresh_token(&k, &Secret::new("r1"), true)
        .await
        .unwrap();
    // Swap in entries sealed under another key, as a file from another setup would be.
    let RefreshStore::Memory(entries) = &cache.inner.refresh else {
        unreachable!()
    };
    let id = k.family().id();
    lock(entries).get_mut(&id).unwrap().token = sealer(2).seal(&id, &Secret::new("r1"));
    let err = cache
        .rotate_refresh_token(&k, &Secret::new("r1"), &Secret::new("r2"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CacheError::Seal(fleet_core::SealError::WrongKey)),
        "{err}"
    );
    assert!(cache.refresh_token(&k).await.is_err());
}
