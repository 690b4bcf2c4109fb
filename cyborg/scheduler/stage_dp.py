"""Exact pipeline splits over device kinds: which devices, in which order, and the cuts.

:func:`cyborg.scheduler.pipeline.best_split` is exact for one fixed sequence of devices.
With devices of different speeds the sequence matters too, and trying every sequence is
exponential. Devices with the same compute column and memory (the same model under the
cost model) are interchangeable for compute, so a dynamic program over

    state = (stage boundary b, how many devices of each kind are used, kind of the last)
    best[b, used, last] = min over a < b and the previous kind p of
                          max(best[a, used - last, p], stage(a, b) on kind last after p)

finds the smallest slowest stage over all contiguous splits of one topological order,
all numbers of stages and all sequences of kinds: polynomial in the cut positions, and
in the devices when the number of kinds is small (the published dynamic program for
pipelined max-load on layer graphs, extended to counted device kinds). The link between
two kinds is the best-connected pair of devices of those kinds; the kinds found are then
mapped to concrete devices along the best links and ``best_split`` re-cuts that
sequence with its real links. The DP's stage time is ``best_split``'s for transfers
that overlap compute; a link whose transfers block the sender or the receiver
(:mod:`cyborg.scheduler.devices`) is charged only in that re-cut, so over such links
the DP is a heuristic, not exact. When the states would exceed :data:`MAX_WORK`, fewer cut
positions are considered, down to :data:`MIN_CUTS`; beyond that it gives up (None), so
the work, and the answer, never depend on the machine.
"""

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np

from cyborg.scheduler import pipeline
from cyborg.scheduler.evaluate import LINK_EFFICIENCY, Evaluator

# Cells of the [a, b] stage tables the DP may evaluate (numpy, about 2.5e8 a second).
MAX_WORK = 4_000_000
MIN_CUTS = 16


@dataclasses.dataclass(frozen=True)
class KindSplit:
    value: float  # the DP's slowest stage (links between kinds' best pairs), seconds
    kinds: tuple[int, ...]  # kind of each stage
    cuts: tuple[int, ...]  # positions in the order: 0 = c0 < ... = n
    split: pipeline.Split  # the concrete devices, re-cut with their links


def device_kinds(ev: Evaluator, devices: Sequence[int]) -> list[list[int]]:
    """``devices`` grouped by identical compute column and memory, first seen first."""
    kinds: dict[tuple[bytes, float], list[int]] = {}
    for d in devices:
        key = (np.ascontiguousarray(ev.model.compute[:, d]).tobytes(), ev.capacity[d])
        kinds.setdefault(key, []).append(d)
    return list(kinds.values())


def _kind_links(ev: Evaluator, kinds: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """[kind, kind] latency and seconds per byte of the best-connected pair of devices."""
    t = len(kinds)
    latency, per_byte = np.zeros((t, t)), np.zeros((t, t))
    for p, q in itertools.product(range(t), repeat=2):
        pairs = [(a, b) for a in kinds[p] for b in kinds[q] if a != b]
        if pairs:
            a, b = min(pairs, key=lambda ab: (ev.per_byte[ab[0]][ab[1]], ev.latency[ab[0]][ab[1]]))
            latency[p, q], per_byte[p, q] = ev.latency[a][b], ev.per_byte[a][b]
        else:  # a kind of one device cannot follow itself (its count is at most 1)
            latency[p, q] = np.inf
    return latency, per_byte


def _count_vectors(caps: Sequence[int], limit: int) -> list[tuple[int, ...]]:
    """Every vector 0 <= u <= caps with 1 <= sum(u) <= limit, by increasing sum."""
    vectors = [u for u in itertools.product(*(range(c + 1) for c in caps)) if 0 < sum(u) <= limit]
    return sorted(vectors, key=lambda u: (sum(u), u))


def _how_many(caps: Sequence[int], limit: int) -> int:
    """len(_count_vectors(caps, limit)), counted without listing them."""
    ways = [1] + [0] * limit  # ways[s]: vectors so far summing to s
    for c in caps:
        ways = [sum(ways[s - j] for j in range(min(c, s) + 1)) for s in range(limit + 1)]
    return sum(ways) - 1


def _work(vectors: int, kinds: int, cuts: int) -> int:
    return vectors * kinds * cuts * cuts


def best_kind_split(
    ev: Evaluator,
    order: Sequence[int],
    devices: Sequence[int],
    max_devices: int,
    max_cuts: int = pipeline.MAX_CUTS,
    max_work: int = MAX_WORK,
) -> KindSplit | None:
    """The best contiguous split of ``order`` over at most ``max_devices`` of ``devices``
    (any sequence); None when nothing fits or the DP would exceed ``max_work``."""
    kinds = device_kinds(ev, devices)
    caps = [min(len(k), max_devices) for k in kinds]
    t = len(kinds)
    if _work(_how_many(caps, max_devices), t, MIN_CUTS) > max_work:
        return None  # too much even with the fewest cuts: do not list the counts
    vectors = _count_vectors(caps, max_devices)
    while _work(len(vectors), t, min(max_cuts, ev.n + 1)) > max_work:
        if max_cuts <= MIN_CUTS:
            return None
        max_cuts = max(MIN_CUTS, max_cuts // 2)
    order_arr = np.asarray(order, dtype=int)
    crossing = pipeline.crossing_bytes(ev, order)
    cuts = pipeline.candidate_cuts(crossing, max_cuts)
    k = len(cuts)
    x = crossing[cuts]
    mem_used = pipeline.stage_memory(ev, order, cuts, x)  # the same bound as best_split
    empty = ~np.triu(np.ones((k, k), dtype=bool), 1)  # a >= b: no stage
    compute = []  # [kind] -> [a, b] compute of the stage, inf where it cannot be
    for members in kinds:
        d = members[0]
        prefix = np.concatenate(([0.0], np.cumsum(ev.model.compute[order_arr, d])))[cuts]
        table = prefix[None, :] - prefix[:, None]
        table[empty | (mem_used > ev.capacity[d])] = np.inf
        compute.append(table)
    latency, per_byte = _kind_links(ev, kinds)
    link = np.where(x[None, None, :] > 0, latency[:, :, None] + x * per_byte[:, :, None], 0.0)
    link /= LINK_EFFICIENCY  # [p, q, a] the tensors crossing cut a, from kind p to q
    index = {u: v for v, u in enumerate(vectors)}
    best = np.full((len(vectors), t, k), np.inf)
    back = np.full((len(vectors), t, k, 2), -1, dtype=int)  # (previous kind, a)
    for v, u in enumerate(vectors):
        for q in range(t):
            if u[q] == 0:
                continue
            if sum(u) == 1:
                best[v, q] = compute[q][0]
                back[v, q, :, 1] = 0
                continue
            before = index[tuple(c - (1 if r == q else 0) for r, c in enumerate(u))]
            # max(best, stage) = max(max(best, link into the stage), compute): the
            # previous kind only meets the link, so it is chosen per cut first.
            entry = np.maximum(best[before], link[:, q, :])  # [p, a]
            p = np.argmin(entry, axis=0)
            h = entry[p, np.arange(k)]
            if not np.isfinite(h).any():
                continue
            total = np.maximum(h[:, None], compute[q])
            a = np.argmin(total, axis=0)
            best[v, q] = total[a, np.arange(k)]
            back[v, q, :, 0] = p[a]
            back[v, q, :, 1] = a
    finals = best[:, :, k - 1]
    if not np.isfinite(finals).any():
        return None
    # The smallest value; ties: fewer stages, then the first vector and kind.
    v, q = min(
        ((v, q) for v in range(len(vectors)) for q in range(t)),
        key=lambda vq: (finals[vq], sum(vectors[vq[0]]), vq),
    )
    value = float(finals[v, q])
    stage_kinds, bounds, b = [], [k - 1], k - 1
    while True:
        stage_kinds.append(q)
        p, a = back[v, q, b]
        if sum(vectors[v]) == 1:
            break
        u = vectors[v]
        v = index[tuple(c - (1 if r == q else 0) for r, c in enumerate(u))]
        q, b = int(p), int(a)
        bounds.append(b)
    bounds.append(0)
    stage_kinds.reverse()
    positions = tuple(int(cuts[c]) for c in reversed(bounds))
    sequence = _concrete(ev, kinds, stage_kinds)
    split = pipeline.best_split(ev, order, sequence, max_cuts)
    if split is None:
        return None
    return KindSplit(value, tuple(stage_kinds), positions, split)


def _concrete(ev: Evaluator, kinds: list[list[int]], stage_kinds: Sequence[int]) -> list[int]:
    """Devices for the kinds of the stages: each one the free device of its kind that is
    best connected to the previous stage's (the first: the kind's first device)."""
    free = [list(k) for k in kinds]
    sequence: list[int] = []
    for q in stage_kinds:
        if sequence:
            last = sequence[-1]
            d = min(free[q], key=lambda c: (ev.per_byte[last][c], ev.latency[last][c], c))
        else:
            d = free[q][0]
        free[q].remove(d)
        sequence.append(d)
    return sequence
