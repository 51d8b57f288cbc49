//! `RedisTokenCache` against the real Redis: one test per contract of `TokenCache`, and
//! what sealing at rest looks like in Redis itself.

mod common;

use std::time::Duration;

use fleet_core::{AccessToken, CacheError, SealError, Sealer, Secret, TokenCache, TokenKey};
use fleet_redis::RedisTokenCache;
use fleet_testkit::{unique_prefix, wait_until};

use common::{keys, manager, now_ms, pttl, sealer};

fn key() -> TokenKey {
    TokenKey::new(
        "https://id.example/connect/token",
        "client-1",
        ["OR.Jobs", "OR.Queues"],
    )
}

fn token(text: &str, expires_at_ms: u64) -> AccessToken {
    AccessToken {
        token: Secret::new(text),
        expires_at_ms,
    }
}

async fn cache(test: &str, sealer: Sealer) -> (RedisTokenCache, String) {
    let prefix = unique_prefix(test);
    (
        RedisTokenCache::new(manager().await, prefix.clone(), sealer),
        prefix,
    )
}

#[tokio::test]
async fn put_only_replaces_with_a_later_token() {
    let (cache, _) = cache("put_if_later", Sealer::plain()).await;
    let k = key();
    assert_eq!(cache.get(&k).await.unwrap(), None);

    let t = now_ms();
    let a = token("token-a", t + 60_000);
    cache.put(&k, &a).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap(), Some(a.clone()));

    // Older, or as old: the cached token stays.
    cache
        .put(&k, &token("token-old", t + 30_000))
        .await
        .unwrap();
    cache
        .put(&k, &token("token-same", t + 60_000))
        .await
        .unwrap();
    assert_eq!(cache.get(&k).await.unwrap(), Some(a));

    let c = token("token-c", t + 90_000);
    cache.put(&k, &c).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap(), Some(c));

    // Another scope set is another token.
    let other = TokenKey::new("https://id.example/connect/token", "client-1", ["OR.Jobs"]);
    assert_eq!(cache.get(&other).await.unwrap(), None);
}

#[tokio::test]
async fn a_token_expires_by_itself() {
    let (cache, prefix) = cache("token_expiry", Sealer::plain()).await;
    let conn = manager().await;
    let k = key();

    // Already expired: nothing is stored.
    cache.put(&k, &token("stale", now_ms() - 1)).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap(), None);
    assert!(keys(&conn, &prefix).await.is_empty());

    cache
        .put(&k, &token("short", now_ms() + 400))
        .await
        .unwrap();
    assert!(cache.get(&k).await.unwrap().is_some());
    let ttl = pttl(&conn, &format!("{prefix}:tok:{}", k.id())).await;
    assert!((1..=400).contains(&ttl), "ttl {ttl}");
    wait_until(
        "the token to expire",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || async { cache.get(&k).await.map(|t| t.is_none()) },
    )
    .await
    .unwrap();
    assert!(keys(&conn, &prefix).await.is_empty());
}

#[tokio::test]
async fn invalidate_only_deletes_the_named_token() {
    let (cache, _) = cache("invalidate_cas", Sealer::plain()).await;
    let k = key();
    let a = token("token-a", now_ms() + 60_000);
    let b = token("token-b", now_ms() + 120_000);
    assert!(
        !cache.invalidate(&k, &a.fingerprint()).await.unwrap(),
        "nothing cached"
    );

    cache.put(&k, &a).await.unwrap();
    // Another worker refreshed meanwhile; the 401 on `a` must not discard `b`.
    cache.put(&k, &b).await.unwrap();
    assert!(!cache.invalidate(&k, &a.fingerprint()).await.unwrap());
    assert_eq!(cache.get(&k).await.unwrap(), Some(b.clone()));

    assert!(cache.invalidate(&k, &b.fingerprint()).await.unwrap());
    assert_eq!(cache.get(&k).await.unwrap(), None);
}

#[tokio::test]
async fn the_lock_is_exclusive_lapses_and_unlocks_by_owner() {
    let (cache, _) = cache("lock", Sealer::plain()).await;
    let k = key();
    let mine = cache
        .try_lock(&k, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        cache.try_lock(&k, Duration::from_secs(30)).await.unwrap(),
        None
    );
    // The lock is per key: another scope set has its own, the family too.
    let family = k.family();
    let fam_lock = cache
        .try_lock(&family, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(fam_lock.is_some());

    // A stranger's unlock does nothing.
    cache
        .unlock(&k, &fleet_core::LockToken("not-the-owner".into()))
        .await
        .unwrap();
    assert_eq!(
        cache.try_lock(&k, Duration::from_secs(30)).await.unwrap(),
        None
    );
    cache.unlock(&k, &mine).await.unwrap();

    // A lock lapses by itself...
    let first = cache
        .try_lock(&k, Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap();
    wait_until(
        "the lock to lapse and be taken again",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || async {
            cache
                .try_lock(&k, Duration::from_secs(30))
                .await
                .map(|l| l.is_some())
        },
    )
    .await
    .unwrap();
    // ...and its old holder cannot release the new holder's lock.
    cache.unlock(&k, &first).await.unwrap();
    assert_eq!(
        cache.try_lock(&k, Duration::from_secs(30)).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn refresh_tokens_store_rotate_and_discard_by_value() {
    let (cache, _) = cache("refresh_tokens", Sealer::plain()).await;
    let k = key();
    // Refresh tokens belong to the family: any scope set of the login sees the same one.
    let k2 = TokenKey::new(k.endpoint.clone(), k.principal.clone(), ["OR.Folders"]);
    let (seed, login, next) = (
        Secret::new("rt-seed"),
        Secret::new("rt-login"),
        Secret::new("rt-next"),
    );

    assert_eq!(cache.refresh_token(&k).await.unwrap(), None);
    assert!(
        !cache.rotate_refresh_token(&k, &seed, &next).await.unwrap(),
        "nothing stored"
    );
    assert_eq!(
        cache.refresh_token(&k).await.unwrap(),
        None,
        "a failed rotate stores nothing"
    );

    assert!(cache.store_refresh_token(&k, &seed, false).await.unwrap());
    assert_eq!(cache.refresh_token(&k2).await.unwrap(), Some(seed.clone()));
    // A seed never replaces what is stored; a login does.
    assert!(!cache.store_refresh_token(&k, &login, false).await.unwrap());
    assert_eq!(cache.refresh_token(&k).await.unwrap(), Some(seed.clone()));
    assert!(cache.store_refresh_token(&k, &login, true).await.unwrap());
    assert_eq!(cache.refresh_token(&k).await.unwrap(), Some(login.clone()));

    // Rotation is a CAS on the spent token.
    assert!(!cache.rotate_refresh_token(&k, &seed, &next).await.unwrap());
    assert_eq!(cache.refresh_token(&k).await.unwrap(), Some(login.clone()));
    assert!(cache
        .rotate_refresh_token(&k2, &login, &next)
        .await
        .unwrap());
    assert_eq!(cache.refresh_token(&k).await.unwrap(), Some(next.clone()));
    assert!(
        !cache.rotate_refresh_token(&k, &login, &seed).await.unwrap(),
        "spent twice"
    );

    // So is discarding.
    assert!(!cache.discard_refresh_token(&k, &login).await.unwrap());
    assert_eq!(cache.refresh_token(&k).await.unwrap(), Some(next.clone()));
    assert!(cache.discard_refresh_token(&k, &next).await.unwrap());
    assert_eq!(cache.refresh_token(&k).await.unwrap(), None);
}

#[tokio::test]
async fn tokens_are_sealed_at_rest_and_fail_clearly_without_the_key() {
    let (cache, prefix) = cache("sealed_at_rest", sealer(7)).await;
    let conn = manager().await;
    let k = key();
    let access = token("access-plaintext-123", now_ms() + 60_000);
    let refresh = Secret::new("refresh-plaintext-456");
    cache.put(&k, &access).await.unwrap();
    cache.store_refresh_token(&k, &refresh, true).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap(), Some(access.clone()));
    assert_eq!(
        cache.refresh_token(&k).await.unwrap(),
        Some(refresh.clone())
    );

    // What Redis holds: sealed values and fingerprints, never the tokens.
    let stored = keys(&conn, &prefix).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    for name in &stored {
        let fields: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(name)
            .query_async(&mut conn.clone())
            .await
            .unwrap();
        let tok = &fields.iter().find(|(f, _)| f == "tok").unwrap().1;
        assert!(tok.starts_with("v1.sealed."), "{name}: {tok}");
        for (field, value) in &fields {
            assert!(
                !value.contains("plaintext"),
                "{name}.{field} holds the token"
            );
        }
    }

    // The wrong key, or none: a clear error, and the error does not quote the token.
    let wrong = RedisTokenCache::new(manager().await, prefix.clone(), sealer(8));
    let none = RedisTokenCache::new(manager().await, prefix.clone(), Sealer::plain());
    for (reader, expected) in [
        (&wrong, SealError::WrongKey),
        (&none, SealError::KeyMissing),
    ] {
        match reader.get(&k).await {
            Err(CacheError::Seal(e)) => assert_eq!(e, expected),
            other => panic!("expected a seal error, got {other:?}"),
        }
        match reader.refresh_token(&k).await {
            Err(e @ CacheError::Seal(_)) => assert!(!e.to_string().contains("plaintext"), "{e}"),
            other => panic!("expected a seal error, got {other:?}"),
        }
    }

    // A sealed value copied under another key name does not open there.
    let other = TokenKey::new("https://id.example/connect/token", "client-2", ["OR.Jobs"]);
    let copied: i64 = redis::cmd("COPY")
        .arg(format!("{prefix}:tok:{}", k.id()))
        .arg(format!("{prefix}:tok:{}", other.id()))
        .query_async(&mut conn.clone())
        .await
        .unwrap();
    assert_eq!(copied, 1);
    assert!(matches!(
        cache.get(&other).await,
        Err(CacheError::Seal(SealError::WrongKey))
    ));

    let debug = format!("{cache:?}");
    assert!(
        debug.contains(&prefix) && debug.contains("sealing: true"),
        "{debug}"
    );
    // Refresh tokens have no expiry: leave none behind.
    fleet_redis::delete_prefix(&conn, &prefix).await.unwrap();
}
