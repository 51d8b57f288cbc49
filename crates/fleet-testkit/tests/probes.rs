//! The reachability checks against the real local services, a closed port, and small
//! fake servers that answer wrongly.
//!
//! The live-service tests need Redis and RabbitMQ; `scripts/test.sh` starts them.

use std::time::Duration;

use fleet_testkit::{
    amqp_url, redis_url, require_rabbitmq, require_rabbitmq_at, require_redis, require_redis_at,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[tokio::test]
async fn local_redis_answers_ping() {
    assert_eq!(require_redis().await, redis_url());
}

#[tokio::test]
async fn local_rabbitmq_starts_an_amqp_handshake() {
    assert_eq!(require_rabbitmq().await, amqp_url());
}

/// A port nothing listens on: bind an ephemeral port, then free it.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
#[should_panic(expected = "Redis is not reachable at redis://127.0.0.1:")]
async fn redis_on_a_closed_port_panics() {
    require_redis_at(&format!("redis://127.0.0.1:{}", closed_port())).await;
}

#[tokio::test]
#[should_panic(expected = "RabbitMQ is not reachable at amqp://guest:***@127.0.0.1:")]
async fn rabbitmq_on_a_closed_port_panics() {
    require_rabbitmq_at(&format!(
        "amqp://guest:guest@127.0.0.1:{}/%2f",
        closed_port()
    ))
    .await;
}

/// Runs `check` on its own task and returns its panic message (failing if it returns).
async fn panic_message<F>(check: F) -> String
where
    F: std::future::Future<Output = String> + Send + 'static,
{
    let err = tokio::spawn(check)
        .await
        .expect_err("the check should have panicked");
    let payload = err.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("panic payload is a string")
}

#[tokio::test]
async fn the_closed_port_message_says_what_failed_and_how_to_fix_it() {
    let port = closed_port();
    let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let msg = panic_message(async move { require_rabbitmq_at(&url).await }).await;
    for expected in [
        &format!("amqp://guest:***@127.0.0.1:{port}/%2f") as &str,
        &format!("connecting to 127.0.0.1:{port} failed"),
        "does not skip",
        "scripts/test.sh",
        "set AMQP_URL",
    ] {
        assert!(msg.contains(expected), "missing {expected:?} in:\n{msg}");
    }
    assert!(!msg.contains("guest:guest"), "password leaked:\n{msg}");
}

/// A one-connection fake server: records what the client sent, answers `reply`, closes.
/// The handle yields the bytes received, so tests also pin down what the check sends.
async fn fake_server(reply: &'static [u8], expect_len: usize) -> (u16, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0u8; expect_len];
        socket.read_exact(&mut request).await.unwrap();
        socket.write_all(reply).await.unwrap();
        socket.shutdown().await.unwrap();
        request
    });
    (port, server)
}

const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
const AMQP_HEADER: &[u8] = b"AMQP\x00\x00\x09\x01";

#[tokio::test]
async fn redis_requiring_auth_counts_as_reachable() {
    let (port, server) = fake_server(b"-NOAUTH Authentication required.\r\n", PING.len()).await;
    let url = format!("redis://127.0.0.1:{port}");
    assert_eq!(require_redis_at(&url).await, url);
    assert_eq!(server.await.unwrap(), PING);
}

#[tokio::test]
async fn something_else_on_the_redis_port_is_a_handshake_failure() {
    let (port, server) = fake_server(b"HTTP/1.1 400 Bad Request\r\n\r\n", PING.len()).await;
    let msg =
        panic_message(async move { require_redis_at(&format!("redis://127.0.0.1:{port}")).await })
            .await;
    assert!(msg.contains("Redis handshake failed"), "{msg}");
    assert!(
        msg.contains("expected `+PONG`, got \"HTTP/1.1 400 Bad Request\""),
        "{msg}"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn a_broker_that_rejects_091_is_reported_as_such() {
    // The spec's way to refuse a version: send back the header it does speak.
    let (port, server) = fake_server(b"AMQP\x00\x01\x00\x00", AMQP_HEADER.len()).await;
    let msg =
        panic_message(
            async move { require_rabbitmq_at(&format!("amqp://127.0.0.1:{port}")).await },
        )
        .await;
    assert!(msg.contains("rejected AMQP 0-9-1"), "{msg}");
    assert_eq!(server.await.unwrap(), AMQP_HEADER);
}

#[tokio::test]
async fn a_server_that_hangs_up_is_reported_as_such() {
    let (port, server) = fake_server(b"", AMQP_HEADER.len()).await;
    let msg =
        panic_message(
            async move { require_rabbitmq_at(&format!("amqp://127.0.0.1:{port}")).await },
        )
        .await;
    assert!(
        msg.contains("closed the connection without answering"),
        "{msg}"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn a_fake_connection_start_passes() {
    // Frame type 1, channel 0, size 4, class 10, method 10: enough for the check.
    let (port, server) = fake_server(b"\x01\x00\x00\x00\x00\x00\x04\x00\x0a\x00\x0a", 8).await;
    let url = format!("amqp://127.0.0.1:{port}");
    assert_eq!(require_rabbitmq_at(&url).await, url);
    server.await.unwrap();
}

#[tokio::test]
async fn a_malformed_url_is_explained() {
    let msg = panic_message(async { require_redis_at("127.0.0.1:6379").await }).await;
    assert!(
        msg.contains("Redis URL `127.0.0.1:6379` is unusable"),
        "{msg}"
    );
    assert!(
        msg.contains("set REDIS_URL to a URL like redis://127.0.0.1:6379"),
        "{msg}"
    );
}

#[tokio::test]
async fn checks_are_quick_against_live_services() {
    // Tests call these at the top of every test; they must cost next to nothing.
    let start = std::time::Instant::now();
    for _ in 0..20 {
        require_redis().await;
        require_rabbitmq().await;
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "20 rounds took {:?}",
        start.elapsed()
    );
}
