//! A TCP proxy with a kill switch, to put a broker outage between a client and
//! RabbitMQ without touching the shared broker: `stop` drops every proxied connection
//! and refuses new ones, `restart` listens on the same port again.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinSet;

pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    running: Mutex<Option<Running>>,
}

/// Dropping it aborts the accept loop and (once the loop's handle on it is gone too)
/// every proxied connection, closing both sockets of each.
struct Running {
    _accept: JoinSet<()>,
    _conns: Arc<Mutex<JoinSet<()>>>,
}

fn listen(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("socket");
    // The port was ours a moment ago; its old connections may linger in TIME_WAIT.
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(addr).expect("bind the proxy port");
    socket.listen(64).expect("listen")
}

impl Proxy {
    /// A proxy on a free local port in front of `upstream` (host:port).
    pub async fn start(upstream: &str) -> Arc<Proxy> {
        let upstream = tokio::net::lookup_host(upstream)
            .await
            .expect("resolve upstream")
            .next()
            .expect("an upstream address");
        let listener = listen("127.0.0.1:0".parse().expect("addr"));
        let addr = listener.local_addr().expect("local addr");
        let proxy = Arc::new(Proxy {
            addr,
            upstream,
            running: Mutex::new(None),
        });
        proxy.serve(listener);
        proxy
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream;
        let conns = Arc::new(Mutex::new(JoinSet::new()));
        let accepted = conns.clone();
        let mut accept = JoinSet::new();
        accept.spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                    continue;
                };
                accepted.lock().unwrap().spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
        });
        *self.running.lock().unwrap() = Some(Running {
            _accept: accept,
            _conns: conns,
        });
    }

    /// Drops every proxied connection and refuses new ones.
    pub fn stop(&self) {
        self.running.lock().unwrap().take();
    }

    /// Accepts again on the same port.
    pub fn restart(&self) {
        let listener = listen(self.addr);
        self.serve(listener);
    }
}

/// `url` with its `host:port` replaced by `addr`.
pub fn via(url: &str, addr: SocketAddr) -> String {
    let start = url
        .find('@')
        .map(|i| i + 1)
        .or_else(|| url.find("://").map(|i| i + 3));
    let start = start.expect("an amqp:// URL");
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    format!("{}{addr}{}", &url[..start], &url[end..])
}

/// The `host:port` of `url`.
pub fn authority(url: &str) -> String {
    let start = url
        .find('@')
        .map(|i| i + 1)
        .or_else(|| url.find("://").map(|i| i + 3));
    let start = start.expect("an amqp:// URL");
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    let hostport = &url[start..end];
    if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5672")
    }
}
