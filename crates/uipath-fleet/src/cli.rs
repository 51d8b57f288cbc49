//! The command line: flags and subcommands (clap derive). Parsing only; the work is in
//! the modules the subcommands name.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Copies data out of UiPath Orchestrator and Data Service with a fleet of workers.
#[derive(Debug, Parser)]
#[command(name = "uipath-fleet", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log as JSON lines (on stderr) instead of text.
    #[arg(long, global = true)]
    pub log_json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in once in a browser (authorization code + PKCE) and store the refresh token
    /// that a `refresh-token` source needs, e.g. for Data Service.
    ///
    /// Prints a URL to open; after you sign in, the browser is sent back to a listener on
    /// the source's `auth.redirect_uri` (loopback; port 0 picks a free port). The refresh
    /// token is stored in the configured token cache — never printed.
    Login(LoginArgs),
}

/// Flags of `uipath-fleet login`.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// The configuration file (TOML) with `[[sources]]` and `[token_cache]`.
    #[arg(long, value_name = "FILE", env = "UIPATH_FLEET_CONFIG")]
    pub config: PathBuf,

    /// The name of the source to log in to (its `name` in the configuration).
    #[arg(long, value_name = "NAME")]
    pub source: String,

    /// Do not print the "waiting for the browser" line: stdout then holds only the URL
    /// line and the result, for scripts that read the URL.
    #[arg(long)]
    pub no_wait_print: bool,

    /// How long to wait for the browser to come back, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout_secs: u64,
}

impl Command {
    /// The configuration file the command reads.
    pub fn config_path(&self) -> &PathBuf {
        match self {
            Command::Login(args) => &args.config,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_cli_is_well_formed_and_parses_login() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "uipath-fleet",
            "login",
            "--config",
            "f.toml",
            "--source",
            "acme",
            "--no-wait-print",
        ])
        .unwrap();
        let Command::Login(args) = &cli.command;
        assert_eq!(args.source, "acme");
        assert!(args.no_wait_print);
        assert_eq!(args.timeout_secs, 300);
        assert_eq!(cli.command.config_path(), &PathBuf::from("f.toml"));
        assert!(Cli::try_parse_from(["uipath-fleet", "login", "--config", "f.toml"]).is_err());
    }
}
