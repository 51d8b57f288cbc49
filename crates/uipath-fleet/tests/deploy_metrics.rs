//! The deployment files under `deploy/` checked against the code they deploy.
//!
//! - Every YAML file parses, the Grafana dashboard parses, and the compose stack is wired
//!   consistently: every service has a health check, dependencies wait for health, the
//!   configuration is mounted read-only, ports agree between the fleet configuration, the
//!   health checks and the Prometheus scrape configuration, and the fleet configuration
//!   the stack mounts passes `uipath-fleet validate` with the stack's environment.
//! - The Dockerfile, which cannot be built here (no registry), is checked statically:
//!   multi-stage, a pinned Rust builder at least as new as the workspace's rust-version,
//!   a non-root numeric user, the one binary as entrypoint, no secret in it.
//! - A live fleet — `uipath-fleet coordinator` and `uipath-fleet worker` processes on the
//!   real RabbitMQ and Redis under the test's own prefix, the simulator in this process —
//!   runs a small backfill; then the real `/metrics` of both processes are scraped and
//!   every `uipath_fleet_*` metric named in the alert rules or the dashboard must be
//!   exported with a sample (and every exact label matcher must match a sample). The
//!   compose health checks themselves (bash over /dev/tcp) are run against the live
//!   coordinator, worker and simulator, and must fail on a path that does not exist.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use fleet_testkit::process::{self, tail, without_fleet_env};
use serde::Deserialize as _;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use tokio::io::BufReader;

/// The bearer token the coordinator process is given (through the environment, like
/// the compose stack does).
const TOKEN: &str = "deploy-metrics-t0ken-5f2e";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every document of a YAML file, with `<<:` merge keys applied (the compose file uses
/// anchors; Kubernetes manifests may hold several documents).
fn load_yaml_docs(path: &Path) -> Vec<Yaml> {
    let text = read(path);
    let mut docs = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let mut value = Yaml::deserialize(document)
            .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
        value
            .apply_merge()
            .unwrap_or_else(|e| panic!("{}: bad merge key: {e}", path.display()));
        docs.push(value);
    }
    docs
}

/// A single-document YAML file.
fn load_yaml(path: &Path) -> Yaml {
    let mut docs = load_yaml_docs(path);
    assert_eq!(docs.len(), 1, "{}: one YAML document", path.display());
    docs.pop().unwrap()
}

fn load_json(path: &Path) -> Json {
    serde_json::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// Every `.yml`/`.yaml` file under `dir`, recursively.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(yaml_files(&path));
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn s(v: &Yaml) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

fn seq(v: &Yaml) -> &Vec<Yaml> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("expected a list, got {v:?}"))
}

fn compose() -> Yaml {
    load_yaml(&deploy_dir().join("docker-compose.yml"))
}

/// The port of a `host:port` listen address.
fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {addr}"))
}

/// The bash script of a compose health check `["CMD", "bash", "-c", SCRIPT]`.
fn bash_check(compose: &Yaml, service: &str) -> String {
    let test = seq(&compose["services"][service]["healthcheck"]["test"]);
    let words: Vec<&str> = test.iter().map(s).collect();
    assert_eq!(
        words[..3],
        ["CMD", "bash", "-c"],
        "{service}: the image has no HTTP client; its check runs bash"
    );
    words[3].to_owned()
}

/// `${NAME:-default}` replaced by its default (what compose does with NAME unset).
fn compose_defaults(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .unwrap_or_else(|| panic!("unclosed ${{ in {text}"))
            + start;
        let inner = &rest[start + 2..end];
        let (_, default) = inner
            .split_once(":-")
            .unwrap_or_else(|| panic!("`${{{inner}}}` has no default: the stack needs it set"));
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------
// Metric references in PromQL and the Prometheus text format.
// ---------------------------------------------------------------------------------------

/// One `uipath_fleet_*` metric named in an expression, with its exact label matchers
/// (`label="value"`; regex and negative matchers are not checked).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct MetricRef {
    name: String,
    exact: Vec<(String, String)>,
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Every `uipath_fleet_*` metric named in a PromQL expression.
fn metric_refs(expr: &str) -> Vec<MetricRef> {
    let mut out = Vec::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !is_ident(chars[i]) || (i > 0 && is_ident(chars[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        if !name.starts_with("uipath_fleet_") {
            continue;
        }
        let mut exact = Vec::new();
        if chars.get(i) == Some(&'{') {
            let close = chars[i..]
                .iter()
                .position(|&c| c == '}')
                .unwrap_or_else(|| panic!("unclosed selector in {expr}"))
                + i;
            let body: String = chars[i + 1..close].iter().collect();
            for (label, op, value) in matchers(&body) {
                if op == "=" && label != "job" && label != "instance" {
                    exact.push((label, value));
                }
            }
            i = close + 1;
        }
        out.push(MetricRef { name, exact });
    }
    out
}

/// The matchers of a selector body: `a="x", b=~"y|z"` → (label, operator, value).
fn matchers(body: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let op_at = rest
            .find(['=', '!'])
            .unwrap_or_else(|| panic!("no operator in matcher `{rest}`"));
        let label = rest[..op_at].trim().to_owned();
        let after = &rest[op_at..];
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| after.starts_with(op))
            .unwrap();
        let after = after[op.len()..].trim_start();
        assert!(after.starts_with('"'), "unquoted matcher value in `{body}`");
        let end = after[1..]
            .find('"')
            .unwrap_or_else(|| panic!("unclosed value in `{body}`"))
            + 1;
        out.push((label, op.to_owned(), after[1..end].to_owned()));
        rest = after[end + 1..].trim_start().trim_start_matches(',').trim();
    }
    out
}

/// A `/metrics` page: family types and every sample's name and labels.
#[derive(Debug, Default)]
struct Scrape {
    types: BTreeMap<String, String>,
    samples: Vec<(String, BTreeMap<String, String>)>,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut scrape = Scrape::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("`# TYPE name kind`");
                scrape.types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = line[..name_end].to_owned();
            let mut labels = BTreeMap::new();
            if line[name_end..].starts_with('{') {
                let close = line.rfind('}').expect("closed label set");
                for (label, _, value) in matchers(&line[name_end + 1..close]) {
                    labels.insert(label, value);
                }
            }
            scrape.samples.push((name, labels));
        }
        scrape
    }

    /// Whether `r` is exported with a sample matching its exact matchers; a histogram may
    /// be named by its `_bucket`, `_sum` or `_count` series or by its family name.
    fn check(&self, r: &MetricRef) -> Result<(), String> {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                r.name
                    .strip_suffix(suffix)
                    .filter(|base| self.types.get(*base).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(&r.name);
        let Some(kind) = self.types.get(family) else {
            return Err(format!("{} is not exported", r.name));
        };
        let series: Vec<&BTreeMap<String, String>> = self
            .samples
            .iter()
            .filter(|(name, _)| {
                if kind == "histogram" && family == r.name {
                    name.strip_prefix(family)
                        .is_some_and(|s| matches!(s, "_bucket" | "_sum" | "_count"))
                } else {
                    *name == r.name
                }
            })
            .map(|(_, labels)| labels)
            .collect();
        if series.is_empty() {
            return Err(format!("{} has no sample", r.name));
        }
        for (label, value) in &r.exact {
            if !series.iter().any(|l| l.get(label) == Some(value)) {
                return Err(format!("{} has no sample with {label}=\"{value}\"", r.name));
            }
        }
        Ok(())
    }
}

/// Every PromQL expression of the alert rules and the dashboard, with where it is.
fn deploy_exprs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let alerts = load_yaml(&deploy_dir().join("prometheus/alerts.yml"));
    for group in seq(&alerts["groups"]) {
        for rule in seq(&group["rules"]) {
            out.push((
                format!("alert {}", s(&rule["alert"])),
                s(&rule["expr"]).to_owned(),
            ));
        }
    }
    let dashboard = load_json(&deploy_dir().join("grafana/uipath-fleet.json"));
    for panel in dashboard_panels(&dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push((
                format!("panel {}", panel["title"]),
                target["expr"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

/// Every panel of a dashboard, rows' nested panels included, rows themselves excluded.
fn dashboard_panels(dashboard: &Json) -> Vec<&Json> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] == "row" {
            out.extend(panel["panels"].as_array().into_iter().flatten());
        } else {
            out.push(panel);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Static checks.
// ---------------------------------------------------------------------------------------

#[test]
fn the_metric_reference_checker_rejects_what_is_not_exported() {
    let scrape = Scrape::parse(
        "# TYPE uipath_fleet_worker_jobs_total counter\n\
         uipath_fleet_worker_jobs_total{outcome=\"completed\"} 3\n\
         # TYPE uipath_fleet_worker_slice_duration_seconds histogram\n\
         uipath_fleet_worker_slice_duration_seconds_bucket{lane=\"backfill\",le=\"+Inf\"} 1\n\
         uipath_fleet_worker_slice_duration_seconds_sum{lane=\"backfill\"} 0.2\n\
         uipath_fleet_worker_slice_duration_seconds_count{lane=\"backfill\"} 1\n\
         # TYPE uipath_fleet_worker_deferrals_total counter\n",
    );
    let refs = metric_refs(
        r#"sum(rate(uipath_fleet_worker_jobs_total{job=~"w", outcome="completed"}[5m]))
           / histogram_quantile(0.9, rate(uipath_fleet_worker_slice_duration_seconds_bucket[5m]))
           + uipath_fleet_worker_slice_duration_seconds_count + up"#,
    );
    assert_eq!(
        refs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        [
            "uipath_fleet_worker_jobs_total",
            "uipath_fleet_worker_slice_duration_seconds_bucket",
            "uipath_fleet_worker_slice_duration_seconds_count"
        ]
    );
    assert_eq!(refs[0].exact, [("outcome".into(), "completed".into())]);
    for r in &refs {
        scrape.check(r).unwrap();
    }
    let bad = |expr: &str| scrape.check(&metric_refs(expr)[0]).unwrap_err();
    assert!(bad("uipath_fleet_worker_nonexistent_total").contains("not exported"));
    assert!(bad("uipath_fleet_worker_deferrals_total").contains("no sample"));
    assert!(bad(r#"uipath_fleet_worker_jobs_total{outcome="failed"}"#).contains("failed"));
    assert!(bad("uipath_fleet_worker_jobs_total_bucket").contains("not exported"));
}

#[test]
fn every_deploy_file_parses_and_the_compose_stack_is_wired() {
    let dir = deploy_dir();
    let files = yaml_files(&dir);
    for f in &files {
        load_yaml_docs(f);
    }
    let names: BTreeSet<String> = files
        .iter()
        .map(|f| f.strip_prefix(&dir).unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "docker-compose.yml",
        "prometheus/alerts.yml",
        "prometheus/prometheus.yml",
    ] {
        assert!(names.contains(expected), "{expected} missing: {names:?}");
    }

    // The dashboard: Grafana 10 schema, a templated Prometheus datasource on every panel.
    let dashboard = load_json(&dir.join("grafana/uipath-fleet.json"));
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36);
    assert!(
        dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "DS_PROMETHEUS"
                && v["type"] == "datasource"
                && v["query"] == "prometheus"),
        "a DS_PROMETHEUS datasource variable"
    );
    let panels = dashboard_panels(&dashboard);
    let mut ids = BTreeSet::new();
    for p in &panels {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "duplicate panel id");
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", p["title"]);
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", p["title"]);
        for t in targets {
            assert!(!t["expr"].as_str().unwrap().trim().is_empty());
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}");
        }
    }
    let all: String = deploy_exprs().into_iter().map(|(_, e)| e + "\n").collect();
    for topic in [
        "uipath_fleet_worker_records_published_total",
        "uipath_fleet_coordinator_queue_depth_messages",
        "uipath_fleet_worker_throttled_total",
        "uipath_fleet_worker_token_refreshes_total",
        "uipath_fleet_worker_slice_duration_seconds_bucket",
        "queue=\"dead\"",
        "uipath_fleet_worker_jobs_total",
        "uipath_fleet_worker_jobs_in_flight",
        "uipath_fleet_worker_backend_up",
        "uipath_fleet_coordinator_leader",
    ] {
        assert!(all.contains(topic), "nothing shows {topic}");
    }

    // Alert rules: the Prometheus rule-file shape, unique names, the alerts issue 7 asks for.
    let alerts = load_yaml(&dir.join("prometheus/alerts.yml"));
    let mut alert_names = BTreeSet::new();
    for group in seq(&alerts["groups"]) {
        assert!(!s(&group["name"]).is_empty());
        for rule in seq(&group["rules"]) {
            let name = s(&rule["alert"]);
            assert!(
                alert_names.insert(name.to_owned()),
                "duplicate alert {name}"
            );
            assert!(!s(&rule["expr"]).trim().is_empty(), "{name}: expr");
            let r#for = s(&rule["for"]);
            assert!(
                r#for.ends_with('m') || r#for.ends_with('s'),
                "{name}: for {for}"
            );
            assert!(
                matches!(
                    s(&rule["labels"]["severity"]),
                    "info" | "warning" | "critical"
                ),
                "{name}: severity"
            );
            assert!(!s(&rule["annotations"]["summary"]).is_empty(), "{name}");
        }
    }
    for expected in [
        "UipathFleetDeadLetterQueueGrowing",
        "UipathFleetThrottledRateHigh",
        "UipathFleetNoProgress",
        "UipathFleetWorkerBackendDown",
        "UipathFleetNoWorkers",
        "UipathFleetNoLeader",
    ] {
        assert!(alert_names.contains(expected), "alert {expected} missing");
    }

    // Prometheus: the rules are loaded from where the compose file mounts them.
    let prometheus = load_yaml(&dir.join("prometheus/prometheus.yml"));
    assert!(seq(&prometheus["rule_files"])
        .iter()
        .any(|f| s(f) == "/etc/prometheus/alerts.yml"));

    // The compose stack.
    let compose = compose();
    let services = compose["services"].as_mapping().expect("services");
    let service_names: BTreeSet<&str> = services.keys().map(s).collect();
    for expected in [
        "rabbitmq",
        "redis",
        "sim",
        "coordinator",
        "worker",
        "sink",
        "prometheus",
        "grafana",
    ] {
        assert!(service_names.contains(expected), "service {expected}");
    }
    let svc = |name: &str| &compose["services"][name];
    assert_eq!(s(&svc("rabbitmq")["image"]), "rabbitmq:3.13-management");
    assert!(seq(&svc("rabbitmq")["ports"])
        .iter()
        .any(|p| s(p) == "15672:15672"));
    assert_eq!(svc("worker")["deploy"]["replicas"].as_u64(), Some(3));
    for (name, service) in services {
        let name = s(name);
        let test = seq(&service["healthcheck"]["test"]);
        assert!(
            matches!(s(&test[0]), "CMD" | "CMD-SHELL"),
            "{name}: a health check"
        );
        if let Some(deps) = service["depends_on"].as_mapping() {
            for (dep, how) in deps {
                assert!(service_names.contains(s(dep)), "{name} depends on {dep:?}");
                assert_eq!(s(&how["condition"]), "service_healthy", "{name} → {dep:?}");
            }
        }
        let monitoring = matches!(name, "prometheus" | "grafana");
        assert_eq!(
            service["profiles"]
                .as_sequence()
                .is_some_and(|p| p.iter().any(|p| s(p) == "monitoring")),
            monitoring,
            "{name}: only prometheus and grafana are in the monitoring profile"
        );
        // Bind mounts name files that exist.
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let source = match volume {
                Yaml::String(short) => short.split(':').next().unwrap().to_owned(),
                long => s(&long["source"]).to_owned(),
            };
            if source.starts_with('.') {
                assert!(dir.join(&source).exists(), "{name} mounts {source}");
            }
        }
    }
    let context = dir.join(s(&svc("coordinator")["build"]["context"]));
    assert!(context
        .join(s(&svc("coordinator")["build"]["dockerfile"]))
        .is_file());
    for name in ["coordinator", "worker", "sink"] {
        let service = svc(name);
        let command: Vec<&str> = seq(&service["command"]).iter().map(s).collect();
        assert_eq!(command[0], name);
        assert!(
            command
                .windows(2)
                .any(|w| w == ["--config", "/etc/uipath-fleet/fleet.toml"]),
            "{name}: {command:?}"
        );
        let mount = seq(&service["volumes"])
            .iter()
            .find(|v| v["target"].as_str() == Some("/etc/uipath-fleet/fleet.toml"))
            .unwrap_or_else(|| panic!("{name} mounts the configuration"));
        assert_eq!(s(&mount["source"]), "./fleet.compose.toml");
        assert_eq!(
            mount["read_only"].as_bool(),
            Some(true),
            "{name}: read-only"
        );
        let token = s(&service["environment"]["UIPATH_FLEET_API_TOKEN"]);
        assert!(
            token.starts_with("${UIPATH_FLEET_API_TOKEN:-"),
            "{name}: the token comes from the environment, with a dev default: {token}"
        );
    }
    let sink: Vec<&str> = seq(&svc("sink")["command"]).iter().map(s).collect();
    assert!(sink.windows(2).any(|w| w == ["--dir", "/data"]));
    assert!(seq(&svc("sink")["volumes"])
        .iter()
        .any(|v| v.as_str().is_some_and(|v| v.ends_with(":/data"))));

    // Ports agree: fleet configuration ↔ health checks ↔ published ports ↔ scrape config.
    let config: toml::Value = toml::from_str(&read(&dir.join("fleet.compose.toml"))).unwrap();
    let coordinator_port = port_of(config["coordinator"]["listen"].as_str().unwrap());
    let worker_port = port_of(config["worker"]["listen"].as_str().unwrap());
    let sim_command: Vec<&str> = seq(&svc("sim")["command"]).iter().map(s).collect();
    let sim_port =
        port_of(sim_command[sim_command.iter().position(|&a| a == "--listen").unwrap() + 1]);
    for (service, port, path) in [
        ("coordinator", coordinator_port, "/readyz"),
        ("worker", worker_port, "/readyz"),
        ("sim", sim_port, "/_sim/health"),
    ] {
        let script = bash_check(&compose, service);
        assert!(
            script.contains(&format!("/dev/tcp/127.0.0.1/{port} "))
                && script.contains(&format!("GET {path} HTTP/1.0")),
            "{service}: {script}"
        );
    }
    assert!(seq(&svc("coordinator")["ports"])
        .iter()
        .any(|p| s(p) == format!("{coordinator_port}:{coordinator_port}")));
    assert!(seq(&svc("worker")["expose"])
        .iter()
        .any(|p| s(p) == worker_port.to_string()));
    let scrape_text = serde_yaml::to_string(&prometheus["scrape_configs"]).unwrap();
    assert!(scrape_text.contains(&format!("coordinator:{coordinator_port}")));
    assert!(scrape_text.contains(&format!("port: {worker_port}")));

    // The mounted configuration carries no secret and is valid with the stack's
    // environment (compose's defaults), and invalid without the token it refers to.
    let text = read(&dir.join("fleet.compose.toml"));
    for secret in [
        "fleet-demo-secret",
        "amqp://",
        "client_secret = \"",
        "api_token = \"",
    ] {
        assert!(
            !text.contains(secret),
            "fleet.compose.toml contains {secret}"
        );
    }
    let env = svc("coordinator")["environment"].as_mapping().unwrap();
    let validate = |drop: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_uipath-fleet"));
        command
            .args(["validate", "--config"])
            .arg(dir.join("fleet.compose.toml"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("UIPATH_FLEET_") {
                command.env_remove(key);
            }
        }
        for (key, value) in env {
            if Some(s(key)) != drop && s(key) != "UIPATH_FLEET_CONFIG" {
                command.env(s(key), compose_defaults(s(value)));
            }
        }
        command.output().expect("run uipath-fleet validate")
    };
    let ok = validate(None);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let missing = validate(Some("UIPATH_FLEET_API_TOKEN"));
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("UIPATH_FLEET_API_TOKEN"));

    // Grafana loads the dashboard from where the compose file mounts it.
    let provider = load_yaml(&dir.join("grafana/provisioning/dashboards/uipath-fleet.yml"));
    let path = s(&provider["providers"][0]["options"]["path"]);
    assert!(seq(&svc("grafana")["volumes"])
        .iter()
        .any(|v| s(v) == format!("./grafana/uipath-fleet.json:{path}/uipath-fleet.json:ro")));
}

/// Dockerfile instructions with continuation lines joined and comments dropped.
fn dockerfile_instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            if !current.trim().is_empty() {
                out.push(current.trim().to_owned());
            }
            current.clear();
        }
    }
    out
}

/// `1.89` → (1, 89).
fn version(v: &str) -> (u32, u32) {
    let mut parts = v
        .split('.')
        .map(|p| p.parse::<u32>().expect("numeric version"));
    (parts.next().unwrap(), parts.next().unwrap_or(0))
}

#[test]
fn the_dockerfile_builds_the_one_binary_into_a_non_root_image() {
    let dir = deploy_dir();
    let text = read(&dir.join("Dockerfile"));
    let instructions = dockerfile_instructions(&text);
    let args: BTreeMap<String, String> = instructions
        .iter()
        .filter_map(|i| i.strip_prefix("ARG "))
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let expand = |s: &str| {
        args.iter()
            .fold(s.to_owned(), |s, (k, v)| s.replace(&format!("${{{k}}}"), v))
    };

    // Stages: a Rust builder pinned at least at the workspace's rust-version, then a
    // slim runtime.
    let stages: Vec<(usize, String)> = instructions
        .iter()
        .enumerate()
        .filter(|(_, i)| i.starts_with("FROM "))
        .map(|(n, i)| (n, expand(i)))
        .collect();
    assert!(stages.len() >= 2, "multi-stage: {stages:?}");
    let builder = &stages[0].1;
    let image = builder.split_whitespace().nth(1).unwrap();
    let tag = image
        .strip_prefix("rust:")
        .unwrap_or_else(|| panic!("the builder is the official rust image: {builder}"));
    assert!(tag.contains("-slim"), "{tag}");
    assert!(builder.ends_with(" AS builder"), "{builder}");
    let workspace = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml"));
    let msrv = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("workspace rust-version");
    assert!(
        version(tag.split('-').next().unwrap()) >= version(&msrv),
        "rust:{tag} is older than the workspace's rust-version {msrv}"
    );
    let (runtime_at, runtime) = stages.last().unwrap();
    let runtime_image = runtime.split_whitespace().nth(1).unwrap();
    assert!(
        (runtime_image.starts_with("debian:") && runtime_image.ends_with("-slim"))
            || runtime_image.starts_with("gcr.io/distroless/cc"),
        "a small runtime: {runtime_image}"
    );

    // The builder builds exactly the binary, locked, with cache mounts.
    let build = instructions
        .iter()
        .find(|i| i.starts_with("RUN ") && i.contains("cargo build"))
        .expect("a cargo build step");
    for needed in [
        "--release",
        "--locked",
        "-p uipath-fleet",
        "--mount=type=cache,target=/usr/local/cargo/registry",
        "--mount=type=cache,target=/src/target",
    ] {
        assert!(build.contains(needed), "cargo build step lacks {needed}");
    }
    for copy in instructions[..*runtime_at]
        .iter()
        .filter_map(|i| i.strip_prefix("COPY "))
    {
        let sources: Vec<&str> = copy.split_whitespace().collect();
        for source in &sources[..sources.len() - 1] {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            assert!(
                root.join(source).exists(),
                "COPY {source}: not in the repository"
            );
        }
    }

    // The runtime stage: only the binary, a non-root numeric user, the binary as entrypoint.
    let runtime_steps = &instructions[*runtime_at..];
    let copies: Vec<&String> = runtime_steps
        .iter()
        .filter(|i| i.starts_with("COPY") || i.starts_with("ADD"))
        .collect();
    assert_eq!(copies.len(), 1, "only the binary is copied: {copies:?}");
    assert!(copies[0].starts_with("COPY --from=builder ") && copies[0].contains("uipath-fleet"));
    let user = runtime_steps
        .iter()
        .rev()
        .find_map(|i| i.strip_prefix("USER "))
        .expect("a USER in the runtime stage");
    let uid = user.split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().is_ok_and(|u| u >= 1000),
        "a numeric non-root uid (Kubernetes' runAsNonRoot checks it): {user}"
    );
    assert!(
        text.contains("--uid 10001"),
        "the user exists with uid 10001"
    );
    assert_eq!(
        runtime_steps
            .iter()
            .rev()
            .find_map(|i| i.strip_prefix("ENTRYPOINT ")),
        Some(r#"["uipath-fleet"]"#)
    );
    let exposed: BTreeSet<&str> = runtime_steps
        .iter()
        .filter_map(|i| i.strip_prefix("EXPOSE "))
        .flat_map(str::split_whitespace)
        .collect();
    for port in ["8700", "9091", "8080"] {
        assert!(exposed.contains(port), "EXPOSE {port}");
    }
    assert!(runtime_steps.iter().any(|i| i.starts_with("CMD ")));

    // No secret is baked in.
    for i in &instructions {
        if let Some(rest) = i.strip_prefix("ENV ").or_else(|| i.strip_prefix("ARG ")) {
            let upper = rest.to_ascii_uppercase();
            for word in ["SECRET", "TOKEN", "PASSWORD", "KEY", "AMQP", "REDIS"] {
                assert!(!upper.contains(word), "a secret in the image: {i}");
            }
        }
        assert!(
            !(i.starts_with("ADD ") && i.contains("://")),
            "remote ADD: {i}"
        );
    }

    // The context filter keeps the build context to what the builder copies.
    let ignore = read(&dir.join("Dockerfile.dockerignore"));
    let lines: Vec<&str> = ignore
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(lines.first(), Some(&"*"), "everything excluded first");
    for keep in ["!Cargo.toml", "!Cargo.lock", "!crates/"] {
        assert!(lines.contains(&keep), "{keep}");
    }
}

// ---------------------------------------------------------------------------------------
// The live fleet.
// ---------------------------------------------------------------------------------------

/// A running `uipath-fleet coordinator` and the base URL of its HTTP server.
struct CoordinatorProcess {
    child: tokio::process::Child,
    url: String,
    /// Its stdout after the ready line (kept open: it prints a last line at exit).
    rest: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    log: PathBuf,
}

impl CoordinatorProcess {
    async fn start(fleet: &Fleet, config: &Path) -> CoordinatorProcess {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_uipath-fleet"));
        command.arg("coordinator").arg("--config").arg(config);
        without_fleet_env(&mut command)
            .env("UIPATH_FLEET_AMQP_URL", &fleet.amqp_url)
            .env("UIPATH_FLEET_API_TOKEN", TOKEN)
            .env("RUST_LOG", "warn,fleet_coordinator=info");
        let log = fleet.dir.join("coordinator.log");
        let started = process::start(&mut command, &log, "coordinator").await;
        let line = started.first_line;
        let url = line
            .split("API on ")
            .nth(1)
            .and_then(|r| r.split("/v1").next())
            .unwrap_or_else(|| panic!("unexpected ready line: {line}"))
            .to_owned();
        CoordinatorProcess {
            child: started.child,
            url,
            rest: started.stdout,
            log,
        }
    }

    /// SIGTERM, then the exit code (at most 30 s), the rest of stdout and the log's tail.
    async fn stop(mut self) -> (Option<i32>, String) {
        process::terminate(&self.child);
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("coordinator did not stop; log:\n{}", tail(&self.log)))
            .unwrap();
        let rest = process::rest_of(&mut self.rest).await;
        (status.code(), format!("{rest}{}", tail(&self.log)))
    }
}

/// GET `url`: status and body (10 s at most).
async fn get(http: &reqwest::Client, url: &str) -> (u16, String) {
    let response = http
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Runs a compose health-check script (pointed at `port` instead of the container's
/// port) and returns whether it passed.
async fn run_check(script: &str, container_port: u16, port: u16, path: Option<&str>) -> bool {
    let mut script = script.replace(
        &format!("/dev/tcp/127.0.0.1/{container_port} "),
        &format!("/dev/tcp/127.0.0.1/{port} "),
    );
    if let Some(path) = path {
        let start = script.find("GET ").unwrap() + 4;
        let end = script[start..].find(' ').unwrap() + start;
        script.replace_range(start..end, path);
    }
    let status = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new("bash")
            .args(["-c", &script])
            .kill_on_drop(true)
            .status(),
    )
    .await
    .expect("the health check ends within 20 s")
    .expect("run bash");
    status.success()
}

/// Scrapes `url` until every reference in `refs` holds (60 s at most); the failures
/// otherwise.
async fn scrape_until(
    http: &reqwest::Client,
    url: &str,
    refs: &BTreeMap<MetricRef, Vec<String>>,
) -> Vec<String> {
    let start = Instant::now();
    loop {
        let (status, text) = get(http, url).await;
        assert_eq!(status, 200, "GET {url}");
        let scrape = Scrape::parse(&text);
        let failures: Vec<String> = refs
            .iter()
            .filter_map(|(r, used_by)| {
                scrape
                    .check(r)
                    .err()
                    .map(|e| format!("{e} (used by {})", used_by.join(", ")))
            })
            .collect();
        if failures.is_empty() || start.elapsed() > Duration::from_secs(60) {
            return failures;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every reference of the alert rules and the dashboard, split by the process that
/// exports it.
fn references() -> (
    BTreeMap<MetricRef, Vec<String>>,
    BTreeMap<MetricRef, Vec<String>>,
) {
    let (mut coordinator, mut worker) = (BTreeMap::new(), BTreeMap::new());
    for (place, expr) in deploy_exprs() {
        for r in metric_refs(&expr) {
            let map = if r.name.starts_with("uipath_fleet_coordinator_") {
                &mut coordinator
            } else if r.name.starts_with("uipath_fleet_worker_") {
                &mut worker
            } else {
                panic!(
                    "{place}: {} is neither a coordinator nor a worker metric",
                    r.name
                );
            };
            map.entry(r).or_insert_with(Vec::new).push(place.clone());
        }
    }
    (coordinator, worker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_dashboard_use_only_metrics_a_live_fleet_exports() {
    let (coordinator_refs, worker_refs) = references();
    assert!(
        coordinator_refs.len() >= 8 && worker_refs.len() >= 12,
        "the rules and the dashboard reference both processes' metrics: {} coordinator, {} worker",
        coordinator_refs.len(),
        worker_refs.len()
    );
    with_fleet("deploy-metrics", sim_config(2, 20.0), |fleet| async move {
        let config = fleet.write_config(
            "concurrency = 2\npage_size = 20\n\n[coordinator]\nlisten = \"127.0.0.1:0\"\n\
             api_token = { env = \"UIPATH_FLEET_API_TOKEN\" }\ntick_ms = 200\n",
        );
        let coordinator = CoordinatorProcess::start(&fleet, &config).await;
        // The worker reads the same file, whose api_token names the variable too.
        let mut command = worker_command(&config, "w0");
        command
            .env("UIPATH_FLEET_AMQP_URL", &fleet.amqp_url)
            .env("UIPATH_FLEET_API_TOKEN", TOKEN);
        let worker = WorkerProcess::start(command, &fleet.dir, "w0").await;
        let http = reqwest::Client::new();

        // The probes the compose file and the chart point at answer.
        for url in [
            format!("{}/readyz", coordinator.url),
            format!("{}/healthz", coordinator.url),
            format!("{}/readyz", worker.health),
            format!("{}/healthz", worker.health),
            format!("{}/_sim/health", fleet.sim.base_url().trim_end_matches('/')),
        ] {
            let (status, body) = get(&http, &url).await;
            assert_eq!(status, 200, "GET {url}: {body}");
        }
        // The compose health checks themselves pass against the live processes, and
        // fail on a path that does not exist (they do look at the status).
        let compose = compose();
        let sim_port = fleet
            .sim
            .base_url()
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .unwrap()
            .parse::<u16>()
            .unwrap();
        for (service, container_port, port) in [
            ("coordinator", 8700, port_of(&coordinator.url)),
            ("worker", 9091, port_of(&worker.health)),
            ("sim", 8080, sim_port),
        ] {
            let script = bash_check(&compose, service);
            assert!(
                run_check(&script, container_port, port, None).await,
                "{service}'s compose health check fails against a live {service}: {script}"
            );
            assert!(
                !run_check(&script, container_port, port, Some("/no-such-path")).await,
                "{service}'s health check passes on a 404"
            );
        }

        // A small backfill through the coordinator's API, worked to completion.
        let body = serde_json::json!({"sources": ["acme"], "datasets": ["jobs", "queue-items"],
            "from": FROM, "to": to_after(2), "slice_width": "1d"});
        let response = http
            .post(format!("{}/v1/backfills", coordinator.url))
            .bearer_auth(TOKEN)
            .json(&body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .expect("submit a backfill");
        assert_eq!(response.status().as_u16(), 202, "backfill accepted");
        let view: Json = response.json().await.unwrap();
        let id = view["id"].as_str().expect("a request id").to_owned();
        let start = Instant::now();
        loop {
            let response = http
                .get(format!("{}/v1/requests/{id}", coordinator.url))
                .bearer_auth(TOKEN)
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .unwrap();
            let view: Json = response.json().await.unwrap();
            if view["state"] == "completed" {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "backfill not completed after 120 s: {view}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // Every metric the rules and the dashboard name is exported by the real processes.
        let mut failures = scrape_until(
            &http,
            &format!("{}/metrics", coordinator.url),
            &coordinator_refs,
        )
        .await;
        failures
            .extend(scrape_until(&http, &format!("{}/metrics", worker.health), &worker_refs).await);
        assert!(
            failures.is_empty(),
            "deploy/ references metrics the processes do not export:\n  {}",
            failures.join("\n  ")
        );

        let name = worker.name.clone();
        let (status, out) = worker.stop(Duration::from_secs(30)).await;
        assert_eq!(status.code(), Some(0), "{name}: {out}");
        let (code, log) = coordinator.stop().await;
        assert_eq!(code, Some(0), "coordinator log:\n{log}");
    })
    .await;
}
