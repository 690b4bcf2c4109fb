"""The README's first command: cyborg-aio serves the API, the CLI uses it, state persists."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cyborg.cmd import aio_fpga, aio_progress
from tests import service_process
from tests.functional import services

BIN = os.path.dirname(sys.executable)


def _start(state: str, port: int, log_path: str, *options: str) -> subprocess.Popen[bytes]:
    """cyborg-aio in its own session; ``options`` are more of its command line."""
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed with it
    return subprocess.Popen(
        [os.path.join(BIN, "cyborg-aio"), "--state-dir", state, "--port", str(port), *options],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
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
    service_process.stop(process, timeout=30)


@pytest.fixture
def aio(tmp_path) -> Iterator[tuple[str, int, str]]:  # type: ignore[no-untyped-def]
    yield str(tmp_path / "state"), services.free_port(), str(tmp_path / "aio.log")


def _cli(port: int, *args: str) -> Any:
    env = {**os.environ, "OS_AUTH_TYPE": "none", "OS_ENDPOINT": f"http://127.0.0.1:{port}/v2"}
    result = subprocess.run(
        [os.path.join(BIN, "openstack"), "accelerator", *args, "-f", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout) if result.stdout.strip() else []


def _placement_cli(port: int, *args: str) -> Any:
    """``openstack resource provider ...`` (osc-placement) against the embedded Placement."""
    result = subprocess.run(
        [
            os.path.join(BIN, "openstack"),
            "--os-auth-type", "admin_token", "--os-token", "admin",
            "--os-endpoint", f"http://127.0.0.1:{port}/placement",
            "--os-placement-api-version", "1.39",
            *args, "-f", "json",
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def _wait_for_providers(port: int, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    providers: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        providers = _placement_cli(port, "resource", "provider", "list")
        if len(providers) >= count:
            return providers
        time.sleep(0.5)
    pytest.fail(f"the embedded Placement has {providers}", pytrace=False)


def _wait_for_devices(port: int) -> list[dict[str, str]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        devices = _cli(port, "device", "list")
        if devices:
            return devices
        time.sleep(0.5)
    pytest.fail("the all-in-one's agent reported no devices", pytrace=False)


def _deployables(port: int) -> list[dict[str, Any]]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/deployables") as response:
        deployables: list[dict[str, Any]] = json.load(response)["deployables"]
    return deployables


def _fpga_provider(port: int) -> str:
    """The provider uuid of the simulated FPGA's deployable (read from the API)."""
    return next(d["rp_uuid"] for d in _deployables(port) if "FakeDevice" in d["name"])


def test_aio_serves_the_cli_and_keeps_its_state(aio) -> None:  # type: ignore[no-untyped-def]
    state, port, log_path = aio
    process = _start(state, port, log_path)
    try:
        text = _wait_ready(log_path, process)
        assert f"OS_ENDPOINT=http://127.0.0.1:{port}/v2" in text
        assert f"--os-endpoint http://127.0.0.1:{port}/placement" in text
        assert "openstack accelerator device list" in text
        devices = _wait_for_devices(port)  # the fake driver's simulated host
        assert {d["type"] for d in devices} >= {"FPGA"}
        assert "embedded Placement at" in text
        # One provider per deployable under the compute node's, created standalone; the
        # providers' writes overlap, so wait for all of them, not for a count seen once.
        providers = _wait_for_providers(port, 1 + len(_deployables(port)))
        fpga_rp = _fpga_provider(port)
        (fpga,) = [p for p in providers if p["uuid"] == fpga_rp]
        assert fpga["parent_provider_uuid"] in {p["uuid"] for p in providers}
        inventory = _placement_cli(port, "resource", "provider", "inventory", "list", fpga_rp)
        assert [(i["resource_class"], i["total"]) for i in inventory] == [("FPGA", 16)]
        _cli(port, "device", "profile", "create", "aio-fpga", '[{"resources:FPGA": "1"}]')
        arq = _cli(port, "arq", "create", "aio-fpga")
        assert arq["state"] == "Initial"
        instance = "5d4c2c6e-7f0a-4c1e-9a55-0f2d9d3c8b01"
        _cli(port, "arq", "bind", arq["uuid"], "aio-host", instance, _fpga_provider(port), "admin")
        bound = _cli(port, "arq", "show", arq["uuid"])
        assert bound["state"] == "Bound"
        _assert_startup_progress(_wait_for_text(log_path, "cyborg-aio start-up: done in", process))
    finally:
        _stop(process)
    log_path += ".restart"
    process = _start(state, port, log_path)
    try:
        _wait_ready(log_path, process)
        assert [p["name"] for p in _cli(port, "device", "profile", "list")] == ["aio-fpga"]
        assert [a["state"] for a in _cli(port, "arq", "list")] == ["Bound"]
        assert len(_wait_for_devices(port)) == len(devices)  # nothing duplicated
        assert len(_placement_cli(port, "resource", "provider", "list")) == len(providers)
    finally:
        _stop(process)


def _assert_startup_progress(text: str) -> None:
    """Not on a terminal: a line per start-up phase on stderr, counted in the order they
    finished (the agent's first report may come before or after the API is ready)."""
    prefix = "cyborg-aio start-up: "
    steps = [line.removeprefix(prefix) for line in text.splitlines() if line.startswith(prefix)]
    total = len(aio_progress.PHASES)
    counted = [step for step in steps if not step.startswith("done in ")]
    assert [step.split()[0] for step in counted] == [f"{k}/{total}" for k in range(1, total + 1)]
    names = [step.split(") ", 1)[1].split(" (")[0] for step in counted]
    assert sorted(names) == sorted(aio_progress.PHASES)
    assert names[:2] == [aio_progress.DATABASE, aio_progress.MIGRATIONS]
    assert names.index(aio_progress.CONDUCTOR) < names.index(aio_progress.READY)


def _wait_for_text(log_path: str, marker: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 120
    text = ""
    while time.monotonic() < deadline:
        with open(log_path) as handle:
            text = handle.read()
        if marker in text:
            return text
        if process.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail(f"cyborg-aio never printed {marker!r}:\n{text[-3000:]}", pytrace=False)


def _printed_commands(text: str, after: str) -> list[str]:
    """The indented command lines printed after the line containing ``after``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) + 1
    commands = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        commands.append(line.strip())
    return commands


def test_the_printed_commands_run_as_shown(aio) -> None:  # type: ignore[no-untyped-def]
    """The README's promise: paste what cyborg-aio prints, and it works."""
    state, port, log_path = aio
    process = _start(state, port, log_path)
    try:
        _wait_ready(log_path, process)
        text = _wait_for_text(log_path, "Bind an ARQ to its GPU", process)
        usage = _printed_commands(text, "Try, in another shell:")
        hint = _printed_commands(text, "Bind an ARQ to its GPU")
        assert usage[0].startswith("export OS_AUTH_TYPE=none")
        assert all(BIN in line for line in usage[1:] + hint), "the client beside cyborg-aio"
        script = "\n".join(["set -euo pipefail", *usage, *hint])
        result = subprocess.run(
            ["bash", "-c", script],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("OS_")},
        )
        assert result.returncode == 0, (script, result.stdout[-2000:], result.stderr[-2000:])
        # The last command shows the ARQ: a Field/Value table whose state row says Bound.
        state_rows = [row for row in result.stdout.splitlines() if row.startswith("| state")]
        assert state_rows and "Bound" in state_rows[-1], result.stdout[-2000:]
        # The FPGA hint: one curl that programs the simulated card with the other image.
        text = _wait_for_text(log_path, "program its FPGA", process)
        (program,) = _printed_commands(text, "program its FPGA")
        result = subprocess.run(
            ["bash", "-c", program], capture_output=True, text=True, timeout=600, check=False
        )
        assert result.returncode == 0, (program, result.stdout[-2000:], result.stderr[-2000:])
        loaded = {b.image_uuid for b in aio_fpga.BITSTREAMS if b.image_uuid in program}
        assert json.loads(result.stdout)["bitstream_id"] in loaded, result.stdout[-2000:]
    finally:
        _stop(process)
