//! `uipath-fleet login` run as an operator runs it: the built binary, a configuration
//! file, a browser (reqwest following the identity server's redirect), and the token file
//! it leaves behind, which a worker then uses.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use fleet_core::{Sealer, SealingKey, Secret, TokenCache};
use fleet_memory::MemoryTokenCache;
use rand::Rng as _;
use uipath_client::auth::{family_key, TokenOptions, TokenProvider};
use uipath_fleet::FleetConfig;
use uipath_sim::config::{SimConfig, DEMO_ORG, DEMO_TENANT};
use uipath_sim::server::RunningSim;

const KEY_ENV: &str = "UIPATH_FLEET_TEST_TOKEN_KEY";
const URL_PREFIX: &str = "Open this URL in a browser to sign in: ";

/// A fresh directory under the system temp dir (removed when the test passes).
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "uipath-fleet-{label}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn write_config(dir: &Path, sim: &RunningSim, auth: &str, token_cache: &str) -> PathBuf {
    let text = format!(
        r#"
[[sources]]
name = "demo"
deployment = {{ kind = "cloud", base_url = "{base}", organization = "{DEMO_ORG}", tenant = "{DEMO_TENANT}" }}
auth = {auth}

[token_cache]
{token_cache}
"#,
        base = sim.base_url()
    );
    let path = dir.join("fleet.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn login_auth() -> &'static str {
    r#"{ method = "refresh-token", client_id = "fleet-login", scopes = ["DataService.Data.Read"], redirect_uri = "http://127.0.0.1:0/callback" }"#
}

fn spawn_login(config: &Path, key: Option<&str>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_uipath-fleet"));
    command
        .args(["login", "--config"])
        .arg(config)
        .args([
            "--source",
            "demo",
            "--no-wait-print",
            "--timeout-secs",
            "60",
        ])
        .env_remove(KEY_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(key) = key {
        command.env(KEY_ENV, key);
    }
    command.spawn().expect("the binary starts")
}

/// Waits for the process on the blocking pool, with a deadline.
async fn wait(child: Child) -> Output {
    let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
    tokio::time::timeout(Duration::from_secs(60), waiting)
        .await
        .expect("uipath-fleet exits")
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_stores_a_sealed_refresh_token_that_a_worker_can_use() {
    let sim = RunningSim::start(SimConfig::default()).await.unwrap();
    let dir = TempDir::new("login");
    let token_file = dir.0.join("state").join("tokens.json");
    let config_path = write_config(
        &dir.0,
        &sim,
        login_auth(),
        &format!(
            "file = \"{}\"\nencryption_key_env = \"{KEY_ENV}\"",
            token_file.display()
        ),
    );
    let key: [u8; 32] = rand::rng().random();
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(key);

    let mut child = spawn_login(&config_path, Some(&key_b64));
    // Read stdout line by line on a thread: the first line is the URL, printed before the
    // process waits for the browser.
    let stdout = child.stdout.take().unwrap();
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let first = tokio::time::timeout(Duration::from_secs(30), lines.recv())
        .await
        .expect("the URL is printed")
        .expect("stdout has a line");
    let url = first
        .strip_prefix(URL_PREFIX)
        .unwrap_or_else(|| panic!("unexpected first line: {first}"));

    // The browser: open the URL, follow the redirect back to the login listener.
    let page = reqwest::get(url).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("close this tab"));

    let output = wait(child).await;
    reader.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "exit {:?}: {stderr}",
        output.status
    );
    let mut rest = Vec::new();
    while let Ok(line) = lines.try_recv() {
        rest.push(line);
    }
    let printed = rest.join("\n");
    assert!(
        printed.contains(&format!(
            "stored in the file {} (encrypted)",
            token_file.display()
        )),
        "{printed}"
    );
    assert_eq!(
        rest.len(),
        2,
        "--no-wait-print: only the result follows the URL: {printed}"
    );

    // The file holds the token sealed: no plaintext, and it opens only with the key.
    let config = FleetConfig::load(&config_path).unwrap();
    let source = config.source("demo").unwrap().clone();
    let family = family_key(&source);
    let sealer = Sealer::new(Some(
        SealingKey::from_base64(&Secret::new(key_b64.clone())).unwrap(),
    ));
    let cache = MemoryTokenCache::persistent(&token_file, sealer).unwrap();
    let refresh = cache
        .refresh_token(&family)
        .await
        .unwrap()
        .expect("a refresh token is stored");
    let file_text = std::fs::read_to_string(&token_file).unwrap();
    assert!(
        !file_text.contains(refresh.expose()),
        "plaintext token in the file"
    );
    assert!(!file_text.contains("v1.plain."), "{file_text}");
    assert!(!printed.contains(refresh.expose()) && !stderr.contains(refresh.expose()));
    let keyless = MemoryTokenCache::persistent(&token_file, Sealer::plain()).unwrap();
    assert!(keyless.refresh_token(&family).await.is_err());

    // A worker reading the file gets an access token through the refresh grant.
    let grants = |kind: &str| sim.sim.stats.snapshot().token_grants.get(kind).copied();
    assert_eq!(grants("authorization_code"), Some(1));
    let provider = TokenProvider::new(
        &source,
        Arc::new(cache.clone()),
        reqwest::Client::new(),
        TokenOptions::default(),
    )
    .unwrap();
    let token = provider.bearer().await.unwrap();
    assert_eq!(grants("refresh_token"), Some(1));
    let status = reqwest::Client::new()
        .get(format!(
            "{}/{DEMO_ORG}/{DEMO_TENANT}/dataservice_/api/EntityService/Customer/read?limit=1",
            sim.base_url()
        ))
        .bearer_auth(token.token.expose())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    // The rotated successor replaced the login's token in the file.
    let rotated = cache.refresh_token(&family).await.unwrap().unwrap();
    assert_ne!(rotated, refresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_fail_before_any_url_with_a_message_that_names_them() {
    let sim = RunningSim::start(SimConfig::default()).await.unwrap();
    let dir = TempDir::new("login-mistakes");
    let file = format!("file = \"{}\"", dir.0.join("tokens.json").display());

    // A client-credentials source has nothing to log in to.
    let cc = r#"{ method = "client-credentials", client_id = "fleet-demo", client_secret = "fleet-demo-secret", scopes = ["OR.Jobs.Read"] }"#;
    let output = wait(spawn_login(&write_config(&dir.0, &sim, cc, &file), None)).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refresh-token"), "{stderr}");
    assert!(!stderr.contains("fleet-demo-secret"), "{stderr}");
    assert!(output.stdout.is_empty());

    // An unknown field is named.
    let typo = format!("{file}\nencryption_kee = \"x\"");
    let output = wait(spawn_login(
        &write_config(&dir.0, &sim, login_auth(), &typo),
        None,
    ))
    .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("encryption_kee"), "{stderr}");

    // No key: the refresh token would be stored in plain text. Refused before the URL,
    // with both ways out named.
    let output = wait(spawn_login(
        &write_config(&dir.0, &sim, login_auth(), &file),
        None,
    ))
    .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("token_cache.encryption_key"), "{stderr}");
    assert!(stderr.contains("allow_unsealed_refresh_tokens"), "{stderr}");
    assert!(output.stdout.is_empty(), "no URL before the refusal");

    // A configured key that is not in the environment is named, nothing is bound.
    let keyed = format!("{file}\nencryption_key_env = \"{KEY_ENV}\"");
    let output = wait(spawn_login(
        &write_config(&dir.0, &sim, login_auth(), &keyed),
        None,
    ))
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(KEY_ENV), "{stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(sim.sim.stats.snapshot().token_grants.len(), 0);
}
