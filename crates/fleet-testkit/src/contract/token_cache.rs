//! The [`TokenCache`] contract suite (see the module docs of [`crate::contract`]).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleet_core::token::fingerprint;
use fleet_core::{AccessToken, LockToken, Secret, TokenCache, TokenKey};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{late, EARLY};

/// How many handles race in the concurrency checks.
const RACERS: usize = 16;

/// Runs every check of the token cache contract against handles from `make` (each call
/// a handle onto the same store). Panics, naming the contract, on the first violation.
pub async fn token_cache_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn TokenCache>>,
{
    let run = Run::new();
    let a = make().await;
    let b = make().await;
    put_keeps_the_later_token(&run, &*a, &*b).await;
    tokens_expire(&run, &*a, &*b).await;
    invalidate_deletes_only_the_failed_token(&run, &*a, &*b).await;
    locks_are_exclusive_and_released_by_their_holder(&run, &*a, &*b).await;
    locks_lapse_after_their_ttl(&run, &*a, &*b).await;
    refresh_tokens_are_stored_rotated_and_discarded(&run, &*a, &*b).await;

    let mut handles = Vec::with_capacity(RACERS);
    for _ in 0..RACERS {
        handles.push(make().await);
    }
    one_of_many_racers_takes_a_lock(&run, &handles).await;
    one_of_many_racers_rotates(&run, &handles).await;
    for h in [&a, &b] {
        let shown = format!("{h:?}");
        assert!(
            !shown.contains("SECRET"),
            "Debug of a token cache shows a token: {shown}"
        );
    }
}

/// Names for one run of the suite.
struct Run {
    id: String,
}

impl Run {
    fn new() -> Self {
        Run {
            id: crate::unique_prefix("token-cache-contract"),
        }
    }

    /// A key no other check or run uses.
    fn key(&self, check: &str, scopes: &[&str]) -> TokenKey {
        TokenKey::new(
            format!("https://contract.invalid/{}/{check}/connect/token", self.id),
            format!("client-{check}"),
            scopes.iter().copied(),
        )
    }

    /// A secret that is easy to spot should it leak into `Debug` output.
    fn secret(&self, name: &str) -> Secret {
        Secret::new(format!(
            "tok-SECRET-{name}-{}",
            uuid::Uuid::new_v4().simple()
        ))
    }

    fn access(&self, name: &str, expires_at_ms: u64) -> AccessToken {
        AccessToken {
            token: self.secret(name),
            expires_at_ms,
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

const HOUR_MS: u64 = 3_600_000;
const LONG_TTL: Duration = Duration::from_secs(60);

async fn put_keeps_the_later_token(run: &Run, a: &dyn TokenCache, b: &dyn TokenCache) {
    let k = run.key("put", &["OR.Jobs", "OR.Queues"]);
    assert_eq!(
        a.get(&k).await.unwrap(),
        None,
        "get: an unknown key has no token"
    );
    let now = now_ms();
    let t1 = run.access("t1", now + HOUR_MS);
    a.put(&k, &t1).await.unwrap();
    assert_eq!(
        b.get(&k).await.unwrap(),
        Some(t1.clone()),
        "get: another handle sees a put"
    );

    let older = run.access("older", now + HOUR_MS / 2);
    b.put(&k, &older).await.unwrap();
    assert_eq!(
        a.get(&k).await.unwrap(),
        Some(t1.clone()),
        "put: a token expiring earlier must not replace the cached one"
    );
    let t2 = run.access("t2", now + 2 * HOUR_MS);
    b.put(&k, &t2).await.unwrap();
    assert_eq!(
        a.get(&k).await.unwrap(),
        Some(t2),
        "put: a token expiring later replaces"
    );

    // Another scope set, and the family key of refresh tokens, are other entries.
    assert_eq!(
        a.get(&run.key("put", &["OR.Jobs"])).await.unwrap(),
        None,
        "get: scope sets are separate"
    );
    assert_eq!(
        a.get(&k.family()).await.unwrap(),
        None,
        "get: the family key is separate"
    );
    // Scope order does not matter (the key normalizes it).
    assert!(b
        .get(&run.key("put", &["OR.Queues", "OR.Jobs"]))
        .await
        .unwrap()
        .is_some());
}

async fn tokens_expire(run: &Run, a: &dyn TokenCache, b: &dyn TokenCache) {
    let k = run.key("expired", &["A"]);
    a.put(&k, &run.access("dead", now_ms().saturating_sub(1_000)))
        .await
        .unwrap();
    assert_eq!(
        b.get(&k).await.unwrap(),
        None,
        "get: an expired token is never returned"
    );

    let k = run.key("expiring", &["A"]);
    let expires_at_ms = now_ms() + 400;
    let short = run.access("short", expires_at_ms);
    a.put(&k, &short).await.unwrap();
    assert_eq!(
        b.get(&k).await.unwrap(),
        Some(short),
        "get: a token is returned until it expires"
    );
    let gone_at = poll_until(
        "the short-lived token to expire",
        Duration::from_secs(5),
        || async { b.get(&k).await.unwrap().is_none().then(now_ms) },
    )
    .await;
    assert!(
        gone_at + EARLY.as_millis() as u64 >= expires_at_ms,
        "get: a token vanished {} ms before its expiry",
        expires_at_ms - gone_at
    );
    assert!(
        gone_at <= expires_at_ms + late(Duration::from_millis(400)).as_millis() as u64,
        "get: an expired token was returned {} ms after its expiry",
        gone_at - expires_at_ms
    );
    // An expired entry is gone: a put after it stores, whatever it held.
    let later = run.access("later", now_ms() + HOUR_MS);
    b.put(&k, &later).await.unwrap();
    assert_eq!(a.get(&k).await.unwrap(), Some(later));
}

async fn invalidate_deletes_only_the_failed_token(
    run: &Run,
    a: &dyn TokenCache,
    b: &dyn TokenCache,
) {
    let k = run.key("invalidate", &["A"]);
    assert!(
        !a.invalidate(&k, "0000000000000000").await.unwrap(),
        "invalidate: nothing cached"
    );
    let t1 = run.access("t1", now_ms() + HOUR_MS);
    a.put(&k, &t1).await.unwrap();
    let stranger = fingerprint(&run.secret("stranger"));
    assert!(
        !b.invalidate(&k, &stranger).await.unwrap(),
        "invalidate: another fingerprint must not delete"
    );
    assert_eq!(a.get(&k).await.unwrap(), Some(t1.clone()));
    assert!(
        b.invalidate(&k, &t1.fingerprint()).await.unwrap(),
        "invalidate: the matching fingerprint deletes"
    );
    assert_eq!(
        a.get(&k).await.unwrap(),
        None,
        "invalidate: the token is gone for every handle"
    );
    assert!(
        !a.invalidate(&k, &t1.fingerprint()).await.unwrap(),
        "invalidate: twice deletes once"
    );

    // The race it exists for: token A fails with a 401 while B, newer, was cached by
    // another worker; invalidating A must leave B.
    a.put(&k, &t1).await.unwrap();
    let t2 = run.access("t2", now_ms() + 2 * HOUR_MS);
    b.put(&k, &t2).await.unwrap();
    assert!(!a.invalidate(&k, &t1.fingerprint()).await.unwrap());
    assert_eq!(
        b.get(&k).await.unwrap(),
        Some(t2),
        "invalidate: a newer token must survive"
    );
}

async fn locks_are_exclusive_and_released_by_their_holder(
    run: &Run,
    a: &dyn TokenCache,
    b: &dyn TokenCache,
) {
    let k = run.key("lock", &["A"]);
    let l1 = a
        .try_lock(&k, LONG_TTL)
        .await
        .unwrap()
        .expect("try_lock: a free key locks");
    assert_eq!(
        b.try_lock(&k, LONG_TTL).await.unwrap(),
        None,
        "try_lock: held by another handle"
    );
    assert_eq!(
        a.try_lock(&k, LONG_TTL).await.unwrap(),
        None,
        "try_lock: not re-entrant"
    );
    b.unlock(&k, &LockToken("not-the-lock".into()))
        .await
        .unwrap();
    assert_eq!(
        b.try_lock(&k, LONG_TTL).await.unwrap(),
        None,
        "unlock: a wrong token must not release"
    );

    // Other keys are independent: another scope set, and the family key.
    let other = a
        .try_lock(&run.key("lock", &["B"]), LONG_TTL)
        .await
        .unwrap();
    assert!(
        other.is_some(),
        "try_lock: another scope set is another lock"
    );
    let family = b.try_lock(&k.family(), LONG_TTL).await.unwrap();
    assert!(family.is_some(), "try_lock: the family key is another lock");

    a.unlock(&k, &l1).await.unwrap();
    let l2 = b
        .try_lock(&k, LONG_TTL)
        .await
        .unwrap()
        .expect("unlock: the holder releases");
    assert_ne!(l1, l2, "try_lock: every lock has its own token");
    a.unlock(&k, &l1).await.unwrap();
    assert_eq!(
        a.try_lock(&k, LONG_TTL).await.unwrap(),
        None,
        "unlock: a stale token must not release a newer lock"
    );
    b.unlock(&k, &l2).await.unwrap();
    let l3 = a
        .try_lock(&k, LONG_TTL)
        .await
        .unwrap()
        .expect("relockable after unlock");
    a.unlock(&k, &l3).await.unwrap();
}

async fn locks_lapse_after_their_ttl(run: &Run, a: &dyn TokenCache, b: &dyn TokenCache) {
    let k = run.key("lapse", &["A"]);
    let ttl = Duration::from_millis(300);
    let before = Instant::now();
    let la = a
        .try_lock(&k, ttl)
        .await
        .unwrap()
        .expect("a free key locks");
    let after = Instant::now();
    assert_eq!(
        b.try_lock(&k, LONG_TTL).await.unwrap(),
        None,
        "try_lock: held until the TTL"
    );
    let (lb, at) = poll_until("the lock to lapse", Duration::from_secs(5), || async {
        b.try_lock(&k, LONG_TTL)
            .await
            .unwrap()
            .map(|l| (l, Instant::now()))
    })
    .await;
    assert!(
        at + EARLY >= before + ttl,
        "try_lock: a lock lapsed {:?} early",
        (before + ttl) - at
    );
    assert!(
        at <= after + ttl + late(ttl),
        "try_lock: a lock still held {:?} after its TTL",
        at - (after + ttl)
    );
    a.unlock(&k, &la).await.unwrap();
    assert_eq!(
        a.try_lock(&k, LONG_TTL).await.unwrap(),
        None,
        "unlock: a lapsed holder must not release the next lock"
    );
    b.unlock(&k, &lb).await.unwrap();
}

async fn refresh_tokens_are_stored_rotated_and_discarded(
    run: &Run,
    a: &dyn TokenCache,
    b: &dyn TokenCache,
) {
    // Two scope sets of one login: refresh tokens belong to the family.
    let ka = run.key("refresh", &["A"]);
    let kb = run.key("refresh", &["B"]);
    assert_eq!(a.refresh_token(&ka).await.unwrap(), None);
    let r1 = run.secret("r1");
    assert!(
        a.store_refresh_token(&ka, &r1, false).await.unwrap(),
        "store: a seed stores when none is stored"
    );
    assert_eq!(
        b.refresh_token(&kb).await.unwrap(),
        Some(r1.clone()),
        "refresh_token: shared by the family"
    );
    assert_eq!(
        b.get(&ka.family()).await.unwrap(),
        None,
        "a refresh token is not an access token"
    );
    let other_login = run.key("refresh-other", &["A"]);
    assert_eq!(
        a.refresh_token(&other_login).await.unwrap(),
        None,
        "families are separate"
    );

    let seed = run.secret("seed");
    assert!(
        !b.store_refresh_token(&kb, &seed, false).await.unwrap(),
        "store: a seed never replaces"
    );
    assert_eq!(a.refresh_token(&ka).await.unwrap(), Some(r1.clone()));
    let r2 = run.secret("r2");
    assert!(
        b.store_refresh_token(&kb, &r2, true).await.unwrap(),
        "store: a login overwrites"
    );
    assert_eq!(a.refresh_token(&ka).await.unwrap(), Some(r2.clone()));

    let r3 = run.secret("r3");
    assert!(
        !a.rotate_refresh_token(&ka, &r1, &r3).await.unwrap(),
        "rotate: a stale spent token must not swap"
    );
    assert_eq!(
        b.refresh_token(&kb).await.unwrap(),
        Some(r2.clone()),
        "rotate: a failed swap stores nothing"
    );
    assert!(
        b.rotate_refresh_token(&kb, &r2, &r3).await.unwrap(),
        "rotate: the current token swaps"
    );
    assert_eq!(a.refresh_token(&ka).await.unwrap(), Some(r3.clone()));

    assert!(
        !a.discard_refresh_token(&ka, &r2).await.unwrap(),
        "discard: a stale token must not delete"
    );
    assert_eq!(b.refresh_token(&kb).await.unwrap(), Some(r3.clone()));
    assert!(
        b.discard_refresh_token(&kb, &r3).await.unwrap(),
        "discard: the current token deletes"
    );
    assert_eq!(
        a.refresh_token(&ka).await.unwrap(),
        None,
        "discard: gone for every handle"
    );
    assert!(
        !a.discard_refresh_token(&ka, &r3).await.unwrap(),
        "discard: twice deletes once"
    );
    let r4 = run.secret("r4");
    assert!(
        !a.rotate_refresh_token(&ka, &r3, &r4).await.unwrap(),
        "rotate: nothing stored, nothing swaps"
    );
    assert_eq!(
        b.refresh_token(&kb).await.unwrap(),
        None,
        "rotate: a failed swap must not store"
    );
    assert!(
        b.store_refresh_token(&kb, &seed, false).await.unwrap(),
        "store: a seed stores after a discard"
    );
    assert_eq!(a.refresh_token(&ka).await.unwrap(), Some(seed));
}

async fn one_of_many_racers_takes_a_lock(run: &Run, handles: &[Arc<dyn TokenCache>]) {
    let k = run.key("lock-race", &["A"]);
    let mut racers = JoinSet::new();
    for h in handles {
        let (h, k) = (Arc::clone(h), k.clone());
        racers.spawn(async move { h.try_lock(&k, LONG_TTL).await.unwrap() });
    }
    let won: Vec<LockToken> = racers.join_all().await.into_iter().flatten().collect();
    assert_eq!(
        won.len(),
        1,
        "try_lock: {} of {RACERS} concurrent callers got the lock",
        won.len()
    );
}

/// Every racer holds the same spent token and its own successor; exactly one may swap,
/// and the stored token must be that one's successor.
async fn one_of_many_racers_rotates(run: &Run, handles: &[Arc<dyn TokenCache>]) {
    let k = run.key("rotate-race", &[]);
    let spent = run.secret("spent");
    assert!(handles[0]
        .store_refresh_token(&k, &spent, true)
        .await
        .unwrap());
    let mut racers = JoinSet::new();
    for (i, h) in handles.iter().enumerate() {
        let (h, k, spent) = (Arc::clone(h), k.clone(), spent.clone());
        let next = run.secret(&format!("next{i}"));
        racers.spawn(async move {
            let swapped = h.rotate_refresh_token(&k, &spent, &next).await.unwrap();
            swapped.then_some(next)
        });
    }
    let won: Vec<Secret> = racers.join_all().await.into_iter().flatten().collect();
    assert_eq!(
        won.len(),
        1,
        "rotate: {} of {RACERS} concurrent rotations of one token swapped",
        won.len()
    );
    for h in handles {
        assert_eq!(
            h.refresh_token(&k).await.unwrap().as_ref(),
            Some(&won[0]),
            "rotate: the winner's successor is stored"
        );
    }
}

/// Polls `check` every 10 ms until it yields a value, panicking after `deadline`.
async fn poll_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
