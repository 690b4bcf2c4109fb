"""What one assignment costs under the cost model: the planner's own estimate.

* Step latency: list scheduling with a fixed priority order (a topological order).
  Each device runs its nodes in that order, one at a time; a node starts when its
  device is free and every input has arrived. A transfer waits for its producer and
  for every link resource of its route (one transfer at a time per resource), so the
  estimate sees contention much as the simulator does.
* Pipeline stage time (throughput): in steady state every device and every link
  resource works once per step, so the step period is the busiest of them: a device's
  summed compute, or the transfers of a route plus every transfer that shares one of its
  resources (PCIe uplinks, NICs, socket links and peer links; see
  :mod:`cyborg.scheduler.devices`), divided by :data:`LINK_EFFICIENCY`.
* Memory: parameters + activations of the nodes on a device + tensors it receives.

:class:`Evaluator` turns the cost model into plain lists once so that the many
evaluations of a search stay cheap.
"""

from collections.abc import Sequence
from typing import NamedTuple

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
        compute, inputs, lat, per_byte = self.compute, self.inputs, self.latency, self.per_byte
        resources = self.resources
        ready = [0.0] * self.m
        last_on = [-1] * self.m
        free = [0.0] * len(self.resource_names)
        finish = [0.0] * self.n
        cause = [-1] * self.n
        for i in order:
            d = assignment[i]
            start, why = ready[d], last_on[d]
            ins = inputs[i]
            if len(ins) > 1:
                ins = sorted(ins, key=lambda pair: finish[pair[0]])
            for s, nbytes in ins:
                ds = assignment[s]
                arrive = finish[s]
                if ds != d and nbytes > 0:
                    route = resources[ds][d]
                    for r in route:
                        if free[r] > arrive:
                            arrive = free[r]
                    sent = arrive
                    arrive += lat[ds][d] + nbytes * per_byte[ds][d]
                    for r in route:
                        free[r] = arrive
                    if booked is not None:
                        booked.append(Interval(sent, arrive, ds, d, i, s))
                if arrive > start:
                    start, why = arrive, s
            end = start + compute[i][d]
            if booked is not None:
                booked.append(Interval(start, end, d, d, i, i))
            finish[i] = end
            cause[i] = why
            ready[d], last_on[d] = end, i
        return finish, cause

    def finish_times(self, assignment: Assignment, order: Sequence[int]) -> list[float]:
        """Finish time of every node (see :meth:`trace`)."""
        return self.trace(assignment, order)[0]

    def latency_of(self, assignment: Assignment, order: Sequence[int]) -> float:
        """Estimated step latency (schedule length)."""
        return max(self.finish_times(assignment, order), default=0.0)

    def loads(self, assignment: Assignment) -> tuple[list[float], list[float]]:
        """Busy seconds per step of every device and every link resource."""
        device_load = [0.0] * self.m
        for i, d in enumerate(assignment):
            device_load[d] += self.compute[i][d]
        link_load = [0.0] * len(self.resource_names)
        for s, t, nbytes in zip(self.edge_src, self.edge_dst, self.edge_bytes, strict=True):
            a, b = assignment[s], assignment[t]
            if a != b and nbytes > 0:
                seconds = self.latency[a][b] + nbytes * self.per_byte[a][b]
                for r in self.resources[a][b]:
                    link_load[r] += seconds
        return device_load, link_load

    def route_loads(self, assignment: Assignment) -> dict[tuple[int, int], float]:
        """Transfer seconds per step of every (source, destination) device pair used."""
        routes: dict[tuple[int, int], float] = {}
        for s, t, nbytes in zip(self.edge_src, self.edge_dst, self.edge_bytes, strict=True):
            a, b = assignment[s], assignment[t]
            if a != b and nbytes > 0:
                seconds = self.latency[a][b] + nbytes * self.per_byte[a][b]
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

    def memory_of(self, assignment: Assignment) -> list[float]:
        """Resident bytes per device: node memory plus received tensors."""
        used = [0.0] * self.m
        for i, d in enumerate(assignment):
            used[d] += self.memory[i]
        for s, t, nbytes in zip(self.edge_src, self.edge_dst, self.edge_bytes, strict=True):
            if assignment[s] != assignment[t]:
                used[assignment[t]] += nbytes
        return used

    def fits(self, assignment: Assignment) -> bool:
        return all(u <= c for u, c in zip(self.memory_of(assignment), self.capacity, strict=True))

    def cost(self, objective: str, assignment: Assignment, order: Sequence[int]) -> float:
        if objective == "latency":
            return self.latency_of(assignment, order)
        return self.period_of(assignment)
