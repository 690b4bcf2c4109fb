"""The DP over device kinds is exact: brute force over every device sequence agrees."""

import itertools
import random

import pytest

from cyborg.scheduler import stage_dp
from cyborg.scheduler.evaluate import Evaluator
from tests.scheduler.helpers import hand_model, random_edges
from tests.scheduler.test_pipeline import _brute_force

MIB = 2**20


def test_hand_worked_chain() -> None:
    # One fast device (4 s a node) and two half as fast: four nodes, no transfers.
    compute = [[4.0, 8.0, 8.0]] * 4
    ev = Evaluator(hand_model(compute, [(i, i + 1, 0.0) for i in range(3)]))
    assert stage_dp.device_kinds(ev, range(3)) == [[0], [1, 2]]
    order = list(range(4))
    three = stage_dp.best_kind_split(ev, order, range(3), 3)
    assert three is not None and three.value == pytest.approx(8.0)  # 2 fast, 1 + 1 slow
    assert sorted(three.kinds) == [0, 1, 1]
    assert ev.period_of(three.split.assignment) == pytest.approx(8.0)
    two = stage_dp.best_kind_split(ev, order, range(3), 2)
    assert two is not None and two.value == pytest.approx(12.0)  # 3 fast, 1 slow
    one = stage_dp.best_kind_split(ev, order, range(3), 1)
    assert one is not None and one.value == pytest.approx(16.0)


def _instance(seed: int, chain: bool) -> Evaluator:
    """Four devices of two kinds (columns and memory equal within a kind)."""
    rng = random.Random(seed)
    n = rng.randint(3, 7)
    compute = []
    for _ in range(n):
        fast, slow = rng.uniform(1, 10), rng.uniform(1, 10) * 2.5
        compute.append([fast, fast, slow, slow])
    edges = random_edges(rng, n, chain)
    memory = [rng.uniform(100, 400) * MIB for _ in range(n)]
    model = hand_model(compute, edges, 1.0, memory, capacity_mb=[900, 900, 2000, 2000])
    return Evaluator(model)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("chain", [True, False])
def test_dp_matches_brute_force_over_sequences(seed: int, chain: bool) -> None:
    ev = _instance(seed, chain)
    order = list(ev.model.graph.topo)
    limit = 2 + seed % 3
    expected = min(
        _brute_force(ev, order, list(sequence))
        for sequence in itertools.permutations(range(ev.m), limit)
    )
    found = stage_dp.best_kind_split(ev, order, range(ev.m), limit)
    if expected == float("inf"):
        assert found is None
        return
    assert found is not None
    assert found.value == pytest.approx(expected)
    assert len(set(found.split.assignment)) <= limit
    # Uniform links: the concrete re-cut is no worse than the kinds' value.
    assert found.split.value <= found.value * (1 + 1e-9)


def test_gives_up_beyond_the_work_bound() -> None:
    ev = _instance(0, True)
    assert (
        stage_dp.best_kind_split(ev, list(ev.model.graph.topo), range(4), 4, max_work=10) is None
    )
