"""Co-location groups: the format, the ONNX training importer, and every search."""

import random

import numpy as np
import pytest

from cyborg.scheduler import (
    balance,
    colocation,
    heft,
    local_search,
    onnx_import,
    synthetic,
    synthetic_training,
)
from cyborg.scheduler.base import PlanRequest
from cyborg.scheduler.costs import build_cost_model
from cyborg.scheduler.evaluate import Evaluator
from cyborg.scheduler.first_fit import FirstFit
from cyborg.scheduler.graph import Graph, GraphError
from cyborg.scheduler.graph_json import graph_from_dict, graph_to_dict
from cyborg.scheduler.json_input import InputFormatError
from cyborg.scheduler.planner import plan_graph
from tests.scheduler.helpers import SETS

DOC = {
    "nodes": [{"name": n, "op_type": "Op", "flops": 1e9} for n in ("a", "b", "c", "d")],
    "edges": [{"src": "a", "dst": "b"}, {"src": "b", "dst": "c"}, {"src": "c", "dst": "d"}],
}


def test_groups_round_trip_and_merge() -> None:
    graph = graph_from_dict({**DOC, "colocate": [["a", "b"], ["b", "c"], ["d", "d"]]})
    assert graph.colocate == (("a", "b", "c"),)
    assert graph.group_of == (0, 0, 0, -1)
    assert graph.contractible
    again = graph_from_dict(graph_to_dict(graph))
    assert again.colocate == graph.colocate
    assert "colocate" not in graph_to_dict(graph_from_dict(DOC))


@pytest.mark.parametrize(
    "colocate, message",
    [([["a", "zz"]], "no node 'zz'"), ([["a"]], "is too short"), ([[]], "is too short")],
)
def test_bad_groups_are_refused(colocate: list[list[str]], message: str) -> None:
    with pytest.raises(InputFormatError, match=message):
        graph_from_dict({**DOC, "colocate": colocate})


def test_a_group_around_other_nodes_is_not_contractible() -> None:
    graph = graph_from_dict({**DOC, "colocate": [["a", "c"]]})  # a -> b -> c
    assert not graph.contractible
    with pytest.raises(GraphError):
        Graph(list(graph.nodes), [], colocate=[["a", "nope"]])


def _random_grouped(seed: int) -> Graph:
    """A random DAG with groups: convex ones (a node and a successor) and, for odd
    seeds, groups around other nodes (a node and a descendant two steps away)."""
    base = synthetic.random_dag(24 + seed % 3 * 8, seed)
    rng = random.Random(seed)
    groups = []
    for _ in range(5):
        i = rng.randrange(len(base))
        succ = [base.edge_dst[k] for k in base.succs[i]]
        if not succ:
            continue
        j = succ[0]
        if seed % 2:
            further = [base.edge_dst[k] for k in base.succs[j]]
            j = further[0] if further else j
        groups.append([base.nodes[i].name, base.nodes[j].name])
    return Graph(base.nodes, base.edges, base.name, colocate=groups)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("objective", ["latency", "throughput"])
def test_no_search_splits_a_group(seed: int, objective: str) -> None:
    graph = _random_grouped(seed)
    assert graph.groups
    models, hosts, links = SETS[seed % len(SETS)]
    model = build_cost_model(graph, synthetic.device_set(models, hosts=hosts, peer_links=links))
    ev = Evaluator(model)
    plan = plan_graph(model, objective, effort=0.3)
    assert colocation.splits(graph, plan.assignment) == 0
    assert colocation.splits(graph, heft.heft(ev, contention=True).assignment) == 0
    balanced = balance.greedy_balance(ev, list(range(ev.m)), ev.m)
    assert balanced is None or colocation.splits(graph, balanced) == 0
    start = heft.heft(ev).assignment
    period, _, _ = local_search.improve_period(ev, start, list(range(ev.m)), ev.m, 20_000)
    assert colocation.splits(graph, period) == 0
    order = list(graph.topo)
    fast, _, _ = local_search.improve_latency(ev, start, order, list(range(ev.m)), ev.m, 20_000)
    assert colocation.splits(graph, fast) == 0
    rng = random.Random(seed)
    for _ in range(20):
        kicked = local_search.perturb(ev, start, list(range(ev.m)), ev.m, rng)
        assert colocation.splits(graph, kicked) == 0
    first = FirstFit().plan_model(model, PlanRequest(objective))
    assert colocation.splits(graph, first.assignment) == 0


def test_contraction_adds_up_and_expands() -> None:
    graph = graph_from_dict({**DOC, "colocate": [["b", "c"]]})
    devices = synthetic.device_set(["T4", "T4"])
    model = build_cost_model(graph, devices)
    contraction = colocation.contract(model)
    assert contraction.members == ((0,), (1, 2), (3,))
    assert np.allclose(contraction.model.compute[1], model.compute[1] + model.compute[2])
    assert contraction.expand((0, 1, 0)) == (0, 1, 1, 0)
    assert contraction.expand_order((0, 1, 2)) == (0, 1, 2, 3)


def test_repair_moves_a_group_to_its_heaviest_device() -> None:
    graph = graph_from_dict({**DOC, "colocate": [["a", "b", "c"]]})
    compute = [[1.0, 5.0]] * 4
    assert colocation.repair(graph, compute, [0, 1, 1, 0]) == [1, 1, 1, 0]


def test_onnx_training_graph_groups_each_weight_with_its_update() -> None:
    graph = onnx_import.graph_from_onnx(synthetic_training.mlp_training_step(2))
    groups = {frozenset(g) for g in graph.colocate}
    # Transpose(W2) is folded at load time (a constant input only), so fc2_dx reads a
    # constant of its own, not W2: it is not in W2's group.
    assert frozenset({"fc1", "fc1_dw", "update_W1"}) in groups
    assert frozenset({"fc2", "fc2_dw", "update_W2"}) in groups
    # fc1 -> relu1 -> fc2 -> loss_grad -> fc2_dx -> relu1_grad -> fc1_dw: W1's group
    # around W2's.
    assert not graph.contractible
    devices = synthetic.device_set(["T4", "T4"])
    plan = plan_graph(build_cost_model(graph, devices), "throughput")
    assert colocation.splits(graph, plan.assignment) == 0


def test_onnx_runtime_grad_names_group_the_weight() -> None:
    model = synthetic_training.mlp_training_step(2)
    for node in model.graph.node:  # onnxruntime's naming, no optimizer node
        node.output[:] = [o.replace("G1", "W1_grad") for o in node.output]
        node.input[:] = [i.replace("G1", "W1_grad") for i in node.input]
    kept = [n for n in model.graph.node if n.op_type != "Momentum"]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    del model.graph.output[1:]
    graph = onnx_import.graph_from_onnx(model)
    assert graph.colocate == (("fc1", "fc1_dw"),)
