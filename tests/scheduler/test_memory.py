"""Peak memory per device from the tensors alive, against the old resident sum."""

import pytest

from cyborg.scheduler import heft, synthetic
from cyborg.scheduler.costs import build_cost_model
from cyborg.scheduler.evaluate import Evaluator
from cyborg.scheduler.first_fit import first_fit_assignment
from cyborg.scheduler.memory import Liveness
from cyborg.scheduler.planner import plan_graph
from cyborg.scheduler.simulator import simulate
from tests.scheduler.helpers import A100, FPGA, H100, T4, hand_model

MIB = 2**20
# A chain n1 -> n2 -> n3 -> n4: 10 MiB of parameters and 100 MiB of output each.
CHAIN = [(0, 1, 100 * MIB), (1, 2, 100 * MIB), (2, 3, 100 * MIB)]


def _chain(training: bool = False, capacity_mb: float = 1024.0) -> Evaluator:
    return Evaluator(
        hand_model(
            [[1.0, 1.0]] * 4,
            CHAIN,
            memory=[100 * MIB] * 4,
            params=[10 * MIB] * 4,
            capacity_mb=[capacity_mb, capacity_mb],
            training=training,
        )
    )


def test_a_chain_holds_two_outputs_at_a_time() -> None:
    ev = _chain()
    one = [0, 0, 0, 0]
    # Parameters (40) and, at the peak, a node's input and its output (200).
    assert ev.memory_of(one) == [240 * MIB, 0.0]
    assert ev.resident_of(one) == [440 * MIB, 0.0]
    # Split after n2: d1 receives n2's output (100), holds it with n3's output, then
    # n3's with n4's; d0 holds n1's and n2's outputs.
    split = [0, 0, 1, 1]
    assert ev.memory_of(split) == [220 * MIB, 220 * MIB]
    assert ev.resident_of(split) == [220 * MIB, 320 * MIB]
    # The simulator's peak over time agrees on one device.
    assert simulate(ev.model, one, [0, 1, 2, 3]).peak_memory_bytes[0] == 240 * MIB


def test_training_keeps_every_activation() -> None:
    ev = _chain(training=True)
    assert ev.memory_of([0, 0, 0, 0]) == [440 * MIB, 0.0]
    assert ev.memory_of([0, 0, 1, 1]) == [220 * MIB, 320 * MIB]


def test_what_fits_by_its_peak_is_planned() -> None:
    # 440 MiB resident, 240 MiB at the peak: a 300 MiB device holds the whole chain.
    ev = _chain(capacity_mb=300)
    assert ev.fits([0, 0, 0, 0])
    assert first_fit_assignment(ev, 1) == [0, 0, 0, 0]
    assert heft.heft(ev).fits
    plan = plan_graph(ev.model, "latency", max_devices=1)
    assert plan.memory_bytes[plan.assignment[0]] == 240 * MIB
    assert not _chain(training=True, capacity_mb=300).fits([0, 0, 0, 0])


@pytest.mark.parametrize("training", [False, True])
def test_liveness_before_placing_matches_after(training: bool) -> None:
    """What a list scheduler asks before it places a node is the peak it then gets."""
    graph = synthetic.random_dag(60, 3)
    if training:
        graph = type(graph)(graph.nodes, graph.edges, graph.name, training=True)
    ev = Evaluator(build_cost_model(graph, synthetic.device_set([H100, A100, T4, FPGA])))
    assignment = [i % ev.m for i in range(ev.n)]
    lv = Liveness(ev)
    for i in ev.model.graph.topo:
        expected = lv.peak_if(i, assignment[i])
        lv.place(i, assignment[i])
        assert lv.totals()[assignment[i]] == pytest.approx(expected)
    assert lv.totals() == ev.memory_of(assignment)
    bound = ev.resident_of(assignment)
    assert all(p <= r * (1 + 1e-12) for p, r in zip(lv.totals(), bound, strict=True))
    if training:
        # Nothing freed: every node's memory plus each received tensor once.
        assert sum(lv.totals()) <= sum(bound)
