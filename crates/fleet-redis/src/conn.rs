//! Connecting to Redis, and turning its errors into messages that are safe to show.
//!
//! [`connect_manager`] is the one place that decides how the fleet talks to Redis:
//! timeouts, reconnection back-off. Every backend in this crate runs over a
//! [`ConnectionManager`]: one multiplexed connection, cheap to clone, that reconnects in
//! the background. It does **not** retry a command that failed on a dropped connection;
//! that error reaches the caller (as `CacheError::Backend` / `LimiterError::Backend`),
//! whose disposition is "retry later". Retrying here would be wrong for the limiter: a
//! reservation whose reply was lost may still have been made.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError};

/// A local Redis answers in well under a millisecond and a script call costs ~10 µs of
/// server time; one second means the server or the box is in trouble. Above redis-rs's
/// 500 ms default so that a loaded 2-core machine does not turn slowness into errors.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection: 100 ms, 200 ms, ... capped at 2 s, six attempts, then commands fail
/// until the next one triggers a new round.
const RETRY_MIN_DELAY: Duration = Duration::from_millis(100);
const RETRY_MAX_DELAY: Duration = Duration::from_secs(2);
const RETRIES: usize = 6;

/// Opens a [`ConnectionManager`] to `url` (`redis://[user:password@]host:port[/db]`) with
/// the fleet's timeouts and reconnection policy, and waits for the first connection.
///
/// The error may name the host but never the password (redis-rs redacts it).
pub async fn connect_manager(url: &str) -> Result<ConnectionManager, RedisError> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_min_delay(RETRY_MIN_DELAY)
        .set_max_delay(RETRY_MAX_DELAY)
        .set_number_of_retries(RETRIES);
    ConnectionManager::new_with_config(client, config).await
}

/// Deletes every key under `<prefix>:` — a fleet's ledger, tokens and rate budgets — in
/// batches with SCAN and UNLINK, so Redis is never blocked. For tests, benchmarks and an
/// operator wiping a fleet's state; returns how many keys went.
pub async fn delete_prefix(conn: &ConnectionManager, prefix: &str) -> Result<u64, RedisError> {
    let pattern = format!("{prefix}:*");
    let mut conn = conn.clone();
    let (mut cursor, mut deleted) = (0u64, 0u64);
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let n: u64 = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// `"{op}: {error}"`, except for errors about the *shape* of a reply: redis-rs quotes the
/// offending value in those, and the value may be a sealed or plain token.
pub(crate) fn describe(op: &str, error: &RedisError) -> String {
    match error.kind() {
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType => {
            format!("{op}: unexpected reply from redis (not shown: it may hold a token)")
        }
        _ => format!("{op}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_shape_errors_do_not_quote_the_reply() {
        let e = RedisError::from((
            ErrorKind::UnexpectedReturnType,
            "Response was of incompatible type",
            "v1.plain.secret-token".to_owned(),
        ));
        let msg = describe("get token", &e);
        assert!(!msg.contains("secret-token"), "{msg}");
        assert!(msg.starts_with("get token: "), "{msg}");
        let io = RedisError::from(std::io::Error::other("connection reset"));
        assert_eq!(describe("lock", &io), "lock: connection reset");
    }
}
