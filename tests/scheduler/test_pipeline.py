"""The pipeline DP is exact: brute force over every contiguous split agrees."""

import itertools
import random

import numpy as np
import pytest

from cyborg.scheduler import pipeline
from cyborg.scheduler.evaluate import LINK_EFFICIENCY, Evaluator
from tests.scheduler.helpers import hand_model, random_edges

MIB = 2**20


def _brute_force(ev: Evaluator, order: list[int], sequence: list[int]) -> float:
    """min over stage counts and cut positions of the slowest stage, by definition."""
    n = len(order)
    position = {node: p for p, node in enumerate(order)}
    best = float("inf")
    for stages in range(1, len(sequence) + 1):
        for inner in itertools.combinations(range(1, n), stages - 1):
            cuts = (0, *inner, n)
            worst = 0.0
            for j in range(stages):
                lo, hi, d = cuts[j], cuts[j + 1], sequence[j]
                nodes = order[lo:hi]
                compute = sum(ev.compute[i][d] for i in nodes)
                crossing = sum(
                    b
                    for s, t, b in zip(ev.edge_src, ev.edge_dst, ev.edge_bytes, strict=True)
                    if position[s] < lo <= position[t]
                )
                link = ev.transfer(sequence[j - 1], d, crossing) / LINK_EFFICIENCY if j else 0.0
                if sum(ev.memory[i] for i in nodes) + crossing > ev.capacity[d]:
                    worst = float("inf")
                worst = max(worst, compute, link)
            best = min(best, worst)
    return best


def _instance(seed: int, chain: bool) -> Evaluator:
    rng = random.Random(seed)
    n, m = rng.randint(3, 8), 3
    compute = [[rng.uniform(1, 10) * (d + 1) for d in range(m)] for _ in range(n)]
    edges = random_edges(rng, n, chain)
    memory = [rng.uniform(100, 400) * MIB for _ in range(n)]
    return Evaluator(
        hand_model(
            compute, edges, transfer_per_byte=1.0, memory=memory, capacity_mb=[900, 1500, 3000]
        )
    )


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("chain", [True, False])
def test_dp_matches_brute_force(seed: int, chain: bool) -> None:
    ev = _instance(seed, chain)
    order = list(ev.model.graph.topo)
    sequence = [2, 0, 1] if seed % 2 else [0, 1, 2]
    split = pipeline.best_split(ev, order, sequence)
    expected = _brute_force(ev, order, sequence)
    if expected == float("inf"):
        assert split is None
        return
    assert split is not None
    assert split.value == pytest.approx(expected)
    assert split.cuts[0] == 0 and split.cuts[-1] == len(order)
    assert set(split.assignment) == set(split.devices)


def test_cheapest_cuts_when_the_graph_is_long() -> None:
    crossing = [0.0, 5.0, 1.0, 5.0, 5.0, 2.0, 5.0, 5.0, 5.0, 0.5, 5.0, 0.0]
    cuts = pipeline.candidate_cuts(np.asarray(crossing), max_cuts=5)
    assert cuts.tolist() == [0, 2, 5, 9, 11]
