"""`maskgate serve` as an operator runs it: no environment, embedded PostgreSQL, clean exit."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def postmaster_running(data_dir: Path) -> bool:
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_serve_on_embedded_defaults(tmp_path: Path, model_dir: Path) -> None:
    data_dir = tmp_path / "var" / "pg"  # serve's default, relative to where it runs
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASKGATE_")}
    maskgate = Path(sys.executable).parent / "maskgate"
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(maskgate), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log.read_text()[-2000:]
            try:
                status, body = get(f"{base}/readyz")
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.5)
        assert body["checks"] == {"models": True, "database": True}
        assert get(f"{base}/healthz") == (200, {"status": "ok"})
        status, problem = get(f"{base}/v1/subjects")
        assert status == 401
        assert problem["code"] == "unauthorized"
        status, problem = get(f"{base}/v1/subjects", {"Authorization": "Bearer mg_wrong"})
        assert status == 401
        assert postmaster_running(data_dir)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert server.returncode == 0
    assert not postmaster_running(data_dir), "the embedded PostgreSQL was left running"


def test_serve_refuses_a_calibration_made_for_other_settings(
    tmp_path: Path,
    model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The models are fine, the calibration does not fit the settings: serve stops at once,
    saying why, before any database is started."""
    from maskgate.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MASKGATE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("MASKGATE_PIPELINE__MASK_THRESHOLD", "0.6")
    assert main(["serve", "--port", str(free_port())]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: calibration: ")
    assert "mask threshold" in err
    assert not (tmp_path / "var").exists()
