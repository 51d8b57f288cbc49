//! `uipath-fleet login`: the one-time browser sign-in of a refresh-token source.
//!
//! Prints the URL to open, waits for the sign-in (or ctrl-c, or the timeout), and says
//! where the refresh token was stored. Guarantees: no token is ever printed; nothing is
//! stored unless the whole flow succeeded; a source that does not use the refresh-token
//! method is refused before anything is opened or bound.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio_util::sync::CancellationToken;
use uipath_client::auth::{login, LoginOptions};
use uipath_client::AuthConfig;

use crate::cli::LoginArgs;
use crate::config::FleetConfig;
use fleet_assembly::token_store::TokenStore;

/// Runs the login of `args.source`, writing what the operator must read to `out`.
pub async fn run(
    args: &LoginArgs,
    config: &FleetConfig,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let source = config.source(&args.source)?;
    if !matches!(source.auth, AuthConfig::RefreshToken { .. }) {
        bail!(
            "sources.{}.auth: login is only for method = \"refresh-token\" (user scopes such as Data Service); \
             this source authenticates without a browser",
            source.name
        );
    }
    let store = TokenStore::open(&config.effective_token_cache()).await?;
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let options = LoginOptions {
        timeout,
        ..LoginOptions::default()
    };
    let no_wait_print = args.no_wait_print;
    let mut printed = Ok(());
    let flow = login(source, store.cache.clone(), options, |url| {
        printed = show_url(out, url, timeout, no_wait_print);
    });
    let outcome = tokio::select! {
        outcome = flow => outcome,
        () = shutdown.cancelled() => bail!("login cancelled; nothing was stored"),
    };
    printed.context("writing the sign-in URL")?;
    let outcome = outcome.with_context(|| format!("logging in to source `{}`", source.name))?;
    writeln!(
        out,
        "Signed in to `{}`; granted scopes: {}.",
        source.name,
        outcome.granted_scopes.join(" ")
    )?;
    writeln!(out, "The refresh token is stored in {}.", store.describe())?;
    out.flush()?;
    Ok(())
}

fn show_url(
    out: &mut dyn Write,
    url: &url::Url,
    timeout: Duration,
    no_wait_print: bool,
) -> std::io::Result<()> {
    writeln!(out, "Open this URL in a browser to sign in: {url}")?;
    if !no_wait_print {
        let redirect = url
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        writeln!(
            out,
            "Waiting up to {}s for the browser to come back to {redirect} ...",
            timeout.as_secs()
        )?;
    }
    out.flush()
}
