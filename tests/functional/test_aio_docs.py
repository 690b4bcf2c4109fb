"""The user guide and the README run as written against cyborg-aio (issue #16.2, #17.8).

doc/source/user/cli.rst: its commands with their placeholders (DEVICE_UUID, ...) filled
in, and its openstacksdk example.

doc/source/user/plans.rst: every ``.. code-block:: bash`` block, in order, in one
bash, against a real all-in-one on its default simulated host, with ``model.onnx`` in
the working directory (ONNX's DenseNet-121 test model, whose base64 is longer than a
command line may be) and ``kubectl`` a stand-in that checks the ResourceClaims
against Kubernetes' published schemas. The README: the commands of its quick start
("In another shell"). The only change made to the text is the port, where the test's
all-in-one listens; each curl fails on an HTTP error (``--fail-with-body``).
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import onnx
import pytest

from tests.functional import services
from tests.functional.test_aio import BIN, _start, _stop, _wait_ready

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLANS = ROOT / "doc" / "source" / "user" / "plans.rst"
CLI = ROOT / "doc" / "source" / "user" / "cli.rst"
README = ROOT / "README.rst"
MODEL = pathlib.Path(onnx.__file__).parent / "backend/test/data/light/light_densenet121.onnx"
DOC_PORT = "127.0.0.1:6666"

KUBECTL = f"""#!{sys.executable}
# kubectl apply -f -: validate each object as the API server would, record it.
import json, os, sys
import yaml
sys.path.insert(0, {str(ROOT)!r})
from tests.kubernetes import schemas
assert sys.argv[1:] == ["apply", "-f", "-"], sys.argv
for document in yaml.safe_load_all(sys.stdin):
    schemas.validate(document)
    with open(os.environ["KUBECTL_APPLIED"], "a") as out:
        out.write(json.dumps(document) + "\\n")
    print(f"resourceclaim.resource.k8s.io/{{document['metadata']['name']}} created")
"""


def bash_blocks(text: str) -> list[str]:
    """The bodies of the ``.. code-block:: bash`` directives, dedented, in order."""
    blocks = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() != ".. code-block:: bash":
            continue
        body: list[str] = []
        for following in lines[i + 1 :]:
            if following and not following.startswith(" "):
                break
            body.append(following)
        blocks.append("\n".join(b[2:] if b.startswith("  ") else b for b in body).strip())
    return blocks


def literal_after(text: str, marker: str) -> str:
    """The ``::`` literal block of the paragraph ending in ``marker``, dedented."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.rstrip().endswith(marker)) + 1
    body: list[str] = []
    indent = None
    for line in lines[start:]:
        if not line.strip():
            body.append("")
            continue
        width = len(line) - len(line.lstrip())
        if indent is None:
            indent = width
        if width < indent:
            break
        body.append(line[indent:])
    return "\n".join(body).strip()


@pytest.fixture
def aio(tmp_path: pathlib.Path) -> Iterator[int]:
    """cyborg-aio on its default simulated host (no real driver finds the machine's own)."""
    (tmp_path / "sysfs").mkdir()
    config = tmp_path / "cyborg.conf"
    config.write_text(f"[agent]\nsysfs_root = {tmp_path / 'sysfs'}\nreport_interval = 2\n")
    port, log_path = services.free_port(), str(tmp_path / "aio.log")
    process = _start(str(tmp_path / "state"), port, log_path, "--config-file", str(config))
    try:
        _wait_ready(log_path, process)
        yield port
    finally:
        _stop(process)


def _run(script: str, cwd: pathlib.Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


def _environment(tmp_path: pathlib.Path) -> dict[str, str]:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "kubectl").write_text(KUBECTL)
    (tools / "kubectl").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["PATH"] = f"{tools}{os.pathsep}{BIN}{os.pathsep}{env['PATH']}"
    env["KUBECTL_APPLIED"] = str(tmp_path / "applied.jsonl")
    return env


def _wait_for_gpus(port: int) -> None:
    """Until both simulated GPUs have their providers (a user would look at the list)."""
    deadline = time.monotonic() + 60
    names: list[str] = []
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/deployables") as answer:
            deployables = json.load(answer)["deployables"]
        names = [d["name"] for d in deployables if "_GPU" in d["name"] and d["rp_uuid"]]
        if len(names) == 2:
            return
        time.sleep(0.5)
    pytest.fail(f"the simulated GPUs with providers: {names}", pytrace=False)


def test_the_plans_guide_runs_as_written(aio: int, tmp_path: pathlib.Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "model.onnx").write_bytes(MODEL.read_bytes())
    env = _environment(tmp_path)
    _wait_for_gpus(aio)
    blocks = bash_blocks(PLANS.read_text())
    assert len(blocks) >= 8, blocks
    text = "\n".join(blocks)
    assert DOC_PORT in text
    script = "\n".join(
        [
            "set -euo pipefail",
            'curl() { command curl --fail-with-body "$@"; }',
            text.replace(DOC_PORT, f"127.0.0.1:{aio}"),
        ]
    )
    result = _run(script, work, env)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    plans = json.loads((work / "plans.json").read_text())["plans"]
    assert plans and all(p["result"]["skipped"] == {} for p in plans)
    assert {d["model"] for d in plans[0]["result"]["devices"]} == {"A100-SXM4-80GB"}
    claimed = json.loads((work / "claimed.json").read_text())
    assert claimed["state"] == "claimed" and claimed["arqs"]
    applied = pathlib.Path(env["KUBECTL_APPLIED"]).read_text().splitlines()
    (claim,) = [json.loads(line) for line in applied]
    assert claim["kind"] == "ResourceClaim"
    assert claim["metadata"]["labels"]["cyborg.openstack.org/plan"] == plans[0]["uuid"]
    _check_no_plan_says_why(aio, json.loads((work / "graph-answer.json").read_text())["uuid"])


def _check_no_plan_says_why(port: int, graph: str) -> None:
    """A 409 names each device left out, with the reason."""
    body = {"constraints": {"device_models": ["T4"]}}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v2/graphs/{graph}/plans",
        data=json.dumps(body).encode(),
        headers={"OpenStack-API-Version": "accelerator 2.5", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 409
    fault = json.loads(json.load(refused.value)["error_message"])["faultstring"]
    assert fault.startswith("No plan: no schedulable device matches"), fault
    for gpu in ("_GPU0", "_GPU1"):
        assert f"{gpu}: model A100-SXM4-80GB not in the constraints' device_models" in fault


def test_the_readme_quick_start_runs_as_written(aio: int, tmp_path: pathlib.Path) -> None:
    work = tmp_path / "clone"
    work.mkdir()
    (work / ".venv").symlink_to(pathlib.Path(BIN).parent)  # what tools/run-aio.sh made
    commands = literal_after(README.read_text(), "In another shell::")
    assert ".venv/bin/openstack accelerator" in commands
    script = "set -euo pipefail\n" + commands.replace(DOC_PORT, f"127.0.0.1:{aio}")
    result = _run(script, work, _environment(tmp_path))
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    # The ARQ of the new profile, and the providers of the simulated host's devices.
    assert re.search(r"\|\s+Initial\s+\|", result.stdout), result.stdout
    assert "_GPU0" in result.stdout and "_GPU1" in result.stdout, result.stdout


def _gpu_provider(port: int) -> tuple[str, str]:
    """(host, provider) of a simulated GPU: what the CLI guide's placeholders stand for."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/deployables") as answer:
        deployables = json.load(answer)["deployables"]
    gpu = next(d for d in deployables if "_GPU" in d["name"])
    return gpu["name"].rsplit("_GPU", 1)[0], gpu["rp_uuid"]


def test_the_cli_guide_runs_against_the_aio(aio: int, tmp_path: pathlib.Path) -> None:
    """Its commands, with its placeholders filled in, and its openstacksdk example."""
    _wait_for_gpus(aio)
    text = CLI.read_text()
    setup = literal_after(text, "skip authentication::")
    commands = literal_after(text, "replace these)::")
    assert "DEVICE_UUID" in commands and "ARQ_UUID" in commands
    host, provider = _gpu_provider(aio)
    for name in (
        "DEVICE_UUID",
        "ARQ_UUID",
        "HOSTNAME",
        "INSTANCE_UUID",
        "DEVICE_RP_UUID",
        "PROJECT_ID",
    ):
        commands = commands.replace(name, f'"${name}"')
    filled = commands.replace(
        "openstack accelerator arq bind",
        "ARQ_UUID=$(openstack accelerator arq list -f value -c uuid | sed -n 1p)\n"
        "openstack accelerator arq bind",
    )
    script = "\n".join(
        [
            "set -euo pipefail",
            setup.replace(DOC_PORT, f"127.0.0.1:{aio}"),
            "DEVICE_UUID=$(openstack accelerator device list -f value -c uuid | sed -n 1p)",
            f"HOSTNAME={host} DEVICE_RP_UUID={provider} PROJECT_ID=admin",
            "INSTANCE_UUID=0b7c3e1a-5d2f-4a6b-9c8e-1f0d2b3a4c5e",
            filled,
        ]
    )
    result = _run(script, tmp_path, _environment(tmp_path))
    assert result.returncode == 0, (script, result.stdout[-3000:], result.stderr[-3000:])
    assert re.search(r"\|\s+state\s+\|\s+Bound\s+\|", result.stdout), result.stdout[-3000:]

    sdk = literal_after(text, "openstacksdk::").replace(DOC_PORT, f"127.0.0.1:{aio}")
    printed = subprocess.run(
        [sys.executable, "-c", sdk], capture_output=True, text=True, timeout=120, check=False
    )
    assert printed.returncode == 0, printed.stderr[-3000:]
    assert {line.split()[1] for line in printed.stdout.splitlines()} >= {"GPU", "FPGA"}
