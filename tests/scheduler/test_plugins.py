"""The stevedore plugins: loading, the first_fit baseline, requests."""

import pytest

from cyborg.scheduler import synthetic
from cyborg.scheduler.base import (
    PlanRequest,
    UnknownScheduler,
    known_schedulers,
    load_scheduler,
)
from cyborg.scheduler.first_fit import FirstFit
from cyborg.scheduler.graph_aware import GraphAware
from cyborg.scheduler.plan import NoFeasiblePlan

H100, T4 = "H100-SXM5-80GB", "T4"


def test_plugins_load_through_stevedore() -> None:
    assert {"first_fit", "graph_aware"} <= set(known_schedulers())
    assert isinstance(load_scheduler("first_fit"), FirstFit)
    assert isinstance(load_scheduler("graph_aware"), GraphAware)
    with pytest.raises(UnknownScheduler, match="no scheduler 'magic'; known: first_fit"):
        load_scheduler("magic")


def test_first_fit_takes_the_first_candidate_that_holds_the_graph() -> None:
    graph = synthetic.random_dag(30, 2)
    devices = synthetic.device_set([T4, H100])  # the slow one first
    plan = FirstFit().plan(graph, devices, PlanRequest())
    assert set(plan.assignment) == {0}
    assert plan.algorithm == "first-fit"
    better = GraphAware().plan(graph, devices, PlanRequest())
    assert better.estimate_s < plan.estimate_s


def test_first_fit_spills_over_in_order() -> None:
    graph = synthetic.transformer(24, hidden=8192, seq=256)  # ~38 GB of fp16 weights
    plan = FirstFit().plan(graph, synthetic.device_set([T4] * 4), PlanRequest())
    assert plan.devices_used == (0, 1, 2)
    order = [plan.assignment[i] for i in graph.topo]
    assert order == sorted(order)
    with pytest.raises(NoFeasiblePlan):
        FirstFit().plan(graph, synthetic.device_set([T4] * 4), PlanRequest(max_devices=2))


def test_requests_are_checked() -> None:
    with pytest.raises(ValueError, match="objective"):
        PlanRequest("fastest")
    with pytest.raises(ValueError, match="max_devices"):
        PlanRequest(max_devices=0)
