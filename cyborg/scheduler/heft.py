"""Memory-aware HEFT list scheduling (Topcuoglu, Hariri and Wu, IEEE TPDS 2002).

1. Upward rank: ``rank(i) = mean compute(i) + max over successors j of
   (mean transfer(i, j) + rank(j))`` -- the length of the longest path from ``i`` to an
   exit, with costs averaged over devices and device pairs.
2. Nodes in decreasing rank (a topological order) go, one at a time, to the allowed
   device with the earliest finish time among those where they still fit in memory
   (parameters + activations + received tensors). No insertion into idle gaps.

``contention=False`` is the textbook algorithm: a transfer costs its time, whatever
else uses the link. ``contention=True`` books each transfer on the link resources of
its route, as :meth:`Evaluator.trace` does, so the schedule HEFT builds is exactly the
planner's estimate for it.

A member of a co-location group goes where the group's first placed member went.
"""

import dataclasses
from collections.abc import Sequence

import numpy as np

from cyborg.scheduler.evaluate import Evaluator

# From this many devices on, score all devices of a node with numpy at once.
VECTOR_FROM = 16


@dataclasses.dataclass(frozen=True)
class ListSchedule:
    assignment: tuple[int, ...]
    order: tuple[int, ...]
    latency: float  # the schedule HEFT built (with or without contention)
    fits: bool


def upward_ranks(ev: Evaluator, devices: Sequence[int] | None = None) -> list[float]:
    """Upward rank of every node, averaged over ``devices`` (default: all)."""
    devs = list(range(ev.m)) if devices is None else list(devices)
    mean_compute = ev.model.compute[:, devs].mean(axis=1).tolist()
    mean_latency = mean_per_byte = 0.0
    if len(devs) > 1:
        pairs = len(devs) * (len(devs) - 1)  # the diagonal is zero
        mean_latency = float(ev.model.latency[np.ix_(devs, devs)].sum()) / pairs
        mean_per_byte = float(ev.model.per_byte[np.ix_(devs, devs)].sum()) / pairs
    rank = [0.0] * ev.n
    for i in reversed(ev.model.graph.topo):
        tail = 0.0
        for j, nbytes in ev.outputs[i]:
            comm = mean_latency + nbytes * mean_per_byte if nbytes > 0 else 0.0
            if comm + rank[j] > tail:
                tail = comm + rank[j]
        rank[i] = mean_compute[i] + tail
    return rank


def assigned_ranks(ev: Evaluator, assignment: Sequence[int]) -> list[float]:
    """Upward ranks with the costs of an actual assignment instead of averages."""
    rank = [0.0] * ev.n
    for i in reversed(ev.model.graph.topo):
        d = assignment[i]
        tail = 0.0
        for j, nbytes in ev.outputs[i]:
            tail = max(tail, ev.transfer(d, assignment[j], nbytes) + rank[j])
        rank[i] = ev.compute[i][d] + tail
    return rank


def rank_order(ev: Evaluator, ranks: Sequence[float]) -> list[int]:
    """Nodes by decreasing rank, ties by topological position (so still topological)."""
    position = [0] * ev.n
    for p, node in enumerate(ev.model.graph.topo):
        position[node] = p
    return sorted(range(ev.n), key=lambda i: (-ranks[i], position[i]))


class _State:
    """The partial schedule HEFT builds."""

    def __init__(self, ev: Evaluator, contention: bool) -> None:
        self.ready = [0.0] * ev.m
        self.used = [0.0] * ev.m
        self.finish = [0.0] * ev.n
        self.assignment = [0] * ev.n
        self.contention = contention
        self.free = [0.0] * (len(ev.resource_names) + 1)  # the last one: never busy


def _choose_loop(ev: Evaluator, st: _State, i: int, devs: Sequence[int]) -> tuple[int, float]:
    """(device, memory overflow) of the best device for ``i``, scoring one by one."""
    finish, assignment, free = st.finish, st.assignment, st.free
    inputs = []
    for s, nbytes in ev.inputs[i]:
        ds = assignment[s]
        routes = ev.resources[ds] if st.contention and nbytes > 0 else None
        inputs.append((finish[s], ds, nbytes, ev.latency[ds], ev.per_byte[ds], routes))
    best, best_end, best_over = devs[0], float("inf"), float("inf")
    need, compute, ready, used, capacity = (
        ev.memory[i],
        ev.compute[i],
        st.ready,
        st.used,
        ev.capacity,
    )
    for d in devs:
        start, incoming = ready[d], 0.0
        for arrive, ds, nbytes, lat_row, byte_row, routes in inputs:
            if ds != d and nbytes > 0:
                if routes is not None:
                    for r in routes[d]:
                        if free[r] > arrive:
                            arrive = free[r]
                arrive += lat_row[d] + nbytes * byte_row[d]
                incoming += nbytes
            if arrive > start:
                start = arrive
        end = start + compute[d]
        over = used[d] + need + incoming - capacity[d]
        if over < 0.0:
            over = 0.0
        # Fitting first, then earliest finish; when nothing fits, least overflow.
        if over < best_over or (over == best_over and end < best_end):
            best, best_end, best_over = d, end, over
    return best, best_over


class _Vectors:
    """numpy tables for :func:`_choose_vector` (many devices)."""

    def __init__(self, ev: Evaluator, devs: Sequence[int]) -> None:
        self.latency, self.per_byte = ev.model.latency, ev.model.per_byte
        self.compute, self.capacity = ev.model.compute, ev.model.capacity
        self.blocked = np.ones(ev.m, dtype=bool)
        self.blocked[list(devs)] = False
        width = max((len(r) for row in ev.resources for r in row), default=0)
        dummy = len(ev.resource_names)
        #: [src, dst, k] resource positions of a route, padded with the never-busy one.
        self.routes = np.full((ev.m, ev.m, max(width, 1)), dummy, dtype=int)
        for a, row in enumerate(ev.resources):
            for b, route in enumerate(row):
                self.routes[a, b, : len(route)] = route


def _choose_vector(ev: Evaluator, st: _State, i: int, vec: _Vectors) -> tuple[int, float]:
    """:func:`_choose_loop` for all devices at once (faster from ~16 devices)."""
    start = np.asarray(st.ready)
    incoming = np.zeros(ev.m)
    free = np.asarray(st.free) if st.contention else None
    for s, nbytes in ev.inputs[i]:
        ds, finish = st.assignment[s], st.finish[s]
        if nbytes > 0:
            begin = finish if free is None else np.maximum(finish, free[vec.routes[ds]].max(1))
            arrive = begin + vec.latency[ds] + nbytes * vec.per_byte[ds]
            arrive[ds] = finish
            incoming += nbytes
            incoming[ds] -= nbytes
            start = np.maximum(start, arrive)
        else:
            start = np.maximum(start, finish)
    end = start + vec.compute[i]
    over = np.maximum(np.asarray(st.used) + ev.memory[i] + incoming - vec.capacity, 0.0)
    over[vec.blocked] = np.inf
    least = over.min()
    d = int(np.argmin(np.where(over == least, end, np.inf)))
    return d, float(least)


def _place(ev: Evaluator, st: _State, i: int, d: int) -> None:
    """Put ``i`` on ``d``: book its transfers (by producer finish) and its run."""
    start = st.ready[d]
    inputs = ev.inputs[i]
    if len(inputs) > 1:
        inputs = sorted(inputs, key=lambda pair: st.finish[pair[0]])
    for s, nbytes in inputs:
        ds, arrive = st.assignment[s], st.finish[s]
        if ds != d and nbytes > 0:
            route = ev.resources[ds][d]
            if st.contention:
                for r in route:
                    if st.free[r] > arrive:
                        arrive = st.free[r]
            arrive += ev.latency[ds][d] + nbytes * ev.per_byte[ds][d]
            if st.contention:
                for r in route:
                    st.free[r] = arrive
            st.used[d] += nbytes
        if arrive > start:
            start = arrive
    st.assignment[i] = d
    st.finish[i] = st.ready[d] = start + ev.compute[i][d]
    st.used[d] += ev.memory[i]


def heft(
    ev: Evaluator,
    devices: Sequence[int] | None = None,
    order: Sequence[int] | None = None,
    contention: bool = False,
) -> ListSchedule:
    """HEFT over ``devices`` (default: all), in ``order`` (default: upward rank)."""
    devs = list(range(ev.m)) if devices is None else list(devices)
    if order is None:
        order = rank_order(ev, upward_ranks(ev, devs))
    st = _State(ev, contention)
    vec = _Vectors(ev, devs) if len(devs) >= VECTOR_FROM else None
    fits = True
    group_of = ev.model.graph.group_of
    pinned: dict[int, int] = {}  # group -> device of its first placed member
    for i in order:
        g = group_of[i]
        if g >= 0 and g in pinned:
            d, over = _choose_loop(ev, st, i, [pinned[g]])
        elif vec is None:
            d, over = _choose_loop(ev, st, i, devs)
        else:
            d, over = _choose_vector(ev, st, i, vec)
        if g >= 0:
            pinned.setdefault(g, d)
        fits = fits and over == 0.0
        _place(ev, st, i, d)
    return ListSchedule(tuple(st.assignment), tuple(order), max(st.finish, default=0.0), fits)
