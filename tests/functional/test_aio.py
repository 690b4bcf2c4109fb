"""The README's first command: cyborg-aio serves the API, the CLI uses it, state persists."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.functional import services

BIN = os.path.dirname(sys.executable)


def _start(state: str, port: int, log_path: str) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed with it
    return subprocess.Popen(
        [os.path.join(BIN, "cyborg-aio"), "--state-dir", state, "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def _wait_ready(log_path: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with open(log_path) as handle:
            text = handle.read()
        if "API ready at" in text:
            return text
        if process.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail(f"cyborg-aio did not become ready:\n{text[-3000:]}", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def aio(tmp_path) -> Iterator[tuple[str, int, str]]:  # type: ignore[no-untyped-def]
    yield str(tmp_path / "state"), services.free_port(), str(tmp_path / "aio.log")


def _cli(port: int, *args: str) -> list[dict[str, str]]:
    env = {**os.environ, "OS_AUTH_TYPE": "none", "OS_ENDPOINT": f"http://127.0.0.1:{port}/v2"}
    result = subprocess.run(
        [os.path.join(BIN, "openstack"), "accelerator", *args, "-f", "json"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout) if result.stdout.strip() else []


def test_aio_serves_the_cli_and_keeps_its_state(aio) -> None:  # type: ignore[no-untyped-def]
    state, port, log_path = aio
    process = _start(state, port, log_path)
    try:
        text = _wait_ready(log_path, process)
        assert f"OS_ENDPOINT=http://127.0.0.1:{port}/v2" in text
        assert "openstack accelerator device list" in text
        assert _cli(port, "device", "list") == []
        _cli(port, "device", "profile", "create", "aio-gpu", '[{"resources:PGPU": "1"}]')
        arq = _cli(port, "arq", "create", "aio-gpu")
        assert arq["state"] == "Initial"  # type: ignore[call-overload]
    finally:
        _stop(process)
    log_path += ".restart"
    process = _start(state, port, log_path)
    try:
        _wait_ready(log_path, process)
        assert [p["name"] for p in _cli(port, "device", "profile", "list")] == ["aio-gpu"]
        assert len(_cli(port, "arq", "list")) == 1
    finally:
        _stop(process)
