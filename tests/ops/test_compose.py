"""docker-compose.yml, read as Compose would (no engine here): services, images, healthchecks,
start order, volumes, secrets, and agreement with the code, the Dockerfile and ops/."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import pytest
from ops_files import (
    GRAFANA,
    PROMETHEUS,
    REPO,
    compose,
    dockerfile_stages,
    dockerignored,
    env_example,
    interpolations,
    load_yaml,
    with_defaults,
)
from pydantic import BaseModel

from maskgate import __version__
from maskgate.cli.main import build_parser
from maskgate.config import Settings
from maskgate.models.paths import ENV_VAR as MODEL_DIR_ENV

SERVICES = {
    "postgres",
    "redis",
    "migrate",
    "api",
    "worker",
    "worker-gpu",
    "lb",
    "prometheus",
    "grafana",
}
ONE_SHOT = {"migrate"}
MASKGATE_SERVICES = {"migrate", "api", "worker", "worker-gpu"}
DEFAULTS = Settings.model_construct()


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return compose()


@pytest.fixture(scope="module")
def services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = spec["services"]
    return found


def command(service: dict[str, Any]) -> list[str]:
    value = service["command"]
    assert isinstance(value, list), "exec form: no shell between Docker and the process"
    return [str(v) for v in value]


def healthcheck_script(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    return " ".join(test[1:])


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment as a mapping"
    return {k: str(v) for k, v in env.items()}


def setting_exists(variable: str) -> bool:
    """Whether ``MASKGATE_A__B`` names a field of ``Settings`` (``MASKGATE_MODEL_DIR`` too)."""
    if variable == MODEL_DIR_ENV:
        return True
    model: type[BaseModel] | None = Settings
    for part in variable.removeprefix("MASKGATE_").lower().split("__"):
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return model is None


def parse_cli(argv: list[str]) -> None:
    """``argv`` (without ``maskgate``) is accepted by the real CLI parser."""
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"`maskgate {' '.join(argv)}` is not a valid maskgate command")


def test_the_stack_has_every_service(services: dict[str, Any]) -> None:
    assert set(services) == SERVICES


def test_every_image_is_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = with_defaults(service["image"])
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: {image} has no repository"
        assert tag, f"{name}: {image} has no tag"
        assert "$" not in tag, f"{name}: {image}"
        assert tag != "latest", f"{name}: {image}"
        if repository == "maskgate":
            assert tag.startswith(__version__), f"{name}: {image} (package {__version__})"
        else:
            assert re.search(r"\d+\.\d+", tag), f"{name}: {image}: pin a version, not a name"
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
    assert re.search(r"pg1[5-9]$", services["postgres"]["image"])


def test_maskgate_images_are_built_from_stages_of_the_dockerfile(services: dict[str, Any]) -> None:
    stages = {s.name for s in dockerfile_stages()}
    for name in MASKGATE_SERVICES:
        build = services[name]["build"]
        assert build["context"] == "."
        assert build["target"] in stages, name
    assert services["worker-gpu"]["build"]["target"] == "gpu"
    assert services["api"]["build"]["target"] == "runtime"


def test_long_running_services_have_healthchecks(services: dict[str, Any]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck")
        if name in ONE_SHOT:
            assert check == {"disable": True}, f"{name}: the image's API healthcheck"
            assert service["restart"] == "no"
            continue
        assert check, f"{name}: no healthcheck"
        assert check.get("test"), f"{name}: no healthcheck test"
        assert not check.get("disable")
        assert service.get("restart") == "unless-stopped", name


def test_healthchecks_probe_the_ports_the_code_listens_on(services: dict[str, Any]) -> None:
    api = services["api"]
    argv = command(api)
    port = argv[argv.index("--port") + 1]
    assert f"127.0.0.1:{port}/healthz" in healthcheck_script(api)
    assert f"{port}" in api["expose"]
    for name in ("worker", "worker-gpu"):
        script = healthcheck_script(services[name])
        assert f"127.0.0.1:{DEFAULTS.worker.metrics_port}/metrics" in script, name
        assert str(DEFAULTS.worker.metrics_port) in services[name]["expose"]
    for name in ("api", "worker", "worker-gpu"):
        script = healthcheck_script(services[name])
        assert "curl" not in script, "no curl in python:slim"
        compile(script.split("-c ", 1)[1], name, "exec")


def test_start_order(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} -> {dependency}"
            wanted = (
                "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            )
            assert condition == {"condition": wanted}, f"{name} -> {dependency}"
            if wanted == "service_healthy":
                assert services[dependency].get("healthcheck", {}).get("test"), dependency
    api = services["api"]["depends_on"]
    assert set(api) >= {"migrate", "postgres", "redis"}
    assert set(services["migrate"]["depends_on"]) == {"postgres"}
    for name in ("worker", "worker-gpu"):
        assert "redis" in services[name]["depends_on"]
    assert "api" in services["lb"]["depends_on"]


def test_maskgate_commands_are_real_cli_commands(services: dict[str, Any]) -> None:
    expected = {
        "migrate": ["db", "upgrade"],
        "api": ["serve"],
        "worker": ["worker"],
        "worker-gpu": ["worker"],
    }
    for name, verbs in expected.items():
        argv = command(services[name])
        assert argv[0] == "maskgate", name
        assert argv[1 : 1 + len(verbs)] == verbs, name
        parse_cli(argv[1:])
    argv = command(services["api"])
    assert argv[argv.index("--host") + 1] == "0.0.0.0"


def test_api_runs_two_replicas_behind_the_load_balancer(services: dict[str, Any]) -> None:
    api = services["api"]
    assert api["deploy"]["replicas"] == 2
    assert "ports" not in api, "replicas cannot share a host port (lb publishes it)"
    assert "container_name" not in api, "replicas cannot share a name"
    for name in ("worker", "worker-gpu"):
        assert "ports" not in services[name]
        assert "container_name" not in services[name]
    assert with_defaults(services["lb"]["ports"][0]) == "8000:8080"


def test_load_balancer_config(spec: dict[str, Any], services: dict[str, Any]) -> None:
    [config] = services["lb"]["configs"]
    content = spec["configs"][config["source"]]["content"]
    assert config["target"] == "/etc/nginx/conf.d/default.conf"
    assert "listen 8080;" in content
    argv = command(services["api"])
    assert f"http://api:{argv[argv.index('--port') + 1]}" in content
    size = re.search(r"client_max_body_size (\d+)m;", content)
    assert size
    assert int(size[1]) * 1_000_000 >= DEFAULTS.api.max_request_bytes
    assert "resolver 127.0.0.11" in content, "Docker's DNS: every replica, re-resolved"
    assert re.search(r"location = /metrics \{\s*return 404;", content), "metrics stay internal"
    # Compose interpolates `$`: every nginx variable must be written `$$`.
    assert not re.search(r"(?<!\$)\$(?!\$)", content)


def test_named_volumes_are_declared_and_bind_mounts_exist(spec: dict[str, Any]) -> None:
    declared = set(spec.get("volumes") or {})
    used = set()
    for name, service in spec["services"].items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            assert PurePosixPath(target).is_absolute(), f"{name}: {volume}"
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: {source} is not in the repository"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert used == declared, f"declared but unused: {declared - used}"
    assert {"pgdata", "prometheus-data", "grafana-data"} <= declared


def test_stateful_services_keep_their_data_in_named_volumes(services: dict[str, Any]) -> None:
    mounts = {
        name: {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", [])}
        for name, service in services.items()
    }
    assert mounts["postgres"]["/var/lib/postgresql/data"] == "pgdata"
    assert mounts["prometheus"]["/prometheus"] == "prometheus-data"
    assert mounts["grafana"]["/var/lib/grafana"] == "grafana-data"


def test_secrets_come_from_the_env_file(spec: dict[str, Any], services: dict[str, Any]) -> None:
    for name in ("postgres", *MASKGATE_SERVICES):
        assert services[name]["env_file"] == ".env", name
    example = env_example()
    text = (REPO / "docker-compose.yml").read_text()
    for variable, operator, _ in interpolations(text):
        assert variable in example, f"${{{variable}}} is not in .env.example"
        if operator is None:
            pytest.fail(f"${{{variable}}} needs a default (:-) or an error (:?)")
    required = {v for v, op, _ in interpolations(text) if op == ":?"}
    assert {"POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} <= required
    assert "change-me" in example["POSTGRES_PASSWORD"], "the example holds no real secret"
    assert example["IMAGE_TAG"] == __version__
    assert dockerignored(".env"), "the env file never enters the build context"
    # The password is not written into the file, only interpolated.
    for name in MASKGATE_SERVICES:
        url = environment(services[name])["MASKGATE_DATABASE__URL"]
        assert "${POSTGRES_PASSWORD:?" in url
        assert "@postgres:5432/" in url


def test_maskgate_variables_are_real_settings(services: dict[str, Any]) -> None:
    names = set()
    for name in MASKGATE_SERVICES:
        names |= {k for k in environment(services[name]) if k.startswith("MASKGATE_")}
    example = (REPO / ".env.example").read_text()
    names |= set(re.findall(r"^#?\s*(MASKGATE_[A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert "MASKGATE_DATABASE__URL" in names
    assert "MASKGATE_BROKER__URL" in names
    for variable in sorted(names):
        assert setting_exists(variable), f"{variable} is no maskgate setting"
    assert not setting_exists("MASKGATE_API__NO_SUCH")
    for name in MASKGATE_SERVICES:
        assert environment(services[name])["MASKGATE_BROKER__URL"] == "redis://redis:6379/0"


def test_gpu_worker_is_optional_and_reserves_a_gpu(services: dict[str, Any]) -> None:
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"], "started only with --profile gpu"
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert device["capabilities"] == ["gpu"]
    assert "worker" in gpu["networks"]["default"]["aliases"], "scraped with the CPU workers"
    for name, service in services.items():
        if name != "worker-gpu":
            assert "profiles" not in service, f"{name} starts with a plain `up`"
            assert "worker-gpu" not in (service.get("depends_on") or {})


def test_prometheus_and_grafana_mount_ops(services: dict[str, Any]) -> None:
    prometheus = services["prometheus"]
    mounts = dict(v.split(":")[:2] for v in prometheus["volumes"])
    assert mounts["./ops/prometheus"] == "/etc/prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    for rule_file in load_yaml(PROMETHEUS)["rule_files"]:
        relative = PurePosixPath(rule_file).relative_to("/etc/prometheus")
        assert (REPO / "ops" / "prometheus" / relative).is_file(), rule_file
    grafana = services["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    for kind in ("datasources", "dashboards"):
        source = f"./ops/grafana/provisioning/{kind}"
        assert mounts[source] == f"/etc/grafana/provisioning/{kind}"
    [provider] = load_yaml(GRAFANA / "provisioning" / "dashboards" / "maskgate.yml")["providers"]
    assert mounts["./ops/grafana/dashboards"] == provider["options"]["path"]
    home = environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == provider["options"]["path"] + "/maskgate.json"
    for name in ("prometheus", "grafana"):
        for port in services[name]["ports"]:
            assert with_defaults(port).startswith("127.0.0.1:"), f"{name}: local only"


def test_interpolation_helpers() -> None:
    assert interpolations("a${X:-1}b${Y:?no}$${Z}") == [("X", ":-", "1"), ("Y", ":?", "no")]
    assert with_defaults("maskgate:${T:-0.1.0}-gpu ${U:?x}") == "maskgate:0.1.0-gpu ${U:?x}"
