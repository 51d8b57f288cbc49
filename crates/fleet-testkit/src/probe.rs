//! Reachability checks that fail a test loudly instead of letting it skip.
//!
//! [`require_redis`] and [`require_rabbitmq`] open a TCP connection and do the first step
//! of each protocol's handshake, so "reachable" means "a Redis / an AMQP 0-9-1 broker
//! answered", not merely "some port is open":
//!
//! - **Redis**: send `PING` as RESP and expect `+PONG`. `-NOAUTH` also counts: the server
//!   is there and only wants a password, which is the client's business, so the check
//!   passes and prints a note.
//! - **AMQP**: send the protocol header `AMQP 0 0 9 1` and expect a method frame carrying
//!   `Connection.Start` (class 10, method 10), the broker's first word in every session.
//!   The check then drops the socket; RabbitMQ logs that as a client that closed during
//!   the handshake, which is harmless.
//!
//! For TLS URLs (`rediss://`, `amqps://`) only the TCP connection is checked, and a
//! note says so: speaking the handshake would need a TLS stack this crate does not carry.
//!
//! On failure they panic with one message that names the service, the URL (password
//! hidden), what exactly failed and how to fix it. They never return "unavailable": a
//! test that needs a service and cannot reach it has failed.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::urls::{amqp_url, redacted, redis_url};

/// Local services accept in microseconds; seconds means something is wrong, and a test
/// run should say so rather than hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longer than the connect timeout: on a loaded 2-core CI box a busy broker can be slow
/// to send its first frame even though it is healthy.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Enough for any first reply we care about; a longer one is not from the right server.
const MAX_REPLY: usize = 512;

/// Checks that Redis answers at [`redis_url()`] and returns that URL.
///
/// # Panics
///
/// If the URL is malformed, nothing accepts the connection, or the server does not answer
/// `PING` like Redis. The message says how to fix it.
pub async fn require_redis() -> String {
    require_redis_at(&redis_url()).await
}

/// [`require_redis`] for an explicit URL rather than `REDIS_URL`.
pub async fn require_redis_at(url: &str) -> String {
    require(&REDIS, url, check_redis(url)).await
}

/// Checks that an AMQP 0-9-1 broker answers at [`amqp_url()`] and returns that URL.
///
/// # Panics
///
/// If the URL is malformed, nothing accepts the connection, or the server does not start
/// an AMQP 0-9-1 handshake. The message says how to fix it.
pub async fn require_rabbitmq() -> String {
    require_rabbitmq_at(&amqp_url()).await
}

/// [`require_rabbitmq`] for an explicit URL rather than `AMQP_URL`.
pub async fn require_rabbitmq_at(url: &str) -> String {
    require(&RABBITMQ, url, check_amqp(url)).await
}

/// What the messages need to know about each service.
struct Service {
    name: &'static str,
    env_var: &'static str,
    example: &'static str,
    /// (scheme, default port, is TLS)
    schemes: &'static [(&'static str, u16, bool)],
}

const REDIS: Service = Service {
    name: "Redis",
    env_var: "REDIS_URL",
    example: crate::urls::DEFAULT_REDIS_URL,
    schemes: &[("redis", 6379, false), ("rediss", 6379, true)],
};

const RABBITMQ: Service = Service {
    name: "RabbitMQ",
    env_var: "AMQP_URL",
    example: crate::urls::DEFAULT_AMQP_URL,
    schemes: &[("amqp", 5672, false), ("amqps", 5671, true)],
};

/// Why a check failed; each kind gets its own advice.
#[derive(Debug)]
enum Failure {
    BadUrl(String),
    Unreachable(String),
    Handshake(String),
}

/// A check that passed, possibly with something worth telling the reader.
type Passed = Option<String>;

async fn require(
    service: &Service,
    url: &str,
    check: impl std::future::Future<Output = Result<Passed, Failure>>,
) -> String {
    match check.await {
        Ok(None) => url.to_owned(),
        Ok(Some(note)) => {
            eprintln!("note: {} at {}: {note}", service.name, redacted(url));
            url.to_owned()
        }
        Err(failure) => panic!("{}", message(service, url, &failure)),
    }
}

fn message(service: &Service, url: &str, failure: &Failure) -> String {
    let Service {
        name,
        env_var,
        example,
        ..
    } = service;
    let shown = redacted(url);
    match failure {
        Failure::BadUrl(detail) => format!(
            "{name} URL `{shown}` is unusable: {detail}.\n\
             Fix: set {env_var} to a URL like {example}, or unset it to use that default."
        ),
        Failure::Unreachable(detail) => format!(
            "{name} is not reachable at {shown}: {detail}.\n\
             This test needs a real {name} and does not skip without one. Fix: run \
             `scripts/test.sh`, which starts RabbitMQ/Redis on this machine (installing \
             them if needed), or set {env_var} to a reachable server."
        ),
        Failure::Handshake(detail) => format!(
            "{name} handshake failed at {shown}: {detail}.\n\
             Something answered on that port but not like {name}. Fix: check that \
             {env_var} points at {name} (default {example}); `scripts/test.sh` starts \
             one locally."
        ),
    }
}

/// Host and port to dial, plus whether the URL asks for TLS.
#[derive(Debug)]
struct Target {
    host: String,
    port: u16,
    tls: bool,
}

impl Target {
    fn parse(service: &Service, url: &str) -> Result<Self, Failure> {
        let parsed = url::Url::parse(url).map_err(|e| Failure::BadUrl(e.to_string()))?;
        let &(_, default_port, tls) = service
            .schemes
            .iter()
            .find(|(scheme, _, _)| *scheme == parsed.scheme())
            .ok_or_else(|| {
                let expected: Vec<_> = service.schemes.iter().map(|s| s.0).collect();
                Failure::BadUrl(format!(
                    "scheme `{}` is not one of {}",
                    parsed.scheme(),
                    expected.join(", ")
                ))
            })?;
        let host = match parsed.host() {
            // Bare address without brackets, which is what `connect((host, port))` wants.
            Some(url::Host::Ipv6(addr)) => addr.to_string(),
            Some(host) => host.to_string(),
            None => return Err(Failure::BadUrl("it has no host".into())),
        };
        let port = parsed.port().unwrap_or(default_port);
        Ok(Self { host, port, tls })
    }

    /// `host:port`, bracketing IPv6 addresses as URLs do.
    fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    async fn connect(&self) -> Result<TcpStream, Failure> {
        let addr = self.addr();
        match timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(Failure::Unreachable(format!(
                "connecting to {addr} failed: {e}"
            ))),
            Err(_) => Err(Failure::Unreachable(format!(
                "connecting to {addr} timed out after {CONNECT_TIMEOUT:?}"
            ))),
        }
    }
}

async fn check_redis(url: &str) -> Result<Passed, Failure> {
    let target = Target::parse(&REDIS, url)?;
    let mut stream = target.connect().await?;
    if target.tls {
        return Ok(Some(tls_note(&target)));
    }
    let reply = exchange(&mut stream, b"*1\r\n$4\r\nPING\r\n", |got| {
        got.windows(2).any(|w| w == b"\r\n")
    })
    .await?;
    let line = String::from_utf8_lossy(&reply);
    let line = line.split("\r\n").next().unwrap_or_default();
    if line == "+PONG" {
        Ok(None)
    } else if line.starts_with("-NOAUTH") {
        Ok(Some(format!(
            "reachable, but it requires authentication ({line}); \
             the client must log in with the credentials in REDIS_URL"
        )))
    } else {
        Err(Failure::Handshake(format!(
            "sent PING to {}, expected `+PONG`, got {line:?}",
            target.addr()
        )))
    }
}

async fn check_amqp(url: &str) -> Result<Passed, Failure> {
    let target = Target::parse(&RABBITMQ, url)?;
    let mut stream = target.connect().await?;
    if target.tls {
        return Ok(Some(tls_note(&target)));
    }
    // Frame header (type u8, channel u16, size u32) + class id u16 + method id u16.
    const START_PREFIX: usize = 11;
    let reply = exchange(&mut stream, b"AMQP\x00\x00\x09\x01", |got| {
        got.len() >= START_PREFIX
    })
    .await?;
    let addr = target.addr();
    if let Some(version) = reply.strip_prefix(b"AMQP") {
        // The spec's answer to an unsupported version: its own header, then close.
        return Err(Failure::Handshake(format!(
            "the server at {addr} rejected AMQP 0-9-1 and offered protocol bytes {version:?}"
        )));
    }
    if reply.len() < START_PREFIX {
        return Err(Failure::Handshake(format!(
            "expected a Connection.Start frame from {addr}, got only {} bytes {reply:?} \
             before the connection closed",
            reply.len()
        )));
    }
    let frame_type = reply[0];
    let class = u16::from_be_bytes([reply[7], reply[8]]);
    let method = u16::from_be_bytes([reply[9], reply[10]]);
    if frame_type != 1 || (class, method) != (10, 10) {
        return Err(Failure::Handshake(format!(
            "expected a method frame (type 1) with Connection.Start (class 10, method 10) \
             from {addr}, got frame type {frame_type}, class {class}, method {method}"
        )));
    }
    Ok(None)
}

fn tls_note(target: &Target) -> String {
    format!(
        "TLS URL: only the TCP connection to {} was checked, not the protocol handshake",
        target.addr()
    )
}

/// Writes `request`, then reads until `complete` says the reply is long enough, the peer
/// closes, or [`MAX_REPLY`] bytes arrived, all within [`REPLY_TIMEOUT`].
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    complete: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>, Failure> {
    let io = async {
        stream.write_all(request).await?;
        let mut reply = Vec::with_capacity(64);
        let mut chunk = [0u8; 128];
        while !complete(&reply) && reply.len() < MAX_REPLY {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(reply)
    };
    match timeout(REPLY_TIMEOUT, io).await {
        Ok(Ok(reply)) if reply.is_empty() => Err(Failure::Handshake(
            "the server closed the connection without answering".into(),
        )),
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(e)) => Err(Failure::Handshake(format!("connection error: {e}"))),
        Err(_) => Err(Failure::Handshake(format!(
            "no complete answer within {REPLY_TIMEOUT:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_ports_and_tls() {
        let t = Target::parse(&RABBITMQ, "amqp://guest:guest@127.0.0.1/%2f").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("127.0.0.1", 5672, false));
        let t = Target::parse(&RABBITMQ, "amqps://broker.example:5999").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.tls),
            ("broker.example", 5999, true)
        );
        let t = Target::parse(&REDIS, "redis://[::1]:6380/0").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 6380));
        assert_eq!(t.addr(), "[::1]:6380");
    }

    #[test]
    fn rejects_wrong_scheme_with_advice() {
        let err = Target::parse(&REDIS, "amqp://127.0.0.1").unwrap_err();
        let msg = message(&REDIS, "amqp://127.0.0.1", &err);
        assert!(
            msg.contains("scheme `amqp` is not one of redis, rediss"),
            "{msg}"
        );
        assert!(msg.contains("set REDIS_URL"), "{msg}");
    }

    #[test]
    fn messages_hide_passwords() {
        let url = "amqp://guest:s3cret@127.0.0.1:1/%2f";
        let msg = message(&RABBITMQ, url, &Failure::Unreachable("refused".into()));
        assert!(!msg.contains("s3cret"), "{msg}");
        assert!(msg.contains("amqp://guest:***@127.0.0.1:1/%2f"), "{msg}");
    }
}
