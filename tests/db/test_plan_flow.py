"""The scheduler in the conductor on every backend: graphs, ranked plans on the live
inventory, measurements that update versioned factors, claims that bind ARQs."""

import threading

import pytest
import sqlalchemy as sa

from cyborg.common import context as cyborg_context
from cyborg.common import exception
from cyborg.conductor.binding import device_profiles
from cyborg.conductor.plans import plan_claim, planning
from cyborg.db import models
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import graph as graph_obj
from cyborg.objects import plan as plan_obj
from cyborg.objects import schedulable as schedulable_obj
from cyborg.objects import scheduler_factor as factor_obj
from tests import binders
from tests.db import seed

GRAPH = {
    "name": "toy",
    "precision": "fp16",
    "nodes": [
        {"name": "a", "op_type": "MatMul", "flops": 4e12, "param_bytes": 2**30},
        {"name": "b", "op_type": "MatMul", "flops": 4e12, "param_bytes": 2**30},
        {"name": "c", "op_type": "Add", "flops": 1e6, "bytes_read": 1e6},
    ],
    "edges": [{"src": "a", "dst": "c", "bytes": 1e6}, {"src": "b", "dst": "c", "bytes": 1e6}],
}


def _inventory(db, count: int = 4) -> None:  # type: ignore[no-untyped-def]
    """``count`` GPUs on two hosts, known to the scheduler's catalog by their attribute."""
    seed.devices(db.engine, count, hosts=2)
    with db.engine.begin() as connection:
        connection.execute(
            sa.insert(models.Attribute),
            [
                {
                    "uuid": f"00000000-0000-4000-8000-{i:012d}",
                    "deployable_id": i,
                    "key": "model",
                    "value": "A100-SXM4-80GB",
                }
                for i in range(1, count + 1)
            ],
        )


def test_create_graph_stores_the_analysis(db) -> None:  # type: ignore[no-untyped-def]
    uuid = planning.create_graph(db.context, name=None, document=GRAPH, project_id="p1")
    graph = graph_obj.get_by_uuid(db.context, uuid, project_id="p1")
    assert (graph.name, graph.format, graph.nodes) == ("toy", "json", 3)
    assert graph.flops == pytest.approx(8e12 + 1e6)
    with pytest.raises(exception.GraphNotFound):
        graph_obj.get_by_uuid(db.context, uuid, project_id="p2")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"document": {"nodes": []}}, "nodes"),
        ({"document": {"nodes": [{"name": "a", "op_type": "X", "flops": -1}]}}, "minimum"),
        ({"onnx_b64": "%%%"}, "base64"),
        ({"onnx_b64": "aGVsbG8gd29ybGQ="}, "onnx"),
    ],
)
def test_bad_graphs_are_400(db, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exception.GraphInvalid) as err:
        planning.create_graph(db.context, name=None, project_id="p1", **kwargs)
    assert err.value.code == 400 and message in str(err.value)


def test_plans_ranked_on_live_inventory_and_measured(db) -> None:  # type: ignore[no-untyped-def]
    _inventory(db)
    graph = planning.create_graph(db.context, name="g", document=GRAPH, project_id="p1")
    uuids = planning.create_plans(
        db.context,
        graph_uuid=graph,
        objective="latency",
        max_devices=None,
        count=3,
        project_id="p1",
        driver="graph_aware",
    )
    plans = plan_obj.get_all(db.context, uuids=uuids)
    assert [p.rank for p in plans] == list(range(1, len(plans) + 1))
    estimates = [p.result["estimated_step_s"] for p in plans]
    assert estimates == sorted(estimates)
    best = plans[0]
    assert best.graph_uuid == graph and best.state == "proposed"
    assert set(best.result["placement"]) == {"a", "b", "c"}
    assert all(d["rp_uuid"] and d["predicted_by_op_s"] for d in best.result["devices"])

    planning.report_measurement(
        db.context,
        plan_uuid=best.uuid,
        step_time_ms=best.result["estimated_step_s"] * 2000,
        project_id="p1",
    )
    first = {(f.op_type, f.device_model): f for f in factor_obj.get_all(db.context)}
    assert first[("MatMul", "A100-SXM4-80GB")].factor > 1.2
    assert first[("MatMul", "A100-SXM4-80GB")].version == 1
    planning.report_measurement(
        db.context,
        plan_uuid=best.uuid,
        step_time_ms=best.result["estimated_step_s"] * 3000,
        project_id="p1",
    )
    second = {(f.op_type, f.device_model): f for f in factor_obj.get_all(db.context)}
    assert second[("MatMul", "A100-SXM4-80GB")].version == 2
    assert second[("MatMul", "A100-SXM4-80GB")].samples == 2

    # The learned factors go into the next plans' estimates.
    again = planning.create_plans(
        db.context,
        graph_uuid=graph,
        objective="latency",
        max_devices=1,
        count=1,
        project_id="p1",
        driver="first_fit",
    )
    slower = plan_obj.get_by_uuid(db.context, again[0])
    assert len(slower.result["devices"]) == 1
    assert slower.result["estimated_step_s"] > best.result["best_single_device_s"]


def test_no_devices_is_409_and_other_projects_graph_404(db) -> None:  # type: ignore[no-untyped-def]
    graph = planning.create_graph(db.context, name="g", document=GRAPH, project_id="p1")
    with pytest.raises(exception.NoFeasiblePlan):
        planning.create_plans(
            db.context,
            graph_uuid=graph,
            objective="latency",
            max_devices=None,
            count=1,
            project_id="p1",
            driver="graph_aware",
        )
    with pytest.raises(exception.GraphNotFound):
        planning.create_plans(
            db.context,
            graph_uuid=graph,
            objective="latency",
            max_devices=None,
            count=1,
            project_id="p2",
            driver="graph_aware",
        )


def _plan(db, **kwargs) -> str:  # type: ignore[no-untyped-def]
    graph = planning.create_graph(db.context, name="g", document=GRAPH, project_id="p1")
    args = {"objective": "latency", "max_devices": None, "count": 1, "driver": "graph_aware"}
    [uuid] = planning.create_plans(
        db.context, graph_uuid=graph, project_id="p1", **{**args, **kwargs}
    )
    return uuid


def test_a_claim_without_placement_is_undone(db) -> None:  # type: ignore[no-untyped-def]
    _inventory(db)
    device_profiles.create_device_profile(
        db.context, name="one-gpu", groups=[{"resources:PGPU": "1"}]
    )
    uuid = _plan(db, device_profile_name="one-gpu", max_devices=2)
    with pytest.raises(exception.PlacementNotConfigured):
        plan_claim.claim_plan(
            binders.binder(),
            db.context,
            plan_uuid=uuid,
            device_profile_name=None,  # the plan's
            consumer_uuid=None,
            project_id="p1",
            visible_to_project="p1",
        )
    plan = plan_obj.get_by_uuid(db.context, uuid)
    assert (plan.state, plan.consumer_uuid) == ("proposed", None)
    assert arq_obj.get_all(db.context) == []


@pytest.mark.parametrize(
    "planned, asked, message",
    [
        (None, None, "made without a device profile"),
        ("one-gpu", "other", "made for device profile one-gpu, not other"),
    ],
)
def test_a_claim_needs_the_plans_profile(db, planned, asked, message) -> None:  # type: ignore[no-untyped-def]
    _inventory(db)
    for name in ("one-gpu", "other"):
        device_profiles.create_device_profile(
            db.context, name=name, groups=[{"resources:PGPU": "1"}]
        )
    uuid = _plan(db, device_profile_name=planned)
    with pytest.raises(exception.Invalid, match=message):
        plan_claim.claim_plan(
            binders.binder(),
            db.context,
            plan_uuid=uuid,
            device_profile_name=asked,
            consumer_uuid=None,
            project_id="p1",
            visible_to_project="p1",
        )
    assert plan_obj.get_by_uuid(db.context, uuid).state == "proposed"


def test_profile_and_constraints_narrow_the_devices(db) -> None:  # type: ignore[no-untyped-def]
    _inventory(db, 4)  # deployables 1..4, hosts alternate
    with db.engine.begin() as connection:
        connection.execute(
            sa.insert(models.Attribute),
            [
                {
                    "uuid": f"00000000-0000-4000-9000-{i:012d}",
                    "deployable_id": i,
                    "key": k,
                    "value": v,
                }
                for i in range(1, 5)
                for k, v in (("trait7", "CUSTOM_BIG" if i <= 2 else "CUSTOM_SMALL"),)
            ],
        )
    rows = schedulable_obj.get_all(db.context)
    big = {r.deployable_uuid for r in rows if r.attributes["trait7"] == "CUSTOM_BIG"}
    device_profiles.create_device_profile(
        db.context, name="big", groups=[{"resources:PGPU": "1", "trait:CUSTOM_BIG": "required"}]
    )
    device_profiles.create_device_profile(
        db.context,
        name="not-big",
        groups=[{"resources:PGPU": "1", "trait:CUSTOM_BIG": "forbidden"}],
    )
    device_profiles.create_device_profile(
        db.context, name="fpga", groups=[{"resources:FPGA": "1"}]
    )
    device_profiles.create_device_profile(db.context, name="two", groups=[{"resources:PGPU": "2"}])

    def used(uuid: str) -> set[str]:
        return {d["id"] for d in plan_obj.get_by_uuid(db.context, uuid).result["devices"]}

    assert used(_plan(db, device_profile_name="big")) <= big
    assert not used(_plan(db, device_profile_name="not-big")) & big
    host = rows[0].hostname
    on_host = {r.deployable_uuid for r in rows if r.hostname == host}
    assert used(_plan(db, constraints={"hosts": [host]})) <= on_host
    single = plan_obj.get_by_uuid(db.context, _plan(db, constraints={"single_host": True}))
    assert len({d["host"] for d in single.result["devices"]}) == 1
    assert single.request["constraints"] == {"single_host": True}
    with pytest.raises(exception.NoFeasiblePlan, match="matches the device profile"):
        _plan(db, constraints={"device_models": ["T4"]})
    with pytest.raises(exception.NoFeasiblePlan):
        _plan(db, device_profile_name="fpga")
    with pytest.raises(exception.Invalid, match="one unit of one resource class"):
        _plan(db, device_profile_name="two")
    with pytest.raises(exception.DeviceProfileNotFound):
        _plan(db, device_profile_name="missing")


def test_per_device_times_credit_each_device_exactly(db) -> None:  # type: ignore[no-untyped-def]
    _inventory(db)
    plan = plan_obj.get_by_uuid(db.context, _plan(db, max_devices=1))
    [device] = plan.result["devices"]
    busy_ms = device["compute_s"] * 4000  # the device was 4x slower than estimated
    planning.report_measurement(
        db.context,
        plan_uuid=plan.uuid,
        step_time_ms=busy_ms * 1.5,  # the step also waited on something else
        project_id="p1",
        device_times_ms={device["id"]: busy_ms},
    )
    learned = {(f.op_type, f.device_model): f.factor for f in factor_obj.get_all(db.context)}
    assert learned[("MatMul", "A100-SXM4-80GB")] == pytest.approx(4.0, rel=0.1)
    with pytest.raises(exception.Invalid, match="does not use"):
        planning.report_measurement(
            db.context,
            plan_uuid=plan.uuid,
            step_time_ms=1.0,
            project_id="p1",
            device_times_ms={"6a1c3f2e-8d4b-4c7a-9e1f-0b2d3c4e5f60": 1.0},
        )


def test_the_inventory_loads_in_two_statements(db) -> None:  # type: ignore[no-untyped-def]
    _inventory(db, 8)
    with db.count_statements() as statements:
        rows = schedulable_obj.get_all(db.context)
    assert len(rows) == 8 and len(statements) == 2
    assert {r.attributes["model"] for r in rows} == {"A100-SXM4-80GB"}
    # Each row knows its device's PCI address: what the NVIDIA driver's peer links name.
    assert len({(r.hostname, r.pci_address) for r in rows}) == 8
    assert all(r.pci_address and r.pci_address.count(":") == 2 for r in rows)


def test_two_conductors_saving_the_same_new_factor_both_succeed(db) -> None:  # type: ignore[no-untyped-def]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def conductor(value: float) -> None:
        start.wait()
        try:
            factor_obj.save(cyborg_context.get_admin_context(), {("MatMul", "H100"): value})
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=conductor, args=(v,)) for v in (1.5, 2.5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    (factor,) = factor_obj.get_all(db.context)
    assert factor.factor in (1.5, 2.5)
    assert (factor.samples, factor.version) == (2, 2)  # one insert, then one update
