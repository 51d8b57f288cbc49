#!/usr/bin/env python3
"""Offline checks of the Helm chart (helm/uipath-fleet) and the plain manifests
(deploy/kubernetes), for machines without a cluster or a `helm` binary.

    pip install -r scripts/check-deploy-requirements.txt
    python3 scripts/check-deploy.py                   # every check; exit 1 on any failure
    python3 scripts/check-deploy.py --write-manifests  # re-render deploy/kubernetes first

Checks, each reported as `ok` or `FAIL` with the reason:
  1. every .yaml/.yml under deploy/ and helm/ parses (chart templates with their `{{ }}`
     lines stripped), every .json parses;
  2. values.yaml validates against values.schema.json (draft-07); every
     ci/bad-values*.yaml is rejected and every ci/*-values.yaml accepted (merged over the
     defaults the way Helm merges), by jsonschema and by Helm's own validator;
  3. every `.Values.a.b` path the templates use exists in values.yaml, and every field
     read inside a `range`/`with` over a list of values exists in that list's schema;
  4. the chart renders (Helm's engine, via helm-python-sdk) with the defaults and each
     ci/*-values.yaml; ci/bad-render-values*.yaml must fail to render; the rendered
     manifests and the plain ones under deploy/kubernetes validate against the
     Kubernetes 1.30 schemas (kubernetes-validate, strict: unknown fields fail). KEDA and
     Prometheus Operator objects are not in those schemas: their required fields are
     checked here instead. deploy/kubernetes must equal the default rendering;
  5. probes: liveness on /healthz, readiness on /readyz, on the port the process listens
     on (fleet.toml's listen, from values), and those paths are routes in the Rust code;
     KEDA's queue names are the fleet's job lanes; maxReplicas follows the formula;
  6. when a built `uipath-fleet` binary is under target/, each rendered fleet.toml passes
     `uipath-fleet validate` (dummy secrets in the environment).

Secrets in the test values are placeholders; nothing here prints a value from a Secret.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import jsonschema
    import kubernetes_validate
    import yaml
    from helm_python.chart import Chart
except ImportError as e:  # pragma: no cover - the message is the point
    sys.exit(
        f"check-deploy: missing Python package ({e.name}): "
        "pip install -r scripts/check-deploy-requirements.txt"
    )

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "uipath-fleet"
MANIFESTS = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.30.0"
RELEASE = "uipath-fleet"
NAMESPACE = "uipath-fleet"
# Objects whose schemas kubernetes-validate does not ship (CRDs).
CRD_GROUPS = ("keda.sh/", "monitoring.coreos.com/")


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.section = ""

    def start(self, title: str) -> None:
        self.section = title
        print(f"\n== {title}")

    def ok(self, msg: str) -> None:
        print(f"  ok    {msg}")

    def note(self, msg: str) -> None:
        print(f"  note  {msg}")

    def fail(self, msg: str) -> None:
        self.failures.append(f"[{self.section}] {msg}")
        print(f"  FAIL  {msg}")


def rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def load_yaml(path: Path):
    with path.open() as f:
        return yaml.safe_load(f)


def deep_merge(base, override):
    """Helm's coalescing: maps merge key by key, anything else replaces, null deletes."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    out = copy.deepcopy(base)
    for k, v in override.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# ---------------------------------------------------------------------------------------
# 1. Parsing


def check_parse(r: Report) -> None:
    r.start("1. every YAML and JSON file under deploy/ and helm/ parses")
    stripped = []
    for top in (ROOT / "deploy", ROOT / "helm"):
        for path in sorted(top.rglob("*")):
            if not path.is_file():
                continue
            if path.suffix in (".yaml", ".yml"):
                text = path.read_text()
                is_template = CHART / "templates" in path.parents
                if is_template:
                    text = "\n".join(l for l in text.splitlines() if "{{" not in l)
                    stripped.append(rel(path))
                try:
                    list(yaml.safe_load_all(text))
                except yaml.YAMLError as e:
                    how = " (with its {{ }} lines stripped)" if is_template else ""
                    r.fail(f"{rel(path)}{how} does not parse: {e}")
                    continue
                if not is_template:
                    r.ok(rel(path))
            elif path.suffix == ".json":
                try:
                    json.loads(path.read_text())
                    r.ok(rel(path))
                except json.JSONDecodeError as e:
                    r.fail(f"{rel(path)} is not JSON: {e}")
    if stripped:
        r.ok(
            f"{len(stripped)} chart templates parse with their {{{{ }}}} lines stripped "
            "(their rendered output is parsed in check 4)"
        )


# ---------------------------------------------------------------------------------------
# 2. Values schema


def check_schema(r: Report, chart: Chart, defaults: dict, schema: dict) -> None:
    r.start("2. values.yaml and ci/ values against values.schema.json")
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        r.fail(f"values.schema.json is not a valid draft-07 schema: {e.message}")
        return
    if schema.get("$schema") != "http://json-schema.org/draft-07/schema#":
        r.fail("values.schema.json must declare draft-07 ($schema)")
    validator = jsonschema.Draft7Validator(schema)

    def errors(values) -> list[str]:
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in sorted(validator.iter_errors(values), key=lambda e: list(map(str, e.path)))
        ]

    errs = errors(defaults)
    if errs:
        r.fail("values.yaml does not validate: " + "; ".join(errs))
    else:
        r.ok("values.yaml validates")
    for path in sorted((CHART / "ci").glob("*.yaml")):
        override = load_yaml(path) or {}
        merged = deep_merge(defaults, override)
        errs = errors(merged)
        try:
            chart.validate_schema(override)
            helm_error = None
        except Exception as e:  # helm_python raises HelmValuesError
            helm_error = str(e)
        if path.name.startswith("bad-values"):
            if not errs:
                r.fail(f"{rel(path)} should be rejected by the schema but validates")
            elif helm_error is None:
                r.fail(f"{rel(path)}: jsonschema rejects it but Helm's validator accepts it")
            else:
                r.ok(f"{rel(path)} rejected as it must be ({len(errs)} errors, first: {errs[0]})")
        else:
            if errs:
                r.fail(f"{rel(path)} should validate: " + "; ".join(errs))
            elif helm_error is not None:
                r.fail(f"{rel(path)}: Helm's validator rejects it: {helm_error}")
            else:
                r.ok(f"{rel(path)} validates")


# ---------------------------------------------------------------------------------------
# 3. Template references

ACTION = re.compile(r"{{-?(.*?)-?}}", re.S)
BLOCK_OPEN = re.compile(r"^\s*(if|with|range|define|block)\b(.*)$", re.S)
BLOCK_END = re.compile(r"^\s*end\s*$")
VALUES_REF = re.compile(r"(?<![\w)\]])\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)*)")
VAR_ASSIGN = re.compile(r"(\$[A-Za-z_][A-Za-z0-9_]*)\s*:?=\s*(\$?\.Values(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*$")
VAR_REF = re.compile(r"(\$[A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
REL_REF = re.compile(r"(?<![\w$)\]])((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
RANGE_ARG = re.compile(r"^(?:\$[A-Za-z_]\w*\s*(?:,\s*\$[A-Za-z_]\w*\s*)?:=\s*)?(\$?\.Values(?:\.\w+)*)\s*$")


def lookup(tree, path: list[str]):
    node = tree
    for i, key in enumerate(path):
        if not isinstance(node, dict) or key not in node:
            return False, ".".join(path[: i + 1])
        node = node[key]
    return True, node


def schema_at(schema: dict, path: list[str]):
    node = schema
    for key in path:
        node = node.get("properties", {}).get(key)
        if node is None:
            return None
    return node


def schema_has(node: dict, path: list[str]) -> bool:
    for key in path:
        props = node.get("properties", {})
        if key not in props:
            return False
        node = props[key]
    return True


def check_references(r: Report, defaults: dict, schema: dict) -> None:
    r.start("3. every .Values path the templates use exists in values.yaml")
    total = 0
    for path in sorted((CHART / "templates").iterdir()):
        if path.suffix not in (".yaml", ".tpl", ".txt"):
            continue
        text = path.read_text()
        # Comments may mention values in prose.
        text = re.sub(r"{{-?\s*/\*.*?\*/\s*-?}}", "", text, flags=re.S)
        variables: dict[str, list[str]] = {}
        # The stack of scopes: None for a block that keeps `.`, or ("list"|"map", path)
        # for a range/with over a list or map of values.
        stack: list[object] = []
        for m in ACTION.finditer(text):
            action = m.group(1).strip()
            line = text.count("\n", 0, m.start()) + 1
            where = f"{rel(path)}:{line}"
            if BLOCK_END.match(action):
                if stack:
                    stack.pop()
                continue
            scope = None
            opened = BLOCK_OPEN.match(action)
            if opened and opened.group(1) in ("with", "range"):
                arg = RANGE_ARG.match(opened.group(2).strip())
                if arg:
                    vpath = [p for p in arg.group(1).split(".")[2:] if p]
                    found, node = lookup(defaults, vpath)
                    if found and isinstance(node, list):
                        scope = ("list", vpath)
                    elif found and isinstance(node, dict) and opened.group(1) == "with":
                        scope = ("map", vpath)
                    else:
                        scope = ("opaque", vpath)
                else:
                    scope = ("opaque", [])
            # Absolute references.
            for ref in VALUES_REF.finditer(action):
                vpath = [p for p in ref.group(1).split(".") if p]
                total += 1
                found, missing = lookup(defaults, vpath)
                if not found:
                    r.fail(f"{where}: .Values.{'.'.join(vpath)} is not in values.yaml (no {missing})")
            # Variables bound to values ($values := .Values.coordinator).
            assign = VAR_ASSIGN.search(action)
            if assign and not opened:
                variables[assign.group(1)] = [p for p in assign.group(2).split(".")[2:] if p]
            for ref in VAR_REF.finditer(action):
                name, rest = ref.group(1), ref.group(2)
                if name in variables:
                    vpath = variables[name] + [p for p in rest.split(".") if p]
                    total += 1
                    found, missing = lookup(defaults, vpath)
                    if not found:
                        r.fail(f"{where}: {name}{rest} (.Values.{'.'.join(vpath)}) is not in values.yaml")
            # Relative references inside a range over a list of values: check the list's
            # item schema (values.yaml holds one example item, not every optional field).
            inner = next((s for s in reversed(stack) if s is not None), None)
            if inner and inner[0] in ("list", "map"):
                body = VALUES_REF.sub("", action)
                body = VAR_REF.sub("", body)
                body = re.sub(r'"[^"]*"', "", body)
                for ref in REL_REF.finditer(body):
                    rpath = [p for p in ref.group(1).split(".") if p]
                    if rpath[0] in ("Values", "Release", "Chart", "Capabilities", "Template", "Files"):
                        continue
                    node = schema_at(schema, inner[1])
                    if node is None:
                        r.fail(f"{where}: no schema for .Values.{'.'.join(inner[1])}")
                        continue
                    if inner[0] == "list":
                        node = node.get("items", {})
                    total += 1
                    if not schema_has(node, rpath):
                        r.fail(
                            f"{where}: .{'.'.join(rpath)} inside a range/with over "
                            f".Values.{'.'.join(inner[1])} is not a field of its items"
                        )
            if opened:
                stack.append(scope)
    if not any(f.startswith("[3.") for f in r.failures):
        r.ok(f"{total} references resolved")


# ---------------------------------------------------------------------------------------
# 4. Rendering and Kubernetes schemas


def split_docs(manifests: dict[str, str]) -> list[tuple[str, dict]]:
    out = []
    for name, text in sorted(manifests.items()):
        if name.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                out.append((name, doc))
    return out


def check_crd_object(r: Report, where: str, doc: dict) -> None:
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    required = {
        "ScaledObject": ["scaleTargetRef", "triggers"],
        "TriggerAuthentication": [],
        "ServiceMonitor": ["selector", "endpoints"],
    }.get(kind)
    if required is None:
        r.fail(f"{where}: unexpected custom resource {doc.get('apiVersion')}/{kind}")
        return
    missing = [k for k in required if k not in spec]
    if missing or not doc.get("metadata", {}).get("name"):
        r.fail(f"{where}: {kind} lacks {missing or 'metadata.name'}")


def validate_k8s(r: Report, label: str, docs: list[tuple[str, dict]]) -> int:
    count = 0
    for name, doc in docs:
        where = f"{label}: {name} {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if str(doc.get("apiVersion", "")).startswith(CRD_GROUPS):
            check_crd_object(r, where, doc)
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            count += 1
        except kubernetes_validate.ValidationError as e:
            r.fail(f"{where}: {e.message} at {'/'.join(map(str, e.path))}")
        except Exception as e:
            r.fail(f"{where}: cannot validate: {e}")
    return count


def render(chart: Chart, override: dict) -> dict[str, str]:
    return chart.render(override, name=RELEASE, namespace=NAMESPACE)


def manifest_files(manifests: dict[str, str]) -> dict[str, str]:
    """The rendered default chart as deploy/kubernetes files: one per template."""
    header = (
        "# Generated from helm/uipath-fleet with its default values by\n"
        "# `python3 scripts/check-deploy.py --write-manifests`; do not edit by hand.\n"
        f"# Release `{RELEASE}` in namespace `{NAMESPACE}`. Fill the Secret (credentials.yaml)\n"
        "# before applying: `kubectl create namespace uipath-fleet && kubectl apply -f deploy/kubernetes/`.\n"
    )
    files = {}
    for name, text in sorted(manifests.items()):
        if name.endswith("NOTES.txt") or not text.strip():
            continue
        base = Path(name).name
        if base == "secret.yaml":
            base = "credentials.yaml"
        files[base] = header + "---\n" + text.strip() + "\n"
    return files


def check_render(r: Report, chart: Chart, defaults: dict, write: bool) -> dict[str, tuple[dict, list]]:
    r.start(f"4. rendering and Kubernetes {K8S_VERSION} schemas (kubernetes-validate, strict)")
    rendered: dict[str, tuple[dict, list]] = {}
    sets = [("defaults", {})] + [
        (rel(p), load_yaml(p) or {})
        for p in sorted((CHART / "ci").glob("*-values.yaml"))
        if not p.name.startswith("bad-")
    ]
    for label, override in sets:
        try:
            manifests = render(chart, override)
        except Exception as e:
            r.fail(f"{label}: the chart does not render: {e}")
            continue
        try:
            docs = split_docs(manifests)
        except yaml.YAMLError as e:
            r.fail(f"{label}: rendered output is not YAML: {e}")
            continue
        n = validate_k8s(r, label, docs)
        kinds = sorted({d["kind"] for _, d in docs})
        r.ok(f"{label}: renders {len(docs)} objects ({', '.join(kinds)}); {n} validated")
        rendered[label] = (deep_merge(defaults, override), docs)
        if label == "defaults":
            default_manifests = manifests
    for p in sorted((CHART / "ci").glob("bad-render-values*.yaml")):
        try:
            render(chart, load_yaml(p) or {})
            r.fail(f"{rel(p)} should fail to render but renders")
        except Exception as e:
            first = str(e).strip().splitlines()[-1]
            r.ok(f"{rel(p)} refused as it must be: {first[:160]}")

    if "defaults" not in rendered:
        return rendered
    wanted = manifest_files(default_manifests)
    if write:
        MANIFESTS.mkdir(parents=True, exist_ok=True)
        for old in MANIFESTS.glob("*.yaml"):
            if old.name not in wanted:
                old.unlink()
        for base, text in wanted.items():
            (MANIFESTS / base).write_text(text)
        r.note(f"wrote {len(wanted)} files to {rel(MANIFESTS)}")
    present = {p.name for p in MANIFESTS.glob("*.yaml")}
    for base in sorted(set(wanted) | present):
        path = MANIFESTS / base
        if base not in present:
            r.fail(f"{rel(path)} is missing (run with --write-manifests)")
            continue
        if base not in wanted:
            r.fail(f"{rel(path)} is not produced by the chart's defaults (stale?)")
            continue
        plain = [d for d in yaml.safe_load_all(path.read_text()) if d]
        expected = [d for d in yaml.safe_load_all(wanted[base]) if d]
        if plain != expected:
            r.fail(f"{rel(path)} differs from the chart's default rendering (run with --write-manifests)")
    plain_docs = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        try:
            plain_docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
        except yaml.YAMLError as e:
            r.fail(f"{rel(path)}: {e}")
    n = validate_k8s(r, rel(MANIFESTS), plain_docs)
    skipped = [d["kind"] for _, d in plain_docs if str(d.get("apiVersion", "")).startswith(CRD_GROUPS)]
    r.ok(f"{rel(MANIFESTS)}: {n} objects validated" + (f"; CRDs checked by hand: {skipped}" if skipped else ""))
    rendered[rel(MANIFESTS)] = (defaults, plain_docs)
    r.note(
        "KEDA ScaledObject/TriggerAuthentication and ServiceMonitor are CRDs: kubernetes-validate "
        "has no schema for them; their required fields, queue names and maxReplicas are checked here"
    )
    return rendered


# ---------------------------------------------------------------------------------------
# 5. Probes, ports, queue names, the autoscaling maximum


def code_routes() -> dict[str, set[str]]:
    routes = {}
    for component, path in (
        ("coordinator", ROOT / "crates/fleet-coordinator/src/api/mod.rs"),
        ("worker", ROOT / "crates/fleet-worker/src/http.rs"),
    ):
        text = path.read_text() if path.exists() else ""
        routes[component] = set(re.findall(r'\.route\(\s*"(/[a-z]+)"', text))
    return routes


def job_lanes() -> list[str]:
    """The lanes' queue suffixes as docs/messages.md and names.rs define them."""
    doc = (ROOT / "docs/messages.md").read_text()
    lanes = re.findall(r"\| `uipath-fleet\.jobs\.([a-z]+)` \| quorum queue", doc)
    names = (ROOT / "crates/fleet-amqp/src/names.rs").read_text()
    if 'format!("{}.jobs.{}", self.prefix, lane.as_str())' not in names:
        return []
    return lanes


def expected_max_replicas(values: dict) -> int:
    a = values["autoscaling"]
    tenants = a["tenants"] or len(values["config"]["sources"])
    tenants = max(tenants, 1)
    per_worker = a["requestsPerMinutePerWorker"] or values["worker"]["concurrency"] * 60
    derived = math.ceil(tenants * a["requestsPerMinutePerTenant"] / per_worker)
    best = max(derived, a["minReplicas"])
    if a["maxReplicas"] > 0:
        best = min(best, a["maxReplicas"])
    return max(best, a["minReplicas"])


def listen_port(toml_text: str, section: str) -> int | None:
    m = re.search(rf"^\[{section}\]\n(?:(?!^\[).*\n)*?listen = \"[^\"]*:(\d+)\"", toml_text, re.M)
    return int(m.group(1)) if m else None


def check_probes(r: Report, rendered: dict[str, tuple[dict, list]]) -> None:
    r.start("5. probes, ports, queue names and the autoscaling maximum")
    routes = code_routes()
    lanes = job_lanes()
    if sorted(lanes) != ["backfill", "sync"]:
        r.fail(f"cannot confirm the job lanes from docs/messages.md and names.rs (found {lanes})")
    for component, paths in routes.items():
        for p in ("/healthz", "/readyz", "/metrics"):
            if p not in paths:
                r.fail(f"the {component}'s HTTP router in the code has no {p} route")
    for label, (values, docs) in rendered.items():
        by_kind: dict[str, list[dict]] = {}
        for _, d in docs:
            by_kind.setdefault(d["kind"], []).append(d)
        toml_text = next(
            (d["data"]["fleet.toml"] for d in by_kind.get("ConfigMap", []) if "fleet.toml" in d.get("data", {})),
            "",
        )
        problems_before = len(r.failures)
        deployments = {d["spec"]["template"]["spec"]["containers"][0]["args"][0]: d for d in by_kind.get("Deployment", [])}
        if set(deployments) != {"coordinator", "worker"}:
            r.fail(f"{label}: expected a coordinator and a worker Deployment, found {sorted(deployments)}")
            continue
        for component, dep in deployments.items():
            want_port = int(values[component]["port"])
            c = dep["spec"]["template"]["spec"]["containers"][0]
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            if listen_port(toml_text, component) != want_port:
                r.fail(f"{label}: fleet.toml [{component}] listen is not port {want_port}")
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = (c.get(probe) or {}).get("httpGet")
                if not get:
                    r.fail(f"{label}: {component} has no {probe} httpGet")
                    continue
                port = get["port"]
                port = ports.get(port) if isinstance(port, str) else port
                if get.get("path") != path or port != want_port:
                    r.fail(f"{label}: {component} {probe} is {get.get('path')} on {port}, want {path} on {want_port}")
                if path not in routes[component]:
                    r.fail(f"{label}: {component} {probe} path {path} is not a route in the code")
            if component == "coordinator" and int(dep["spec"].get("replicas", 0)) != int(values["coordinator"]["replicaCount"]):
                r.fail(f"{label}: coordinator replicas {dep['spec'].get('replicas')}")
            if component == "worker":
                grace = dep["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
                if grace <= values["worker"]["drainDeadlineSecs"]:
                    r.fail(f"{label}: worker terminationGracePeriodSeconds {grace} <= drain deadline")
            sc = c.get("securityContext", {})
            pod_sc = dep["spec"]["template"]["spec"].get("securityContext", {})
            if not (
                sc.get("readOnlyRootFilesystem") is True
                and sc.get("allowPrivilegeEscalation") is False
                and sc.get("capabilities", {}).get("drop") == ["ALL"]
                and (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")) is True
                and (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type") == "RuntimeDefault"
            ):
                r.fail(f"{label}: {component} securityContext is not locked down")
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            if "/tmp" not in mounts or "/etc/uipath-fleet" not in mounts:
                r.fail(f"{label}: {component} lacks the /tmp or config mount")
        for svc in by_kind.get("Service", []):
            component = svc["metadata"]["labels"].get("app.kubernetes.io/component")
            dep = deployments.get(component)
            names = {p["name"] for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]} if dep else set()
            for p in svc["spec"]["ports"]:
                if p["targetPort"] not in names:
                    r.fail(f"{label}: Service {svc['metadata']['name']} targets port {p['targetPort']}, not a port of the {component}")
        for so in by_kind.get("ScaledObject", []):
            prefix = values["config"]["prefix"]
            queues = sorted(t["metadata"]["queueName"] for t in so["spec"]["triggers"])
            if queues != sorted(f"{prefix}.jobs.{lane}" for lane in lanes):
                r.fail(f"{label}: ScaledObject queues {queues} are not the job lanes of prefix {prefix}")
            if so["spec"]["maxReplicaCount"] != expected_max_replicas(values):
                r.fail(f"{label}: ScaledObject maxReplicaCount {so['spec']['maxReplicaCount']}, want {expected_max_replicas(values)}")
        for hpa in by_kind.get("HorizontalPodAutoscaler", []):
            if hpa["spec"]["maxReplicas"] != expected_max_replicas(values):
                r.fail(f"{label}: HPA maxReplicas {hpa['spec']['maxReplicas']}, want {expected_max_replicas(values)}")
        if values["autoscaling"]["enabled"] and not (by_kind.get("ScaledObject") or by_kind.get("HorizontalPodAutoscaler")):
            r.fail(f"{label}: autoscaling is enabled but nothing scales the workers")
        if len(r.failures) == problems_before:
            r.ok(f"{label}: probes /healthz and /readyz on {values['coordinator']['port']} and {values['worker']['port']}, services, security, scaling")


# ---------------------------------------------------------------------------------------
# 6. The rendered fleet.toml against the real binary


def check_binary(r: Report, rendered: dict[str, tuple[dict, list]]) -> None:
    r.start("6. rendered fleet.toml accepted by `uipath-fleet validate`")
    binary = next(
        (p for p in (ROOT / "target/debug/uipath-fleet", ROOT / "target/release/uipath-fleet") if p.exists()),
        None,
    )
    if binary is None:
        r.note("no target/{debug,release}/uipath-fleet: skipped (build it to run this check)")
        return
    for label, (values, docs) in rendered.items():
        toml_text = next((d["data"]["fleet.toml"] for _, d in docs if d["kind"] == "ConfigMap"), None)
        if toml_text is None:
            r.fail(f"{label}: no ConfigMap with fleet.toml")
            continue
        env = dict(os.environ)
        env.update(
            {
                "UIPATH_FLEET_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/%2f",
                "UIPATH_FLEET_REDIS_URL": "redis://127.0.0.1:6379",
                "UIPATH_FLEET_API_TOKEN": "check-deploy-placeholder-0123456789abcdef",
                "UIPATH_FLEET_TOKEN_KEY": "0" * 64,
            }
        )
        env.pop("UIPATH_FLEET_CONFIG", None)
        for name in re.findall(r'\{ env = "([A-Za-z_][A-Za-z0-9_]*)" \}', toml_text):
            env.setdefault(name, "check-deploy-placeholder")
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(toml_text)
        try:
            out = subprocess.run(
                [str(binary), "validate", "--config", f.name],
                env=env, capture_output=True, text=True, timeout=60,
            )
        finally:
            os.unlink(f.name)
        if out.returncode != 0:
            r.fail(f"{label}: `uipath-fleet validate` exit {out.returncode}: {(out.stderr or out.stdout).strip()[-400:]}")
        else:
            r.ok(f"{label}: fleet.toml validates")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write-manifests", action="store_true", help="re-render deploy/kubernetes from the chart's defaults first")
    args = ap.parse_args()
    r = Report()
    check_parse(r)
    try:
        defaults = load_yaml(CHART / "values.yaml")
        schema = json.loads((CHART / "values.schema.json").read_text())
        chart = Chart.load(str(CHART))
    except Exception as e:
        r.fail(f"cannot load the chart: {e}")
        defaults = schema = chart = None
    if chart is not None:
        check_schema(r, chart, defaults, schema)
        check_references(r, defaults, schema)
        rendered = check_render(r, chart, defaults, args.write_manifests)
        check_probes(r, rendered)
        check_binary(r, rendered)
    print()
    if r.failures:
        print(f"check-deploy: {len(r.failures)} failure(s):")
        for f in r.failures:
            print(f"  - {f}")
        return 1
    print("check-deploy: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
