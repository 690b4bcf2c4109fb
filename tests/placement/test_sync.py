"""Agent reports published to a real Placement: providers, inventories, traits, lifecycle."""

import dataclasses
import threading
import uuid
from typing import Any

import pytest
from oslo_config import cfg

from cyborg.clients import placement as placement_client
from cyborg.common import constants, exception, inventory
from cyborg.conductor.inventory import operator_changes, reports
from cyborg.conductor.placement import provider_sync
from cyborg.drivers import fake
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import device as device_obj
from cyborg.objects import host as host_obj
from cyborg.objects.host_inventory import provider_uuid
from tests.placement.conftest import Recorder, make_conf

FPGA = "FakeDevice"


def report(
    db: Any,
    conf: cfg.ConfigOpts,
    sync: provider_sync.PlacementSync | None,
    hostname: str,
    devices: list[inventory.DeviceReport],
    *,
    fingerprint_only: bool = False,
) -> dict[str, Any]:
    return reports.report_inventory(
        conf,
        db.context,
        hostname,
        inventory.fingerprint(devices),
        None if fingerprint_only else inventory.to_primitive(devices),
        sync,
    )


def name(hostname: str, suffix: str) -> str:
    return f"{fake.safe_name(hostname)}_{suffix}"


def tree(client: placement_client.PlacementClient, root: str) -> dict[str, dict[str, Any]]:
    """{provider name: parent, inventories and traits} of every child of ``root``."""
    providers = {}
    for rp in client.get_tree(root):
        if rp.uuid == root:
            continue
        _, inventories = client.get_inventories(rp.uuid)
        _, traits = client.get_provider_traits(rp.uuid)
        providers[rp.name] = {
            "uuid": rp.uuid,
            "parent": rp.parent_provider_uuid,
            "inventories": {
                rc: (inv["total"], inv["reserved"], inv["max_unit"])
                for rc, inv in inventories.items()
            },
            "traits": traits,
        }
    return providers


def expected_default(hostname: str, root: str) -> dict[str, dict[str, Any]]:
    fpga, gpu0, gpu1 = (name(hostname, s) for s in (FPGA, "FakeGPU0", "FakeGPU1"))
    gpu_traits = {"OWNER_CYBORG", "CUSTOM_FAKE_GPU"}
    return {
        fpga: {
            "uuid": provider_uuid(fpga),
            "parent": root,
            "inventories": {"FPGA": (16, 0, 16)},
            "traits": {"OWNER_CYBORG", "CUSTOM_FAKE_DEVICE"},
        },
        gpu0: {
            "uuid": provider_uuid(gpu0),
            "parent": root,
            "inventories": {"PGPU": (1, 0, 1)},
            "traits": gpu_traits,
        },
        gpu1: {
            "uuid": provider_uuid(gpu1),
            "parent": root,
            "inventories": {"PGPU": (1, 0, 1)},
            "traits": gpu_traits,
        },
    }


def test_an_added_host_gets_one_provider_per_deployable(
    db, conf, sync, recorder: Recorder, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    answer = report(db, conf, sync, hostname, fake.default_inventory(hostname))
    assert answer["changed"] is True and answer["fingerprint"]  # stored: Placement in step
    calls = recorder.take()
    assert tree(client, compute_node) == expected_default(hostname, compute_node)
    # The stored rp_uuid is the provider's (upstream's uuid3 of the name).
    assert {d.rp_uuid for d in deployable_obj.get_all(db.context)} == {
        p["uuid"] for p in expected_default(hostname, compute_node).values()
    }
    # find the compute node + its tree + 2 custom traits + 3 x (POST, inventories, traits)
    assert len(calls) == 13, calls
    assert sum(1 for method, _ in calls if method == "GET") == 2


def test_an_unchanged_host_costs_no_placement_request(
    db, conf, sync, recorder: Recorder, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    devices = fake.default_inventory(hostname)
    report(db, conf, sync, hostname, devices)
    recorder.take()
    assert report(db, conf, sync, hostname, devices, fingerprint_only=True) == {"changed": False}
    assert report(db, conf, sync, hostname, devices)["changed"] is False
    assert recorder.take() == []


def test_changes_and_removals_follow_reports(
    db, conf, sync, recorder: Recorder, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    fpga, gpu0, gpu1 = fake.default_inventory(hostname)
    report(db, conf, sync, hostname, [fpga, gpu0, gpu1])
    recorder.take()
    board = fpga.deployables[0]
    changed = dataclasses.replace(
        fpga,
        deployables=(
            dataclasses.replace(board, num_accelerators=8, traits=("CUSTOM_FAKE_DEVICE_V2",)),
        ),
    )
    report(db, conf, sync, hostname, [changed, gpu0])
    calls = recorder.take()

    expected = expected_default(hostname, compute_node)
    del expected[name(hostname, "FakeGPU1")]
    expected[name(hostname, FPGA)]["inventories"] = {"FPGA": (8, 0, 8)}
    expected[name(hostname, FPGA)]["traits"] = {"OWNER_CYBORG", "CUSTOM_FAKE_DEVICE_V2"}
    assert tree(client, compute_node) == expected
    # the tree (the compute node's uuid is remembered) + 1 new trait + inventories and
    # traits of the board + delete of the GPU: what this conductor wrote is not read back.
    assert sorted(method for method, _ in calls) == ["DELETE", "GET", "PUT", "PUT", "PUT"]


def test_a_changed_resource_class_replaces_the_inventory(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    fpga, *_ = fake.default_inventory(hostname)
    report(db, conf, sync, hostname, [fpga])
    board = dataclasses.replace(fpga.deployables[0], resource_class="CUSTOM_FAKE_ACCELERATOR")
    report(db, conf, sync, hostname, [dataclasses.replace(fpga, deployables=(board,))])
    providers = tree(client, compute_node)
    assert providers[name(hostname, FPGA)]["inventories"] == {
        "CUSTOM_FAKE_ACCELERATOR": (16, 0, 16)
    }


def test_allocation_candidates_match_a_device_profile_group(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    report(db, conf, sync, hostname, fake.default_inventory(hostname))

    def candidates(group: dict[str, str]) -> set[str]:
        """The providers Placement offers for a device profile group (as Nova asks)."""
        resources = [f"{k.split(':')[1]}:{v}" for k, v in group.items() if k[:10] == "resources:"]
        required = [
            k.split(":")[1] for k, v in group.items() if k[:6] == "trait:" and v == "required"
        ]
        query = [("resources", ",".join(resources)), ("in_tree", compute_node)]
        if required:
            query.append(("required", ",".join(required)))
        body = client.get_allocation_candidates(query)
        return {rp for request in body["allocation_requests"] for rp in request["allocations"]}

    fpga = provider_uuid(name(hostname, FPGA))
    gpus = {provider_uuid(name(hostname, f"FakeGPU{i}")) for i in (0, 1)}
    assert candidates({"resources:FPGA": "1", "trait:CUSTOM_FAKE_DEVICE": "required"}) == {fpga}
    assert candidates({"resources:PGPU": "1", "trait:CUSTOM_FAKE_GPU": "required"}) == gpus
    assert candidates({"resources:PGPU": "1", "trait:CUSTOM_FAKE_DEVICE": "required"}) == set()
    assert candidates({"resources:FPGA": "16", "trait:OWNER_CYBORG": "required"}) == {fpga}


def test_a_disabled_device_is_wholly_reserved(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    report(db, conf, sync, hostname, fake.default_inventory(hostname))
    board = next(d for d in device_obj.get_all(db.context) if d.model == FPGA)
    fpga = name(hostname, FPGA)

    operator_changes.set_device_status(
        db.context, uuid=board.uuid, status=constants.DeviceStatus.MAINTAINING, placement=sync
    )
    assert tree(client, compute_node)[fpga]["inventories"] == {"FPGA": (16, 16, 16)}
    operator_changes.set_device_status(
        db.context, uuid=board.uuid, status=constants.DeviceStatus.ENABLED, placement=sync
    )
    assert tree(client, compute_node)[fpga]["inventories"] == {"FPGA": (16, 0, 16)}


def test_an_allocated_provider_outlives_its_device_until_freed(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    fpga, gpu0, gpu1 = fake.default_inventory(hostname)
    report(db, conf, sync, hostname, [fpga, gpu0, gpu1])
    board = provider_uuid(name(hostname, FPGA))
    consumer = str(uuid.uuid4())
    client.put_allocations(
        consumer, {board: {"FPGA": 2}}, project_id=str(uuid.uuid4()), user_id=str(uuid.uuid4())
    )

    answer = report(db, conf, sync, hostname, [gpu0, gpu1])  # the board is gone
    assert answer["fingerprint"]  # a kept provider is not a failure: no resync per report
    kept = tree(client, compute_node)[name(hostname, FPGA)]
    assert kept["inventories"] == {"FPGA": (16, 16, 16)}  # nothing new can land on it
    assert client.get_provider_usages(board) == {"FPGA": 2}

    assert sync.audit(db.context, hostname)[0].kept == [name(hostname, FPGA)]  # still used
    client.delete_allocations(consumer)
    result = sync.audit(db.context, hostname)[0]
    assert result.deleted == [name(hostname, FPGA)] and result.in_step
    assert name(hostname, FPGA) not in tree(client, compute_node)


def test_the_audit_repairs_drift_and_leaves_foreign_providers_alone(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    report(db, conf, sync, hostname, fake.default_inventory(hostname))
    fpga = provider_uuid(name(hostname, FPGA))
    gpu0 = provider_uuid(name(hostname, "FakeGPU0"))
    # By hand: a trait removed, an inventory changed, a provider deleted, an extra one of
    # ours, and Nova's own child provider.
    client.set_provider_traits(fpga, ["CUSTOM_FAKE_DEVICE"])
    gpu1 = provider_uuid(name(hostname, "FakeGPU1"))
    _, gpu_inventories = client.get_inventories(gpu1)
    client.set_inventories(gpu1, {"PGPU": {**gpu_inventories["PGPU"], "reserved": 1}})
    client.delete_provider(gpu0)
    extra = client.create_provider(str(uuid.uuid4()), f"{hostname}_stale", compute_node)
    client.ensure_traits(["CUSTOM_NOVA_THING"])
    client.set_provider_traits(extra.uuid, ["OWNER_CYBORG"])
    nova = client.create_provider(str(uuid.uuid4()), f"{hostname}_pci_0000_81_00_0", compute_node)
    client.set_provider_traits(nova.uuid, ["CUSTOM_NOVA_THING"])

    results = sync.audit(db.context, hostname)
    assert [r.in_step for r in results] == [True]
    providers = tree(client, compute_node)
    nova_tree = providers.pop(nova.name)
    assert providers == expected_default(hostname, compute_node)
    assert nova_tree["traits"] == {"CUSTOM_NOVA_THING"} and nova_tree["inventories"] == {}
    assert results[0].deleted == [extra.name] and results[0].created == [
        name(hostname, "FakeGPU0")
    ]


def test_two_conductors_syncing_one_host_end_consistent(
    db, conf, client, hostname, compute_node, tmp_path, placement_endpoint
) -> None:  # type: ignore[no-untyped-def]
    report(db, conf, None, hostname, fake.default_inventory(hostname))  # stored only
    syncs = [
        provider_sync.PlacementSync.from_conf(make_conf(tmp_path, placement_endpoint))
        for _ in range(2)
    ]
    results: list[provider_sync.SyncResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(syncs))

    def run(syncer: provider_sync.PlacementSync | None) -> None:
        assert syncer is not None
        try:
            start.wait()
            for _ in range(3):
                results.append(syncer.sync_host(db.context, hostname, full=True))
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(s,)) for s in syncs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert all(r.in_step for r in results), [r.problems for r in results]
    assert tree(client, compute_node) == expected_default(hostname, compute_node)


def test_generation_conflicts_are_retried(client, hostname, compute_node) -> None:  # type: ignore[no-untyped-def]
    stale = client.get_provider_generation(compute_node)
    client.set_provider_traits(compute_node, ["COMPUTE_ACCELERATORS"], stale)  # moves on
    generation = client.set_provider_traits(compute_node, ["HW_CPU_X86_AVX2"], stale)
    assert generation == stale + 2
    assert client.get_provider_traits(compute_node) == (generation, {"HW_CPU_X86_AVX2"})


def test_without_a_compute_node_provider_the_next_report_syncs_again(
    db, conf, sync, client, hostname
) -> None:  # type: ignore[no-untyped-def]
    devices = fake.default_inventory(hostname)
    answer = report(db, conf, sync, hostname, devices)
    assert answer == {"changed": True, "fingerprint": None}  # stored, Placement not in step
    assert host_obj.get_all(db.context)[0].inventory_fingerprint is None
    root = client.create_provider(str(uuid.uuid4()), hostname).uuid  # nova-compute starts
    assert report(db, conf, sync, hostname, devices, fingerprint_only=True) == {
        "need_inventory": True
    }
    answer = report(db, conf, sync, hostname, devices)
    assert answer["fingerprint"] == inventory.fingerprint(devices)
    assert tree(client, root) == expected_default(hostname, root)


def test_the_compute_node_provider_is_created_when_asked(
    db, tmp_path, placement_endpoint, client, hostname
) -> None:  # type: ignore[no-untyped-def]
    conf = make_conf(tmp_path, placement_endpoint, create_compute_node_provider="true")
    sync = provider_sync.PlacementSync.from_conf(conf)
    assert report(db, conf, sync, hostname, fake.default_inventory(hostname))["fingerprint"]
    root = client.find_provider(hostname)
    assert root is not None and root.uuid == provider_uuid(hostname)
    assert tree(client, root.uuid) == expected_default(hostname, root.uuid)


def test_an_unreachable_placement_keeps_the_inventory_and_retries(
    db, tmp_path, client, hostname, compute_node, placement_endpoint
) -> None:  # type: ignore[no-untyped-def]
    devices = fake.default_inventory(hostname)
    down = make_conf(tmp_path, "http://127.0.0.1:9", timeout=2)
    answer = report(db, down, provider_sync.PlacementSync.from_conf(down), hostname, devices)
    assert answer == {"changed": True, "fingerprint": None}
    assert len(device_obj.get_all(db.context)) == 3
    up = make_conf(tmp_path, placement_endpoint)
    answer = report(db, up, provider_sync.PlacementSync.from_conf(up), hostname, devices)
    assert answer["fingerprint"]
    assert tree(client, compute_node) == expected_default(hostname, compute_node)


def test_invalid_traits_and_classes_are_left_out(
    db, conf, sync, client, hostname, compute_node
) -> None:  # type: ignore[no-untyped-def]
    fpga, gpu0, _ = fake.default_inventory(hostname)
    board = dataclasses.replace(fpga.deployables[0], traits=("CUSTOM_FAKE_DEVICE", "CUSTOM_BAD-"))
    no_rc = dataclasses.replace(gpu0.deployables[0], resource_class="")
    devices = [
        dataclasses.replace(fpga, deployables=(board,)),
        dataclasses.replace(gpu0, deployables=(no_rc,)),
    ]
    assert report(db, conf, sync, hostname, devices)["fingerprint"]
    providers = tree(client, compute_node)
    assert set(providers) == {name(hostname, FPGA)}
    assert providers[name(hostname, FPGA)]["traits"] == {"OWNER_CYBORG", "CUSTOM_FAKE_DEVICE"}


@pytest.mark.parametrize("status", [404, 409])
def test_client_errors_are_cyborg_exceptions(client, hostname, compute_node, status) -> None:  # type: ignore[no-untyped-def]
    if status == 404:
        with pytest.raises(exception.ResourceProviderNotFound):
            client.get_inventories(str(uuid.uuid4()))
    else:
        child = client.create_provider(str(uuid.uuid4()), f"{hostname}_child", compute_node)
        with pytest.raises(exception.ResourceProviderInUse) as err:
            client.delete_provider(compute_node)  # it has a child
        assert err.value.code == 409
        client.delete_provider(child.uuid)
