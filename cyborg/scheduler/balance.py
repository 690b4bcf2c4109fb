"""Greedy load balancing for throughput (largest processing time first, with links).

Nodes in decreasing order of their fastest compute time go, one at a time, to the
device that keeps the stage time lowest -- the busiest device or derated link after
counting the node and its transfers to the neighbours already placed -- among those
where it fits in memory (ties: the smaller sum of squared loads, then the device that
runs it fastest). Pipeline splits cut the graph into stages; this one mixes freely, which
suits graphs whose heavy nodes are few and far apart. A member of a co-location group
goes where the group's first placed member went.
"""

import heapq
from collections.abc import Sequence

from cyborg.scheduler.evaluate import LINK_EFFICIENCY, Evaluator


def greedy_balance(ev: Evaluator, allowed: Sequence[int], max_devices: int) -> list[int] | None:
    """An assignment, or None when some node fits nowhere.

    Each node considers the devices of its placed neighbours, the two least loaded
    devices and the one that runs it fastest (not every device: loads only grow, so
    the others cannot do better than the least loaded ones, transfers aside).
    """
    fastest_device = [min(allowed, key=row.__getitem__) for row in ev.compute]
    order = sorted(range(ev.n), key=lambda i: (-ev.compute[i][fastest_device[i]], i))
    placed = [-1] * ev.n
    device = [0.0] * ev.m
    link = [0.0] * len(ev.resource_names)
    memory = [0.0] * ev.m
    used: set[int] = set()
    peak = 0.0  # loads only grow: the busiest so far, for the scores
    group_of = ev.model.graph.group_of
    pinned: dict[int, int] = {}
    for i in order:
        g = group_of[i]
        if g in pinned:
            pool = {pinned[g]}
        else:
            pool = set(heapq.nsmallest(2, allowed, key=device.__getitem__))
            pool.add(fastest_device[i])
            pool.update(placed[j] for j, _ in ev.inputs[i] + ev.outputs[i] if placed[j] >= 0)
        choice = None
        for d in sorted(pool):
            if d not in used and len(used) >= max_devices:
                continue
            score = _score(ev, i, d, placed, device, link, memory, peak)
            if score is not None and (choice is None or score < choice[0]):
                choice = (score, d)
        if choice is None:
            return None
        (peak, _, _), d = choice
        if g >= 0:
            pinned.setdefault(g, d)
        _place(ev, i, d, placed, device, link, memory)
        used.add(d)
    return placed


def _changes(
    ev: Evaluator, i: int, d: int, placed: list[int]
) -> tuple[list[tuple[int, float]], dict[int, float]]:
    """(link resource, seconds) and (device, bytes) that placing ``i`` on ``d`` adds."""
    links: list[tuple[int, float]] = []
    memory = {d: ev.memory[i]}
    for s, nbytes in ev.inputs[i]:
        a = placed[s]
        if a >= 0 and a != d and nbytes > 0:
            seconds = ev.transfer(a, d, nbytes)
            links += [(r, seconds) for r in ev.resources[a][d]]
            memory[d] += nbytes
    for t, nbytes in ev.outputs[i]:
        b = placed[t]
        if b >= 0 and b != d and nbytes > 0:
            seconds = ev.transfer(d, b, nbytes)
            links += [(r, seconds) for r in ev.resources[d][b]]
            memory[b] = memory.get(b, 0.0) + nbytes
    return links, memory


def _score(
    ev: Evaluator,
    i: int,
    d: int,
    placed: list[int],
    device: list[float],
    link: list[float],
    memory: list[float],
    peak: float,
) -> tuple[float, float, float] | None:
    """(stage time, growth of the summed squared loads, compute) after placing."""
    links, extra = _changes(ev, i, d, placed)
    if any(memory[k] + v > ev.capacity[k] for k, v in extra.items()):
        return None
    new_device = device[d] + ev.compute[i][d]
    touched: dict[int, float] = {}
    for r, seconds in links:
        touched[r] = touched.get(r, link[r]) + seconds
    derated = [v / LINK_EFFICIENCY for v in touched.values()]
    peak = max(peak, new_device, *derated)
    spread = (
        new_device**2
        - device[d] ** 2
        + sum(
            v * v - (link[r] / LINK_EFFICIENCY) ** 2 for r, v in zip(touched, derated, strict=True)
        )
    )
    return peak, spread, ev.compute[i][d]


def _place(
    ev: Evaluator,
    i: int,
    d: int,
    placed: list[int],
    device: list[float],
    link: list[float],
    memory: list[float],
) -> None:
    links, extra = _changes(ev, i, d, placed)
    device[d] += ev.compute[i][d]
    for r, seconds in links:
        link[r] += seconds
    for k, v in extra.items():
        memory[k] += v
    placed[i] = d
