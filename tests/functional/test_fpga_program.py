"""Programming an FPGA through every real piece: API, conductor and agent processes over
RabbitMQ, the agent's oslo.privsep daemon, and a Glance stand-in on a real port.

The agent runs the Intel FPGA driver on a recorded host (tests/fixtures/hosts/
intel-pac-a10, one PAC Arria 10 at 0000:5e:00.0). Its privsep daemon is started with
``privsep-helper`` directly (no sudo), so the test must run as root. The
``fpgaconf`` it runs is a script first on the agent's PATH that records its argv and
the image it was given, and exits with the status the test asks for.
"""

import json
import os
import pathlib
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests import fake_nova, glance_server
from tests.functional import nova_calls, services

HOST = "fpga-host.example.com"
FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "hosts" / "intel-pac-a10"
DEPLOYABLE = f"{HOST}_0000:5e:00.0"
IMAGE = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"
OTHER_IMAGE = "1d2e3f4a-5b6c-4d7e-8f80-91a2b3c4d5e6"
UNKNOWN_IMAGE = "2e3f4a5b-6c7d-4e8f-9a01-a2b3c4d5e6f7"
TOKEN = "functional-user-token"

FAKE_FPGACONF = """#!/bin/sh
# Records how it was called, then exits as told (0 unless exit-code exists).
here=$(dirname "$0")
printf '%s\\n' "$@" > "$here/argv.txt"
for last in "$@"; do :; done
cat "$last" > "$here/image.bin"
if [ -f "$here/exit-code" ]; then exit "$(cat "$here/exit-code")"; fi
exit 0
"""


@pytest.fixture
def tools(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A fake fpgaconf first on the PATH the agent (and its daemon) inherit."""
    if os.geteuid() != 0:
        pytest.fail(
            "test_fpga_program must run as root: the agent starts its privsep daemon "
            "with privsep-helper directly, without sudo",
            pytrace=False,
        )
    directory = tmp_path / "bin"
    directory.mkdir()
    script = directory / "fpgaconf"
    script.write_text(FAKE_FPGACONF)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    return directory


@pytest.fixture
def glance() -> Iterator[glance_server.GlanceStub]:
    with glance_server.running() as stub:
        yield stub


def _agent_conf(deployment: services.Deployment, glance: glance_server.GlanceStub) -> str:
    conf_path = os.path.join(deployment.directory, "agent-fpga.conf")  # Deployment's name
    helper = f"{os.path.join(services.BIN, 'privsep-helper')} --config-file {conf_path}"
    return (
        f"[agent]\nresource_provider_name = {HOST}\nenabled_drivers = intel_fpga_driver\n"
        f"sysfs_root = {FIXTURE}\nreport_interval = 2\nprogram_timeout = 30\n"
        # No auth plugin: the agent uses the caller's token, as upstream does.
        f"[glance]\nendpoint_override = {glance.endpoint}\n"
        f"[cyborg_privileged]\nhelper_command = {helper}\n"
    )


def _program(deployment: services.Deployment, uuid: str, image: str) -> requests.Response:
    return requests.patch(
        f"{deployment.endpoint}/deployables/{uuid}/program",
        json=[{"op": "replace", "path": "/program", "value": [{"image_uuid": image}]}],
        headers={"X-Auth-Token": TOKEN},
        timeout=120,
    )


def _fault(response: requests.Response) -> str:
    return str(json.loads(response.json()["error_message"])["faultstring"])


def _bitstream(deployment: services.Deployment, uuid: str) -> str | None:
    ((bitstream,),) = deployment.query(
        "SELECT bitstream_id FROM deployables WHERE uuid = :u", u=uuid
    )
    return bitstream  # type: ignore[no-any-return]


def test_program_an_intel_fpga(tools: pathlib.Path, glance: glance_server.GlanceStub) -> None:
    image = secrets.token_bytes(200_000)
    glance.add(IMAGE, image)
    glance.add(OTHER_IMAGE, b"another bitstream")
    with services.deployment() as deployment:
        deployment.start("agent-fpga", "agent", _agent_conf(deployment, glance))
        ((uuid,),) = deployment.wait_for(
            lambda: deployment.query("SELECT uuid FROM deployables WHERE name = :n", n=DEPLOYABLE),
            60,
            "the agent's report of the fixture host",
        )

        response = _program(deployment, uuid, IMAGE)
        assert response.status_code == 200, (response.text, deployment.log("agent-fpga")[-3000:])
        assert (response.json()["uuid"], response.json()["bitstream_id"]) == (uuid, IMAGE)
        argv = (tools / "argv.txt").read_text().splitlines()
        # Exactly the driver's command (tests/unit/drivers/test_intel_fpga.py), the
        # downloaded file last; the file is deleted once the tool is done.
        assert argv[:-1] == ["--bus", "0x5e", "--device", "0x00", "--function", "0x0"]
        assert (tools / "image.bin").read_bytes() == image
        assert not os.path.exists(argv[-1])
        assert _bitstream(deployment, uuid) == IMAGE
        assert {token for _, token in glance.requests} == {TOKEN}
        assert "Running privsep helper" in deployment.log("agent-fpga")

        # The tool fails: a 409 that says so, and the recorded bitstream stays.
        (tools / "exit-code").write_text("3\n")
        response = _program(deployment, uuid, OTHER_IMAGE)
        assert response.status_code == 409
        assert _fault(response) == (
            f"Programming the FPGA at 0000:5e:00.0 on host {HOST} failed: "
            "fpgaconf exited with status 3"
        )
        assert _bitstream(deployment, uuid) == IMAGE

        # An image Glance does not have.
        response = _program(deployment, uuid, UNKNOWN_IMAGE)
        assert response.status_code == 400
        assert UNKNOWN_IMAGE in _fault(response)
        assert "Traceback" not in response.text

        # A seeded GPU is refused by the conductor, without asking any agent.
        ((gpu,),) = deployment.query("SELECT uuid FROM deployables WHERE id = 1")
        response = _program(deployment, gpu, IMAGE)
        assert response.status_code == 409
        assert "not an FPGA" in _fault(response)


def _arq(deployment: services.Deployment, uuid: str) -> dict[str, Any]:
    return nova_calls.get_arq(deployment, uuid)


def _bind(deployment: services.Deployment, profile: str, rp_uuid: str, instance: str) -> str:
    return nova_calls.create_and_bind(deployment, profile, HOST, rp_uuid, instance, TOKEN)


def _profile(deployment: services.Deployment, name: str, group: dict[str, str]) -> None:
    response = requests.post(
        f"{deployment.endpoint}/device_profiles",
        json=[{"name": name, "groups": [{"resources:FPGA": "1", **group}]}],
        timeout=30,
    )
    assert response.status_code == 201, response.text


def test_binding_programs_the_fpga_the_profile_asks_for(
    tools: pathlib.Path, glance: glance_server.GlanceStub
) -> None:
    image = secrets.token_bytes(50_000)
    glance.add(IMAGE, image, properties={"accel:function_id": "gzip-v2"})
    with (
        fake_nova.running() as nova,
        services.deployment(
            extra_conf=(
                f"[glance]\nendpoint_override = {glance.endpoint}\n"
                f"[nova]\nauth_type = none\nendpoint_override = {nova.endpoint}\n"
            )
        ) as deployment,
    ):
        deployment.start("agent-fpga", "agent", _agent_conf(deployment, glance))
        ((rp_uuid,),) = deployment.wait_for(
            lambda: deployment.query(
                "SELECT rp_uuid FROM deployables WHERE name = :n", n=DEPLOYABLE
            ),
            60,
            "the agent's report of the fixture host",
        )
        instance = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
        nova.instances.add(instance)

        # By function: Glance is searched for the image that carries it.
        _profile(deployment, "gzip", {"accel:function_id": "gzip-v2"})
        arq = _bind(deployment, "gzip", rp_uuid, instance)
        (event,) = nova.wait_for_events(1, seconds=60)
        assert (event["tag"], event["status"]) == (arq, "completed"), deployment.log("conductor")
        assert _arq(deployment, arq)["state"] == "Bound"
        assert (tools / "image.bin").read_bytes() == image
        assert deployment.query(
            "SELECT bitstream_id FROM deployables WHERE rp_uuid = :rp", rp=rp_uuid
        ) == [(IMAGE,)]
        requests.delete(
            f"{deployment.endpoint}/accelerator_requests?instance={instance}", timeout=30
        )

        # Programming fails: the ARQ ends BindFailed with the reason, and Nova hears it.
        glance.add(OTHER_IMAGE, b"another bitstream")
        (tools / "exit-code").write_text("3\n")
        _profile(deployment, "other", {"accel:bitstream_id": OTHER_IMAGE})
        arq = _bind(deployment, "other", rp_uuid, instance)
        events = nova.wait_for_events(2, seconds=60)
        assert (events[-1]["tag"], events[-1]["status"]) == (arq, "failed")
        assert _arq(deployment, arq)["state"] == "BindFailed"
        ((reason,),) = deployment.query(
            "SELECT bind_failure_reason FROM extended_accelerator_requests WHERE uuid = :u", u=arq
        )
        assert "fpgaconf exited with status 3" in reason
        requests.delete(
            f"{deployment.endpoint}/accelerator_requests?instance={instance}", timeout=30
        )

        # Both keys in one group: refused, BindFailed.
        _profile(deployment, "both", {"accel:function_id": "x", "accel:bitstream_id": IMAGE})
        arq = _bind(deployment, "both", rp_uuid, instance)
        events = nova.wait_for_events(3, seconds=60)
        assert (events[-1]["tag"], events[-1]["status"]) == (arq, "failed")
        ((reason,),) = deployment.query(
            "SELECT bind_failure_reason FROM extended_accelerator_requests WHERE uuid = :u", u=arq
        )
        assert "not both" in reason
