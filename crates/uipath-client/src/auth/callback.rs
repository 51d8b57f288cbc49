//! The loopback listener of the login flow: waits for the browser to come back to the
//! redirect URI with `code` and `state` (or `error`), answers with a small page, and
//! hands the parameters over.
//!
//! One request matters, so this is a few lines of HTTP/1.1 over a tokio `TcpListener`
//! rather than a web framework. Guarantees: other paths (a browser's `/favicon.ico`) get a
//! 404 and the wait goes on; a client that connects and sends nothing cannot stall the
//! listener for longer than [`READ_TIMEOUT`]; the page never echoes request input.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use crate::error::ClientError;

/// How long one connection may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest request head read; a redirect with a code and state is far smaller.
const MAX_HEAD: usize = 16 * 1024;

/// What the redirect brought back. No `Debug`: the code is a credential.
pub(crate) enum Callback {
    Code {
        code: String,
        state: Option<String>,
    },
    Error {
        error: String,
        description: Option<String>,
    },
}

/// A bound listener and the redirect URI that reaches it (with the real port).
pub(crate) struct CallbackListener {
    listener: TcpListener,
    redirect_uri: Url,
}

impl CallbackListener {
    /// Binds the host and port of `redirect_uri`; port 0 picks a free port, which is then
    /// written into the returned redirect URI.
    pub async fn bind(redirect_uri: &Url) -> Result<CallbackListener, ClientError> {
        if redirect_uri.scheme() != "http" {
            return Err(ClientError::Config(format!(
                "auth.redirect_uri `{redirect_uri}` must be an http:// loopback URL (the login listens on it)"
            )));
        }
        let host = redirect_uri.host_str().ok_or_else(|| {
            ClientError::Config(format!("auth.redirect_uri `{redirect_uri}` has no host"))
        })?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = redirect_uri.port_or_known_default().unwrap_or(80);
        let listener = TcpListener::bind((host, port)).await.map_err(|e| {
            ClientError::Config(format!(
                "cannot listen on {host}:{port} for the login redirect ({e}); free the port or set auth.redirect_uri to another loopback port (port 0 picks a free one)"
            ))
        })?;
        let actual = listener
            .local_addr()
            .map_err(|e| ClientError::Config(format!("login listener has no address: {e}")))?
            .port();
        let mut redirect_uri = redirect_uri.clone();
        if redirect_uri.port_or_known_default() != Some(actual) {
            redirect_uri.set_port(Some(actual)).map_err(|()| {
                ClientError::Config("auth.redirect_uri cannot carry a port".into())
            })?;
        }
        Ok(CallbackListener {
            listener,
            redirect_uri,
        })
    }

    /// The redirect URI to send in the authorization request.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// Accepts connections until one GET on the redirect path carries `code` or `error`.
    pub async fn wait(self) -> Result<Callback, ClientError> {
        let path = self.redirect_uri.path().to_owned();
        loop {
            let (stream, _) = self.listener.accept().await.map_err(|e| {
                ClientError::Config(format!("accepting the login redirect failed: {e}"))
            })?;
            match tokio::time::timeout(READ_TIMEOUT, serve(stream, &path)).await {
                Ok(Ok(Some(callback))) => return Ok(callback),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "login listener: bad connection"),
                Err(_) => tracing::debug!("login listener: a connection sent nothing in time"),
            }
        }
    }
}

/// Reads one request and answers it; `Some` when it was the redirect.
async fn serve(mut stream: TcpStream, path: &str) -> std::io::Result<Option<Callback>> {
    let head = read_head(&mut stream).await?;
    let target = head
        .lines()
        .next()
        .and_then(|line| {
            let mut parts = line.split_whitespace();
            (parts.next() == Some("GET"))
                .then(|| parts.next())
                .flatten()
        })
        .and_then(|target| Url::parse(&format!("http://loopback{target}")).ok());
    let callback = target
        .filter(|t| t.path() == path)
        .and_then(|t| read_callback(&t));
    let (status, page) = match &callback {
        None => ("404 Not Found", page("Not found", "Nothing here.")),
        Some(Callback::Code { .. }) => (
            "200 OK",
            page(
                "Signed in",
                "uipath-fleet received the sign-in. You can close this tab.",
            ),
        ),
        Some(Callback::Error { .. }) => (
            "200 OK",
            page(
                "Sign-in failed",
                "The sign-in was refused; the terminal running uipath-fleet says why. You can close this tab.",
            ),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(callback)
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("request head too large"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The redirect's parameters, if it carries a code or an error.
fn read_callback(target: &Url) -> Option<Callback> {
    let param = |name: &str| {
        target
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = param("error") {
        return Some(Callback::Error {
            error,
            description: param("error_description"),
        });
    }
    Some(Callback::Code {
        code: param("code")?,
        state: param("state"),
    })
}

/// A minimal page. Both arguments are fixed text, never request input.
fn page(title: &'static str, message: &'static str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head><body><p>{message}</p></body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_codes_and_errors() {
        let u = Url::parse("http://loopback/callback?code=abc&state=xyz").unwrap();
        assert!(
            matches!(read_callback(&u), Some(Callback::Code { code, state }) if code == "abc" && state.as_deref() == Some("xyz"))
        );
        let u =
            Url::parse("http://loopback/callback?error=access_denied&error_description=no&state=s")
                .unwrap();
        assert!(
            matches!(read_callback(&u), Some(Callback::Error { error, .. }) if error == "access_denied")
        );
        let u = Url::parse("http://loopback/callback").unwrap();
        assert!(read_callback(&u).is_none());
    }

    #[tokio::test]
    async fn other_paths_get_404_and_the_redirect_is_answered() {
        let listener = CallbackListener::bind(&Url::parse("http://127.0.0.1:0/cb").unwrap())
            .await
            .unwrap();
        let base = listener.redirect_uri().clone();
        assert_ne!(base.port(), Some(0));
        let waiter = tokio::spawn(listener.wait());
        let http = reqwest::Client::new();
        let favicon = http
            .get(base.join("/favicon.ico").unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(favicon.status(), 404);
        let done = http
            .get(format!("{base}?code=c1&state=s1"))
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 200);
        assert!(done.text().await.unwrap().contains("close this tab"));
        match waiter.await.unwrap().unwrap() {
            Callback::Code { code, state } => {
                assert_eq!(code, "c1");
                assert_eq!(state.as_deref(), Some("s1"));
            }
            Callback::Error { error, .. } => panic!("expected a code, got error {error}"),
        }
    }
}
