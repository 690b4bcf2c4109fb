"""A deployable its driver reports unhealthy or fatal is wholly reserved in Placement
(Nova schedules nothing new there) until its driver reports it healthy again."""

import dataclasses
from typing import Any

import pytest

from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.common import constants, exception, inventory
from cyborg.conductor.inventory import operator_changes
from cyborg.drivers import fake
from cyborg.drivers.base import Driver
from cyborg.objects import device as device_obj
from tests.placement.test_attribute_changes import Conductor, _attribute
from tests.placement.test_sync import expected_default, name, report, tree


def with_health(device: inventory.DeviceReport, state: str | None) -> inventory.DeviceReport:
    """``device`` with each deployable's health attribute set to ``state`` (None: none)."""
    deployables = []
    for d in device.deployables:
        facts = {
            k: v
            for k, v in d.attributes
            if k not in (inventory.ATTR_HEALTH, inventory.ATTR_HEALTH_REASON)
        }
        if state is not None:
            facts.update({inventory.ATTR_HEALTH: state, inventory.ATTR_HEALTH_REASON: "XID 79"})
        deployables.append(dataclasses.replace(d, attributes=tuple(sorted(facts.items()))))
    return dataclasses.replace(device, deployables=tuple(deployables))


def test_unhealthy_and_fatal_reserve_everything_and_recovery_frees_it(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    fpga, gpu0, gpu1 = fake.default_inventory(hostname)
    report(db, conf, sync, hostname, [fpga, gpu0, gpu1])
    expected: dict[str, Any] = expected_default(hostname, compute_node)
    assert tree(client, compute_node) == expected

    # Only the health attributes change: that alone brings Placement in step.
    report(
        db,
        conf,
        sync,
        hostname,
        [with_health(fpga, "unhealthy"), with_health(gpu0, "fatal"), gpu1],
    )
    sick = {**expected}
    sick[name(hostname, "FakeDevice")] = {
        **expected[name(hostname, "FakeDevice")],
        "inventories": {"FPGA": (16, 16, 16)},
    }
    sick[name(hostname, "FakeGPU0")] = {
        **expected[name(hostname, "FakeGPU0")],
        "inventories": {"PGPU": (1, 1, 1)},
    }
    assert tree(client, compute_node) == sick

    # "healthy" said out loud is as good as no health attribute.
    report(db, conf, sync, hostname, [with_health(fpga, "healthy"), gpu0, gpu1])
    assert tree(client, compute_node) == expected


def test_recovery_leaves_a_device_in_maintenance_reserved(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    fpga, gpu0, gpu1 = fake.default_inventory(hostname)
    report(db, conf, sync, hostname, [with_health(fpga, "fatal"), gpu0, gpu1])
    (board,) = [
        d for d in device_obj.get_all(db.context, hostname=hostname) if d.model == "FakeDevice"
    ]
    operator_changes.set_device_status(
        db.context, uuid=board.uuid, status=constants.DeviceStatus.MAINTAINING, placement=sync
    )
    report(db, conf, sync, hostname, [fpga, gpu0, gpu1])  # healthy again
    inventories = tree(client, compute_node)[name(hostname, "FakeDevice")]["inventories"]
    assert inventories == {"FPGA": (16, 16, 16)}
    operator_changes.set_device_status(
        db.context, uuid=board.uuid, status=constants.DeviceStatus.ENABLED, placement=sync
    )
    assert tree(client, compute_node) == expected_default(hostname, compute_node)


class SickInventory(Driver):
    """The fake driver's default host, its first GPU reported fatal."""

    name = "fake-sick"

    def __init__(self, hostname: str) -> None:
        super().__init__(None)
        self.hostname = hostname

    def discover(self) -> list[Any]:
        fpga, gpu0, gpu1 = fake.default_inventory(self.hostname)
        return [fpga, with_health(gpu0, "fatal"), gpu1]


def test_the_drivers_health_attribute_cannot_be_deleted(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    agent = ResourceTracker(hostname, [SickInventory(hostname)], Conductor(db, conf, sync))
    agent.report(db.context)
    gpu0 = name(hostname, "FakeGPU0")
    health = _attribute(db, gpu0, inventory.ATTR_HEALTH)
    with pytest.raises(exception.AttributeOwnedByDriver):
        operator_changes.delete_attribute(db.context, uuid=health.uuid)
    assert _attribute(db, gpu0, inventory.ATTR_HEALTH).value == "fatal"
    assert tree(client, compute_node)[gpu0]["inventories"] == {"PGPU": (1, 1, 1)}
