//! `MemoryTokenCache::persistent`: refresh tokens in a file that survives restarts and
//! that another process (`uipath-fleet login`) can write.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::TempDir;
use fleet_core::{
    AccessToken, CacheError, SealError, Sealer, SealingKey, Secret, TokenCache, TokenKey,
};
use fleet_memory::MemoryTokenCache;

fn key(scopes: &[&str]) -> TokenKey {
    TokenKey::new(
        "https://cloud.example/identity_/connect/token",
        "login-client",
        scopes.iter().copied(),
    )
}

fn sealer(b: u8) -> Sealer {
    Sealer::new(Some(SealingKey::from_bytes(&[b; 32]).unwrap()))
}

fn s(text: &str) -> Secret {
    Secret::new(text)
}

fn backend_message(err: CacheError) -> String {
    match err {
        CacheError::Backend(m) => m,
        other => panic!("expected a backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_restart_reads_the_rotated_token() {
    let dir = TempDir::new("restart");
    let path = dir.path().join("tokens.json");
    let before = MemoryTokenCache::persistent(&path, sealer(1)).unwrap();
    assert_eq!(before.path(), Some(path.as_path()));
    assert!(before
        .store_refresh_token(&key(&["A"]), &s("r1"), true)
        .await
        .unwrap());
    assert!(before
        .rotate_refresh_token(&key(&["A"]), &s("r1"), &s("r2"))
        .await
        .unwrap());
    drop(before);

    let after = MemoryTokenCache::persistent(&path, sealer(1)).unwrap();
    assert_eq!(
        after.refresh_token(&key(&["B"])).await.unwrap(),
        Some(s("r2"))
    );
    // The spent token is gone for good: rotating it again must fail.
    assert!(!after
        .rotate_refresh_token(&key(&[]), &s("r1"), &s("r3"))
        .await
        .unwrap());
}

#[tokio::test]
async fn a_login_by_another_instance_is_seen_without_a_restart() {
    let dir = TempDir::new("login");
    let path = dir.path().join("tokens.json");
    let fleet = MemoryTokenCache::persistent(&path, sealer(1)).unwrap();
    assert_eq!(fleet.refresh_token(&key(&["A"])).await.unwrap(), None);

    // `uipath-fleet login`, as another process would run it: its own cache on the file.
    let login = MemoryTokenCache::persistent(&path, sealer(1)).unwrap();
    assert!(login
        .store_refresh_token(&key(&[]), &s("from-login"), true)
        .await
        .unwrap());
    assert_eq!(
        fleet.refresh_token(&key(&["A"])).await.unwrap(),
        Some(s("from-login"))
    );

    // The fleet rotates; a second login overwrites; the fleet's next rotation of its
    // stale token then fails instead of clobbering the new login.
    assert!(fleet
        .rotate_refresh_token(&key(&["A"]), &s("from-login"), &s("rotated"))
        .await
        .unwrap());
    assert_eq!(
        login.refresh_token(&key(&[])).await.unwrap(),
        Some(s("rotated"))
    );
    assert!(
        !login
            .store_refresh_token(&key(&[]), &s("config-seed"), false)
            .await
            .unwrap(),
        "a seed never replaces"
    );
    assert!(login
        .store_refresh_token(&key(&[]), &s("second-login"), true)
        .await
        .unwrap());
    assert!(!fleet
        .rotate_refresh_token(&key(&["A"]), &s("rotated"), &s("lost"))
        .await
        .unwrap());
    assert_eq!(
        fleet.refresh_token(&key(&["A"])).await.unwrap(),
        Some(s("second-login"))
    );

    // Other families in the same file are kept through every rewrite.
    let other = TokenKey::new("https://other.example/token", "someone", ["X"]);
    assert!(fleet
        .store_refresh_token(&other, &s("other-family"), true)
        .await
        .unwrap());
    assert!(login
        .discard_refresh_token(&key(&[]), &s("second-login"))
        .await
        .unwrap());
    assert_eq!(fleet.refresh_token(&key(&["A"])).await.unwrap(), None);
    assert_eq!(
        login.refresh_token(&other).await.unwrap(),
        Some(s("other-family"))
    );
}

#[tokio::test]
async fn a_corrupt_file_is_a_clear_error_naming_it() {
    let dir = TempDir::new("corrupt");
    let path = dir.path().join("tokens.json");
    std::fs::write(&path, "{ not json").unwrap();
    let msg = backend_message(MemoryTokenCache::persistent(&path, Sealer::plain()).unwrap_err());
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("not a valid token file"), "{msg}");

    // Valid JSON of the wrong shape: the parser's message would quote the value.
    std::fs::write(
        &path,
        r#"{"version": 1, "refresh_tokens": "tok-LEAKED-value"}"#,
    )
    .unwrap();
    let msg = backend_message(MemoryTokenCache::persistent(&path, Sealer::plain()).unwrap_err());
    assert!(msg.contains("line 1"), "{msg}");
    assert!(!msg.contains("LEAKED"), "the error quotes the file: {msg}");

    std::fs::write(&path, r#"{"version": 9, "refresh_tokens": {}}"#).unwrap();
    let msg = backend_message(MemoryTokenCache::persistent(&path, Sealer::plain()).unwrap_err());
    assert!(msg.contains("version 9"), "{msg}");

    // A file that goes bad while the cache runs fails each operation, and writes nothing.
    std::fs::write(&path, r#"{"version": 1}"#).unwrap();
    let cache = MemoryTokenCache::persistent(&path, Sealer::plain()).unwrap();
    std::fs::write(&path, "garbage").unwrap();
    let msg = backend_message(cache.refresh_token(&key(&[])).await.unwrap_err());
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(cache
        .store_refresh_token(&key(&[]), &s("r"), true)
        .await
        .is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "garbage");
}

#[tokio::test]
async fn a_sealed_file_holds_no_plaintext_and_needs_its_key() {
    let dir = TempDir::new("sealed");
    let path = dir.path().join("tokens.json");
    let cache = MemoryTokenCache::persistent(&path, sealer(1)).unwrap();
    cache
        .store_refresh_token(&key(&["A"]), &s("refresh-PLAINTEXT-123"), true)
        .await
        .unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(!written.contains("PLAINTEXT"), "{written}");
    assert!(written.contains("v1.sealed."), "{written}");
    // The operator can still tell whose login it is.
    assert!(
        written.contains("login-client") && written.contains(&key(&[]).id()),
        "{written}"
    );

    let wrong = MemoryTokenCache::persistent(&path, sealer(2)).unwrap();
    let err = wrong.refresh_token(&key(&["A"])).await.unwrap_err();
    assert!(
        matches!(err, CacheError::Seal(SealError::WrongKey)),
        "{err}"
    );
    let keyless = MemoryTokenCache::persistent(&path, Sealer::plain()).unwrap();
    let err = keyless.refresh_token(&key(&["A"])).await.unwrap_err();
    assert!(
        matches!(err, CacheError::Seal(SealError::KeyMissing)),
        "{err}"
    );

    // Without a key the file says plainly that it is plain.
    let plain_path = dir.path().join("plain.json");
    let plain = MemoryTokenCache::persistent(&plain_path, Sealer::plain()).unwrap();
    plain
        .store_refresh_token(&key(&[]), &s("visible"), true)
        .await
        .unwrap();
    assert!(std::fs::read_to_string(&plain_path)
        .unwrap()
        .contains("v1.plain.visible"));
}

#[cfg(unix)]
#[tokio::test]
async fn the_file_is_private_and_replaced_atomically() {
    use std::os::unix::fs::PermissionsExt;

    let dir = TempDir::new("mode");
    let path = dir.path().join("nested/deeper/tokens.json");
    let cache = MemoryTokenCache::persistent(&path, Sealer::plain()).unwrap();
    assert!(
        !path.exists(),
        "nothing is written before a refresh token is"
    );
    for i in 0..5 {
        cache
            .store_refresh_token(&key(&[]), &s(&format!("r{i}")), true)
            .await
            .unwrap();
    }
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "file mode {mode:o}");
    let parent = path.parent().unwrap();
    let dir_mode = std::fs::metadata(parent).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "created directory mode {dir_mode:o}");
    let names: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["tokens.json"], "temporary files left behind");

    // A file someone loosened is replaced by a private one on the next write.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    cache
        .store_refresh_token(&key(&[]), &s("r5"), true)
        .await
        .unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn access_tokens_stay_in_memory() {
    let dir = TempDir::new("access");
    let path = dir.path().join("tokens.json");
    let cache = MemoryTokenCache::persistent(&path, Sealer::plain()).unwrap();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let token = AccessToken {
        token: s("access-SECRET"),
        expires_at_ms: now_ms + 3_600_000,
    };
    cache.put(&key(&["A"]), &token).await.unwrap();
    assert_eq!(cache.get(&key(&["A"])).await.unwrap(), Some(token));
    assert!(
        !path.exists(),
        "an access token alone must not write the file"
    );

    cache
        .store_refresh_token(&key(&["A"]), &s("refresh-SECRET"), true)
        .await
        .unwrap();
    assert!(!std::fs::read_to_string(&path)
        .unwrap()
        .contains("access-SECRET"));
    let shown = format!("{cache:?}");
    assert!(
        shown.contains("tokens.json") && !shown.contains("SECRET"),
        "{shown}"
    );

    let restarted = MemoryTokenCache::persistent(&path, Sealer::plain()).unwrap();
    assert_eq!(
        restarted.get(&key(&["A"])).await.unwrap(),
        None,
        "a restart needs a new access token"
    );
    assert_eq!(
        restarted.refresh_token(&key(&["A"])).await.unwrap(),
        Some(s("refresh-SECRET"))
    );
}
