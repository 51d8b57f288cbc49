//! The configuration as a user meets it, through the binary: the documented example file
//! validates; each kind of mistake ends every command with exit 2 and a message naming
//! the field, before anything is connected; secrets given by reference are resolved, and
//! no secret is ever printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const SOURCE: &str = r#"
[[sources]]
name = "acme"
deployment = { kind = "cloud", base_url = "http://127.0.0.1:1", organization = "o", tenant = "t" }
auth = { method = "client-credentials", client_id = "c", client_secret = "topsecret-inline", scopes = ["OR.Jobs.Read"] }
"#;

/// A scratch directory of this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("uipath-fleet-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the binary with `args` to its end (killed after a minute), with no
/// `UIPATH_FLEET_*` variable inherited and `env` set.
fn fleet(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_uipath-fleet"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("UIPATH_FLEET_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().expect("spawn uipath-fleet");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("uipath-fleet {args:?} still running after a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

#[test]
fn the_documented_example_validates() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fleet.example.toml");
    let out = fleet(
        &["validate", "--config", path_str(&example)],
        &[
            ("ACME_CLIENT_SECRET", "s3cret-from-env"),
            ("UIPATH_FLEET_API_TOKEN_VALUE", "t0ken-from-env"),
        ],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("valid"), "{stdout}");
    assert!(!stdout.contains("s3cret") && !stderr.contains("s3cret"));

    // Without the variable the example refers to, the reference is what is reported.
    let out = fleet(
        &["validate", "--config", path_str(&example)],
        &[("UIPATH_FLEET_API_TOKEN_VALUE", "t0ken-from-env")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ACME_CLIENT_SECRET"), "{stderr}");
    assert!(!stderr.contains("t0ken"), "{stderr}");
}

/// Each mistake, in every section, is exit 2 with the field named; the same file gives
/// the same answer whichever command reads it, and nothing is connected first.
#[test]
fn every_mistake_names_its_field_for_every_command() {
    let dir = scratch("config-errors");
    let cases: &[(&str, &str)] = &[
        ("[worker]\nconcurency = 2\n", "concurency"),
        ("[worker]\nconcurrency = 0\n", "worker.concurrency"),
        ("[redis]\nurl = \"http://x\"\n", "redis.url"),
        ("[broker]\namqp_url = \"rabbit://x\"\n", "broker.amqp_url"),
        (
            "[coordinator]\nlisten = \"0.0.0.0:8700\"\n",
            "coordinator.api_token",
        ),
        ("[coordinator]\ntick_ms = 0\n", "coordinator.tick_ms"),
        (
            "[coordinator]\napi_token = { env = \"FLEET_TEST_UNSET_VARIABLE\" }\n",
            "FLEET_TEST_UNSET_VARIABLE",
        ),
        (
            "[coordinator]\napi_token = { file = \"/nonexistent/api-token\" }\n",
            "/nonexistent/api-token",
        ),
        ("[sink]\nbogus = 1\n", "bogus"),
        ("[embedded]\nbogus = 1\n", "bogus"),
        ("[limits]\nheadrom = 0.5\n", "headrom"),
        (
            "[token_cache]\nredis_url = \"http://x\"\n",
            "token_cache.redis_url",
        ),
        ("[[sources]]\nname = \"acme\"\n", "deployment"),
    ];
    let commands: &[&[&str]] = &[
        &["validate"],
        &["worker"],
        &["coordinator"],
        &["run"],
        &["check"],
        &["sink"],
        &["status"],
        &["dlq", "list"],
    ];
    for (i, (extra, field)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad-{i}.toml"));
        std::fs::write(&path, format!("{SOURCE}{extra}")).unwrap();
        // Every command for the first case; `validate` and one long-running command for
        // the rest (the file is loaded the same way for all of them).
        let which: &[&[&str]] = if i == 0 {
            commands
        } else {
            &[&["validate"], &["run"]]
        };
        for command in which {
            let mut args: Vec<&str> = command.to_vec();
            args.extend(["--config", path_str(&path)]);
            let out = fleet(&args, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "case {i} {command:?}: {stderr}");
            assert!(
                stderr.contains(field),
                "case {i} {command:?}: `{field}` not in: {stderr}"
            );
            assert!(
                !stderr.contains("topsecret"),
                "case {i} {command:?} printed a secret"
            );
            assert!(
                out.stdout.is_empty(),
                "case {i} {command:?}: nothing on stdout"
            );
        }
    }

    // A missing file is a configuration mistake too, and says which file.
    let out = fleet(&["validate", "--config", "/nonexistent/fleet.toml"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/fleet.toml"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn secrets_are_read_from_files_and_never_printed() {
    let dir = scratch("config-secrets");
    let secret = dir.join("client-secret");
    std::fs::write(&secret, "topsecret-from-file\n").unwrap();
    let config = dir.join("fleet.toml");
    std::fs::write(
        &config,
        SOURCE.replace(
            "client_secret = \"topsecret-inline\"",
            &format!("client_secret = {{ file = \"{}\" }}", path_str(&secret)),
        ),
    )
    .unwrap();
    let out = fleet(&["validate", "--config", path_str(&config)], &[]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains("topsecret"), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A source without its secret gets the message the README promises, naming the source
/// and both fields, not serde's.
#[test]
fn a_missing_client_secret_is_named_as_the_readme_says() {
    let dir = scratch("config-no-secret");
    let path = dir.join("fleet.toml");
    std::fs::write(
        &path,
        SOURCE.replace(", client_secret = \"topsecret-inline\"", ""),
    )
    .unwrap();
    let out = fleet(&["validate", "--config", path_str(&path)], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let promised = "sources.acme.auth: client_id and client_secret are required";
    assert!(
        readme.contains(promised),
        "the README no longer promises it"
    );
    assert!(stderr.contains(promised), "{stderr}");
    assert!(!stderr.contains("missing field"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The sync defaults the README's table and the example file state are the code's.
#[test]
fn the_documented_sync_defaults_are_the_code_s() {
    use fleet_core::plan::request::{DEFAULT_LOOKBACK_SECS, DEFAULT_SETTLE_SECS};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let secs = |text: &str| {
        let text = text.trim().trim_matches('"');
        let d = match text.strip_suffix('m') {
            Some(n) => n.parse::<u64>().unwrap() * 60,
            None => text.strip_suffix('h').unwrap().parse::<u64>().unwrap() * 3600,
        };
        (text.to_owned(), d)
    };
    // README: "| `[[syncs]]` | ... `lookback` (15m), `settle` (2m) ..."
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let row = readme
        .lines()
        .find(|l| l.starts_with("| `[[syncs]]`"))
        .expect("the README's [[syncs]] row");
    let default_of = |field: &str| {
        let after = row.split(&format!("`{field}` (")).nth(1).unwrap();
        secs(after.split(')').next().unwrap())
    };
    assert_eq!(default_of("lookback").1, DEFAULT_LOOKBACK_SECS, "{row}");
    assert_eq!(default_of("settle").1, DEFAULT_SETTLE_SECS, "{row}");

    // fleet.example.toml "shows every section with its defaults": its first [[syncs]]
    // (the one that documents the section) writes the defaults.
    let example = std::fs::read_to_string(root.join("fleet.example.toml")).unwrap();
    let table: toml::Table = toml::from_str(&example).unwrap();
    let sync = &table["syncs"].as_array().unwrap()[0];
    let lookback = secs(sync["lookback"].as_str().unwrap());
    let settle = secs(sync["settle"].as_str().unwrap());
    assert_eq!(
        (lookback.1, settle.1),
        (DEFAULT_LOOKBACK_SECS, DEFAULT_SETTLE_SECS),
        "fleet.example.toml's first [[syncs]]: lookback {}, settle {}",
        lookback.0,
        settle.0
    );
}
