"""What one assignment costs under the cost model: the planner's own estimate.

* Transfers: a tensor moves to a device once, however many of its consumers run
  there (:attr:`Graph.edge_tensor <cyborg.scheduler.graph.Graph>`); a blocking link
  end (:mod:`cyborg.scheduler.devices`) is busy for the whole transfer, neither
  computing nor moving anything else.
* Step latency: list scheduling with a fixed priority order (a topological order).
  Each device runs its nodes in that order, one at a time; a node starts when its
  device is free and every input has arrived. A transfer waits for its producer, for
  every link resource of its route (one transfer at a time per resource) and for its
  blocking ends, so the estimate sees contention much as the simulator does.
* Pipeline stage time (throughput): in steady state every device and every link
  resource works once per step, so the step period is the busiest of them: a device's
  summed compute plus the transfers it blocks for, or the transfers of a route plus
  every transfer that shares one of its resources (PCIe uplinks, NICs, socket links and
  peer links), divided by :data:`LINK_EFFICIENCY`.
* Memory: the peak of the tensors alive in the schedule's order
  (:mod:`cyborg.scheduler.memory`); :meth:`Evaluator.resident_of` is the old upper
  bound (everything resident for the whole step), a quick check before the exact one.

:class:`Evaluator` turns the cost model into plain lists once so that the many
evaluations of a search stay cheap.
"""

from collections.abc import Sequence
from typing import NamedTuple

from cyborg.scheduler import memory
from cyborg.scheduler.costs import CostModel

Assignment = Sequence[int]


class Interval(NamedTuple):
    """What the list schedule booked: a node's compute (``src == dst``, the node's
    device) or a transfer from ``producer``'s device ``src`` to ``node``'s ``dst``."""

    start: float
    end: float
    src: int
    dst: int
    node: int
    producer: int


# The share of a route's time that pipelined transfers can use in steady state: they wait
# for their producers and for every resource of the route at once, so routes near
# saturation leave devices idle (the simulator loses about that much).
LINK_EFFICIENCY = 0.85


class Evaluator:
    """Precomputed tables of one cost model (read-only after construction)."""

    def __init__(self, model: CostModel) -> None:
        graph = model.graph
        self.model = model
        self.n, self.m = model.n_nodes, model.n_devices
        self.compute: list[list[float]] = model.compute.tolist()
        self.memory: list[float] = model.node_memory.tolist()
        self.capacity: list[float] = model.capacity.tolist()
        self.per_byte: list[list[float]] = model.per_byte.tolist()
        self.latency: list[list[float]] = model.latency.tolist()
        self.edge_src = graph.edge_src
        self.edge_dst = graph.edge_dst
        self.edge_bytes = graph.edge_bytes
        #: [node] -> [(producer, bytes)] and [node] -> [(consumer, bytes)]
        self.inputs: list[list[tuple[int, float]]] = [
            [(graph.edge_src[k], graph.edge_bytes[k]) for k in graph.preds[i]]
            for i in range(self.n)
        ]
        self.outputs: list[list[tuple[int, float]]] = [
            [(graph.edge_dst[k], graph.edge_bytes[k]) for k in graph.succs[i]]
            for i in range(self.n)
        ]
        names: dict[str, int] = {}
        #: [device][device] -> resource positions a transfer occupies
        self.resources: list[list[tuple[int, ...]]] = [
            [tuple(names.setdefault(r, len(names)) for r in link.resources) for link in row]
            for row in model.links
        ]
        self.resource_names: list[str] = list(names)
        #: [node] the tensor of each input / output edge (as ``inputs`` / ``outputs``)
        self.input_tensors: list[list[int]] = [
            [graph.edge_tensor[k] for k in graph.preds[i]] for i in range(self.n)
        ]
        self.output_tensors: list[list[int]] = [
            [graph.edge_tensor[k] for k in graph.succs[i]] for i in range(self.n)
        ]
        self.edge_tensor = graph.edge_tensor
        self.tensor_bytes: tuple[float, ...] = graph.tensor_bytes
        self.params = [node.param_bytes for node in graph.nodes]
        self.activation = [node.activation_bytes for node in graph.nodes]
        #: [device][device] whether a transfer keeps the sender / the receiver busy
        self.blocks_sender = [[link.blocks_sender for link in row] for row in model.links]
        self.blocks_receiver = [[link.blocks_receiver for link in row] for row in model.links]
        self.blocking = any(map(any, self.blocks_sender)) or any(map(any, self.blocks_receiver))
        #: [node] (producer, tensor) of each input edge
        self.input_pairs: list[list[tuple[int, int]]] = [
            [(s, t) for (s, _), t in zip(ins, tensors, strict=True)]
            for ins, tensors in zip(self.inputs, self.input_tensors, strict=True)
        ]
        #: [node] (producer, tensor) of the inputs that move when on another device,
        #: one per tensor
        self.moved_inputs: list[list[tuple[int, int]]] = [
            [(s, t) for s, t in pairs if t >= 0]
            if len(pairs) < 2
            else list({t: (s, t) for s, t in pairs if t >= 0}.values())
            for pairs in self.input_pairs
        ]

    def transfer(self, a: int, b: int, nbytes: float) -> float:
        if a == b or nbytes <= 0:
            return 0.0
        return self.latency[a][b] + nbytes * self.per_byte[a][b]

    def trace(
        self,
        assignment: Assignment,
        order: Sequence[int],
        booked: list[Interval] | None = None,
    ) -> tuple[list[float], list[int]]:
        """Finish time of every node under list scheduling in ``order``, and what it
        waited for last (the producer of its last input or the device's previous node;
        -1 for nothing). ``booked``, when given, receives every compute and transfer
        interval (what the plan picture's timeline draws).

        A transfer starts when its producer has finished and every resource of its
        route is free, and holds them until it ends (resources are booked in the order
        the consumers are scheduled, inputs of one node by their producers' finish).
        """
        ready = [0.0] * self.m
        last_on = [-1] * self.m
        free = [0.0] * len(self.resource_names)
        finish = [0.0] * self.n
        cause = [-1] * self.n
        sent: dict[int, float] = {}
        input_pairs, compute = self.input_pairs, self.compute
        for i in order:
            d = assignment[i]
            if input_pairs[i]:
                start, why = self.book_inputs(
                    assignment, finish, ready, free, sent, i, d, last_on[d], booked
                )
            else:
                start, why = ready[d], last_on[d]
            end = start + compute[i][d]
            if booked is not None:
                booked.append(Interval(start, end, d, d, i, i))
            finish[i] = end
            cause[i] = why
            ready[d], last_on[d] = end, i
        return finish, cause

    def book_inputs(
        self,
        assignment: Assignment,
        finish: list[float],
        ready: list[float],
        free: list[float] | None,
        sent: dict[int, float],
        i: int,
        d: int,
        why: int = -1,
        booked: list[Interval] | None = None,
    ) -> tuple[float, int]:
        """Book the transfers ``i`` needs on ``d`` (inputs by their producers' finish)
        and return when it can start, and what it waited for last.

        A tensor already sent to ``d`` (``sent``: tensor * m + device -> arrival) is not
        sent again. A transfer waits for the resources of its route (``free``; None:
        links without contention) and for its blocking ends (``ready``), and holds them
        until it ends.
        """
        start = ready[d]
        pairs = self.input_pairs[i]
        if len(pairs) > 1:
            pairs = sorted(pairs, key=lambda pair: finish[pair[0]])
        for s, t in pairs:
            ds = assignment[s]
            if ds == d or t < 0:
                arrive = finish[s]
            else:
                got = sent.get(t * self.m + d)
                arrive = (
                    self._send(s, t, ds, d, i, finish, ready, free, sent, booked)
                    if got is None
                    else got
                )
            if arrive > start:
                start, why = arrive, s
        return start, why

    def _send(
        self,
        s: int,
        t: int,
        ds: int,
        d: int,
        i: int,
        finish: list[float],
        ready: list[float],
        free: list[float] | None,
        sent: dict[int, float],
        booked: list[Interval] | None,
    ) -> float:
        """Book the transfer of tensor ``t`` (of node ``s``, on ``ds``) to ``d`` for
        ``i``: when it arrives (see :meth:`book_inputs`)."""
        arrive = finish[s]
        if free is not None:
            route = self.resources[ds][d]
            for r in route:
                if free[r] > arrive:
                    arrive = free[r]
        bs = br = False
        if self.blocking:
            bs, br = self.blocks_sender[ds][d], self.blocks_receiver[ds][d]
            if bs and ready[ds] > arrive:
                arrive = ready[ds]
            if br and ready[d] > arrive:
                arrive = ready[d]
        begin = arrive
        arrive += self.latency[ds][d] + self.tensor_bytes[t] * self.per_byte[ds][d]
        if free is not None:
            for r in route:
                free[r] = arrive
        if bs:
            ready[ds] = arrive
        if br:
            ready[d] = arrive
        sent[t * self.m + d] = arrive
        if booked is not None:
            booked.append(Interval(begin, arrive, ds, d, i, s))
        return arrive

    def finish_times(self, assignment: Assignment, order: Sequence[int]) -> list[float]:
        """Finish time of every node (see :meth:`trace`)."""
        return self.trace(assignment, order)[0]

    def latency_of(self, assignment: Assignment, order: Sequence[int]) -> float:
        """Estimated step latency (schedule length)."""
        return max(self.finish_times(assignment, order), default=0.0)

    def moves(self, assignment: Assignment) -> list[tuple[int, int, float]]:
        """(source, destination, seconds) of every transfer of a step: one per tensor
        and destination device."""
        m = self.m
        seen: set[int] = set()
        found = []
        for s, t, k in zip(self.edge_src, self.edge_dst, self.edge_tensor, strict=True):
            a, b = assignment[s], assignment[t]
            if a != b and k >= 0 and k * m + b not in seen:
                seen.add(k * m + b)
                found.append((a, b, self.transfer(a, b, self.tensor_bytes[k])))
        return found

    def loads(self, assignment: Assignment) -> tuple[list[float], list[float]]:
        """Busy seconds per step of every device (compute, and the transfers it blocks
        for) and every link resource."""
        device_load = [0.0] * self.m
        for i, d in enumerate(assignment):
            device_load[d] += self.compute[i][d]
        link_load = [0.0] * len(self.resource_names)
        for a, b, seconds in self.moves(assignment):
            for r in self.resources[a][b]:
                link_load[r] += seconds
            if self.blocks_sender[a][b]:
                device_load[a] += seconds
            if self.blocks_receiver[a][b]:
                device_load[b] += seconds
        return device_load, link_load

    def route_loads(self, assignment: Assignment) -> dict[tuple[int, int], float]:
        """Transfer seconds per step of every (source, destination) device pair used."""
        routes: dict[tuple[int, int], float] = {}
        for a, b, seconds in self.moves(assignment):
            routes[(a, b)] = routes.get((a, b), 0.0) + seconds
        return routes

    def link_pressure(
        self, link_load: Sequence[float], routes: dict[tuple[int, int], float]
    ) -> float:
        """Seconds per step the busiest route's transfers wait for or use its resources.

        A transfer holds every resource of its route at once, so it competes with every
        transfer that shares any of them: per used route, the loads of its resources
        minus its own transfers counted more than once.
        """
        worst = 0.0
        for (a, b), own in routes.items():
            route = self.resources[a][b]
            pressure = sum(link_load[r] for r in route) - (len(route) - 1) * own
            worst = max(worst, pressure)
        return worst

    def period_of(self, assignment: Assignment) -> float:
        """Estimated pipeline stage time: the busiest device, or the busiest route's
        link pressure (:meth:`link_pressure`) over :data:`LINK_EFFICIENCY`."""
        device_load, link_load = self.loads(assignment)
        pressure = self.link_pressure(link_load, self.route_loads(assignment))
        return max(max(device_load, default=0.0), pressure / LINK_EFFICIENCY)

    def resident_of(self, assignment: Assignment) -> list[float]:
        """An upper bound of the peak bytes per device: every node's memory and every
        received edge resident for the whole step (a quick check; see
        :mod:`cyborg.scheduler.memory`)."""
        used = [0.0] * self.m
        for i, d in enumerate(assignment):
            used[d] += self.memory[i]
        for s, t, nbytes in zip(self.edge_src, self.edge_dst, self.edge_bytes, strict=True):
            if assignment[s] != assignment[t]:
                used[assignment[t]] += nbytes
        return used

    def memory_of(self, assignment: Assignment, order: Sequence[int] | None = None) -> list[float]:
        """Peak bytes per device when the nodes run in ``order`` (default: the graph's
        topological order): the parameters plus the most tensors alive at once."""
        return memory.peak_memory(
            self, assignment, self.model.graph.topo if order is None else order
        )

    def fits(self, assignment: Assignment, order: Sequence[int] | None = None) -> bool:
        """Whether every device holds its peak (the quick bound first)."""
        if self._within(self.resident_of(assignment)):
            return True
        return self._within(self.memory_of(assignment, order))

    def _within(self, used: Sequence[float]) -> bool:
        return all(u <= c * (1 + 1e-9) for u, c in zip(used, self.capacity, strict=True))

    def cost(self, objective: str, assignment: Assignment, order: Sequence[int]) -> float:
        if objective == "latency":
            return self.latency_of(assignment, order)
        return self.period_of(assignment)
