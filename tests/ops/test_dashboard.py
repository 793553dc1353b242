"""The Grafana dashboard and its provisioning: the JSON model's shape, datasource references,
the layout, and agreement with docker-compose.yml and the Prometheus configuration."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from ops_files import GRAFANA, dashboard, load_yaml, series_names

DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "maskgate.yml"
GRID_WIDTH = 24
PANEL_TYPES = {"row", "timeseries", "stat", "gauge", "bargauge", "table", "heatmap"}


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    return dashboard()


@pytest.fixture(scope="module")
def datasource() -> dict[str, Any]:
    [source] = load_yaml(DATASOURCES)["datasources"]
    found: dict[str, Any] = source
    return found


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def test_dashboard_identity(board: dict[str, Any]) -> None:
    assert re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"])
    assert board["title"] == "maskgate"
    assert isinstance(board["schemaVersion"], int)
    assert board["schemaVersion"] >= 36
    assert board["panels"]
    assert board["time"]["from"].startswith("now-")
    assert board["editable"] is False, "provisioned from the repository: edit the JSON"


def test_every_panel_has_the_required_fields(board: dict[str, Any]) -> None:
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    assert all(isinstance(i, int) and i > 0 for i in ids)
    for panel in board["panels"]:
        assert panel["type"] in PANEL_TYPES, panel["title"]
        assert panel["title"]
        grid = panel["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"}
        assert all(isinstance(v, int) and v >= 0 for v in grid.values())
        assert grid["w"] >= 1
        assert grid["h"] >= 1
        assert grid["x"] + grid["w"] <= GRID_WIDTH
        if panel["type"] == "row":
            assert panel.get("targets") in (None, [])
            continue
        assert panel["description"], f"{panel['title']}: say what it shows"
        targets = panel["targets"]
        assert targets, f"{panel['title']}: no query"
        refs = [t["refId"] for t in targets]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in targets:
            assert target["expr"].strip(), panel["title"]
            assert "legendFormat" in target, panel["title"]


def test_panels_do_not_overlap(board: dict[str, Any]) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in board["panels"]:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken.get((x, y))}"
                taken[(x, y)] = panel["title"]


def test_every_query_uses_the_provisioned_datasource(
    board: dict[str, Any], datasource: dict[str, Any]
) -> None:
    reference = {"type": datasource["type"], "uid": datasource["uid"]}
    for panel in panels(board):
        assert panel["datasource"] == reference, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == reference, panel["title"]


def test_datasource_points_at_the_compose_prometheus(datasource: dict[str, Any]) -> None:
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert datasource["access"] == "proxy"
    assert datasource["isDefault"] is True
    interval = load_yaml(GRAFANA.parents[0] / "prometheus" / "prometheus.yml")["global"]
    assert datasource["jsonData"]["timeInterval"] == interval["scrape_interval"]


def test_dashboard_provider_reads_the_dashboard_folder() -> None:
    [provider] = load_yaml(PROVIDERS)["providers"]
    assert provider["type"] == "file"
    assert provider["allowUiUpdates"] is False
    assert provider["options"]["path"].startswith("/")


def test_rate_windows_use_grafana_interval_or_a_fixed_window(board: dict[str, Any]) -> None:
    for panel in panels(board):
        for target in panel["targets"]:
            for window in re.findall(r"\[([^\]]+)\]", target["expr"]):
                assert window == "$__rate_interval" or re.fullmatch(r"\d+[smh]", window), (
                    f"{panel['title']}: [{window}]"
                )


def test_the_panels_cover_the_issue(board: dict[str, Any]) -> None:
    """The views issue 7 asks for, each by the metric behind it (see ops/README.md for those
    left out: mask rate, templates per tenant, database health)."""
    metrics_by_panel = {
        p["title"]: set().union(*(series_names(t["expr"]) for t in p["targets"]))
        for p in panels(board)
    }
    used = set().union(*metrics_by_panel.values())
    wanted = {
        "maskgate_http_requests_total",  # request rate and errors by route
        "maskgate_http_request_duration_seconds_bucket",  # latency p50/p95/p99
        "maskgate_decisions_total",  # decisions by case and outcome
        "maskgate_enrolment_rejections_total",  # rejections by reason
        "maskgate_worker_batch_size_bucket",  # batch size
        "maskgate_worker_queue_wait_seconds_bucket",  # queue wait
        "maskgate_worker_inference_seconds_bucket",  # inference time per stage
        "maskgate_queue_depth",
        "maskgate_broker_up",  # Redis health
        "up",  # API and worker health
    }
    assert wanted <= used, wanted - used


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_parses_every_query(board: dict[str, Any], tmp_path: Path) -> None:
    """Each panel query as a recording rule, so that Prometheus's own parser reads it."""
    rules = [
        {"record": f"maskgate:dashboard_query:{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(t["expr"] for p in panels(board) for t in p["targets"])
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
