"""Exactly the Placement requests a new host, an unchanged one and an audit cost."""

import collections
import uuid
from typing import Any

from cyborg.common import inventory
from cyborg.conductor.inventory import reports
from cyborg.conductor.placement import provider_sync
from cyborg.drivers import fake, fake_inventory
from tests.functional import agent_swarm
from tests.placement.conftest import Recorder, make_conf

DEVICES = 8


def _devices(hostname: str) -> list[inventory.DeviceReport]:
    """The fleet benchmark's host: 8 GPUs, each one provider (bench/fleet.py)."""
    return fake_inventory.parse(agent_swarm.generated(hostname, DEVICES), fake.safe_name(hostname))


def _report(db: Any, conf: Any, sync: Any, hostname: str, devices: Any, *, full: bool) -> Any:
    return reports.report_inventory(
        conf,
        db.context,
        hostname,
        inventory.fingerprint(devices),
        inventory.to_primitive(devices) if full else None,
        sync,
    )


def _counts(calls: list[tuple[str, str]]) -> dict[str, int]:
    return dict(collections.Counter(method for method, _ in calls))


def _created_sync(tmp_path: Any, endpoint: str) -> tuple[provider_sync.PlacementSync, Recorder]:
    conf = make_conf(tmp_path, endpoint, create_compute_node_provider="true")
    sync = provider_sync.PlacementSync.from_conf(conf)
    assert sync is not None
    return sync, Recorder(sync.client)


def test_a_new_host_costs_one_request_per_write_and_no_read(
    db: Any, tmp_path: Any, placement_endpoint: str
) -> None:
    """The compute node is created (no read: nothing can be under it), then per device
    one POST, one inventories PUT and one traits PUT: the fewest the API allows."""
    sync, recorder = _created_sync(tmp_path, placement_endpoint)
    hostname = f"fleet-{uuid.uuid4().hex[:8]}"
    assert _report(db, sync.conf, sync, hostname, _devices(hostname), full=True)["fingerprint"]
    assert _counts(recorder.take()) == {"POST": 1 + DEVICES, "PUT": 2 * DEVICES}


def test_a_new_host_under_nova_s_compute_node_reads_twice(
    db: Any, conf: Any, sync: Any, recorder: Recorder, hostname: str, compute_node: str
) -> None:
    """Under a compute node nova-compute made: its name looked up, its tree read once."""
    assert _report(db, conf, sync, hostname, _devices(hostname), full=True)["fingerprint"]
    assert _counts(recorder.take()) == {"GET": 2, "POST": DEVICES, "PUT": 2 * DEVICES}


def test_an_unchanged_report_and_a_changed_device(db, tmp_path, placement_endpoint) -> None:  # type: ignore[no-untyped-def]
    sync, recorder = _created_sync(tmp_path, placement_endpoint)
    hostname = f"fleet-{uuid.uuid4().hex[:8]}"
    devices = _devices(hostname)
    _report(db, sync.conf, sync, hostname, devices, full=True)
    recorder.take()
    for full in (False, True, False):  # the fingerprint alone, then the devices again
        assert _report(db, sync.conf, sync, hostname, devices, full=full)["changed"] is False
    assert recorder.take() == []

    spec = agent_swarm.generated(hostname, DEVICES)
    spec[0]["deployables"][0]["traits"] = ["CUSTOM_FLEET_CHANGED"]  # type: ignore[index]
    changed = fake_inventory.parse(spec, fake.safe_name(hostname))
    assert _report(db, sync.conf, sync, hostname, changed, full=True)["fingerprint"]
    # The tree (generations), the new custom trait, that provider's traits.
    assert _counts(recorder.take()) == {"GET": 1, "PUT": 2}


def test_an_audit_of_an_unchanged_host_reads_its_tree_only(
    db: Any, tmp_path: Any, placement_endpoint: str
) -> None:
    sync, recorder = _created_sync(tmp_path, placement_endpoint)
    hostname = f"fleet-{uuid.uuid4().hex[:8]}"
    _report(db, sync.conf, sync, hostname, _devices(hostname), full=True)
    recorder.take()
    (result,) = sync.audit(db.context, hostname, full=False)
    assert result.in_step and not (result.created or result.updated or result.deleted)
    # The tree only: no provider's generation moved.
    assert _counts(recorder.take()) == {"GET": 1}
