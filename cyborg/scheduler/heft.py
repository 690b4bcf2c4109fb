"""Memory-aware HEFT list scheduling (Topcuoglu, Hariri and Wu, IEEE TPDS 2002).

1. Upward rank: ``rank(i) = mean compute(i) + max over successors j of
   (mean transfer(i, j) + rank(j))`` -- the length of the longest path from ``i`` to an
   exit, with costs averaged over devices and device pairs.
2. Nodes in decreasing rank (a topological order) go, one at a time, to the allowed
   device with the earliest finish time among those where they still fit in memory
   (the peak of the tensors alive so far, :mod:`cyborg.scheduler.memory`). No
   insertion into idle gaps. A tensor already sent to a device is not sent again, and
   a blocking link end waits and is held as :meth:`Evaluator.trace` does.

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
from cyborg.scheduler.memory import Liveness

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

    def __init__(self, ev: Evaluator, contention: bool, vector: bool) -> None:
        self.ready = [0.0] * ev.m
        self.finish = [0.0] * ev.n
        self.assignment = [0] * ev.n
        self.contention = contention
        self.free = [0.0] * (len(ev.resource_names) + 1)  # the last one: never busy
        self.sent: dict[int, float] = {}  # tensor * m + device -> arrival
        self.memory = Liveness(ev, arrays=vector)


def _choose_loop(ev: Evaluator, st: _State, i: int, devs: Sequence[int]) -> tuple[int, float]:
    """(device, memory overflow) of the best device for ``i``, scoring one by one."""
    finish, assignment, free, sent, m = st.finish, st.assignment, st.free, st.sent, ev.m
    inputs = []
    for s, t in ev.input_pairs[i]:
        ds = assignment[s]
        routes = ev.resources[ds] if st.contention and t >= 0 else None
        nbytes = ev.tensor_bytes[t] if t >= 0 else 0.0
        held = st.memory.holders.get(t) if t >= 0 else None  # devices with a copy
        inputs.append(
            (finish[s], ds, t, nbytes, ev.latency[ds], ev.per_byte[ds], routes,
             ev.blocks_sender[ds], ev.blocks_receiver[ds], held)
        )  # fmt: skip
    best, best_end, best_over = devs[0], float("inf"), float("inf")
    compute, ready, capacity, lv = ev.compute[i], st.ready, ev.capacity, st.memory
    blocking, node_params, activation = ev.blocking, ev.params[i], ev.activation[i]
    for d in devs:
        start = local = ready[d]
        incoming = 0.0
        for arrive, ds, t, nbytes, lat_row, byte_row, routes, bs, br, held in inputs:
            if ds != d and t >= 0:
                if held is not None and d in held:
                    arrive = sent[t * m + d]
                else:
                    incoming += nbytes  # a new copy (sent and copied go together)
                    if routes is not None:
                        for r in routes[d]:
                            if free[r] > arrive:
                                arrive = free[r]
                    if blocking:
                        if bs[d] and ready[ds] > arrive:
                            arrive = ready[ds]
                        if br[d] and local > arrive:
                            arrive = local
                    arrive += lat_row[d] + nbytes * byte_row[d]
                    if blocking and br[d]:
                        local = arrive
            if arrive > start:
                start = arrive
        end = start + compute[d]
        now = lv.live[d] + incoming + activation
        peak = lv.peak[d] if lv.peak[d] > now else now
        over = lv.params[d] + node_params + peak - capacity[d]
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
        self.blocks_sender = np.asarray(ev.blocks_sender, dtype=bool)
        self.blocks_receiver = np.asarray(ev.blocks_receiver, dtype=bool)
        self.blocking = bool(self.blocks_sender.any() or self.blocks_receiver.any())
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
    ready = np.asarray(st.ready)
    start = local = ready
    lv = st.memory
    incoming = np.zeros(ev.m)
    free = np.asarray(st.free) if st.contention else None
    for (s, _), t in zip(ev.inputs[i], ev.input_tensors[i], strict=True):
        ds, finish = st.assignment[s], st.finish[s]
        if t >= 0:
            nbytes = ev.tensor_bytes[t]
            begin = finish if free is None else np.maximum(finish, free[vec.routes[ds]].max(1))
            if vec.blocking:
                begin = np.maximum(begin, np.where(vec.blocks_sender[ds], st.ready[ds], 0.0))
                begin = np.maximum(begin, np.where(vec.blocks_receiver[ds], local, 0.0))
            arrive = begin + vec.latency[ds] + nbytes * vec.per_byte[ds]
            arrive[ds] = finish
            copy = np.full(ev.m, nbytes)
            copy[ds] = 0.0
            for d in lv.holders.get(t, ()):
                arrive[d] = st.sent[t * ev.m + d]
                copy[d] = 0.0
            if vec.blocking:
                local = np.where(vec.blocks_receiver[ds] & (copy > 0), arrive, local)
            incoming += copy
            start = np.maximum(start, arrive)
        else:
            start = np.maximum(start, finish)
    end = start + vec.compute[i]
    now = lv.live + incoming + ev.activation[i]
    over = np.maximum(lv.params + ev.params[i] + np.maximum(lv.peak, now) - vec.capacity, 0.0)
    over[vec.blocked] = np.inf
    least = over.min()
    d = int(np.argmin(np.where(over == least, end, np.inf)))
    return d, float(least)


def _place(ev: Evaluator, st: _State, i: int, d: int) -> None:
    """Put ``i`` on ``d``: book its transfers (by producer finish) and its run."""
    free = st.free if st.contention else None
    start, _ = ev.book_inputs(st.assignment, st.finish, st.ready, free, st.sent, i, d)
    st.assignment[i] = d
    st.finish[i] = st.ready[d] = start + ev.compute[i][d]
    st.memory.place(i, d)


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
    vec = _Vectors(ev, devs) if len(devs) >= VECTOR_FROM else None
    st = _State(ev, contention, vec is not None)
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
