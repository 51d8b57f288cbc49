//! `uipath-fleet check` run as an operator runs it: the built binary against the
//! simulator (in this process), with a good application, one lacking a scope, a
//! configuration asking for fewer scopes than a dataset needs, and a wrong secret.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use uipath_sim::config::{
    SimConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_LOGIN_CLIENT_ID, DEMO_ORG, DEMO_TENANT,
    OR_READ_SCOPES,
};
use uipath_sim::server::RunningSim;

/// A fresh directory under the system temp dir (removed when the test passes).
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "uipath-fleet-check-{label}-{}",
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

fn write_config(dir: &Path, sim: &RunningSim, secret: &str, scopes: &[&str]) -> PathBuf {
    let text = format!(
        r#"
[[sources]]
name = "acme"
deployment = {{ kind = "cloud", base_url = "{base}", organization = "{DEMO_ORG}", tenant = "{DEMO_TENANT}" }}
auth = {{ method = "client-credentials", client_id = "{DEMO_CLIENT_ID}", client_secret = "{secret}", scopes = {scopes:?} }}
timeout_secs = 10
"#,
        base = sim.base_url()
    );
    let path = dir.join("fleet.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `uipath-fleet check --config FILE ARGS...`, at most a minute.
async fn check(config: &Path, args: &[&str]) -> (i32, String, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_uipath-fleet"));
    command.arg("check").arg("--config").arg(config).args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("UIPATH_FLEET_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "warn").kill_on_drop(true);
    let Output {
        status,
        stdout,
        stderr,
    } = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("check finishes within a minute")
        .expect("run uipath-fleet check");
    (
        status.code().expect("exited"),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// The table's line for `check` of source acme.
fn line<'a>(table: &'a str, check: &str) -> &'a str {
    table
        .lines()
        .find(|l| {
            let mut words = l.split_whitespace();
            words.next() == Some("acme") && words.next() == Some(check)
        })
        .unwrap_or_else(|| panic!("no line for {check} in:\n{table}"))
}

fn sim_config(app_scopes: &[&str]) -> SimConfig {
    let mut c = SimConfig::default();
    c.rate_limit.requests = 0;
    c.identity.apps[0].app_scopes = app_scopes.iter().map(|s| s.to_string()).collect();
    c
}

const QUEUE_DATASETS: [&str; 3] = ["queue-items", "queue-item-events", "queue-definitions"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_a_scope_the_application_lacks_per_dataset() {
    let without_queues: Vec<&str> = OR_READ_SCOPES
        .iter()
        .copied()
        .filter(|s| *s != "OR.Queues.Read")
        .collect();
    let sim = RunningSim::start(sim_config(&without_queues))
        .await
        .unwrap();
    let dir = TempDir::new("lacking");
    let config = write_config(&dir.0, &sim, DEMO_CLIENT_SECRET, OR_READ_SCOPES);
    let (code, out, err) = check(&config, &[]).await;
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    let token = line(&out, "token");
    assert!(
        token.contains("not granted to the application: OR.Queues.Read"),
        "{token}"
    );
    for d in QUEUE_DATASETS {
        let l = line(&out, d);
        assert!(l.contains("missing scope OR.Queues.Read"), "{l}");
        assert!(l.contains("grant OR.Queues.Read"), "{l}");
    }
    // The other datasets were still read with the scopes that were granted.
    for d in ["jobs", "folders", "robots", "audit-logs"] {
        let l = line(&out, d);
        assert!(l.contains("ok"), "{l}\n{out}");
    }
    assert!(line(&out, "folder-access").contains("visible"), "{out}");
    assert!(err.contains("checks failed"), "{err}");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_a_scope_the_configuration_does_not_ask_for() {
    let sim = RunningSim::start(sim_config(OR_READ_SCOPES)).await.unwrap();
    let dir = TempDir::new("fewer");
    let config = write_config(
        &dir.0,
        &sim,
        DEMO_CLIENT_SECRET,
        &["OR.Jobs.Read", "OR.Folders.Read"],
    );
    let (code, out, err) = check(&config, &["--dataset", "jobs,queue-items"]).await;
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(line(&out, "token").contains("ok"), "{out}");
    assert!(line(&out, "jobs").contains("ok: readable"), "{out}");
    let q = line(&out, "queue-items");
    assert!(q.contains("missing scope OR.Queues.Read"), "{q}");
    assert!(
        q.contains("add OR.Queues.Read to sources.acme.auth.scopes"),
        "{q}"
    );
    assert_eq!(
        out.lines().count(),
        6,
        "header, token, folder-access, two datasets, change-capture:\n{out}"
    );

    // JSON for scripts: the same findings.
    let (code, out, _) = check(&config, &["--dataset", "queue-items", "--json"]).await;
    assert_eq!(code, 1);
    let findings: serde_json::Value = serde_json::from_str(&out).unwrap();
    let q = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "queue-items")
        .unwrap();
    assert_eq!(q["ok"], false);
    assert_eq!(q["status"], "missing scope OR.Queues.Read");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_with_a_good_application_and_explains_a_wrong_secret() {
    let sim = RunningSim::start(sim_config(OR_READ_SCOPES)).await.unwrap();
    let dir = TempDir::new("good");
    let config = write_config(&dir.0, &sim, DEMO_CLIENT_SECRET, OR_READ_SCOPES);
    let (code, out, err) = check(&config, &[]).await;
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    // Header, token, folder-access, one line per dataset and change-capture, all ok.
    assert_eq!(
        out.lines().count(),
        4 + fleet_core::dataset::all().len(),
        "{out}"
    );
    assert!(
        line(&out, "change-capture").contains("ok: modifications are stamped"),
        "{out}"
    );
    for l in out.lines().skip(1) {
        assert!(
            l.split_whitespace().nth(2).unwrap().starts_with("ok"),
            "{l}"
        );
    }

    let wrong = "not-the-secret-4f9c";
    let config = write_config(&dir.0, &sim, wrong, OR_READ_SCOPES);
    let (code, out, err) = check(&config, &[]).await;
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    let token = line(&out, "token");
    assert!(token.contains("invalid_client"), "{token}");
    assert!(
        token.contains("client_secret"),
        "the fix names the field: {token}"
    );
    assert_eq!(out.lines().count(), 2, "nothing else is tried:\n{out}");
    assert!(
        !out.contains(wrong) && !err.contains(wrong),
        "the secret is never printed"
    );
    assert!(!out.contains(DEMO_CLIENT_SECRET) && !err.contains(DEMO_CLIENT_SECRET));

    // A login source that never logged in: the fix is the login command.
    let text = format!(
        r#"
[[sources]]
name = "acme"
deployment = {{ kind = "cloud", base_url = "{base}", organization = "{DEMO_ORG}", tenant = "{DEMO_TENANT}" }}
auth = {{ method = "refresh-token", client_id = "{DEMO_LOGIN_CLIENT_ID}", scopes = ["OR.Jobs.Read", "offline_access"] }}

[token_cache]
file = "{file}"
allow_unsealed_refresh_tokens = true
"#,
        base = sim.base_url(),
        file = dir.0.join("tokens.json").display()
    );
    let config = dir.0.join("login.toml");
    std::fs::write(&config, text).unwrap();
    let (code, out, err) = check(&config, &[]).await;
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    let token = line(&out, "token");
    assert!(token.contains("login_required"), "{token}");
    assert!(
        token.contains("uipath-fleet login --source acme"),
        "{token}"
    );
    sim.stop().await;
}

/// A source reading with a personal access token, with `[[backfills]]` naming what it copies.
fn write_pat_config(dir: &Path, sim: &RunningSim, token: &str, file: &str) -> PathBuf {
    let text = format!(
        r#"
[[sources]]
name = "acme"
deployment = {{ kind = "cloud", base_url = "{base}", organization = "{DEMO_ORG}", tenant = "{DEMO_TENANT}" }}
auth = {{ method = "personal-access-token", token = "{token}" }}
timeout_secs = 10

[[backfills]]
sources = ["acme"]
datasets = ["jobs", "dataservice/Invoice"]
from = "2024-01-01T00:00:00Z"
to = "2024-02-01T00:00:00Z"

[[syncs]]
sources = ["acme"]
datasets = ["dataservice/Invoices", "Jobs"]
every = "15m"
"#,
        base = sim.base_url(),
    );
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reads_the_configured_data_service_entities_and_names_what_is_missing() {
    let mut config = sim_config(OR_READ_SCOPES);
    let pat = |token: &str, scopes: &[&str]| uipath_sim::identity::config::PatConfig {
        token: token.into(),
        user: uipath_sim::config::DEMO_USER.into(),
        org: DEMO_ORG.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        expires_in_secs: None,
    };
    let full = "pat-full-5b1d0c";
    let schema_only = "pat-schema-9e27aa";
    config.identity.personal_access_tokens = vec![
        pat(
            full,
            &["OR.Jobs.Read", "OR.Folders.Read", "DataService.Data.Read"],
        ),
        pat(
            schema_only,
            &["OR.Jobs.Read", "OR.Folders.Read", "DataService.Schema.Read"],
        ),
    ];
    let sim = RunningSim::start(config).await.unwrap();
    let dir = TempDir::new("dataservice");

    // Without --dataset, exactly what the backfills and syncs read is checked: jobs once
    // (named twice, in two spellings), Invoice, and the misspelt `Invoices`.
    let config = write_pat_config(&dir.0, &sim, full, "full.toml");
    let (code, out, err) = check(&config, &[]).await;
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(line(&out, "token").contains("ok"), "{out}");
    assert!(line(&out, "folder-access").contains("ok"), "{out}");
    let entities = line(&out, "dataservice");
    assert!(
        entities.contains("ok: 3 entities (Customer, Invoice, SupportTicket)"),
        "{entities}"
    );
    assert!(line(&out, "jobs").contains("ok: readable"), "{out}");
    assert!(
        line(&out, "dataservice/Invoice").contains("ok: readable"),
        "{out}"
    );
    let typo = line(&out, "dataservice/Invoices");
    assert!(
        typo.contains("no entity `Invoices` (entities: Customer, Invoice, SupportTicket)"),
        "{typo}"
    );
    assert_eq!(
        out.lines().count(),
        8,
        "header, token, folder-access, entities, three datasets, change-capture:\n{out}"
    );
    assert!(
        !out.contains(full) && !err.contains(full),
        "the token is never printed"
    );

    // A token that may read the schema but not the records: the scope, precisely.
    let config = write_pat_config(&dir.0, &sim, schema_only, "schema.toml");
    let (code, out, err) = check(&config, &["--dataset", "dataservice/Invoice"]).await;
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        line(&out, "dataservice").contains("ok: 3 entities"),
        "{out}"
    );
    let invoice = line(&out, "dataservice/Invoice");
    assert!(
        invoice.contains("missing scope DataService.Data.Read"),
        "{invoice}"
    );
    assert!(
        invoice.contains("create a personal access token that has it"),
        "{invoice}"
    );

    // An application (client credentials) cannot read Data Service at all: say how to
    // get a user token instead of failing on a 403.
    let config = write_config(&dir.0, &sim, DEMO_CLIENT_SECRET, OR_READ_SCOPES);
    let (code, out, err) = check(&config, &["--dataset", "dataservice/Invoice"]).await;
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    let invoice = line(&out, "dataservice/Invoice");
    assert!(invoice.contains("accepts only user tokens"), "{invoice}");
    assert!(
        invoice.contains("uipath-fleet login --source acme"),
        "{invoice}"
    );
    assert_eq!(out.lines().count(), 3, "header, token, the entity:\n{out}");
    sim.stop().await;
}

/// Syncs of Jobs, Releases, Robots and Users rely on UiPath stamping
/// `LastModificationTime` when a record changes; a tenant that does not is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_a_tenant_that_does_not_stamp_modifications() {
    let mut config = sim_config(OR_READ_SCOPES);
    config.data.stamp_modifications = false;
    let sim = RunningSim::start(config).await.unwrap();
    let dir = TempDir::new("stamps");
    let config = write_config(&dir.0, &sim, DEMO_CLIENT_SECRET, OR_READ_SCOPES);
    let (code, out, err) = check(&config, &["--dataset", "jobs"]).await;
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(line(&out, "jobs").contains("ok: readable"), "{out}");
    let l = line(&out, "change-capture");
    assert!(
        l.contains("this tenant does not stamp modifications; syncs of this set will miss changes"),
        "{l}"
    );
    assert!(l.contains("20 of 20 finished jobs"), "{l}");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_only_for_datasets_the_configuration_reads() {
    let sim = RunningSim::start(sim_config(OR_READ_SCOPES)).await.unwrap();
    let dir = TempDir::new("reads");
    // Scopes enough for jobs; the queue datasets would need OR.Queues.Read.
    let scopes = ["OR.Folders.Read", "OR.Jobs.Read"];
    let config = write_config(&dir.0, &sim, DEMO_CLIENT_SECRET, &scopes);

    // Nothing reads the queue datasets: their rows inform, the check passes.
    let (code, out, err) = check(&config, &[]).await;
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    for d in QUEUE_DATASETS {
        let l = line(&out, d);
        assert!(l.contains("info: missing scope OR.Queues.Read"), "{l}");
    }
    assert!(line(&out, "jobs").contains("ok"), "{out}");
    assert!(out.contains("not counted as failures"), "{out}");

    // A backfill of queue items: the same missing scope now fails the check.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "\n[[backfills]]\nsources = [\"acme\"]\ndatasets = [\"queue-items\"]\nfrom = \"2024-01-01\"\nto = \"2024-02-01\"\n",
    );
    std::fs::write(&config, text).unwrap();
    let (code, out, err) = check(&config, &[]).await;
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    let l = line(&out, "queue-items");
    assert!(
        l.contains("missing scope OR.Queues.Read") && !l.contains("info:"),
        "{l}"
    );
    assert!(err.contains("1 of"), "{err}");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_organization_and_tenant_of_a_url_that_does_not_exist() {
    let sim = RunningSim::start(sim_config(OR_READ_SCOPES)).await.unwrap();
    let dir = TempDir::new("wrong-org");
    let config = write_config(&dir.0, &sim, DEMO_CLIENT_SECRET, OR_READ_SCOPES);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("organization = \"{DEMO_ORG}\""),
        "organization = \"demo-0rg\"",
    );
    std::fs::write(&config, text).unwrap();
    let (code, out, err) = check(&config, &["--dataset", "jobs"]).await;
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    let folders = line(&out, "folder-access");
    for words in [
        "organization `demo-0rg`",
        "tenant `DefaultTenant`",
        "Admin > Tenants",
        "address of Orchestrator in your browser",
        "sources.acme.deployment.organization",
    ] {
        assert!(folders.contains(words), "`{words}` not in: {folders}");
    }
    assert!(!out.contains(DEMO_CLIENT_SECRET) && !err.contains(DEMO_CLIENT_SECRET));
    sim.stop().await;
}
