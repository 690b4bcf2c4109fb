"""Pipeline splits: a topological order cut into contiguous stages, one per device.

For a fixed topological order and a fixed sequence of devices, dynamic programming
finds the cuts that minimise the slowest stage exactly (over the candidate cut
positions, which are all positions for graphs of up to ``max_cuts`` nodes)::

    best[j][b] = min over a < b of max(best[j-1][a], stage_j(a, b))
    stage_j(a, b) = max(compute of order[a:b] on device j
                        + the transfers in at a and out at b that block device j,
                        transfer of every tensor crossing cut a from device j-1 to j
                        / LINK_EFFICIENCY)

subject to memory: the stage's parameters, the tensors crossing into it and the most
activations alive at once along the order (each node's from its position to its last
consumer's) must fit on device j -- a bound of the peak (:mod:`cyborg.scheduler.memory`)
that counts the activations of earlier stages still read in this one; training graphs
count every activation. Each tensor crosses a cut once, however many consumers it has
beyond it. Tensors that skip a stage are charged to the link between neighbouring
stages (as if forwarded), which is how pipelines are usually wired. Every prefix of the
device sequence is tried, so the split also decides how many devices to use.
"""

import dataclasses
from collections.abc import Sequence

import numpy as np

from cyborg.scheduler.evaluate import LINK_EFFICIENCY, Evaluator

MAX_CUTS = 128


@dataclasses.dataclass(frozen=True)
class Split:
    value: float  # the DP's slowest stage, seconds
    devices: tuple[int, ...]  # device of each stage
    cuts: tuple[int, ...]  # stage boundaries as positions in the order: 0 = c0 < ... = n
    assignment: tuple[int, ...]


def crossing_bytes(ev: Evaluator, order: Sequence[int]) -> np.ndarray:
    """[p] bytes of the tensors that cross the cut before position p (p = 0..n): each
    once, from its producer to its last consumer."""
    position = np.empty(ev.n, dtype=int)
    position[np.asarray(order, dtype=int)] = np.arange(ev.n)
    tensors = np.asarray(ev.edge_tensor, dtype=int)
    moved = tensors >= 0
    src = np.full(len(ev.tensor_bytes), ev.n, dtype=int)
    last = np.zeros(len(ev.tensor_bytes), dtype=int)
    np.minimum.at(src, tensors[moved], position[np.asarray(ev.edge_src, dtype=int)[moved]])
    np.maximum.at(last, tensors[moved], position[np.asarray(ev.edge_dst, dtype=int)[moved]])
    diff = np.zeros(ev.n + 2)
    np.add.at(diff, src + 1, ev.tensor_bytes)
    np.add.at(diff, last + 1, -np.asarray(ev.tensor_bytes))
    return np.cumsum(diff)[: ev.n + 1]


def live_activations(ev: Evaluator, order: Sequence[int]) -> np.ndarray:
    """[p] activation bytes alive while the node at position p runs: every node's from
    its position to its last consumer's (its own only, without consumers)."""
    position = np.empty(ev.n, dtype=int)
    position[np.asarray(order, dtype=int)] = np.arange(ev.n)
    last = position.copy()
    if ev.edge_src:
        np.maximum.at(
            last,
            np.asarray(ev.edge_src, dtype=int),
            position[np.asarray(ev.edge_dst, dtype=int)],
        )
    activation = np.asarray(ev.activation, dtype=float)
    diff = np.zeros(ev.n + 1)
    np.add.at(diff, position, activation)
    np.add.at(diff, last + 1, -activation)
    return np.cumsum(diff)[: ev.n]


def stage_memory(
    ev: Evaluator, order: Sequence[int], cuts: np.ndarray, x: np.ndarray
) -> np.ndarray:
    """[a, b] the memory bound of a stage from cut a to cut b (see the module)."""
    order_arr = np.asarray(order, dtype=int)
    if ev.model.graph.training:
        prefix = np.concatenate(([0.0], np.cumsum(ev.model.node_memory[order_arr])))[cuts]
        return prefix[None, :] - prefix[:, None] + x[:, None]
    params = np.concatenate(([0.0], np.cumsum(np.asarray(ev.params)[order_arr])))[cuts]
    live = live_activations(ev, order)
    k = len(cuts)
    segment = np.array([live[cuts[c] : cuts[c + 1]].max(initial=0.0) for c in range(k - 1)])
    later = np.arange(k - 1)[None, :] >= np.arange(k)[:, None]
    peak = np.maximum.accumulate(np.where(later, segment[None, :], 0.0), axis=1)
    peak = np.concatenate((np.zeros((k, 1)), peak), axis=1)  # [a, b]: segments a..b-1
    return params[None, :] - params[:, None] + x[:, None] + peak


def candidate_cuts(crossing: np.ndarray, max_cuts: int = MAX_CUTS) -> np.ndarray:
    """Positions where a stage may end: all of them, or the cheapest cut per window."""
    n = len(crossing) - 1
    if n + 1 <= max_cuts:
        return np.arange(n + 1)
    window = np.arange(n - 1) * (max_cuts - 2) // (n - 1)  # max_cuts - 2 windows
    ranked = np.lexsort((crossing[1:n], window))  # by window, then cheapest cut
    first = np.concatenate(([True], window[ranked][1:] != window[ranked][:-1]))
    return np.unique(np.concatenate(([0], ranked[first] + 1, [n])))


def best_split(
    ev: Evaluator, order: Sequence[int], sequence: Sequence[int], max_cuts: int = MAX_CUTS
) -> Split | None:
    """The best split of ``order`` over a prefix of ``sequence``; None if nothing fits."""
    order_arr = np.asarray(order, dtype=int)
    crossing = crossing_bytes(ev, order)
    cuts = candidate_cuts(crossing, max_cuts)
    x = crossing[cuts]
    k = len(cuts)
    lower = ~np.triu(np.ones((k, k), dtype=bool), 1)  # a >= b: no stage
    mem_used = stage_memory(ev, order, cuts, x)
    best = np.full(k, np.inf)
    best[0] = 0.0
    choices: list[np.ndarray] = []
    results: list[tuple[float, int]] = []
    for j, d in enumerate(sequence):
        comp_prefix = np.concatenate(([0.0], np.cumsum(ev.model.compute[order_arr, d])))[cuts]
        compute = comp_prefix[None, :] - comp_prefix[:, None]
        link = np.zeros(k)
        if j > 0:
            prev = sequence[j - 1]
            seconds = np.where(x > 0, ev.latency[prev][d] + x * ev.per_byte[prev][d], 0.0)
            link = seconds / LINK_EFFICIENCY
            if ev.blocks_receiver[prev][d]:
                compute = compute + seconds[:, None]
        if j + 1 < len(sequence) and ev.blocks_sender[d][sequence[j + 1]]:
            nxt = sequence[j + 1]
            out = np.where(x > 0, ev.latency[d][nxt] + x * ev.per_byte[d][nxt], 0.0)
            out[-1] = 0.0  # the last cut sends nothing
            compute = compute + out[None, :]
        stage = np.maximum(compute, link[:, None])
        stage[lower | (mem_used > ev.capacity[d])] = np.inf
        total = np.maximum(best[:, None], stage)
        choice = np.argmin(total, axis=0)
        best = total[choice, np.arange(k)]
        choices.append(choice)
        results.append((float(best[-1]), j + 1))
    value, stages = min(results, default=(np.inf, 0))
    if not np.isfinite(value):
        return None
    bounds = [k - 1]
    for j in reversed(range(stages)):
        bounds.append(int(choices[j][bounds[-1]]))
    positions = tuple(int(cuts[b]) for b in reversed(bounds))
    assignment = [0] * ev.n
    for j in range(stages):
        for i in order[positions[j] : positions[j + 1]]:
            assignment[i] = sequence[j]
    return Split(value, tuple(sequence[:stages]), positions, tuple(assignment))


def chain_sequence(ev: Evaluator, start: int, devices: Sequence[int]) -> list[int]:
    """Devices from ``start``, each next one the best-connected to the last (then the
    fastest): peer-linked groups first, then the same host, then other hosts."""
    speed = ev.model.compute.sum(axis=0)
    rest = [d for d in devices if d != start]
    sequence = [start]
    while rest:
        last = sequence[-1]
        nxt = min(rest, key=lambda d: (ev.per_byte[last][d], ev.latency[last][d], speed[d], d))
        sequence.append(nxt)
        rest.remove(nxt)
    return sequence
