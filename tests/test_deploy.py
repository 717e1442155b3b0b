"""The deployment files (docker-compose.yml, Dockerfile, deploy/) parse, pass Prometheus' own checks, and agree with the
app: setting names, topic names, the web port, health paths and the metric names the workers expose.

promtool (Prometheus' checker) comes from scripts/install-test-tools; without it those tests skip with that advice.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

from streams.cli import build_parser
from streams.feeds.watch import WatchMetrics
from streams.metrics import WorkerMetrics
from streams.settings import ENV_PREFIX, Settings, TopicNames, settings_from_env

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "takeback.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "takeback.yml"
K8S = DEPLOY / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
WEB_VIEWS = ROOT / "streams" / "web.py"


# The series Prometheus stores for each kind of metric family (the client library's exposition).
SERIES_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def series_names(families: Iterable[Metric]) -> set[str]:
    return {family.name + suffix for family in families for suffix in SERIES_SUFFIXES[family.type]}


def exposed_names(*metrics: MetricWrapperBase) -> set[str]:
    return series_names(family for metric in metrics for family in metric.describe())


# What the workers serve on GET /metrics, read from their registry so that a renamed metric fails the dashboard
# and alert checks; plus Prometheus' own `up`.
WORKER_METRICS = WorkerMetrics()
METRICS = series_names(WORKER_METRICS.registry.collect()) | {"up"}
# ... and what `takeback watch` serves on its own port (job "takeback-watch")
METRICS |= series_names(WatchMetrics().registry.collect())
# Labels an alert annotation may show: identifiers of payers, providers and the pipeline, never patient data.
ANNOTATION_LABELS = {"payer", "provider", "topic", "partition", "stage", "error_code", "instance", "job"}
REQUIRED_ALERTS = {
    "TakebackRecoupmentSpike",
    "TakebackDeadLettersGrowing",
    "TakebackConsumerLagHigh",
    "TakebackWorkerDown",
    "TakebackForwardBalanceOutstandingTooLong",
    "TakebackWatchFileWaiting",
}
DATASOURCE_UID = "prometheus"
WEB_PORT = Settings().web_port
INPUT_TOPIC_MAX_BYTES = Settings().max_input_bytes + 1024 * 1024  # what streams.kafka_io.ensure_topics asks for


# --------------------------------------------------------------------------- helpers


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def yaml_files() -> list[Path]:
    return sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml"), COMPOSE])


def unknown_settings(names: list[str]) -> list[str]:
    """The TAKEBACK_* names that streams.settings does not read (typos, invented knobs)."""
    known = {ENV_PREFIX + f.name.upper() for f in fields(Settings) if f.name != "topics"}
    known |= {f"{ENV_PREFIX}TOPIC_{f.name.upper()}" for f in fields(TopicNames)}
    return [name for name in names if name not in known]


_PROMQL_STRING = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`""")
_PROMQL_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_PROMQL_IDENTIFIER = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*+)(?!\s*\()")
_PROMQL_KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan", "by", "without", "group_left", "group_right"}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (label matchers, ranges, groupings and function names left out)."""
    text = _PROMQL_STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _PROMQL_GROUPING.sub(" ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables outside ranges
    return {m for m in _PROMQL_IDENTIFIER.findall(text) if m.lower() not in _PROMQL_KEYWORDS}


def unknown_metrics(expr: str, extra: set[str] = frozenset()) -> set[str]:
    return metric_names(expr) - METRICS - extra


def grafana_to_promql(expr: str) -> str:
    """A dashboard expression with Grafana's variables replaced, so promtool can parse it."""
    for var, value in (("$__rate_interval", "1m"), ("$__interval", "15s"), ("$__range", "1h")):
        expr = expr.replace(var, value)
    return expr


def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no `{name}` service"
    return services[name]


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def dockerfile_instruction(name: str) -> list[str]:
    """The arguments of every `NAME ...` line of the Dockerfile (line continuations joined)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.+)$", text, flags=re.MULTILINE)]


def image_command(command: list[str]) -> list[str]:
    """What a container of the image runs for `command` (Docker's CMD/args after the ENTRYPOINT)."""
    (entrypoint,) = dockerfile_instruction("ENTRYPOINT")
    return json.loads(entrypoint) + list(command)


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"] if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for group in load_yaml(ALERTS)["groups"] for rule in group["rules"] if "record" in rule}


def dashboard_targets() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel, target) for panel in dashboard["panels"] for target in panel.get("targets", [])]


def k8s(kind: str) -> dict[str, Any]:
    docs = [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]
    matching = [doc for doc in docs if doc.get("kind") == kind]
    assert len(matching) == 1, f"expected one {kind} in deploy/k8s, found {len(matching)}"
    return matching[0]


def worker_container() -> dict[str, Any]:
    (container,) = k8s("StatefulSet")["spec"]["template"]["spec"]["containers"]
    return container


def container_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    by_name = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    assert port in by_name, f"probe port {port!r} is not a named port of the container"
    return by_name[port]


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed: run scripts/install-test-tools")
    return path


def run_promtool(promtool: str, *args: str | Path) -> str:
    result = subprocess.run(
        [promtool, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=ROOT, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(map(str, args))} failed:\n{output}"
    return output


# --------------------------------------------------------------------------- (a) the files parse


def test_the_deployment_files_exist() -> None:
    expected = [
        PROMETHEUS_CONFIG,
        ALERTS,
        ALERTS_TEST,
        DATASOURCES,
        DASHBOARD_PROVIDERS,
        DASHBOARD,
        *(K8S / name for name in ("namespace.yaml", "configmap.yaml", "statefulset.yaml", "service.yaml")),
        K8S / "kustomization.yaml",
        COMPOSE,
        DOCKERFILE,
        ROOT / "scripts" / "install-test-tools",
    ]
    assert [str(p.relative_to(ROOT)) for p in expected if not p.is_file()] == []


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_yaml_parses(path: Path) -> None:
    documents = list(yaml.safe_load_all(path.read_text()))
    assert documents, f"{path} is empty"
    assert all(isinstance(doc, dict) for doc in documents), f"{path}: every document must be a mapping"


def test_install_test_tools_is_valid_bash() -> None:
    script = ROOT / "scripts" / "install-test-tools"
    assert script.stat().st_mode & 0o111, "scripts/install-test-tools is not executable"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(takeback_processing_latency_seconds_bucket{job="x"}[5m])))'
        " + sum(rate(takeback_inputs_total[$__rate_interval]))"
        " + on (instance) group_left (payer) topk(5, bogus_metric offset 15m) / up unless absent(other:recorded)"
    )
    assert metric_names(expr) == {
        "takeback_processing_latency_seconds_bucket",
        "takeback_inputs_total",
        "bogus_metric",
        "up",
        "other:recorded",
    }
    assert unknown_metrics(expr) == {"bogus_metric", "other:recorded"}
    assert unknown_metrics(expr, extra={"bogus_metric", "other:recorded"}) == set()


def test_setting_name_check() -> None:
    assert unknown_settings(["TAKEBACK_BROKER", "TAKEBACK_TOPIC_RAW", "TAKEBACK_WEB_PORT"]) == []
    assert unknown_settings(["TAKEBACK_BROKERS", "TAKEBACK_TOPIC_NOPE", "KAFKA_BROKER"]) == [
        "TAKEBACK_BROKERS",
        "TAKEBACK_TOPIC_NOPE",
        "KAFKA_BROKER",
    ]


# --------------------------------------------------------------------------- the Grafana dashboard


def test_dashboard_identity() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "takeback"
    assert dashboard["schemaVersion"] == 39
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_every_dashboard_panel_queries_known_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        title = panel["title"]
        assert panel.get("datasource", {}).get("uid") == DATASOURCE_UID, f"panel {title!r}: datasource"
        targets = panel.get("targets", [])
        assert targets, f"panel {title!r} has no query"
        for target in targets:
            expr = target.get("expr", "")
            assert expr.strip(), f"panel {title!r}: a target without a PromQL expr"
            assert target.get("datasource", {}).get("uid") == DATASOURCE_UID, f"panel {title!r}: target datasource"
            assert metric_names(expr), f"panel {title!r}: {expr!r} reads no metric"
            assert unknown_metrics(expr) == set(), f"panel {title!r}: {expr!r} reads metrics the workers do not expose"


def test_dashboard_shows_what_ops_asked_for() -> None:
    exprs = [re.sub(r"\s+", " ", target["expr"]) for _, target in dashboard_targets()]
    used = set().union(*(metric_names(e) for e in exprs))
    m = WORKER_METRICS
    (net_cash,) = exposed_names(m.net_cash)
    (takebacks,) = exposed_names(m.takebacks)
    (latency_buckets,) = {name for name in exposed_names(m.latency) if name.endswith("_bucket")}
    shown = exposed_names(m.takeback_amount, m.dead_letters, m.lag, m.remittances, m.forward_balance)
    assert {net_cash, takebacks, latency_buckets, *shown} - used == set()
    assert any(e.startswith("topk(20,") and net_cash in e for e in exprs), "net cash top 20"
    for label in ("kind", "payer", "reason_category"):
        assert any(f"by ({label})" in e and f"increase({takebacks}[$__rate_interval])" in e for e in exprs), (
            f"takebacks by {label}"
        )
    for quantile in ("0.5", "0.99"):
        assert any(e.startswith(f"histogram_quantile({quantile},") and latency_buckets in e for e in exprs), (
            f"latency p{quantile}"
        )


def test_dashboard_queries_parse(promtool: str, tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:panel{panel['id']}:{target['refId']}", "expr": grafana_to_promql(target["expr"])}
        for panel, target in dashboard_targets()
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in run_promtool(promtool, "check", "rules", path)


def test_grafana_provisioning() -> None:
    (datasource,) = load_yaml(DATASOURCES)["datasources"]
    assert datasource["uid"] == DATASOURCE_UID
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert "prometheus" in compose()["services"], "the datasource URL names the compose `prometheus` service"
    (provider,) = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    mounts = {v.split(":")[0]: v.split(":")[1] for v in service("grafana")["volumes"]}
    assert mounts.get("./deploy/grafana/dashboards") == provider["options"]["path"]
    assert mounts.get("./deploy/grafana/provisioning") == "/etc/grafana/provisioning"


# --------------------------------------------------------------------------- (b) Prometheus: config, rules, tests


def test_prometheus_config_is_valid(promtool: str, tmp_path: Path) -> None:
    """promtool wants the token file to exist: the config is checked with it (and the rules) at a temporary path."""
    config = load_yaml(PROMETHEUS_CONFIG)
    token_file = tmp_path / "token"
    token_file.write_text("not-a-real-token")
    for job in config["scrape_configs"]:
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(token_file)
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    output = run_promtool(promtool, "check", "config", checked)
    assert "SUCCESS" in output


def test_prometheus_sends_the_token_compose_gives_it() -> None:
    """/metrics is behind the API token (docs/pages.md, "People and sign-in"): the scrape job reads it from the file
    compose mounts from TAKEBACK_API_TOKEN, the variable the workers take it from."""
    (job,) = [j for j in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"] if j["job_name"] == "takeback"]
    assert job["authorization"].get("type", "Bearer") == "Bearer"
    path = job["authorization"]["credentials_file"]
    (secret,) = service("prometheus")["secrets"]
    assert path == f"/run/secrets/{secret}"
    assert compose()["secrets"][secret] == {"environment": "TAKEBACK_API_TOKEN"}
    assert "TAKEBACK_API_TOKEN" in environment(service("worker"))


def test_alert_rules_are_valid(promtool: str) -> None:
    output = run_promtool(promtool, "check", "rules", ALERTS)
    assert "SUCCESS" in output


def test_alert_unit_tests_pass(promtool: str) -> None:
    output = run_promtool(promtool, "test", "rules", ALERTS_TEST)
    assert "SUCCESS" in output


def test_forward_balance_alert_fires_after_45_days(promtool: str, tmp_path: Path) -> None:
    """Kept out of alerts_test.yml: 50 days evaluated every minute take promtool ~40 s; every 15 minutes, ~1 s."""
    (series,) = exposed_names(WORKER_METRICS.oldest_forward_balance)
    day = 86400
    test = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "15m",
        "tests": [
            {
                "interval": "15m",
                "input_series": [
                    {"series": f'{series}{{instance="w1:6066", provider="1234567893"}}', "values": f"{day}x5000"},
                    {"series": f'{series}{{instance="w1:6066", provider="1111111112"}}', "values": "0x5000"},
                    {"series": f'{series}{{instance="w2:6066", provider="2222222226"}}', "values": f"{30 * day}x5000"},
                    {"series": f'{series}{{instance="w3:6066", provider="2222222226"}}', "values": "0x5000"},
                ],
                "alert_rule_test": [
                    {"eval_time": "40d", "alertname": "TakebackForwardBalanceOutstandingTooLong", "exp_alerts": []},
                    {
                        "eval_time": "50d",
                        "alertname": "TakebackForwardBalanceOutstandingTooLong",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "provider": "1234567893"},
                                "exp_annotations": {
                                    "summary": "Forward balance open for more than 45 days (provider 1234567893)",
                                    "description": "Provider 1234567893 has had a forward balance open for 49d 0h 0m"
                                    " 0s. Ask the payer whether it will be recouped or refunded.",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "forward_balance_test.yml"
    path.write_text(yaml.safe_dump(test))
    assert "SUCCESS" in run_promtool(promtool, "test", "rules", path)


def test_alerts_are_complete_and_read_known_metrics() -> None:
    rules = alert_rules()
    assert REQUIRED_ALERTS - {rule["alert"] for rule in rules} == set()
    recorded = recorded_names()
    for group in load_yaml(ALERTS)["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule["record"]
            assert unknown_metrics(rule["expr"], extra=recorded) == set(), f"{name} reads unknown metrics"
    for rule in rules:
        name = rule["alert"]
        assert rule.get("for"), f"{name} has no `for:`"
        assert rule.get("labels", {}).get("severity") in {"critical", "warning", "info"}, f"{name}: severity"
        annotations = rule.get("annotations", {})
        assert {"summary", "description"} <= set(annotations), f"{name}: summary and description"
        shown = set(re.findall(r"\$labels\.(\w+)", " ".join(annotations.values())))
        assert shown <= ANNOTATION_LABELS, f"{name} shows labels {shown - ANNOTATION_LABELS} in its annotations"


def test_alerts_select_the_scrape_job() -> None:
    jobs = {job["job_name"] for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]}
    selected = {m for rule in alert_rules() for m in re.findall(r'job="([^"]*)"', rule["expr"])}
    assert selected, "no alert selects job=..."
    assert selected <= jobs, f"alerts select jobs {selected - jobs} that prometheus.yml does not scrape"


def test_alert_tests_cover_the_required_cases() -> None:
    tests = load_yaml(ALERTS_TEST)["tests"]
    assert load_yaml(ALERTS_TEST)["rule_files"] == ["alerts.yml"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    silent = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert {"TakebackWorkerDown", "TakebackDeadLettersGrowing", "TakebackRecoupmentSpike"} <= firing
    assert "TakebackRecoupmentSpike" in silent
    # the silent spike case on a flat series: one series, a constant increment
    flat = [
        test
        for test in tests
        if len(test["input_series"]) == 1
        and re.fullmatch(r"0\+\d+x\d+", test["input_series"][0]["values"])
        and all(c["alertname"] == "TakebackRecoupmentSpike" and not c["exp_alerts"] for c in test["alert_rule_test"])
    ]
    assert flat, "no test shows TakebackRecoupmentSpike silent on a flat series"


def test_prometheus_scrapes_the_workers() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    assert config["global"]["scrape_interval"] == "15s"
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "takeback"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets: list[tuple[str, int]] = []
    for sd in job.get("dns_sd_configs", []):
        assert sd.get("type", "SRV") == "A", "an A lookup finds every replica of a compose service"
        targets += [(name, sd["port"]) for name in sd["names"]]
    for static in job.get("static_configs", []):
        targets += [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1])) for t in static["targets"]]
    assert targets, "the takeback job has no targets"
    for host, port in targets:
        assert host == "worker", f"scrape target {host} is not the compose `worker` service"
        assert port == WEB_PORT, f"scrape target {host}:{port} is not the workers' web port {WEB_PORT}"
    assert "worker" in compose()["services"]


# --------------------------------------------------------------------------- (c) docker-compose and the Dockerfile


def test_compose_worker_settings_are_real() -> None:
    env = environment(service("worker"))
    assert env, "the worker has no environment"
    assert unknown_settings(sorted(env)) == []
    effective = settings_from_env(env)
    assert effective.broker == "kafka://kafka:9092"
    assert effective.store == "rocksdb://"
    assert effective.web_host == "0.0.0.0"
    assert str(effective.data_dir) in {v.split(":")[-1] for v in service("worker").get("volumes", [])}
    assert "kafka:9092" in environment(service("kafka"))["KAFKA_ADVERTISED_LISTENERS"]


def test_compose_worker_runs_takeback_worker() -> None:
    worker = service("worker")
    assert worker.get("build") in (".", {"context": "."}), "the worker is built from the project's Dockerfile"
    argv = image_command(worker["command"])
    assert argv == ["takeback", "worker"]
    assert build_parser().parse_args(argv[1:]).command == "worker"
    (cmd,) = dockerfile_instruction("CMD")
    assert build_parser().parse_args(json.loads(cmd)).command == "worker", "the image's default command"


def test_compose_worker_exposes_the_web_port_without_host_ports() -> None:
    worker = service("worker")
    port = settings_from_env(environment(worker)).web_port
    assert port == WEB_PORT
    assert str(port) in [str(p) for p in worker.get("expose", [])]
    assert "ports" not in worker, "a fixed host port would stop `docker compose up --scale worker=N`"
    assert "container_name" not in worker, "a container name would stop `--scale`"
    (expose,) = dockerfile_instruction("EXPOSE")
    assert expose.split() == [str(port)]


def test_compose_topics_are_the_pipeline_topics() -> None:
    topics = service("topics")
    script = "\n".join(topics["command"]) if isinstance(topics["command"], list) else topics["command"]
    assert "kafka-topics.sh" in script and "--create" in script and "--if-not-exists" in script
    created = re.findall(r"^\s*create\s+(\S+)\s*$", script, flags=re.MULTILINE)
    assert sorted(created) == sorted(asdict(TopicNames()).values())
    partitions = set(re.findall(r"--partitions\s+(\d+)", script))
    assert partitions == {str(Settings().partitions)}
    (max_bytes,) = set(re.findall(r"max\.message\.bytes=(\d+)", script))
    assert int(max_bytes) >= INPUT_TOPIC_MAX_BYTES


def test_compose_kafka_fits_the_inputs() -> None:
    env = environment(service("kafka"))
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) >= INPUT_TOPIC_MAX_BYTES
    assert int(env["KAFKA_NUM_PARTITIONS"]) == Settings().partitions
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_LISTENERS"] and "CONTROLLER://" in env["KAFKA_LISTENERS"]
    worker_deps = service("worker")["depends_on"]
    assert worker_deps["kafka"]["condition"] == "service_healthy"
    assert worker_deps["topics"]["condition"] == "service_completed_successfully"
    assert "healthcheck" in service("kafka")


def test_compose_sink_writes_to_the_compose_postgres() -> None:
    sink, postgres = service("sink"), service("postgres")
    argv = image_command(sink["command"])
    assert argv == ["takeback", "sink"]
    assert build_parser().parse_args(argv[1:]).command == "sink"
    assert sink["image"] == service("worker")["image"], "the sink runs the project's image"
    env = environment(sink)
    assert unknown_settings(sorted(env)) == []
    effective = settings_from_env(env)
    assert effective.broker == "kafka://kafka:9092"
    dsn = effective.sink_dsn.replace("${POSTGRES_PASSWORD:-takeback}", "takeback")
    assert dsn.startswith("postgresql://takeback:takeback@postgres:5432/takeback")
    postgres_env = environment(postgres)
    assert (postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_DB"]) == ("takeback", "takeback")
    assert postgres["image"].split(":")[0] == "postgres"
    assert sink["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert sink["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert "healthcheck" in postgres
    assert all(p.startswith("127.0.0.1:") for p in postgres.get("ports", [])), "PostgreSQL only on localhost"
    assert str(effective.sink_metrics_port) in [str(p) for p in sink.get("expose", [])]
    (job,) = [j for j in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"] if j["job_name"] == "takeback-sink"]
    assert [(n, sd["port"]) for sd in job["dns_sd_configs"] for n in sd["names"]] == [
        ("sink", effective.sink_metrics_port)
    ]


def test_compose_watch_feeds_the_drop_folder_and_is_scraped() -> None:
    watch = service("watch")
    argv = image_command(watch["command"])
    args = build_parser().parse_args(argv[1:])
    assert (args.command, str(args.folder), args.move) == ("watch", "/drop", True)
    assert watch["image"] == service("worker")["image"]
    env = environment(watch)
    assert unknown_settings(sorted(env)) == []
    effective = settings_from_env(env)
    assert effective.broker == "kafka://kafka:9092"
    assert any(v.split(":")[1] == "/drop" for v in watch["volumes"])
    assert str(effective.watch_metrics_port) in [str(p) for p in watch.get("expose", [])]
    (job,) = [j for j in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"] if j["job_name"] == "takeback-watch"]
    assert [(n, sd["port"]) for sd in job["dns_sd_configs"] for n in sd["names"]] == [
        ("watch", effective.watch_metrics_port)
    ]


def test_compose_prometheus_mounts_the_config() -> None:
    prometheus = service("prometheus")
    mounts = {v.split(":")[0]: v.split(":")[1] for v in prometheus["volumes"]}
    assert mounts.get("./deploy/prometheus") == "/etc/prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]


def test_runtime_lock_pins_what_the_full_lock_pins() -> None:
    def pins(name: str) -> dict[str, str]:
        lines = (ROOT / name).read_text().splitlines()
        return dict(line.split(" ")[0].split("==") for line in lines if "==" in line and not line.startswith(" "))

    runtime, full = pins("requirements-runtime.lock"), pins("requirements.lock")
    assert runtime and all(full.get(package) == version for package, version in runtime.items())
    assert "pytest" not in runtime


def test_dockerfile_builds_from_the_lock_as_non_root() -> None:
    (base,) = dockerfile_instruction("FROM")
    assert base == "python:3.11-slim"
    runs = " ".join(dockerfile_instruction("RUN"))
    assert "pip install --require-hashes -r requirements-runtime.lock" in runs  # no test tools in the image
    assert "pip install --no-deps ." in runs
    copied = " ".join(dockerfile_instruction("COPY"))
    for item in ("requirements-runtime.lock", "pyproject.toml", "README.md", "streams", "schemas"):
        assert item in copied, f"the Dockerfile does not copy {item}"
    (user,) = dockerfile_instruction("USER")
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0, "USER must be a numeric non-root uid"


# --------------------------------------------------------------------------- (c) Kubernetes


def test_k8s_configmap_keys_are_real_settings() -> None:
    data = k8s("ConfigMap")["data"]
    assert unknown_settings(sorted(data)) == []
    effective = settings_from_env(data)
    assert effective.broker == "kafka://kafka:9092"
    assert effective.store == "rocksdb://"
    assert str(effective.data_dir) == "/data"
    assert effective.web_host == "0.0.0.0"


def test_k8s_worker_env_and_probes_agree_with_the_settings() -> None:
    configmap = k8s("ConfigMap")
    statefulset = k8s("StatefulSet")
    container = worker_container()
    port = settings_from_env(configmap["data"]).web_port
    assert port == WEB_PORT
    assert unknown_settings([e["name"] for e in container.get("env", [])]) == []
    assert [ref["configMapRef"]["name"] for ref in container["envFrom"]] == [configmap["metadata"]["name"]]
    assert image_command(container.get("command", []) + container.get("args", [])) == ["takeback", "worker"]

    views = WEB_VIEWS.read_text()
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        http = container[probe]["httpGet"]
        assert http["path"] == path, f"{probe} path"
        assert f'@app.page("{path}")' in views, f"streams/web.py serves no {path}"
        assert container_port(container, http["port"]) == port, f"{probe} port"

    pod = statefulset["spec"]["template"]
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert pod["metadata"]["annotations"].get("prometheus.io/path", "/metrics") == "/metrics"
    assert statefulset["spec"]["replicas"] == 2
    assert pod["spec"]["terminationGracePeriodSeconds"] == 30
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["resources"]["requests"]


def test_k8s_table_state_is_on_a_claimed_volume() -> None:
    statefulset = k8s("StatefulSet")
    data_dir = str(settings_from_env(k8s("ConfigMap")["data"]).data_dir)
    mounts = {m["mountPath"]: m["name"] for m in worker_container()["volumeMounts"]}
    claims = {t["metadata"]["name"] for t in statefulset["spec"]["volumeClaimTemplates"]}
    assert mounts.get(data_dir) in claims, f"{data_dir} is not on a volumeClaimTemplate"


def test_k8s_service_is_headless_on_the_web_port() -> None:
    svc = k8s("Service")
    statefulset = k8s("StatefulSet")
    assert svc["spec"]["clusterIP"] == "None"
    (port,) = svc["spec"]["ports"]
    assert port["name"] == "http"
    assert port["port"] == WEB_PORT
    assert container_port(worker_container(), port.get("targetPort", port["port"])) == WEB_PORT
    assert statefulset["spec"]["serviceName"] == svc["metadata"]["name"]
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items(), "the service selects no worker pod"


def test_k8s_kustomization_lists_every_manifest() -> None:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(manifests)
    assert kustomization["namespace"] == k8s("Namespace")["metadata"]["name"]


def test_k8s_kustomize_builds() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    kinds = [doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc]
    assert sorted(kinds) == ["ConfigMap", "Namespace", "Service", "StatefulSet"]
