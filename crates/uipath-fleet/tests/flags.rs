//! The command line's flags through the public types: subcommands parse, flags write
//! over the file, secrets stay out of `Debug`, and `dlq replay` needs exactly one choice.

use std::path::Path;

use clap::{CommandFactory as _, Parser as _};
use fleet_core::Secret;
use fleet_worker::OutputMode;
use uipath_fleet::dlq::{DlqAction, DlqArgs};
use uipath_fleet::{Cli, Command, FleetConfig};

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
    let Command::Login(args) = &cli.command else {
        panic!("not login: {:?}", cli.command)
    };
    assert_eq!(args.source, "acme");
    assert!(args.no_wait_print);
    assert_eq!(args.timeout_secs, 300);
    assert_eq!(
        cli.command.config_path(),
        Some(std::path::Path::new("f.toml"))
    );
    assert!(Cli::try_parse_from(["uipath-fleet", "login", "--config", "f.toml"]).is_err());
}

#[test]
fn worker_flags_override_the_file_and_hide_urls() {
    let cli = Cli::try_parse_from([
        "uipath-fleet",
        "worker",
        "--config",
        "f.toml",
        "--amqp-url",
        "amqp://u:s3cret@h:5672/%2f",
        "--prefix",
        "p1",
        "--concurrency",
        "7",
        "--output",
        "page",
        "--listen",
        "127.0.0.1:0",
    ])
    .unwrap();
    let Command::Worker(args) = &cli.command else {
        panic!("not worker")
    };
    assert!(!format!("{args:?}").contains("s3cret"));
    let mut config = FleetConfig::parse("").unwrap();
    args.apply(&mut config);
    assert_eq!(
        config.broker.amqp_url.as_ref().map(Secret::expose),
        Some("amqp://u:s3cret@h:5672/%2f")
    );
    assert_eq!(
        (config.broker.prefix(), config.redis.prefix()),
        ("p1", "p1")
    );
    assert_eq!(config.worker.concurrency, 7);
    assert_eq!(config.worker.output, OutputMode::Page);
    assert_eq!(config.worker.listen.port(), 0);
    assert!(Cli::try_parse_from([
        "uipath-fleet",
        "worker",
        "--config",
        "f.toml",
        "--output",
        "csv"
    ])
    .is_err());
}

#[derive(clap::Parser, Debug)]
struct Cmd {
    #[command(flatten)]
    dlq: DlqArgs,
}

#[test]
fn replay_needs_exactly_one_choice() {
    assert!(Cmd::try_parse_from(["x", "replay"]).is_err());
    assert!(Cmd::try_parse_from(["x", "replay", "--all", "--reason", "not_found"]).is_err());
    assert!(Cmd::try_parse_from(["x", "replay", "abc", "--all"]).is_err());
    let cmd = Cmd::try_parse_from(["x", "replay", "a", "b", "--dry-run"]).unwrap();
    let DlqAction::Replay(r) = &cmd.dlq.action else {
        panic!("not replay")
    };
    assert_eq!((r.ids.len(), r.dry_run, r.all), (2, true, false));
    let cmd = Cmd::try_parse_from(["x", "list", "--config", "f.toml", "--limit", "5"]).unwrap();
    assert_eq!(cmd.dlq.config_path(), Some(Path::new("f.toml")));
}
