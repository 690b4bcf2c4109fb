"""The graph-aware scheduler against a real Placement: plans leave out devices that
Placement says are taken, and a claim binds each planned device by name through the
standalone path, all devices under one consumer, across hosts, all or nothing."""

import dataclasses
import threading
import uuid
from typing import Any

import pytest

from cyborg.common import constants, exception
from cyborg.common import context as cyborg_context
from cyborg.conductor.binding import device_profiles
from cyborg.conductor.plans import plan_claim, planning
from cyborg.drivers import fake
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import plan as plan_obj
from cyborg.objects.host_inventory import provider_uuid
from tests import binders
from tests.placement.test_sync import name, report

MODEL = "A100-SXM4-80GB"
# Two 4-TFLOP matrix products that may run side by side, then their sum.
GRAPH = {
    "name": "two-branches",
    "precision": "fp16",
    "nodes": [
        {"name": "a", "op_type": "MatMul", "flops": 4e13, "param_bytes": 2**30},
        {"name": "b", "op_type": "MatMul", "flops": 4e13, "param_bytes": 2**30},
        {"name": "c", "op_type": "Add", "flops": 1e6, "bytes_read": 1e6},
    ],
    "edges": [{"src": "a", "dst": "c", "bytes": 1e6}, {"src": "b", "dst": "c", "bytes": 1e6}],
}


def scheduler_gpus(hostname: str) -> list[Any]:
    """The fake driver's two GPUs, telling the scheduler their model."""
    gpus = []
    for index in (0, 1):
        device = fake.fake_gpu(hostname, index)
        (deployable,) = device.deployables
        attributes = tuple(sorted((*deployable.attributes, ("model", MODEL))))
        gpus.append(
            dataclasses.replace(
                device, deployables=(dataclasses.replace(deployable, attributes=attributes),)
            )
        )
    return gpus


def gpu_rps(hostname: str) -> list[str]:
    return [provider_uuid(name(hostname, f"FakeGPU{i}")) for i in (0, 1)]


@pytest.fixture
def hosts(db, conf, sync, client) -> list[str]:  # type: ignore[no-untyped-def]
    names = [f"plan-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for hostname in names:
        client.create_provider(str(uuid.uuid4()), hostname)
        report(db, conf, sync, hostname, scheduler_gpus(hostname))
    device_profiles.create_device_profile(
        db.context,
        name="gpu",
        groups=[{"resources:PGPU": "1", "trait:CUSTOM_FAKE_GPU": "required"}],
    )
    return names


def make_plans(db, client, **kwargs: Any) -> list[str]:  # type: ignore[no-untyped-def]
    graph = planning.create_graph(db.context, name=None, document=GRAPH, project_id="p1")
    args = {"objective": "latency", "max_devices": None, "count": 1, "driver": "graph_aware"}
    return planning.create_plans(
        db.context,
        graph_uuid=graph,
        project_id="p1",
        free_providers=planning.free_in_placement(client),
        **{**args, **kwargs},
    )


def claim(db, claimer, plan: str, context: Any = None) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    return plan_claim.claim_plan(
        binders.binder(claimer=claimer),
        context or db.context,
        plan_uuid=plan,
        device_profile_name=None,
        consumer_uuid=None,
        project_id="p1",
        visible_to_project="p1",
    )


def test_plans_leave_out_devices_placement_says_are_taken(db, client, hosts) -> None:  # type: ignore[no-untyped-def]
    taken = gpu_rps(hosts[0])[0]
    client.put_allocations(
        str(uuid.uuid4()), {taken: {"PGPU": 1}}, project_id="nova", user_id="nova"
    )
    [uuid_] = make_plans(db, client, device_profile_name="gpu", count=1)
    plan = plan_obj.get_by_uuid(db.context, uuid_)
    assert taken not in {d["rp_uuid"] for d in plan.result["devices"]}
    assert plan.result["skipped"] == {name(hosts[0], "FakeGPU0"): "not free in Placement"}
    assert plan.request["device_profile_name"] == "gpu"


def test_a_claim_allocates_each_planned_device_for_one_consumer(
    db, client, claimer, hosts
) -> None:  # type: ignore[no-untyped-def]
    # One GPU free on each host: a two-device plan spans both.
    for hostname in hosts:
        client.put_allocations(
            str(uuid.uuid4()), {gpu_rps(hostname)[0]: {"PGPU": 1}}, project_id="n", user_id="n"
        )
    [uuid_] = make_plans(db, client, device_profile_name="gpu", max_devices=2)
    plan = plan_obj.get_by_uuid(db.context, uuid_)
    planned = {d["rp_uuid"] for d in plan.result["devices"]}
    assert planned == {gpu_rps(h)[1] for h in hosts}

    consumer, arqs = claim(db, claimer, uuid_)

    bound = arq_obj.get_all(db.context, uuids=arqs)
    assert {a.state for a in bound} == {constants.ARQState.BOUND}
    assert {(a.hostname, a.device_rp_uuid) for a in bound} == {(h, gpu_rps(h)[1]) for h in hosts}
    assert {a.instance_uuid for a in bound} == {consumer}
    held = client.get_consumer_allocations(consumer)
    assert held.allocations == {rp: {"PGPU": 1} for rp in planned}
    assert (held.project_id, held.consumer_type) == ("p1", "ACCELERATOR")
    stored = plan_obj.get_by_uuid(db.context, uuid_)
    assert (stored.state, stored.consumer_uuid) == ("claimed", consumer)

    # Deleting the consumer's ARQs gives the devices back.
    binders.binder(claimer=claimer).delete(db.context, instance_uuid=consumer)
    assert client.get_consumer_allocations(consumer).allocations == {}


def test_a_device_taken_since_the_plan_undoes_the_whole_claim(db, client, claimer, hosts) -> None:  # type: ignore[no-untyped-def]
    [uuid_] = make_plans(db, client, device_profile_name="gpu", max_devices=2)
    plan = plan_obj.get_by_uuid(db.context, uuid_)
    first, second = (d["rp_uuid"] for d in plan.result["devices"])
    client.put_allocations(str(uuid.uuid4()), {second: {"PGPU": 1}}, project_id="n", user_id="n")

    with pytest.raises(exception.NoFreeAccelerator) as err:
        claim(db, claimer, uuid_)

    assert err.value.code == 409 and "taken" in str(err.value)
    stored = plan_obj.get_by_uuid(db.context, uuid_)
    assert (stored.state, stored.consumer_uuid) == ("proposed", None)
    assert arq_obj.get_all(db.context) == []
    assert client.get_provider_usages(first) == {"PGPU": 0}


def test_of_two_claims_of_one_plan_one_wins(db, client, claimer, hosts) -> None:  # type: ignore[no-untyped-def]
    [uuid_] = make_plans(db, client, device_profile_name="gpu", max_devices=2)
    start = threading.Barrier(2)
    results: list[Any] = []

    def race() -> None:
        context = cyborg_context.get_admin_context()
        start.wait()
        try:
            results.append(claim(db, claimer, uuid_, context))
        except Exception as err:
            results.append(err)

    threads = [threading.Thread(target=race) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    (won,) = [r for r in results if isinstance(r, tuple)]
    (lost,) = [r for r in results if isinstance(r, Exception)]
    assert isinstance(lost, exception.PlanAlreadyClaimed) and lost.code == 409
    consumer, arqs = won
    assert len(arq_obj.get_all(db.context)) == len(arqs)
    planned = plan_obj.get_by_uuid(db.context, uuid_).result["devices"]
    assert client.get_consumer_allocations(consumer).allocations == {
        d["rp_uuid"]: {"PGPU": 1} for d in planned
    }


@pytest.mark.parametrize(
    "group",
    [
        {"resources:PGPU": "1", "trait:CUSTOM_NOT_THERE": "required"},
        {"resources:PGPU": "1", "trait:CUSTOM_FAKE_GPU": "forbidden"},
        {"resources:FPGA": "1"},
    ],
)
def test_a_profile_that_does_not_ask_for_the_planned_devices_is_400(
    db, client, claimer, hosts, group
) -> None:  # type: ignore[no-untyped-def]
    device_profiles.create_device_profile(db.context, name="other", groups=[group])
    [uuid_] = make_plans(db, client, max_devices=1)  # no profile: any GPU
    with pytest.raises(exception.Invalid, match="does not ask for deployable"):
        plan_claim.claim_plan(
            binders.binder(claimer=claimer),
            db.context,
            plan_uuid=uuid_,
            device_profile_name="other",
            consumer_uuid=None,
            project_id="p1",
            visible_to_project="p1",
        )
    assert plan_obj.get_by_uuid(db.context, uuid_).state == "proposed"
    assert arq_obj.get_all(db.context) == []
