"""The Prometheus configuration and alert rules: their shape, what they cover, the scrape jobs
against docker-compose.yml, and (where promtool is installed) Prometheus's own check."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ops_files import ALERTS, OPS_README, PROMETHEUS, alert_rules, compose, load_yaml

from maskgate.config import Settings

SEVERITIES = {"warning", "critical"}
DURATION = re.compile(r"(\d+)([smh])")
SECONDS = {"s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> int:
    match = DURATION.fullmatch(duration)
    assert match, duration
    return int(match[1]) * SECONDS[match[2]]


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the headings of a Markdown document."""
    found = set()
    for heading in re.findall(r"^#+\s+(.+)$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    return list(alert_rules())


def by_name(rules: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [rule] = [r for r in rules if r["alert"] == name]
    return rule


def test_every_rule_has_for_severity_and_annotations(rules: list[dict[str, Any]]) -> None:
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    headings = anchors(OPS_README.read_text())
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["alert"].startswith("Maskgate")
        assert 60 <= seconds(rule["for"]) <= 3600, rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES
        notes = rule["annotations"]
        assert notes["summary"], rule["alert"]
        assert notes["description"], rule["alert"]
        path, _, anchor = notes["runbook"].partition("#")
        assert path == "ops/README.md", notes["runbook"]
        assert anchor in headings, notes["runbook"]


def test_rules_cover_what_operators_need(rules: list[dict[str, Any]]) -> None:
    exprs = {r["alert"]: " ".join(r["expr"].split()) for r in rules}
    assert 'up{job="maskgate-worker"} == 0' in exprs["MaskgateWorkerDown"]
    assert 'up{job="maskgate-api"} == 0' in exprs["MaskgateApiDown"]
    assert 'status=~"5.."' in exprs["MaskgateHigh5xxRate"]
    assert 'status=~"5.."' in exprs["MaskgateVeryHigh5xxRate"]
    latency = exprs["MaskgateLatencySLO"]
    assert "histogram_quantile(0.95" in latency
    assert "maskgate_http_request_duration_seconds_bucket" in latency
    assert "maskgate_queue_depth" in exprs["MaskgateQueueBacklog"]
    assert (
        'maskgate_faces_total{job="maskgate-api", outcome="no_face"}'
        in exprs["MaskgateNoFaceSpike"]
    )
    assert "maskgate_enrolment_rejections_total" in exprs["MaskgateFailureToEnrolHigh"]
    assert "maskgate_broker_up == 0" in exprs["MaskgateBrokerDown"]
    assert 'status="500"' in exprs["MaskgateDatabaseSuspectedDown"]
    for name in ("MaskgateApiDown", "MaskgateNoWorkers", "MaskgateDatabaseSuspectedDown"):
        assert by_name(rules, name)["labels"]["severity"] == "critical"


def test_shares_only_count_api_routes(rules: list[dict[str, Any]]) -> None:
    for rule in rules:
        if "maskgate_http_request" in rule["expr"]:
            for selector in re.findall(r"maskgate_http_request\w*\{([^}]*)\}", rule["expr"]):
                assert 'job="maskgate-api"' in selector, rule["alert"]
                assert "/v1/" in selector, f"{rule['alert']}: health checks would dilute it"


def test_scrape_jobs_find_the_compose_services() -> None:
    config = load_yaml(PROMETHEUS)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    services = compose()["services"]
    serve = services["api"]["command"]
    ports = {
        "maskgate-api": int(serve[serve.index("--port") + 1]),
        "maskgate-worker": Settings.model_construct().worker.metrics_port,
    }
    for job_name, port in ports.items():
        [sd] = jobs[job_name]["dns_sd_configs"]
        assert sd["type"] == "A", job_name
        assert sd["port"] == port, job_name
        assert jobs[job_name].get("metrics_path", "/metrics") == "/metrics"
        for name in sd["names"]:
            aliases = {
                alias
                for service in services.values()
                for alias in service.get("networks", {}).get("default", {}).get("aliases", [])
            }
            assert name in services or name in aliases, f"{job_name}: {name}"
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    interval = seconds(config["global"]["scrape_interval"])
    for rule in alert_rules():
        assert seconds(rule["for"]) >= 4 * interval, f"{rule['alert']}: a few scrapes at least"


def test_runbook_sections_exist() -> None:
    text = OPS_README.read_text()
    for anchor in ("api-down", "database-down", "errors", "latency", "worker-down"):
        assert anchor in anchors(text), anchor


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_configuration(tmp_path: Path) -> None:
    rules = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
    # prometheus.yml names the rules by their path in the container: point it here.
    config = PROMETHEUS.read_text().replace("/etc/prometheus/alerts.yml", str(ALERTS))
    (tmp_path / "prometheus.yml").write_text(config)
    checked = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
