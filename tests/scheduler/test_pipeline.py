"""The pipeline DP is exact: brute force over every contiguous split agrees."""

import itertools
import random

import numpy as np
import pytest

from cyborg.scheduler import pipeline
from cyborg.scheduler.evaluate import LINK_EFFICIENCY, Evaluator
from tests.scheduler.helpers import hand_model, random_edges

MIB = 2**20


def _crossing(ev: Evaluator, position: dict[int, int], cut: int) -> float:
    """Bytes of the tensors produced before ``cut`` and read at or after it, once each."""
    crossing = {
        k
        for s, t, k in zip(ev.edge_src, ev.edge_dst, ev.edge_tensor, strict=True)
        if k >= 0 and position[s] < cut <= position[t]
    }
    return sum(ev.tensor_bytes[k] for k in crossing)


def _live(ev: Evaluator, position: dict[int, int], p: int) -> float:
    """Activations alive at position p: from each node's position to its last reader's."""
    total = 0.0
    for s in range(ev.n):
        last = max([position[t] for t, _ in ev.outputs[s]] + [position[s]])
        if position[s] <= p <= last:
            total += ev.activation[s]
    return total


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
                crossing = _crossing(ev, position, lo)
                link = 0.0
                if j:
                    seconds = ev.transfer(sequence[j - 1], d, crossing)
                    link = seconds / LINK_EFFICIENCY
                    compute += seconds if ev.blocks_receiver[sequence[j - 1]][d] else 0.0
                if j + 1 < stages and ev.blocks_sender[d][sequence[j + 1]]:
                    compute += ev.transfer(d, sequence[j + 1], _crossing(ev, position, hi))
                peak = max(_live(ev, position, p) for p in range(lo, hi))
                if sum(ev.params[i] for i in nodes) + crossing + peak > ev.capacity[d]:
                    worst = float("inf")
                worst = max(worst, compute, link)
            best = min(best, worst)
    return best


def _instance(seed: int, chain: bool, blocking: bool = False) -> Evaluator:
    rng = random.Random(seed)
    n, m = rng.randint(3, 8), 3
    compute = [[rng.uniform(1, 10) * (d + 1) for d in range(m)] for _ in range(n)]
    edges = random_edges(rng, n, chain)
    memory = [rng.uniform(100, 400) * MIB for _ in range(n)]
    params = [rng.uniform(0, 300) * MIB for _ in range(n)]
    return Evaluator(
        hand_model(
            compute,
            edges,
            transfer_per_byte=1.0,
            memory=memory,
            capacity_mb=[900, 1500, 3000],
            blocking=blocking,
            params=params,
        )
    )


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("chain", [True, False])
@pytest.mark.parametrize("blocking", [False, True])
def test_dp_matches_brute_force(seed: int, chain: bool, blocking: bool) -> None:
    ev = _instance(seed, chain, blocking)
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
