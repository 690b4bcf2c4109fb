"""python-openstackclient's own accelerator commands (10.4+) against real processes.

They replace python-cyborgclient's when both are installed, so they run from a venv
of their own (tools/ensure-venv.sh --with-tests builds .venv/osc-intree). They send
microversion 2.0 unless told otherwise; ``arq bind`` looks the server up in Nova
first, so it needs a compute endpoint and is not exercised here.
"""

import json
import pathlib
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional import services

OSC = pathlib.Path(__file__).resolve().parents[2] / ".venv" / "osc-intree" / "bin" / "openstack"


@pytest.fixture(scope="module")
def api() -> Iterator[services.Deployment]:
    if not OSC.exists():
        pytest.fail(f"{OSC} is missing: run tools/ensure-venv.sh --with-tests", pytrace=False)
    with services.deployment() as deployment:
        yield deployment


def osc(api: services.Deployment, *args: str, ok: bool = True) -> Any:
    quiet = "delete" in args  # delete commands print nothing and take no -f
    result = subprocess.run(
        [
            str(OSC),
            "--os-auth-type",
            "none",
            "--os-endpoint",
            api.endpoint,
            "accelerator",
            *args,
            *([] if quiet else ["-f", "json"]),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if not ok:
        assert result.returncode != 0
        return result.stderr
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stderr[-2000:]}"
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_in_tree_commands(api: services.Deployment) -> None:
    devices = osc(api, "device", "list", "--long")
    assert len(devices) == 4
    assert osc(api, "device", "show", devices[0]["uuid"])["model"] == "A100"
    assert len(osc(api, "deployable", "list")) == 4
    assert len(osc(api, "device", "attribute", "list")) == 12
    osc(api, "device", "profile", "create", "osc-gpu", "--group", "resources:PGPU=1")
    assert [p["name"] for p in osc(api, "device", "profile", "list")] == ["osc-gpu"]
    # By name needs 2.2; the in-tree client defaults to 2.0 and gets a clear 406.
    assert "microversion 2.2" in osc(api, "device", "profile", "show", "osc-gpu", ok=False)
    shown = osc(api, "--os-accelerator-api-version", "2.2", "device", "profile", "show", "osc-gpu")
    assert shown["name"] == "osc-gpu"
    arq = osc(api, "arq", "create", "osc-gpu")
    assert arq["state"] == "Initial"
    assert osc(api, "arq", "show", arq["uuid"])["device_profile_name"] == "osc-gpu"
    osc(api, "arq", "delete", arq["uuid"])
    assert osc(api, "arq", "list") == []
    osc(api, "device", "profile", "delete", "osc-gpu")
