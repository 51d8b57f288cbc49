//! The `uipath-sim` binary as outside tools use it: started with `--listen`, it prints its
//! address once ready, serves the demo data set to the documented demo credentials, and
//! exits cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn binary_prints_its_address_and_serves_the_demo_tenant() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_uipath-sim"))
        .args(["--listen", "127.0.0.1:0", "--token-ttl", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("uipath-sim starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("readable");
    let addr = first
        .strip_prefix("uipath-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();

    let http = reqwest::Client::new();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", "fleet-demo")
        .append_pair("client_secret", "fleet-demo-secret")
        .append_pair("scope", "OR.Folders.Read OR.Jobs.Read")
        .finish();
    let resp = http
        .post(format!("{addr}/identity_/connect/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let token: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(token["expires_in"], 120);
    let token = token["access_token"].as_str().unwrap().to_owned();
    let folders: serde_json::Value = http
        .get(format!(
            "{addr}/demo-org/DefaultTenant/orchestrator_/odata/Folders"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!folders["value"].as_array().unwrap().is_empty());

    // SIGTERM stops it with status 0
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "uipath-sim did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn a_bad_config_file_is_refused_with_the_field_named() {
    let dir = std::env::temp_dir().join(format!("uipath-sim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[rate_limit]\nrequests = 10\nwindow_ms = 0\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_uipath-sim"))
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rate_limit.window_ms"), "stderr: {err}");
    std::fs::write(&path, "bogus_field = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_uipath-sim"))
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus_field"));
}
