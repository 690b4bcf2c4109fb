"""Replicas: data-parallel and hybrid (pipeline stages x replicas) throughput plans.

A replicated plan runs ``R`` copies of the whole graph at once, each on its own
devices and on its share of the global batch; a copy is one device (data parallel) or
a pipeline of ``S`` stages (hybrid ``S x R``: stage ``s`` of every replica runs the
same operators). After the step every stage's replicas sum their gradients with a ring
all-reduce. The step time of such a plan is::

    step = max over replicas r of period_r(share_r) + max over stages s of allreduce_s

* ``period_r(f)``: the replica's pipeline stage time (the busiest of its devices and
  routes, as :meth:`~cyborg.scheduler.evaluate.Evaluator.period_of` counts them) on
  the share ``f`` of the batch. Each node's time splits into a fixed part (its launch
  overhead and reading its weights, which every replica pays) and a part proportional
  to the batch; activations and the tensors between stages are proportional too, the
  parameters are not. So every period is a maximum of affine functions of ``f``.
* Shares: on mixed devices the batch is split so that the replicas finish together
  (``period_r(share_r)`` equal, found by bisection over the step time), within what
  each replica's memory holds at its share. A replica that would get less than
  :data:`MIN_SHARE` is not worth its all-reduce: the plan is not a candidate (the plan
  without it is).
* Ring all-reduce of ``P`` gradient bytes over ``R`` devices, in the ring order
  :func:`ring_order` picks (each device sends to the next one): ``2 (R - 1) / R * P``
  bytes over the slowest link of the ring plus ``2 (R - 1)`` times its latency. The
  rings of several stages run at once: a link resource (a NIC, a PCIe uplink) used by
  ``k`` hops of them gives each ``1 / k`` of its bandwidth. The bytes are the
  gradients: the tensors that the optimizer nodes
  (:data:`~cyborg.scheduler.graph.OPTIMIZERS`) take from other nodes, or without
  optimizer nodes every node's ``param_bytes``; an inference graph (not ``training``,
  no optimizer) all-reduces nothing.
* Memory: every replica device holds its stage's parameters (optimizer state too, as
  the graph counts it) and its share of the activations and received tensors; the
  peak of :mod:`cyborg.scheduler.memory` is linear in the share, which bounds it.

The candidates (:func:`candidates`) are enumerated deterministically and bounded: for
``S`` in 1, 2, 3, 4, 6, 8 ... and ``R`` >= 2 with ``S x R`` <= the devices allowed,
replica ``r`` takes the ``r``-th block of ``S`` devices of a device sequence (fastest
first, or best-connected first) or every ``R``-th device from the ``r``-th (one device
of each speed per replica); the stage cuts are ``pipeline.best_split``'s on the first
replica at a share of ``1 / R``. At most :data:`MAX_CANDIDATES` are built, of them at
most :data:`MAX_SPLITS` hybrid ones.
"""

import copy
import dataclasses
import itertools
import math
from collections.abc import Sequence

import numpy as np

from cyborg.scheduler import colocation, pipeline, replay
from cyborg.scheduler.costs import CostModel
from cyborg.scheduler.evaluate import LINK_EFFICIENCY, Evaluator
from cyborg.scheduler.graph import OPTIMIZERS, Graph
from cyborg.scheduler.stage_dp import device_kinds

#: The smallest share of the batch a replica may get.
MIN_SHARE = 0.02
#: Replicated candidates built at most per plan, and of them hybrid ones (each a
#: pipeline split, the costly part).
MAX_CANDIDATES = 24
MAX_SPLITS = 8
#: Bisection steps of the balanced step time (relative precision about 2**-60).
BALANCE_STEPS = 60
#: Replicas of several devices replayed at most per plan (the busiest first).
REPLAYED_REPLICAS = 2
KINDS = ("pipeline", "data-parallel", "hybrid")


@dataclasses.dataclass(frozen=True)
class Replicated:
    """A replicated plan and its estimate (device positions of the cost model)."""

    #: [replica] the device of each stage.
    replicas: tuple[tuple[int, ...], ...]
    #: [replica] its share of the global batch (they sum to 1).
    shares: tuple[float, ...]
    #: [node] its stage.
    stage_of: tuple[int, ...]
    compute_s: float  # the slowest replica's stage time on its share
    allreduce_s: float  # the slowest stage's ring all-reduce
    latency_s: float  # one step of the slowest replica (stages one after another) + all-reduce
    #: [device] busy seconds per step, peak bytes; [link resource] busy seconds (the
    #: transfers between stages and the all-reduce's).
    device_load: tuple[float, ...]
    memory: tuple[float, ...]
    link_load: tuple[float, ...]

    @property
    def cost(self) -> float:
        """Seconds per step: the slowest replica, then the all-reduce."""
        return self.compute_s + self.allreduce_s

    @property
    def stages(self) -> int:
        return len(self.replicas[0])

    @property
    def kind(self) -> str:
        return "data-parallel" if self.stages == 1 else "hybrid"

    def assignment(self, replica: int = 0) -> tuple[int, ...]:
        """The device of every node in ``replica``."""
        devices = self.replicas[replica]
        return tuple(devices[s] for s in self.stage_of)

    @property
    def devices(self) -> tuple[int, ...]:
        return tuple(sorted({d for r in self.replicas for d in r}))


def gradient_bytes(graph: Graph) -> np.ndarray:
    """[node] gradient bytes all-reduced with the node's stage (see the module)."""
    grads = np.zeros(len(graph.nodes))
    optimizer = [node.op_type in OPTIMIZERS for node in graph.nodes]
    if any(optimizer):
        seen: set[tuple[int, int]] = set()
        for src, dst, tensor in zip(
            graph.edge_src, graph.edge_dst, graph.edge_tensor, strict=True
        ):
            if optimizer[dst] and not optimizer[src] and tensor >= 0 and (tensor, dst) not in seen:
                seen.add((tensor, dst))
                grads[dst] += graph.tensor_bytes[tensor]
    elif graph.training:
        grads[:] = [node.param_bytes for node in graph.nodes]
    return grads


def ring_order(ev: Evaluator, devices: Sequence[int]) -> list[int]:
    """``devices`` as a ring: from the first, each next the best-connected to the last."""
    return pipeline.chain_sequence(ev, devices[0], list(devices))


def _hops(ring: Sequence[int]) -> list[tuple[int, int]]:
    return [(a, ring[(k + 1) % len(ring)]) for k, a in enumerate(ring)]


def ring_allreduce_s(
    ev: Evaluator, ring: Sequence[int], nbytes: float, sharing: Sequence[float] | None = None
) -> float:
    """Seconds of a ring all-reduce of ``nbytes`` over ``ring`` (devices in ring order):
    ``2 (R-1)/R * nbytes`` over the slowest hop and ``2 (R-1)`` of its latencies;
    ``sharing[k]``: how many transfers share hop ``k``'s busiest link resource."""
    size = len(ring)
    if size < 2 or nbytes <= 0:
        return 0.0
    hops = _hops(ring)
    shared = sharing or [1.0] * len(hops)
    per_byte = max(ev.per_byte[a][b] * k for (a, b), k in zip(hops, shared, strict=True))
    latency = max(ev.latency[a][b] for a, b in hops)
    steps = 2 * (size - 1)
    return steps / size * nbytes * per_byte + steps * latency


def allreduce_s(ev: Evaluator, rings: Sequence[tuple[Sequence[int], float]]) -> float:
    """The slowest of concurrent ring all-reduces ``(ring, bytes)``: hops of different
    rings that share a link resource share its bandwidth."""
    users: dict[int, int] = {}
    busy = [(ring, nbytes) for ring, nbytes in rings if len(ring) > 1 and nbytes > 0]
    for ring, _ in busy:
        for a, b in _hops(ring):
            for r in ev.resources[a][b]:
                users[r] = users.get(r, 0) + 1
    worst = 0.0
    for ring, nbytes in busy:
        sharing = [max((users[r] for r in ev.resources[a][b]), default=1) for a, b in _hops(ring)]
        worst = max(worst, ring_allreduce_s(ev, ring, nbytes, sharing))
    return worst


def split_compute(model: CostModel) -> tuple[np.ndarray, np.ndarray]:
    """[node, device] the fixed seconds of every node (launch overhead and reading its
    weights, capped at its time) and the seconds proportional to the batch."""
    devices = model.devices.devices
    overhead = np.array([d.launch_overhead_us * 1e-6 for d in devices])
    bandwidth = np.array([d.memory_bandwidth_gbps * 1e9 for d in devices])
    params = np.array([node.param_bytes for node in model.graph.nodes], dtype=float)
    floor = overhead[None, :] + params[:, None] / bandwidth[None, :]
    fixed = np.where(model.compute > 0, np.minimum(model.compute, floor), 0.0)
    return fixed, model.compute - fixed


def scaled(
    ev: Evaluator, share: float, split: tuple[np.ndarray, np.ndarray], lists: bool = True
) -> Evaluator:
    """A copy of ``ev`` for ``share`` of the batch: scaled compute, activations and
    tensors (parameters kept). Enough for splits, schedules, replays and memory;
    without ``lists`` the per-node compute list is not rebuilt (pipeline splits read
    the model's table only)."""
    fixed, var = split
    out = copy.copy(ev)
    compute = fixed + share * var
    params = np.asarray(ev.params, dtype=float)
    activation = np.asarray(ev.activation, dtype=float) * share
    out.model = dataclasses.replace(ev.model, compute=compute, node_memory=params + activation)
    if lists:
        out.compute = compute.tolist()
    out.activation = activation.tolist()
    out.memory = (params + activation).tolist()
    out.tensor_bytes = tuple(b * share for b in ev.tensor_bytes)
    out.edge_bytes = tuple(b * share for b in ev.edge_bytes)
    return out


@dataclasses.dataclass
class _Stages:
    """What the replicas of one partition share, whatever their devices."""

    stage_of: tuple[int, ...]
    fixed: np.ndarray  # [stage, device] fixed seconds
    var: np.ndarray  # [stage, device] seconds at the whole batch
    #: (from stage, to stage) -> (tensors, bytes at the whole batch)
    moves: dict[tuple[int, int], tuple[int, float]]
    params: np.ndarray  # [stage] parameter bytes
    #: [stage] bytes at the whole batch: the resident bound (every node's memory and
    #: received tensor for the whole step), or once asked for the exact peak
    peak: np.ndarray
    grads: np.ndarray  # [stage] gradient bytes
    exact: bool = False

    def make_exact(self, ev: Evaluator, order: Sequence[int]) -> None:
        """The peak of :mod:`cyborg.scheduler.memory` instead of the bound."""
        if not self.exact:
            peak = ev.memory_of(list(self.stage_of), order)[: len(self.params)]
            self.peak, self.exact = np.asarray(peak, dtype=float), True


def _stages(
    ev: Evaluator, split: tuple[np.ndarray, np.ndarray], grads: np.ndarray, stage_of: Sequence[int]
) -> _Stages:
    stages = max(stage_of) + 1
    index = np.asarray(stage_of, dtype=int)
    fixed, var = (
        np.array([part[index == s].sum(axis=0) for s in range(stages)]) for part in split
    )
    src, dst = np.asarray(ev.edge_src, dtype=int), np.asarray(ev.edge_dst, dtype=int)
    tensor = np.asarray(ev.edge_tensor, dtype=int)
    crossing = (index[src] != index[dst]) & (tensor >= 0)
    # One transfer per tensor and receiving stage: (tensor, to), then by (from, to).
    keys, first = np.unique(tensor[crossing] * stages + index[dst][crossing], return_index=True)
    sizes = np.asarray(ev.tensor_bytes, dtype=float)[keys // stages]
    pairs = index[src][crossing][first] * stages + keys % stages
    counts = np.bincount(pairs, minlength=stages * stages)
    nbytes = np.bincount(pairs, weights=sizes, minlength=stages * stages)
    moves = {
        (int(p) // stages, int(p) % stages): (int(counts[p]), float(nbytes[p]))
        for p in np.flatnonzero(counts)
    }
    params = np.bincount(index, weights=np.asarray(ev.params, dtype=float), minlength=stages)
    memory = np.bincount(index, weights=np.asarray(ev.memory, dtype=float), minlength=stages)
    received = np.bincount(
        index[dst][index[src] != index[dst]],
        weights=np.asarray(ev.edge_bytes, dtype=float)[index[src] != index[dst]],
        minlength=stages,
    )
    return _Stages(
        tuple(stage_of),
        fixed,
        var,
        moves,
        params,
        memory + received,
        np.bincount(index, grads, stages),
    )


def _pieces(ev: Evaluator, st: _Stages, devices: Sequence[int]) -> np.ndarray:
    """[piece, 2] (a, b): the replica's period at share f is max(a + f b); the last
    row-block are its routes' link pressures (already over LINK_EFFICIENCY)."""
    load = {d: np.array([st.fixed[s, d], st.var[s, d]]) for s, d in enumerate(devices)}
    resource: dict[int, np.ndarray] = {}
    routes: dict[tuple[int, int], np.ndarray] = {}
    for (s, t), (count, nbytes) in st.moves.items():
        a, b = devices[s], devices[t]
        seconds = np.array([count * ev.latency[a][b], nbytes * ev.per_byte[a][b]])
        routes[(a, b)] = routes.get((a, b), 0.0) + seconds
        for r in ev.resources[a][b]:
            resource[r] = resource.get(r, 0.0) + seconds
        if ev.blocks_sender[a][b]:
            load[a] = load[a] + seconds
        if ev.blocks_receiver[a][b]:
            load[b] = load[b] + seconds
    rows = list(load.values())
    for (a, b), own in routes.items():
        route = ev.resources[a][b]
        pressure = sum((resource[r] for r in route), np.zeros(2)) - (len(route) - 1) * own
        rows.append(pressure / LINK_EFFICIENCY)
    return np.array(rows)


def _largest_share(ev: Evaluator, st: _Stages, devices: Sequence[int]) -> float:
    """The largest share the replica's memory holds (< 0: not even its parameters)."""
    best = math.inf
    for s, d in enumerate(devices):
        room, grows = ev.capacity[d] * (1 + 1e-9) - st.params[s], st.peak[s] - st.params[s]
        if room < 0:
            return -1.0
        if grows > 0:
            best = min(best, room / grows)
    return best


def balance(pieces: Sequence[np.ndarray], limits: Sequence[float]) -> tuple[float, ...] | None:
    """Shares summing to 1 that equalise the replicas' periods (bisection over the
    step time), each within its memory limit; None if the memory cannot hold it all
    or a replica would get less than :data:`MIN_SHARE`."""
    caps = np.minimum(np.asarray(limits, dtype=float), 1.0)
    if caps.min() < MIN_SHARE or caps.sum() < 1 - 1e-12:
        return None
    owner = np.concatenate([np.full(len(p), r) for r, p in enumerate(pieces)])
    starts = np.concatenate(([0], np.cumsum([len(p) for p in pieces])[:-1]))
    a, b = np.concatenate(pieces).T
    grows = b > 0
    slope = np.where(grows, b, 1.0)

    def shares_at(step: float) -> np.ndarray:
        room = np.where(grows, (step - a) / slope, np.where(a > step, -np.inf, np.inf))
        return np.clip(np.minimum.reduceat(room, starts), 0.0, caps)

    lo, hi = 0.0, float(np.max(a + b * caps[owner]))
    for _ in range(BALANCE_STEPS):
        mid = (lo + hi) / 2
        if shares_at(mid).sum() >= 1:
            hi = mid
        else:
            lo = mid
    shares = shares_at(hi)
    shares = shares / shares.sum()
    if shares.min() < MIN_SHARE:
        return None
    return tuple(float(f) for f in shares)


def build(
    ev: Evaluator,
    replicas: Sequence[Sequence[int]],
    stage_of: Sequence[int],
    order: Sequence[int],
    split: tuple[np.ndarray, np.ndarray],
    grads: np.ndarray,
    st: _Stages | None = None,
) -> Replicated | None:
    """The replicated plan of ``replicas`` (the device of each stage) over the
    partition ``stage_of``, its batch balanced; None when it does not fit."""
    st = st or _stages(ev, split, grads, stage_of)
    pieces = [_pieces(ev, st, devices) for devices in replicas]
    limits = [_largest_share(ev, st, devices) for devices in replicas]
    shares = balance(pieces, limits)
    # Where the bound binds (no shares, or one at its limit), the exact peak may not.
    binds = shares is None or any(f >= c - 1e-12 for f, c in zip(shares, limits, strict=True))
    if binds and not st.exact:
        st.make_exact(ev, order)
        shares = balance(pieces, [_largest_share(ev, st, devices) for devices in replicas])
    if shares is None:
        return None
    compute = max(
        float((p[:, 0] + p[:, 1] * f).max()) for p, f in zip(pieces, shares, strict=True)
    )
    rings = [
        (ring_order(ev, [devices[s] for devices in replicas]), float(st.grads[s]))
        for s in range(len(replicas[0]))
    ]
    reduce = allreduce_s(ev, rings)
    device_load, memory = [0.0] * ev.m, [0.0] * ev.m
    resource_load = [0.0] * len(ev.resource_names)
    latency = 0.0
    for devices, f in zip(replicas, shares, strict=True):
        chain = 0.0
        for s, d in enumerate(devices):
            device_load[d] = float(st.fixed[s, d] + f * st.var[s, d])
            memory[d] = float(st.params[s] + f * (st.peak[s] - st.params[s]))
            chain += device_load[d]
        for (s, t), (count, nbytes) in st.moves.items():
            a, b = devices[s], devices[t]
            seconds = count * ev.latency[a][b] + f * nbytes * ev.per_byte[a][b]
            chain += seconds
            for r in ev.resources[a][b]:
                resource_load[r] += seconds
        latency = max(latency, chain)
    for ring, nbytes in rings:  # each hop carries 2 (R-1)/R of the bytes
        size = len(ring)
        for a, b in _hops(ring) if size > 1 and nbytes > 0 else ():
            seconds = 2 * (size - 1) * (nbytes / size * ev.per_byte[a][b] + ev.latency[a][b])
            for r in ev.resources[a][b]:
                resource_load[r] += seconds
    return Replicated(
        replicas=tuple(tuple(r) for r in replicas),
        shares=shares,
        stage_of=tuple(stage_of),
        compute_s=compute,
        allreduce_s=reduce,
        latency_s=latency + reduce,
        device_load=tuple(device_load),
        memory=tuple(memory),
        link_load=tuple(resource_load),
    )


def _stage_counts(limit: int) -> list[int]:
    """1, 2, 3, 4, 6, 8, 12, ... up to ``limit // 2`` (at least two replicas)."""
    counts, s = [], 1
    while s <= limit // 2:
        counts.append(s)
        s = s + 1 if s < 4 else s * 3 // 2
    return counts


def _replica_counts(most: int) -> list[int]:
    """``most``, then 2, 3, 4, 6, 8, ... below it."""
    counts, r = [most], 2
    while r < most:
        counts.append(r)
        r = r + 1 if r < 4 else r * 3 // 2
    return counts


def _groupings(
    sequences: Sequence[Sequence[int]], stages: int, replicas: int
) -> list[tuple[tuple[int, ...], ...]]:
    """Devices per replica: blocks of ``stages`` of each sequence, then strided."""
    found: list[tuple[tuple[int, ...], ...]] = []
    used = stages * replicas
    for sequence in sequences:
        head = list(sequence[:used])
        blocks = tuple(tuple(head[r * stages : (r + 1) * stages]) for r in range(replicas))
        strided = tuple(tuple(head[r::replicas]) for r in range(replicas))
        for grouping in (blocks, strided):
            key = tuple(sorted(tuple(sorted(g)) for g in grouping))
            if all(key != tuple(sorted(tuple(sorted(g)) for g in f)) for f in found):
                found.append(grouping)
    return found


def _partition(
    ev: Evaluator, part: Evaluator, devices: Sequence[int], topo: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(stage of each node, devices used) of the best pipeline split over ``devices``
    of ``part`` (``ev`` at a share of the batch), co-location groups repaired; None if
    nothing fits."""
    found = pipeline.best_split(part, topo, devices)
    if found is None:
        return None
    assignment = list(found.assignment)
    if ev.model.graph.groups and colocation.splits(ev.model.graph, assignment):
        assignment = colocation.repair(ev.model.graph, ev.compute, assignment)
    used = tuple(d for d in found.devices if d in set(assignment))
    position = {d: s for s, d in enumerate(used)}
    return tuple(position[d] for d in assignment), used


def candidates(
    ev: Evaluator,
    limit: int,
    order: Sequence[int],
    sequences: Sequence[Sequence[int]],
    grads: np.ndarray | None = None,
    max_candidates: int = MAX_CANDIDATES,
    max_splits: int = MAX_SPLITS,
) -> list[Replicated]:
    """Replicated plans on at most ``limit`` devices (see the module), deterministic
    and at most ``max_candidates`` built."""
    grads = gradient_bytes(ev.model.graph) if grads is None else grads
    split = split_compute(ev.model)
    topo = list(ev.model.graph.topo)
    per_stage = [
        [(s, r, g) for r in _replica_counts(limit // s) for g in _groupings(sequences, s, r)]
        for s in _stage_counts(limit)
    ]
    specs = [spec for row in itertools.zip_longest(*per_stage) for spec in row if spec]
    found: list[Replicated] = []
    single: _Stages | None = None  # one stage: the same partition for every grouping
    parts: dict[int, Evaluator] = {}  # replicas -> ``ev`` at that share, for the splits
    for stages, replicas, grouping in specs[:max_candidates]:
        if stages == 1:
            single = single or _stages(ev, split, grads, (0,) * ev.n)
            plan = build(ev, grouping, (0,) * ev.n, order, split, grads, single)
        else:
            if max_splits <= 0:
                continue
            max_splits -= 1
            if replicas not in parts:
                parts[replicas] = scaled(ev, 1 / replicas, split, lists=False)
            cut = _partition(ev, parts[replicas], grouping[0], topo)
            if cut is None or len(cut[1]) < stages:
                continue  # nothing fits, or fewer stages were better (another candidate)
            plan = build(ev, grouping, cut[0], order, split, grads)
        if plan is not None:
            found.append(plan)
    return found


def rebuilt(
    ev: Evaluator,
    found: Replicated,
    assignment: Sequence[int],
    order: Sequence[int],
    grads: np.ndarray,
) -> Replicated | None:
    """``found`` (planned on a contraction) again on ``ev``'s graph, whose first
    replica runs ``assignment`` (the expanded one)."""
    position = {d: s for s, d in enumerate(found.replicas[0])}
    stage_of = [position[d] for d in assignment]
    return build(ev, found.replicas, stage_of, order, split_compute(ev.model), grads)


def replayed_s(ev: Evaluator, found: Replicated, order: Sequence[int], steps: int) -> float:
    """Seconds per step as executed: the slowest replica's event-driven replay
    (:func:`replay.seconds_per_step`) on its share, then the all-reduce. A replica of
    one device replays to its compute sum; of the others, the
    :data:`REPLAYED_REPLICAS` with the busiest devices in the estimate are replayed
    (replicas of the same device kinds, links and share once), so the work stays
    bounded however many replicas there are."""
    split = split_compute(ev.model)
    kinds = {d: k for k, members in enumerate(device_kinds(ev, range(ev.m))) for d in members}
    busiest = sorted(
        range(len(found.shares)),
        key=lambda r: (-max(found.device_load[d] for d in found.replicas[r]), r),
    )
    done: dict[tuple[object, ...], float] = {}
    worst = 0.0
    for r in busiest:
        devices, share = found.replicas[r], found.shares[r]
        if len(devices) == 1:
            worst = max(worst, found.device_load[devices[0]])
            continue
        links = tuple((ev.per_byte[a][b], ev.latency[a][b]) for a in devices for b in devices)
        key = (tuple(kinds[d] for d in devices), links, round(share, 12))
        if key not in done:
            if len(done) >= REPLAYED_REPLICAS:
                continue
            part = scaled(ev, share, split)
            done[key] = replay.seconds_per_step(
                part, "throughput", found.assignment(r), order, steps
            )
        worst = max(worst, done[key])
    return worst + found.allreduce_s


def with_peak(ev: Evaluator, found: Replicated, order: Sequence[int]) -> Replicated:
    """``found`` with the memory of every device at the exact peak
    (:mod:`cyborg.scheduler.memory`) of its stage at its share, not the bound."""
    stages = found.stages
    peak = np.asarray(ev.memory_of(list(found.stage_of), order)[:stages], dtype=float)
    index = np.asarray(found.stage_of, dtype=int)
    params = np.bincount(index, weights=np.asarray(ev.params, dtype=float), minlength=stages)
    memory = [0.0] * ev.m
    for devices, f in zip(found.replicas, found.shares, strict=True):
        for s, d in enumerate(devices):
            memory[d] = float(params[s] + f * (peak[s] - params[s]))
    return dataclasses.replace(found, memory=tuple(memory))


def scaled_model(model: CostModel, share: float) -> CostModel:
    """``model`` for ``share`` of the batch, graph and all (activations, tensors and
    the batch-proportional compute scaled; parameters kept): what the simulator needs
    to run one replica."""
    fixed, var = split_compute(model)
    graph = model.graph
    nodes = [
        dataclasses.replace(
            node,
            flops=node.flops * share,
            activation_bytes=node.activation_bytes * share,
            measured={},
        )
        for node in graph.nodes
    ]
    edges = [dataclasses.replace(e, bytes=e.bytes * share) for e in graph.edges]
    smaller = Graph(nodes, edges, graph.name, graph.training, graph.colocate)
    return dataclasses.replace(
        model,
        graph=smaller,
        compute=fixed + share * var,
        node_memory=np.array([node.memory_bytes for node in nodes], dtype=float),
    )
