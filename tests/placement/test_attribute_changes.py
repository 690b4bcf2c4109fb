"""Operators' attributes and the driver's: reports keep the former, the API the latter.

The agent runs its real report protocol (cyborg.agent.resource_tracker: the
fingerprint, then the devices when asked) against the conductor's report handling,
publishing to the real Placement.
"""

from typing import Any

import pytest
from oslo_config import cfg

from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.common import exception
from cyborg.conductor.inventory import operator_changes, reports
from cyborg.conductor.placement import provider_sync
from cyborg.drivers import fake
from cyborg.drivers.base import Driver
from cyborg.objects import attribute as attribute_obj
from cyborg.objects import deployable as deployable_obj
from tests.placement.test_sync import FPGA, expected_default, name, tree


class FakeInventory(Driver):
    """The fake driver's default devices of one host."""

    name = "fake-default"

    def __init__(self, hostname: str) -> None:
        super().__init__(None)
        self.hostname = hostname

    def discover(self) -> list[Any]:
        return fake.default_inventory(self.hostname)


class Conductor:
    """The conductor's report handling, in-process, publishing to Placement."""

    def __init__(self, db: Any, conf: cfg.ConfigOpts, sync: provider_sync.PlacementSync) -> None:
        self.db, self.conf, self.sync = db, conf, sync

    def report_inventory(self, context: Any, **report: Any) -> dict[str, Any]:
        return reports.report_inventory(
            self.conf,
            self.db.context,
            report["hostname"],
            report["fingerprint"],
            report["devices"],
            self.sync,
        )


def _attribute(db: Any, deployable_name: str, key: str) -> attribute_obj.Attribute:
    (deployable,) = [d for d in deployable_obj.get_all(db.context) if d.name == deployable_name]
    (attribute,) = attribute_obj.get_all(db.context, deployable_id=deployable.id, key=key)
    return attribute


class ChangingInventory(FakeInventory):
    """The fake devices, less the GPUs once ``gpus_gone`` is set."""

    gpus_gone = False

    def discover(self) -> list[Any]:
        devices = super().discover()
        return devices[:1] if self.gpus_gone else devices


def test_the_drivers_rc_and_traits_cannot_be_deleted(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    """Refused (409) rather than accepted and undone: Placement never loses them."""
    agent = ResourceTracker(hostname, [FakeInventory(hostname)], Conductor(db, conf, sync))
    assert agent.report(db.context)["changed"] is True
    published = expected_default(hostname, compute_node)
    board = name(hostname, FPGA)
    trait = next(a for a in attribute_obj.get_all(db.context) if a.value == "CUSTOM_FAKE_DEVICE")
    for attribute in (_attribute(db, board, "rc"), trait):
        with pytest.raises(exception.AttributeOwnedByDriver):
            operator_changes.delete_attribute(db.context, uuid=attribute.uuid)
    sync.audit(db.context, hostname)
    assert tree(client, compute_node) == published
    assert agent.report(db.context) == {"changed": False}


def test_an_operators_attribute_survives_a_report_that_changes_the_host(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    driver = ChangingInventory(hostname)
    agent = ResourceTracker(hostname, [driver], Conductor(db, conf, sync))
    agent.report(db.context)
    (deployable,) = [
        d for d in deployable_obj.get_all(db.context) if d.name == name(hostname, FPGA)
    ]
    kept = operator_changes.create_attribute(
        db.context, deployable_uuid=deployable.uuid, key="rack", value="r1"
    )
    driver.gpus_gone = True
    assert agent.report(db.context)["changed"] is True  # the GPUs' rows are gone...
    assert [d.name for d in deployable_obj.get_all(db.context)] == [name(hostname, FPGA)]
    assert attribute_obj.get_by_uuid(db.context, kept).value == "r1"  # ...the rack is not
    published = tree(client, compute_node)
    assert name(hostname, FPGA) in published
    assert not [n for n in published if "FakeGPU" in n]


def test_deleting_an_operators_attribute_keeps_the_others(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    """The next report sends every device once (the driver may report that key too),
    and replaces only the driver's attributes."""
    agent = ResourceTracker(hostname, [FakeInventory(hostname)], Conductor(db, conf, sync))
    agent.report(db.context)
    (deployable,) = [
        d for d in deployable_obj.get_all(db.context) if d.name == name(hostname, FPGA)
    ]
    kept = operator_changes.create_attribute(
        db.context, deployable_uuid=deployable.uuid, key="rack", value="r1"
    )
    gone = operator_changes.create_attribute(
        db.context, deployable_uuid=deployable.uuid, key="row", value="7"
    )
    operator_changes.delete_attribute(db.context, uuid=gone)
    assert agent.report(db.context)["changed"] is True
    assert attribute_obj.get_by_uuid(db.context, kept).value == "r1"
    assert tree(client, compute_node) == expected_default(hostname, compute_node)
    assert agent.report(db.context) == {"changed": False}
