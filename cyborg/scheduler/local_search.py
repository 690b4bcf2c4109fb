"""Local search: move or swap nodes between devices while the estimate improves.

Every candidate is scored by the same :class:`~cyborg.scheduler.evaluate.Evaluator` as
the final plan, so a search can only lower the planner's estimate. A search stops at a
local optimum or when it has spent ``budget`` work units (about one list step each:
an evaluation of the step latency costs nodes + edges units). Budgets, not wall-clock
limits, keep plans deterministic. Memory: a candidate fits when the quick resident-set
bound fits, or else when its peak (:mod:`cyborg.scheduler.memory`) does, which costs an
evaluation.

* Latency: moves of the nodes on the current critical path to every other allowed
  device, swaps of a critical node with a neighbour on another device, and moving all
  of one device's nodes to another (which removes transfers a node-by-node move cannot).
* Throughput: moves off the bottleneck (the busiest device, or the endpoints of
  transfers on the busiest link resource): single nodes, stage boundaries first, then
  runs of 2 to 16 of the device's nodes along the topological order that start or end
  at a boundary (shifting a stage's edge in one go); scored by (stage time, sum of
  squared loads) so that ties still move towards balance.

A node in a co-location group moves (or swaps) with its whole group, so a search that
starts from an assignment that keeps every group together never splits one.
"""

import random
from collections.abc import Iterator, Sequence

from cyborg.scheduler.colocation import with_groups
from cyborg.scheduler.evaluate import LINK_EFFICIENCY, Evaluator

EPS = 1e-12


def critical_path(ev: Evaluator, assignment: Sequence[int], order: Sequence[int]) -> list[int]:
    """Nodes whose delay delays the step, from the last one back to the first."""
    finish, cause = ev.trace(assignment, order)
    if not finish:
        return []
    node = max(range(ev.n), key=finish.__getitem__)
    path = []
    while node >= 0:
        path.append(node)
        node = cause[node]
    return path


def memory_after_move(
    ev: Evaluator, used: Sequence[float], assignment: Sequence[int], i: int, d: int
) -> dict[int, float]:
    """Resident bytes (:meth:`Evaluator.resident_of`) of the devices that change when
    node ``i`` moves to ``d``."""
    old = assignment[i]
    changed = {old: used[old] - ev.memory[i], d: used[d] + ev.memory[i]}
    for s, nbytes in ev.inputs[i]:  # tensors received by i
        ds = assignment[s]
        if ds != old:
            changed[old] -= nbytes
        if ds != d:
            changed[d] += nbytes
    for t, nbytes in ev.outputs[i]:  # tensors sent by i, held by the consumer's device
        dt = assignment[t]
        delta = (nbytes if d != dt else 0.0) - (nbytes if old != dt else 0.0)
        if delta:
            changed[dt] = changed.get(dt, used[dt]) + delta
    return changed


def _fits_after_move(
    ev: Evaluator, used: Sequence[float], assignment: Sequence[int], i: int, d: int
) -> bool:
    changed = memory_after_move(ev, used, assignment, i, d)
    return all(v <= ev.capacity[k] * (1 + 1e-9) for k, v in changed.items())


def _latency_moves(
    ev: Evaluator, assignment: list[int], path: list[int], allowed: Sequence[int]
) -> Iterator[tuple[list[int], int, int]]:
    """(candidate, moved node or -1, its new device) for the latency search."""
    graph = ev.model.graph
    for i in path:
        members = with_groups(graph, [i])
        for d in allowed:
            if d != assignment[i]:
                moved = list(assignment)
                for k in members:
                    moved[k] = d
                yield moved, (i if len(members) == 1 else -1), d
    for i in path:
        for j, _ in ev.inputs[i] + ev.outputs[i]:
            if assignment[j] != assignment[i]:
                swapped = list(assignment)
                for k in with_groups(graph, [i]):
                    swapped[k] = assignment[j]
                for k in with_groups(graph, [j]):
                    swapped[k] = assignment[i]
                yield swapped, -1, -1
    for a in sorted(set(assignment)):
        for b in allowed:
            if b != a:
                yield [b if d == a else d for d in assignment], -1, -1


def improve_latency(
    ev: Evaluator,
    assignment: Sequence[int],
    order: Sequence[int],
    allowed: Sequence[int],
    max_devices: int,
    budget: float,
) -> tuple[list[int], float, float]:
    """A locally better assignment (first improvement), its latency, units spent."""
    step = ev.n + len(ev.edge_src) + 1  # units per evaluation
    current = list(assignment)
    best = ev.latency_of(current, order)
    used = ev.resident_of(current)
    spent = float(step)
    improved = True
    while improved and spent < budget:
        improved = False
        path = critical_path(ev, current, order)
        spent += step
        for candidate, i, d in _latency_moves(ev, current, path, allowed):
            if spent >= budget:
                break
            fits = i >= 0 and _fits_after_move(ev, used, current, i, d)
            spent += 1
            if not fits:
                fits = ev.fits(candidate, order)
                spent += step
            if not fits or len(set(candidate)) > max_devices:
                continue
            spent += step
            value = ev.latency_of(candidate, order)
            if value < best - EPS * max(best, 1.0):
                current, best, improved = candidate, value, True
                used = ev.resident_of(current)
                break
    return current, best, spent


class _Loads:
    """Device and link-resource loads of an assignment, updated move by move.

    A tensor moves to a device once (:meth:`Evaluator.moves`): ``readers`` counts, per
    tensor and device, the consumers that read it there, and a transfer is counted
    while that count is positive on a device other than the producer's.
    """

    def __init__(self, ev: Evaluator, assignment: list[int]) -> None:
        self.ev = ev
        self.assignment = assignment
        self.device, self.link = ev.loads(assignment)
        self.routes = ev.route_loads(assignment)
        self.memory = ev.resident_of(assignment)
        self.members: list[set[int]] = [set() for _ in range(ev.m)]
        self.scanned = 0  # work units spent finding bottleneck groups
        for i, d in enumerate(assignment):
            self.members[d].add(i)
        self.readers: dict[int, int] = {}  # tensor * m + device -> consumers there
        for t, k in zip(ev.edge_dst, ev.edge_tensor, strict=True):
            if k >= 0:
                key = k * ev.m + assignment[t]
                self.readers[key] = self.readers.get(key, 0) + 1

    def key(self) -> tuple[float, float]:
        pressure = self.ev.link_pressure(self.link, self.routes) / LINK_EFFICIENCY
        loads = self.device + [v / LINK_EFFICIENCY for v in self.link]
        return max(max(self.device, default=0.0), pressure), sum(v * v for v in loads)

    def move(self, i: int, d: int) -> None:
        ev, a, m = self.ev, self.assignment, self.ev.m
        old = a[i]
        self.device[old] -= ev.compute[i][old]
        self.device[d] += ev.compute[i][d]
        self.memory[old] -= ev.memory[i]
        self.memory[d] += ev.memory[i]
        self.members[old].discard(i)
        self.members[d].add(i)
        for (s, nbytes), k in zip(ev.inputs[i], ev.input_tensors[i], strict=True):
            self.memory[old] -= nbytes if a[s] != old else 0.0
            self.memory[d] += nbytes if a[s] != d else 0.0
            if k < 0:
                continue
            self.readers[k * m + old] -= 1
            if not self.readers[k * m + old]:
                del self.readers[k * m + old]
                self._transfer(a[s], old, k, -1.0)
            self.readers[k * m + d] = self.readers.get(k * m + d, 0) + 1
            if self.readers[k * m + d] == 1:
                self._transfer(a[s], d, k, 1.0)
        for t, nbytes in ev.outputs[i]:
            delta = (nbytes if d != a[t] else 0.0) - (nbytes if old != a[t] else 0.0)
            self.memory[a[t]] += delta
        for k in dict.fromkeys(k for k in ev.output_tensors[i] if k >= 0):
            for b in range(m):
                if k * m + b in self.readers:
                    self._transfer(old, b, k, -1.0)
                    self._transfer(d, b, k, 1.0)
        a[i] = d

    def _transfer(self, src: int, dst: int, k: int, sign: float) -> None:
        if src == dst:
            return
        ev = self.ev
        seconds = ev.transfer(src, dst, ev.tensor_bytes[k])
        for r in ev.resources[src][dst]:
            self.link[r] += sign * seconds
        if ev.blocks_sender[src][dst]:
            self.device[src] += sign * seconds
        if ev.blocks_receiver[src][dst]:
            self.device[dst] += sign * seconds
        left = self.routes.get((src, dst), 0.0) + sign * seconds
        if left > 1e-15:
            self.routes[(src, dst)] = left
        else:
            self.routes.pop((src, dst), None)

    def fits(self) -> bool:
        """The resident-set bound, else the peak (an evaluation, counted as scanned)."""
        ev = self.ev
        if all(u <= c * (1 + 1e-9) for u, c in zip(self.memory, ev.capacity, strict=True)):
            return True
        self.scanned += ev.n + len(ev.edge_src)
        return ev.fits(self.assignment)

    def devices_used(self) -> int:
        return sum(1 for m in self.members if m)

    def bottleneck_groups(self, position: Sequence[int]) -> Iterator[list[int]]:
        """Groups of nodes (on one device) worth moving together, most promising first;
        lazily, as the caller stops at the first improvement."""
        ev, a = self.ev, self.assignment
        top = max(range(ev.m), key=self.device.__getitem__)
        top_link = max(range(len(self.link)), key=self.link.__getitem__, default=-1)
        if (
            top_link >= 0
            and self.ev.link_pressure(self.link, self.routes) / LINK_EFFICIENCY
            > (self.device[top])
        ):
            ends = []
            for s, t in zip(ev.edge_src, ev.edge_dst, strict=True):
                if a[s] != a[t] and top_link in ev.resources[a[s]][a[t]]:
                    ends += [s, t]
            ends = list(dict.fromkeys(ends))
            self.scanned += len(ev.edge_src)
            yield from ([i] for i in ends)
            for i in ends:  # with the neighbours it shares a device with
                yield [i] + [j for j, _ in ev.inputs[i] + ev.outputs[i] if a[j] == a[i]]
            return
        members = sorted(self.members[top], key=position.__getitem__)
        self.scanned += 4 * len(members)
        boundary = [
            k
            for k, i in enumerate(members)
            if any(a[j] != top for j, _ in ev.inputs[i] + ev.outputs[i])
        ]
        edge = set(boundary)
        yield from ([members[k]] for k in boundary)  # stage boundaries: cheapest to move
        yield from ([i] for k, i in enumerate(members) if k not in edge)
        for length in (2, 4, 8, 16):  # runs of the topological order that start or end
            for k in boundary:  # at a boundary: moving a stage's edge in one go
                if k + length <= len(members):
                    yield members[k : k + length]
                if k + 1 >= length:
                    yield members[k + 1 - length : k + 1]


def improve_period(
    ev: Evaluator,
    assignment: Sequence[int],
    allowed: Sequence[int],
    max_devices: int,
    budget: float,
) -> tuple[list[int], float, float]:
    """A locally better assignment for the stage time, that stage time, units spent."""
    state = _Loads(ev, list(assignment))
    position = [0] * ev.n
    for p, node in enumerate(ev.model.graph.topo):
        position[node] = p
    best = state.key()
    move_cost = ev.m + len(state.link) + 4
    spent = 0.0
    improved = True
    while improved and spent < budget:
        improved = False
        for found in state.bottleneck_groups(position):
            group = with_groups(ev.model.graph, found)
            origin = state.assignment[group[0]]
            spent += sum(1 + len(ev.inputs[i]) + len(ev.outputs[i]) for i in group)
            for d in allowed:
                if d == origin:
                    continue
                spent += move_cost + 4 * len(group)
                for i in group:
                    state.move(i, d)
                key = state.key()
                if (
                    key[0] <= best[0] * (1 + 1e-12)
                    and key < (best[0], best[1] * (1 - 1e-9))
                    and state.fits()
                    and state.devices_used() <= max_devices
                ):
                    best, improved = key, True
                    break
                for i in group:
                    state.move(i, origin)
            if improved or spent + state.scanned >= budget:
                break
        spent += state.scanned
        state.scanned = 0
    return state.assignment, ev.period_of(state.assignment), spent + ev.n + len(ev.edge_src)


def perturb(
    ev: Evaluator,
    assignment: Sequence[int],
    allowed: Sequence[int],
    max_devices: int,
    rng: random.Random,
) -> list[int]:
    """A kick for iterated local search: once or twice, a group of nodes that share a
    device moves to a random device (one already used when at the limit). The group is
    a random node with its neighbours on that device, or a run of 1 to 8 of the
    device's nodes along the topological order."""
    result = list(assignment)
    topo = ev.model.graph.topo
    for _ in range(rng.randint(1, 2)):
        start = rng.randrange(ev.n)
        first = topo[start]
        origin = result[first]
        used = set(result)
        targets = [d for d in allowed if d != origin and (d in used or len(used) < max_devices)]
        if not targets:
            return result
        d = rng.choice(targets)
        if rng.random() < 0.5:
            group = [i for i in topo[start:] if result[i] == origin][: rng.randint(1, 8)]
        else:
            neighbours = ev.inputs[first] + ev.outputs[first]
            group = [first] + [j for j, _ in neighbours if result[j] == origin]
        for i in with_groups(ev.model.graph, group):
            result[i] = d
    return result
