"""A bind that programs an FPGA moves its function trait in the real Placement, and the
agent's next report (its sysfs now showing the new AFU) agrees.

As tests/functional/test_fpga_program.py: API, conductor and agent processes over
RabbitMQ, the agent's privsep daemon (so the test runs as root), a Glance stand-in;
here also a real Placement. The agent reads a copy of the recorded host
tests/fixtures/hosts/intel-pac-a10, and its ``fpgaconf`` stand-in writes the new AFU id
into that copy's ``afu_id`` files, as loading a bitstream changes them on a real card.
"""

import os
import pathlib
import shutil
from collections.abc import Iterator

import pytest

from cyborg.clients import placement as placement_client
from tests import fake_nova, glance_server, placement_service
from tests.functional import services
from tests.functional.test_fpga_program import (
    DEPLOYABLE,
    FIXTURE,
    HOST,
    IMAGE,
    _arq,
    _bind,
    _profile,
)
from tests.placement.conftest import make_conf

NEW_FUNCTION = "9f1c5a2e-3b4d-4e6f-8a7b-0c1d2e3f4a5b"  # the image's accel:function_id
NEW_TRAIT = "CUSTOM_FPGA_FUNCTION_ID_INTEL_9F1C5A2E3B4D4E6F8A7B0C1D2E3F4A5B"
OLD_TRAIT = "CUSTOM_FPGA_FUNCTION_ID_INTEL_D8424DC4A4A3C413F89E433683F9040B"

LOADING_FPGACONF = """#!/bin/sh
# Loads the bitstream: the AFU id in new-afu is written into every afu_id file named
# in afu-files (the agent's copy of the fixture).
here=$(dirname "$0")
while read -r path; do cat "$here/new-afu" > "$path"; done < "$here/afu-files"
exit 0
"""


@pytest.fixture
def sysfs(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """The agent's copy of the fixture host, and the loading fpgaconf first on PATH."""
    if os.geteuid() != 0:
        pytest.fail("this test must run as root (the agent's privsep daemon)", pytrace=False)
    root = tmp_path / "host"
    shutil.copytree(FIXTURE, root, symlinks=True)
    tools = tmp_path / "bin"
    tools.mkdir()
    script = tools / "fpgaconf"
    script.write_text(LOADING_FPGACONF)
    script.chmod(0o755)
    (tools / "new-afu").write_text(NEW_FUNCTION.replace("-", "") + "\n")
    afu_files = sorted(str(p) for p in root.rglob("afu_id"))
    assert len(afu_files) == 2
    (tools / "afu-files").write_text("\n".join(afu_files) + "\n")
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    return root


@pytest.fixture
def placement(tmp_path: pathlib.Path) -> Iterator[placement_service.PlacementService]:
    service = placement_service.PlacementService(str(tmp_path / "placement"))
    try:
        service.start()
    except placement_service.PlacementUnavailable as err:
        pytest.fail(str(err), pytrace=False)
    try:
        yield service
    finally:
        service.stop()


def _agent_conf(
    deployment: services.Deployment, glance: glance_server.GlanceStub, root: pathlib.Path
) -> str:
    conf_path = os.path.join(deployment.directory, "agent-fpga.conf")
    helper = f"{os.path.join(services.BIN, 'privsep-helper')} --config-file {conf_path}"
    return (
        f"[agent]\nresource_provider_name = {HOST}\nenabled_drivers = intel_fpga_driver\n"
        f"sysfs_root = {root}\nreport_interval = 2\nprogram_timeout = 30\n"
        f"[glance]\nendpoint_override = {glance.endpoint}\n"
        f"[cyborg_privileged]\nhelper_command = {helper}\n"
    )


def _fingerprint(deployment: services.Deployment) -> str:
    ((fingerprint,),) = deployment.query(
        "SELECT inventory_fingerprint FROM hosts WHERE hostname = :h", h=HOST
    )
    return str(fingerprint)


def test_a_bind_moves_the_function_trait_and_the_next_report_agrees(
    tmp_path: pathlib.Path,
    sysfs: pathlib.Path,
    placement: placement_service.PlacementService,
) -> None:
    client = placement_client.from_conf(make_conf(tmp_path, placement.endpoint))
    with (
        glance_server.running() as glance,
        fake_nova.running() as nova,
        services.deployment(
            extra_conf=(
                f"[glance]\nendpoint_override = {glance.endpoint}\n"
                f"[nova]\nauth_type = none\nendpoint_override = {nova.endpoint}\n"
                "[placement]\nauth_type = admin_token\n"
                f"token = {placement_service.ADMIN_TOKEN}\n"
                f"endpoint_override = {placement.endpoint}\n"
                "create_compute_node_provider = true\n"
            )
        ) as deployment,
    ):
        glance.add(IMAGE, b"gzip bitstream", properties={"accel:function_id": NEW_FUNCTION})
        deployment.start("agent-fpga", "agent", _agent_conf(deployment, glance, sysfs))

        def published() -> list[tuple[str, set[str]]]:
            rows = deployment.query(
                "SELECT rp_uuid FROM deployables WHERE name = :n", n=DEPLOYABLE
            )
            if not rows or rows[0][0] is None or client.get_provider(rows[0][0]) is None:
                return []
            return [(rows[0][0], client.get_provider_traits(rows[0][0])[1])]

        ((rp_uuid, traits),) = deployment.wait_for(published, 60, "the FPGA in Placement")
        assert OLD_TRAIT in traits
        before = _fingerprint(deployment)
        instance = "6f7a8b9c-0d1e-4f2a-b3c4-d5e6f7a8b9c0"
        nova.instances.add(instance)

        _profile(deployment, "gzip", {"accel:function_id": NEW_FUNCTION})
        arq = _bind(deployment, "gzip", rp_uuid, instance)
        (event,) = nova.wait_for_events(1, seconds=60)
        assert (event["tag"], event["status"]) == (arq, "completed"), deployment.log("conductor")
        assert _arq(deployment, arq)["state"] == "Bound"

        traits = client.get_provider_traits(rp_uuid)[1]
        assert NEW_TRAIT in traits and OLD_TRAIT not in traits, deployment.log("conductor")
        # The conductor wrote it during the bind (the agent also reports at once after
        # programming, so the traits alone do not tell who was first; that the
        # conductor's write comes before any report is tests/placement/
        # test_function_traits.py's).
        assert f"Provider {rp_uuid}: function trait now {NEW_TRAIT}" in deployment.log("conductor")
        # The agent's report of its changed sysfs is stored...
        deployment.wait_for(
            lambda: _fingerprint(deployment) != before, 60, "the agent's report of the new AFU"
        )
        # ...and agrees: the new function stays, in Placement and the database.
        traits = client.get_provider_traits(rp_uuid)[1]
        assert NEW_TRAIT in traits and OLD_TRAIT not in traits
        ((function_id,),) = deployment.query(
            "SELECT a.value FROM attributes a JOIN deployables d ON a.deployable_id = d.id "
            "WHERE d.name = :n AND a.key = 'function_id'",
            n=DEPLOYABLE,
        )
        assert function_id == NEW_FUNCTION.replace("-", "").upper()
