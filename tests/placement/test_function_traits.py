"""Programming an FPGA during a bind moves its function trait at once, in the real Placement.

The agent runs its real report protocol (cyborg.agent.resource_tracker) over a driver
whose inventory is the test's; the agent's programming RPC is a stand-in that, like
the real tool, changes what the driver discovers next (the new function). The bind
step (cyborg.conductor.binding.fpga_step) runs in-process against the real
Placement, and the Glance stand-in answers image metadata.
"""

import dataclasses
import types
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from keystoneauth1 import exceptions as ks_exc
from oslo_config import cfg

from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.clients import placement as placement_client
from cyborg.common import exception
from cyborg.common.constants import AttachType, DeviceType
from cyborg.conductor.binding import fpga_step
from cyborg.conductor.inventory import programming
from cyborg.conductor.placement import provider_sync
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.drivers import fake
from cyborg.drivers.base import (
    ATTR_FUNCTION_ID,
    AttachHandleReport,
    DeployableReport,
    DeviceReport,
    canonical_json,
    pci_address_info,
)
from cyborg.objects import attribute as attribute_obj
from cyborg.objects import deployable as deployable_obj
from tests import glance_server
from tests.placement.test_attribute_changes import Conductor

OLD = "D8424DC4A4A3C413F89E433683F9040B"  # the AFU loaded at first
NEW = "9f1c5a2e-3b4d-4e6f-8a7b-0c1d2e3f4a5b"  # the image's accel:function_id
NEW_TRAIT = "CUSTOM_FPGA_FUNCTION_ID_INTEL_9F1C5A2E3B4D4E6F8A7B0C1D2E3F4A5B"
OLD_TRAIT = f"CUSTOM_FPGA_FUNCTION_ID_INTEL_{OLD}"
FUNCTION_IMAGE = "3a4b5c6d-7e8f-4901-a2b3-c4d5e6f7a8b9"  # found by its accel:function_id
IMAGE = "4b5c6d7e-8f90-4a1b-8c2d-3e4f5a6b7c8d"
ADDRESS = "0000:5e:00.0"


def fpga(hostname: str, function_id: str | None) -> DeviceReport:
    """An Intel PAC as the intel_fpga driver reports it, with ``function_id`` loaded."""
    traits = ["CUSTOM_FPGA_INTEL", "CUSTOM_FPGA_INTEL_PAC_ARRIA10"]
    attributes: list[tuple[str, str]] = []
    if function_id is not None:
        traits.append(f"CUSTOM_FPGA_FUNCTION_ID_INTEL_{function_id}")
        attributes.append((ATTR_FUNCTION_ID, function_id))
    address = canonical_json(pci_address_info(ADDRESS))
    return DeviceReport(
        type=DeviceType.FPGA,
        vendor="8086",
        model="PAC",
        controlpath=address,
        deployables=(
            DeployableReport(
                name=f"{fake.safe_name(hostname)}_{ADDRESS}",
                num_accelerators=1,
                resource_class="FPGA",
                driver_name="intel",
                traits=tuple(traits),
                attributes=tuple(attributes),
                attach_handles=(AttachHandleReport(AttachType.PCI, address),),
            ),
        ),
    )


class ProgrammingAgent:
    """The agent's fpga_program: the tool 'loads' ``loads`` into the driver's fixture,
    or fails with ``error`` and leaves it as it was."""

    def __init__(self, driver: fake.FakeDriver, hostname: str, loads: str | None) -> None:
        self.driver, self.hostname, self.loads = driver, hostname, loads
        self.error: Exception | None = None
        self.calls: list[dict[str, Any]] = []

    def fpga_program(self, context: Any, hostname: str, **kwargs: Any) -> bool:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        self.driver.inventory = [fpga(self.hostname, self.loads)]
        return True


@dataclasses.dataclass
class Host:
    agent: ResourceTracker
    programmer: ProgrammingAgent
    step: fpga_step.FPGAProgrammingStep
    rp_uuid: str


@pytest.fixture
def glance() -> Iterator[glance_server.GlanceStub]:
    with glance_server.running() as stub:
        yield stub


@pytest.fixture
def fpga_host(
    db: Any,
    conf: cfg.ConfigOpts,
    sync: provider_sync.PlacementSync,
    hostname: str,
    compute_node: str,
    glance: glance_server.GlanceStub,
) -> Host:
    conf.set_override("endpoint_override", glance.endpoint, group="glance")
    glance.add(FUNCTION_IMAGE, b"gzip bitstream", properties={"accel:function_id": NEW})
    driver = fake.FakeDriver(None, hostname=hostname, inventory=[fpga(hostname, OLD)])
    agent = ResourceTracker(hostname, [driver], Conductor(db, conf, sync))
    answer = agent.report(db.context)
    assert answer is not None and answer["changed"] is True
    programmer = ProgrammingAgent(driver, hostname, NEW.replace("-", "").upper())
    # The bind step has a Placement client of its own, as the conductor's binder does.
    step = fpga_step.FPGAProgrammingStep(conf, programmer, placement_client.from_conf(conf))  # type: ignore[arg-type]
    rp_uuid = _deployable(db).rp_uuid
    assert rp_uuid
    return Host(agent, programmer, step, rp_uuid)


def _deployable(db: Any) -> deployable_obj.Deployable:
    (deployable,) = [d for d in deployable_obj.get_all(db.context) if d.driver_name == "intel"]
    return deployable


def _stored(db: Any) -> dict[str, str]:
    deployable = _deployable(db)
    return {
        a.key: a.value
        for a in attribute_obj.get_all(db.context, deployable_id=deployable.id)
        if a.key.startswith("trait") or a.key == ATTR_FUNCTION_ID
    }


def _bind(db: Any, host: Host, group: dict[str, str]) -> None:
    arq = types.SimpleNamespace(uuid=str(uuid.uuid4()), device_profile_group=group)
    host.step.run(db.context, arq, _deployable(db))  # type: ignore[arg-type]


def _traits(client: placement_client.PlacementClient, rp_uuid: str) -> tuple[int, set[str]]:
    return client.get_provider_traits(rp_uuid)


BASE = {"OWNER_CYBORG", "CUSTOM_FPGA_INTEL", "CUSTOM_FPGA_INTEL_PAC_ARRIA10"}


def test_traits_move_when_the_bind_returns_and_the_next_report_agrees(
    db: Any,
    client: placement_client.PlacementClient,
    fpga_host: Host,
) -> None:
    assert _traits(client, fpga_host.rp_uuid)[1] == BASE | {OLD_TRAIT}

    _bind(db, fpga_host, {"accel:function_id": NEW})

    assert [c["bitstream_uuid"] for c in fpga_host.programmer.calls] == [FUNCTION_IMAGE]
    # Before the agent reports again: Placement and the database hold the new function.
    generation, traits = _traits(client, fpga_host.rp_uuid)
    assert traits == BASE | {NEW_TRAIT}
    assert _stored(db) == {
        "trait0": "CUSTOM_FPGA_INTEL",
        "trait1": "CUSTOM_FPGA_INTEL_PAC_ARRIA10",
        "trait2": NEW_TRAIT,
        ATTR_FUNCTION_ID: "9F1C5A2E3B4D4E6F8A7B0C1D2E3F4A5B",
    }
    # The agent's next report (its driver sees the new function) changes nothing.
    fpga_host.agent.report(db.context)
    assert _traits(client, fpga_host.rp_uuid) == (generation, BASE | {NEW_TRAIT})
    assert _stored(db)["trait2"] == NEW_TRAIT
    assert fpga_host.agent.report(db.context) == {"changed": False}


def test_a_bitstream_image_gives_its_function_property(
    db: Any,
    client: placement_client.PlacementClient,
    fpga_host: Host,
    glance: glance_server.GlanceStub,
) -> None:
    glance.add(IMAGE, b"bitstream", properties={"accel:function_id": NEW})

    _bind(db, fpga_host, {"accel:bitstream_id": IMAGE})

    assert fpga_host.programmer.calls[0]["bitstream_uuid"] == IMAGE
    assert _traits(client, fpga_host.rp_uuid)[1] == BASE | {NEW_TRAIT}


def test_an_image_without_a_function_only_drops_the_old_trait(
    db: Any,
    client: placement_client.PlacementClient,
    fpga_host: Host,
    glance: glance_server.GlanceStub,
) -> None:
    glance.add(IMAGE, b"bitstream")
    fpga_host.programmer.loads = None

    _bind(db, fpga_host, {"accel:bitstream_id": IMAGE})

    assert _traits(client, fpga_host.rp_uuid)[1] == BASE
    assert ATTR_FUNCTION_ID not in _stored(db)
    assert "trait2" not in _stored(db)
    fpga_host.agent.report(db.context)
    assert _traits(client, fpga_host.rp_uuid)[1] == BASE


def test_a_failed_programming_leaves_the_traits_alone(
    db: Any,
    client: placement_client.PlacementClient,
    fpga_host: Host,
) -> None:
    before = _traits(client, fpga_host.rp_uuid)
    stored = _stored(db)
    fpga_host.programmer.error = exception.FPGAProgramError(
        address=ADDRESS, host="fpga-host", reason="fpgaconf exited with status 3"
    )

    with pytest.raises(exception.FPGAProgramError):
        _bind(db, fpga_host, {"accel:function_id": NEW})

    assert _traits(client, fpga_host.rp_uuid) == before
    assert _stored(db) == stored


def test_a_concurrent_trait_change_is_retried_and_kept(
    db: Any,
    client: placement_client.PlacementClient,
    fpga_host: Host,
) -> None:
    step_client = fpga_host.step.placement
    assert step_client is not None
    client.ensure_traits(["CUSTOM_SOMEONE_ELSE"])
    puts: list[int] = []
    send = step_client.adapter.request

    def request(url: str, method: str, **kwargs: Any) -> Any:
        if method == "PUT" and url.endswith(f"{fpga_host.rp_uuid}/traits"):
            if not puts:  # someone else writes between our read and our write
                generation, traits = client.get_provider_traits(fpga_host.rp_uuid)
                client.set_provider_traits(
                    fpga_host.rp_uuid, traits | {"CUSTOM_SOMEONE_ELSE"}, generation
                )
            response = send(url, method, **kwargs)
            puts.append(response.status_code)
            return response
        return send(url, method, **kwargs)

    step_client.adapter.request = request  # type: ignore[method-assign]

    _bind(db, fpga_host, {"accel:function_id": NEW})

    assert puts == [409, 200]
    assert _traits(client, fpga_host.rp_uuid)[1] == BASE | {NEW_TRAIT, "CUSTOM_SOMEONE_ELSE"}


def test_the_program_api_path_moves_the_traits_too(
    db: Any,
    conf: cfg.ConfigOpts,
    client: placement_client.PlacementClient,
    fpga_host: Host,
) -> None:
    # What ConductorManager.program_deployable passes for PATCH .../program.
    programming.program_deployable(
        db.context,
        fpga_host.programmer,  # type: ignore[arg-type]
        deployable_uuid=_deployable(db).uuid,
        image_uuid=FUNCTION_IMAGE,
        placement=fpga_host.step.placement,
        function=lambda: fpga_step.image_function(conf, db.context, {}, FUNCTION_IMAGE),
    )

    assert _traits(client, fpga_host.rp_uuid)[1] == BASE | {NEW_TRAIT}
    assert _stored(db)[ATTR_FUNCTION_ID] == "9F1C5A2E3B4D4E6F8A7B0C1D2E3F4A5B"


def test_the_function_is_not_looked_up_before_the_deployable_is_checked(
    db: Any, fpga_host: Host
) -> None:
    asked: list[str] = []

    def function() -> None:
        asked.append(FUNCTION_IMAGE)

    with pytest.raises(exception.DeployableNotFound):
        programming.program_deployable(
            db.context,
            fpga_host.programmer,  # type: ignore[arg-type]
            deployable_uuid=str(uuid.uuid4()),
            image_uuid=FUNCTION_IMAGE,
            function=function,
        )
    assert asked == []
    assert fpga_host.programmer.calls == []


def test_a_placement_failure_is_repaired_by_the_next_report(
    db: Any,
    client: placement_client.PlacementClient,
    fpga_host: Host,
) -> None:
    step_client = fpga_host.step.placement
    assert step_client is not None
    send = step_client.adapter.request

    def request(url: str, method: str, **kwargs: Any) -> Any:
        if method == "PUT" and url.endswith(f"{fpga_host.rp_uuid}/traits"):
            raise ks_exc.ConnectFailure("placement went away")
        return send(url, method, **kwargs)

    step_client.adapter.request = request  # type: ignore[method-assign]

    _bind(db, fpga_host, {"accel:function_id": NEW})  # programmed: the bind goes on

    assert _traits(client, fpga_host.rp_uuid)[1] == BASE | {OLD_TRAIT}
    assert _stored(db)["trait2"] == NEW_TRAIT
    with db_api.context_manager.reader.using(db.context):
        fingerprint = db.context.session.scalar(
            sa.select(models.Host.inventory_fingerprint).where(
                models.Host.hostname == fpga_host.agent.hostname
            )
        )
    assert fingerprint is None  # whatever it reports next is stored and synced
    answer = fpga_host.agent.report(db.context)
    assert answer is not None and answer["changed"] is True
    assert _traits(client, fpga_host.rp_uuid)[1] == BASE | {NEW_TRAIT}
