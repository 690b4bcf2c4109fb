"""The CP-SAT oracle and the planner agree on tiny instances."""

import dataclasses

import pytest

from cyborg.scheduler import synthetic
from cyborg.scheduler.costs import build_cost_model
from cyborg.scheduler.evaluate import Evaluator
from cyborg.scheduler.exact import solve_exact
from cyborg.scheduler.graph import Graph
from cyborg.scheduler.planner import plan_graph
from tests.scheduler.helpers import TEXTBOOK_COMPUTE, TEXTBOOK_EDGES, hand_model

H100, A100, T4, FPGA = "H100-SXM5-80GB", "A100-SXM4-80GB", "T4", "FPGA-HBM"


def test_textbook_optimum_is_at_most_heft() -> None:
    result = solve_exact(
        hand_model(TEXTBOOK_COMPUTE, TEXTBOOK_EDGES), "latency", time_limit_s=None, work_limit=50.0
    )
    assert result is not None and result.optimal
    # HEFT's schedule is 80; the optimum of this example is 73.
    assert result.value == 73.0
    assert result.lower_bound == pytest.approx(73.0, rel=1e-4)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("objective", ["latency", "throughput"])
def test_planner_within_bounds_of_the_optimum(seed: int, objective: str) -> None:
    models = [[H100, T4], [A100, T4, FPGA], [H100, A100]][seed % 3]
    model = build_cost_model(
        synthetic.random_dag(6 + seed, seed), synthetic.device_set(models, hosts=1 + seed % 2)
    )
    # The oracle places one copy of the graph: so does the planner without replicas
    # (which, for throughput, may only make the plan shorter).
    plan = plan_graph(model, objective, replicate=False)
    assert plan_graph(model, objective).estimate_s <= plan.estimate_s * (1 + 1e-9)
    exact = solve_exact(model, objective, time_limit_s=None, work_limit=50.0, hint=plan.assignment)
    assert exact is not None and exact.optimal
    # The oracle's bound is a lower bound of the model (up to its integer rounding)...
    assert exact.lower_bound <= plan.estimate_s * (1 + 1e-3)
    # ...its solution is a valid plan of the same estimate...
    assert exact.value == pytest.approx(
        Evaluator(model).cost(objective, exact.assignment, exact.order)
    )
    # ...and the planner is close to it.
    assert plan.estimate_s <= 1.15 * exact.value


def test_max_devices_in_the_oracle() -> None:
    model = build_cost_model(
        synthetic.random_dag(8, 1), synthetic.device_set([H100, H100, A100], peer_links=True)
    )
    exact = solve_exact(model, "throughput", max_devices=1, time_limit_s=None, work_limit=50.0)
    assert exact is not None and len(set(exact.assignment)) == 1


@pytest.mark.parametrize("objective", ["latency", "throughput"])
def test_the_optimum_keeps_co_location_groups(objective: str) -> None:
    # Two equal halves on two equal devices: the free optimum splits a and b apart.
    compute = [[4.0, 4.0], [4.0, 4.0], [1.0, 1.0]]
    free = hand_model(compute, [(0, 2, 0.0), (1, 2, 0.0)])
    graph = Graph(free.graph.nodes, free.graph.edges, "hand", colocate=[["n1", "n2"]])
    grouped = dataclasses.replace(free, graph=graph)
    apart = solve_exact(free, objective, time_limit_s=None, work_limit=10.0)
    together = solve_exact(grouped, objective, time_limit_s=None, work_limit=10.0)
    assert apart is not None and together is not None
    assert apart.assignment[0] != apart.assignment[1]
    assert together.assignment[0] == together.assignment[1]
    assert together.value > apart.value
