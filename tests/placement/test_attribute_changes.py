"""An operator deleting a driver's attribute: Placement is repaired, never left wrong.

The agent runs its real report protocol (cyborg.agent.resource_tracker: the
fingerprint, then the devices when asked) against the conductor's report handling,
publishing to the real Placement.
"""

from typing import Any

from oslo_config import cfg

from cyborg.agent.resource_tracker import ResourceTracker
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


def test_a_deleted_rc_attribute_comes_back_with_the_next_report(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    agent = ResourceTracker(hostname, [FakeInventory(hostname)], Conductor(db, conf, sync))
    assert agent.report(db.context)["changed"] is True
    published = expected_default(hostname, compute_node)
    assert tree(client, compute_node) == published
    board = name(hostname, FPGA)

    operator_changes.delete_attribute(db.context, uuid=_attribute(db, board, "rc").uuid)
    # Before the agent reports again, a drift audit finds a deployable without a
    # resource class: its provider is unpublished meanwhile...
    sync.audit(db.context, hostname)
    assert board not in tree(client, compute_node)
    # ...and the next report, although the agent's inventory did not change, sends the
    # devices: the driver's rc is stored again and the provider published again.
    assert agent.report(db.context)["changed"] is True
    assert _attribute(db, board, "rc").value == "FPGA"
    assert tree(client, compute_node) == published
    assert agent.report(db.context) == {"changed": False}  # in step: quiet again


def test_a_deleted_trait_attribute_comes_back_with_the_next_report(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    agent = ResourceTracker(hostname, [FakeInventory(hostname)], Conductor(db, conf, sync))
    agent.report(db.context)
    board = name(hostname, FPGA)
    trait = next(a for a in attribute_obj.get_all(db.context) if a.value == "CUSTOM_FAKE_DEVICE")
    operator_changes.delete_attribute(db.context, uuid=trait.uuid)
    sync.audit(db.context, hostname)
    assert tree(client, compute_node)[board]["traits"] == {"OWNER_CYBORG"}
    agent.report(db.context)
    assert tree(client, compute_node) == expected_default(hostname, compute_node)


def test_deleting_an_operators_attribute_keeps_the_others(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    """Only the driver's rc and traits force the next report to send every device: that
    report would drop every attribute operators added to the host."""
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
    assert agent.report(db.context) == {"changed": False}
    assert attribute_obj.get_by_uuid(db.context, kept).value == "r1"
