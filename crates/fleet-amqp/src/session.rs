//! The connection supervisor: one live AMQP connection per broker handle, rebuilt when
//! it is gone for good.
//!
//! Two layers of recovery, because neither is enough alone:
//!
//! 1. **lapin's auto-recover** (`enable_auto_recover`) reconnects in place after a
//!    network error or a server-initiated close, and replays channels, confirm mode,
//!    QoS and consumers. Our [`Channel`] handles stay valid. While it works, an
//!    operation that fails on the reconnecting channel waits for it (bounded, see
//!    [`crate::recovery`]) and the caller only sees a pause.
//! 2. **This supervisor.** lapin gives up after a bounded number of attempts (about 3 s
//!    of refused connections, at most ~11 s of timeouts). It then leaves the connection
//!    closed, errored, or (when its reconnect attempts ran out) stuck in `Connecting`
//!    for good, which looks the same as an attempt in progress. So a session that is
//!    closed, or has not been connected for [`DOWN_GRACE`], is dead: the next operation
//!    builds a new connection. Failed rebuilds back off exponentially (capped), and
//!    while backing off operations fail fast with `Unavailable`.
//!
//! Operations never wait on a lost connection: lapin fails in-flight operations only
//! once it has reconnected, so [`crate::recovery`] watches the channel while waiting
//! and gives up as soon as it stops being connected.
//!
//! What recovery never does is pretend: unconfirmed publishes fail (the caller
//! publishes again) and acks of deliveries from before the break are lost (the broker
//! redelivers those messages).

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleet_core::backoff::Delays;
use fleet_core::{Backoff, BrokerError};
use lapin::options::ConfirmSelectOptions;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::AmqpConfig;
use crate::fault::{describe, unavailable};
use crate::recovery::usable;

/// How long opening a connection may take, lapin's own retries included.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One TCP connect attempt (lapin's `connection_timeout`). A lost SYN is retransmitted
/// after 1 s, so this survives one.
const TCP_CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
/// lapin's reconnect schedule: 200 ms doubling to 2 s, 4 retries. With the TCP timeout
/// that bounds its recovery attempts at 5 × 1.5 s + 3 s = 10.5 s (3 s when refused).
const LAPIN_RECONNECT: Backoff =
    Backoff::new(Duration::from_millis(200), Duration::from_secs(2)).with_retries(4);
/// The supervisor's rebuild schedule once lapin gave up: 250 ms doubling to 5 s, unending.
const REBUILD: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
/// Not connected for this long means lapin has given up (see the module docs).
pub(crate) const DOWN_GRACE: Duration = Duration::from_secs(12);
/// Idle confirm channels kept for reuse; more concurrent publishers open more channels,
/// which are closed when they come back to a full pool.
const POOL_MAX: usize = 16;

/// One AMQP connection and the channels the broker keeps on it.
pub(crate) struct Session {
    pub(crate) connection: Connection,
    /// Idle publisher-confirm channels. A `publish` call checks one out for its whole
    /// batch: lapin hands a `basic.return` to whichever confirm completes next on the
    /// channel, so a channel shared by two batches could pin one batch's unroutable
    /// message on the other (and report the first as stored).
    confirm_pool: Mutex<Vec<Channel>>,
    /// The channel `next_job` pulls from (`basic.get`) and its deliveries are acked on.
    /// The async mutex serialises the gets: lapin tracks one pending get per channel.
    get_channel: tokio::sync::Mutex<Option<Channel>>,
    /// Since when the connection has been seen not connected (`None` while it is).
    down_since: Mutex<Option<Instant>>,
}

impl Session {
    async fn open(config: &AmqpConfig) -> Result<Session, BrokerError> {
        let mut uri = AMQPUri::from_str(&config.url).map_err(|e| {
            BrokerError::Topology(format!("invalid AMQP URL {}: {e}", config.redacted_url()))
        })?;
        if uri.query.heartbeat.is_none() {
            uri.query.heartbeat = Some(config.heartbeat_secs);
        }
        if uri.query.connection_timeout.is_none() {
            uri.query.connection_timeout = Some(TCP_CONNECT_TIMEOUT.as_millis() as u64);
        }
        let properties = ConnectionProperties::default()
            .with_connection_name(config.connection_name.clone().into())
            .enable_auto_recover()
            // lapin's own reconnect loop: quick first steps (its default starts at 1 s);
            // once it gives up the supervisor takes over with a fresh connection and a
            // slower, unending schedule.
            .with_backoff(LAPIN_RECONNECT.builder());
        let connect = Connection::connect_uri(uri, properties);
        let connection = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(BrokerError::Unavailable(format!(
                    "connecting to {}: {}",
                    config.redacted_url(),
                    describe(&e)
                )))
            }
            Err(_) => {
                return Err(BrokerError::Unavailable(format!(
                    "connecting to {}: no answer within {CONNECT_TIMEOUT:?}",
                    config.redacted_url()
                )))
            }
        };
        Ok(Session {
            connection,
            confirm_pool: Mutex::new(Vec::new()),
            get_channel: tokio::sync::Mutex::new(None),
            down_since: Mutex::new(None),
        })
    }

    /// lapin will not bring it back (see the module docs); the supervisor replaces it.
    fn is_dead(&self) -> bool {
        let s = self.connection.status();
        if s.closed() || s.errored() || s.closing() {
            return true;
        }
        let mut since = lock(&self.down_since);
        if s.connected() {
            *since = None;
            return false;
        }
        since.get_or_insert_with(Instant::now).elapsed() >= DOWN_GRACE
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connection.status().connected()
    }

    /// A fresh channel, for one-off work (declare, depths, delete). Those can fail with a
    /// channel error (a 404 or 406 closes the channel), which must not take down a
    /// channel that holds other tasks' deliveries.
    pub(crate) async fn channel(&self) -> Result<Channel, BrokerError> {
        self.connection
            .create_channel()
            .await
            .map_err(|e| unavailable("opening a channel", &e))
    }

    /// An idle confirm channel, or a new one.
    pub(crate) async fn checkout_confirm(&self) -> Result<Channel, BrokerError> {
        loop {
            let idle = lock(&self.confirm_pool).pop();
            match idle {
                Some(ch) if usable(&ch) => return Ok(ch),
                // Closed by a channel error: dropping it is all the cleanup there is.
                Some(_) => continue,
                None => break,
            }
        }
        let ch = self.channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| unavailable("enabling publisher confirms", &e))?;
        Ok(ch)
    }

    /// Returns a channel whose batch is fully settled (every confirm in), so nothing of
    /// that batch can surface on the next one.
    pub(crate) fn checkin_confirm(&self, ch: Channel) {
        if !usable(&ch) {
            return;
        }
        let mut pool = lock(&self.confirm_pool);
        if pool.len() < POOL_MAX {
            pool.push(ch);
        }
    }

    /// The `basic.get` channel, opened if needed, locked for one get.
    pub(crate) async fn get_channel(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<Channel>>, BrokerError> {
        let mut guard = self.get_channel.lock().await;
        if !guard.as_ref().is_some_and(usable) {
            *guard = Some(self.channel().await?);
        }
        Ok(guard)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The data behind these mutexes stays consistent at every point a panic could
    // unwind from (a push or a pop), so a poisoned lock is safe to keep using.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Supervises the [`Session`] of one broker handle.
pub(crate) struct Supervisor {
    config: AmqpConfig,
    current: Mutex<Option<Arc<Session>>>,
    /// Single flight: one task rebuilds while the others wait for its result.
    rebuild: tokio::sync::Mutex<Rebuild>,
    closed: AtomicBool,
}

/// The rebuild schedule: after a failed rebuild no new attempt before `not_before`.
struct Rebuild {
    delays: Delays,
    not_before: Option<Instant>,
}

impl Supervisor {
    /// Connects once, so a wrong URL or password is reported at start.
    pub(crate) async fn connect(config: AmqpConfig) -> Result<Supervisor, BrokerError> {
        let session = Session::open(&config).await?;
        Ok(Supervisor {
            config,
            current: Mutex::new(Some(Arc::new(session))),
            rebuild: tokio::sync::Mutex::new(Rebuild {
                delays: REBUILD.delays(),
                not_before: None,
            }),
            closed: AtomicBool::new(false),
        })
    }

    pub(crate) fn config(&self) -> &AmqpConfig {
        &self.config
    }

    fn live(&self) -> Option<Arc<Session>> {
        lock(&self.current).clone().filter(|s| !s.is_dead())
    }

    /// The current session if it is alive (or being recovered by lapin); otherwise a new
    /// one, unless a recent rebuild failed and the backoff has not elapsed.
    pub(crate) async fn session(&self) -> Result<Arc<Session>, BrokerError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(BrokerError::Unavailable("broker handle is closed".into()));
        }
        if let Some(s) = self.live() {
            return Ok(s);
        }
        let mut backoff = self.rebuild.lock().await;
        // Someone else may have rebuilt while we waited for the lock.
        if let Some(s) = self.live() {
            return Ok(s);
        }
        if let Some(at) = backoff.not_before {
            if Instant::now() < at {
                return Err(BrokerError::Unavailable(format!(
                    "not connected to {}; next reconnect attempt in {:?}",
                    self.config.redacted_url(),
                    at - Instant::now()
                )));
            }
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(BrokerError::Unavailable("broker handle is closed".into()));
        }
        warn!(url = %self.config.redacted_url(), "amqp connection lost for good; reconnecting");
        match Session::open(&self.config).await {
            Ok(s) => {
                let s = Arc::new(s);
                *lock(&self.current) = Some(s.clone());
                backoff.delays.reset();
                backoff.not_before = None;
                info!(url = %self.config.redacted_url(), "amqp connection rebuilt");
                Ok(s)
            }
            Err(e) => {
                let delay = backoff.delays.next_or_max();
                backoff.not_before = Some(Instant::now() + delay);
                warn!(error = %e, retry_in = ?delay, "amqp reconnect failed");
                Err(e)
            }
        }
    }

    /// Whether the current connection is up right now (no reconnect attempt).
    pub(crate) fn is_connected(&self) -> bool {
        !self.closed.load(Ordering::Acquire)
            && lock(&self.current)
                .as_ref()
                .is_some_and(|s| s.is_connected())
    }

    /// Closes the connection; later operations fail with `Unavailable`. Unacked
    /// deliveries go back to their queues (the broker requeues them on close).
    pub(crate) async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let session = lock(&self.current).take();
        if let Some(s) = session {
            if s.is_connected() {
                if let Err(e) = s.connection.close(200, "closed by the fleet".into()).await {
                    warn!(error = %describe(&e), "closing the amqp connection");
                }
            }
        }
    }
}
