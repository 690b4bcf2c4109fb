"""A discrete-event simulator that judges a plan independently of the planner's estimate.

What it models that the estimate does not:

* each device runs its nodes one at a time, in the plan's order or as they become
  ready (see :func:`simulate`), and ``batches`` steps flow through back to back (a
  pipeline) when asked;
* link contention: a transfer holds every resource of its route (PCIe uplinks, socket
  link, NICs, peer link) for its whole duration, and a resource carries one transfer at
  a time; as resources free up, waiting transfers start in the order of their
  consumers (earliest step, then earliest in the plan's order), any that can;
* communication modes: a transfer whose end blocks (:mod:`cyborg.scheduler.devices`)
  waits for that device to be idle and keeps it busy; a tensor moves to a device once
  per step, for all of its consumers there;
* memory over time: parameters from the start; a node's output from its start until its
  last consumer on the device has finished and its last outgoing transfer has ended; a
  received tensor from its transfer's start until its last consumer there has finished.
  A device whose peak exceeds its capacity is reported (the run still completes).

Node durations are the cost model's unless ``compute`` ([node, device] seconds) gives
the "true" ones, e.g. perturbed to play the hardware the planner only estimates.
"""

import dataclasses
import heapq
from collections.abc import Sequence

import numpy as np

from cyborg.scheduler.costs import CostModel
from cyborg.scheduler.evaluate import Evaluator


@dataclasses.dataclass(frozen=True)
class SimResult:
    makespan_s: float  # all batches done
    busy_s: tuple[float, ...]  # per device
    peak_memory_bytes: tuple[float, ...]  # per device
    out_of_memory: tuple[str, ...]  # ids of devices whose peak exceeded their capacity
    transfers: int


@dataclasses.dataclass
class _Transfer:
    batch: int
    consumers: list[int]  # on dst, in the plan's order
    src: int
    dst: int
    nbytes: float
    producer: int
    tensor: int
    resources: tuple[int, ...]
    seconds: float


class _Run:
    """The mutable state of one simulation (private to :func:`simulate`)."""

    def __init__(
        self,
        ev: Evaluator,
        assignment: Sequence[int],
        order: Sequence[int],
        batches: int,
        compute: list[list[float]],
        static: bool,
    ) -> None:
        self.ev, self.a, self.compute, self.static = ev, list(assignment), compute, static
        self.position = [0] * ev.n
        for p, i in enumerate(order):
            self.position[i] = p
        self.queue: list[list[tuple[int, int]]] = [[] for _ in range(ev.m)]
        for b in range(batches):
            for i in order:
                self.queue[self.a[i]].append((b, i))
        self.next = [0] * ev.m  # static: position in the device's queue
        self.ready: list[list[tuple[int, int, int]]] = [[] for _ in range(ev.m)]  # ready
        self.started = [0] * ev.m
        self.busy = [False] * ev.m
        self.busy_s = [0.0] * ev.m
        self.missing = {(b, i): len(ev.inputs[i]) for b in range(batches) for i in range(ev.n)}
        self.users: dict[tuple[int, int], int] = {}
        self.held: dict[tuple[int, int], float] = {}  # (batch, node) -> its output bytes
        #: (batch, tensor, device) -> [bytes held, consumers there yet to finish]
        self.received: dict[tuple[int, int, int], list[float]] = {}
        self.memory = [0.0] * ev.m
        self.peak = [0.0] * ev.m
        self.resource_busy = [False] * len(ev.resource_names)
        self.pending: list[_Transfer] = []
        self.events: list[tuple[float, int, tuple[int, int] | _Transfer]] = []
        self.seq = 0
        self.now = 0.0
        self.done_at = [0.0] * batches
        self.transfers = 0
        for i in range(ev.n):
            params = ev.model.graph.nodes[i].param_bytes
            self._alloc(self.a[i], params)

    def _alloc(self, d: int, nbytes: float) -> None:
        self.memory[d] += nbytes
        self.peak[d] = max(self.peak[d], self.memory[d])

    def _push(self, at: float, payload: "tuple[int, int] | _Transfer") -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, payload))

    def start_devices(self) -> None:
        for (b, i), missing in self.missing.items():
            if not missing:
                self._arrived(b, i)
        for d in range(self.ev.m):
            self._try_device(d)

    def _arrived(self, b: int, i: int) -> None:
        """Every input of (b, i) is on its device."""
        heapq.heappush(self.ready[self.a[i]], (b, self.position[i], i))

    def _input_arrived(self, b: int, i: int) -> None:
        self.missing[(b, i)] -= 1
        if not self.missing[(b, i)]:
            self._arrived(b, i)

    def _next_node(self, d: int) -> tuple[int, int] | None:
        """What device ``d`` runs next, if it can start now (and take it off the queue)."""
        if self.static:
            if self.next[d] >= len(self.queue[d]):
                return None
            b, i = self.queue[d][self.next[d]]
            if self.missing[(b, i)]:
                return None
            self.next[d] += 1
            return b, i
        if not self.ready[d]:
            return None
        b, _, i = heapq.heappop(self.ready[d])
        return b, i

    def _try_device(self, d: int) -> None:
        if self.busy[d]:
            return
        picked = self._next_node(d)
        if picked is None:
            return
        b, i = picked
        self.started[d] += 1
        self.busy[d] = True
        node = self.ev.model.graph.nodes[i]
        out = node.activation_bytes
        self._alloc(d, out)
        self.held[(b, i)] = out
        self.users[(b, i)] = len(self.ev.outputs[i])
        seconds = self.compute[i][d]
        self.busy_s[d] += seconds
        self._push(self.now + seconds, (b, i))

    def _release_output(self, b: int, i: int) -> None:
        self.users[(b, i)] -= 1
        if self.users[(b, i)] <= 0:
            self.memory[self.a[i]] -= self.held.pop((b, i), 0.0)

    def node_done(self, b: int, i: int) -> None:
        ev = self.ev
        d = self.a[i]
        self.busy[d] = False
        self.done_at[b] = max(self.done_at[b], self.now)
        for (s, _), k in zip(ev.inputs[i], ev.input_tensors[i], strict=True):
            if self.a[s] == d:
                self._release_output(b, s)
            elif (b, k, d) in self.received:
                copy = self.received[(b, k, d)]
                copy[1] -= 1
                if copy[1] <= 0:
                    self.memory[d] -= copy[0]
                    del self.received[(b, k, d)]
        if not ev.outputs[i]:
            self.memory[d] -= self.held.pop((b, i), 0.0)
        groups: dict[tuple[int, int], _Transfer] = {}
        for (t, _), k in zip(ev.outputs[i], ev.output_tensors[i], strict=True):
            dt = self.a[t]
            seconds = ev.transfer(d, dt, ev.tensor_bytes[k]) if k >= 0 else 0.0
            if dt == d or seconds <= 0:
                self._input_arrived(b, t)
                if dt != d:
                    self._release_output(b, i)
                    self._try_device(dt)
                continue
            if (k, dt) in groups:
                groups[(k, dt)].consumers.append(t)
                continue
            resources = ev.resources[d][dt]
            groups[(k, dt)] = _Transfer(
                b, [t], d, dt, ev.tensor_bytes[k], i, k, resources, seconds
            )
        for tr in groups.values():
            tr.consumers.sort(key=self.position.__getitem__)
        self.pending += groups.values()
        self.pending.sort(key=lambda tr: (tr.batch, self.position[tr.consumers[0]]))
        self._try_transfers()
        self._try_device(d)

    def _can_start(self, tr: _Transfer) -> bool:
        if any(self.resource_busy[r] for r in tr.resources):
            return False
        if self.ev.blocks_sender[tr.src][tr.dst] and self.busy[tr.src]:
            return False
        return not (self.ev.blocks_receiver[tr.src][tr.dst] and self.busy[tr.dst])

    def _try_transfers(self) -> None:
        waiting = []
        for tr in self.pending:
            if not self._can_start(tr):
                waiting.append(tr)
                continue
            for r in tr.resources:
                self.resource_busy[r] = True
            if self.ev.blocks_sender[tr.src][tr.dst]:
                self.busy[tr.src] = True
            if self.ev.blocks_receiver[tr.src][tr.dst]:
                self.busy[tr.dst] = True
            self._alloc(tr.dst, tr.nbytes)
            self.received[(tr.batch, tr.tensor, tr.dst)] = [tr.nbytes, len(tr.consumers)]
            self.transfers += 1
            self._push(self.now + tr.seconds, tr)
        self.pending = waiting

    def transfer_done(self, tr: _Transfer) -> None:
        for r in tr.resources:
            self.resource_busy[r] = False
        if self.ev.blocks_sender[tr.src][tr.dst]:
            self.busy[tr.src] = False
        if self.ev.blocks_receiver[tr.src][tr.dst]:
            self.busy[tr.dst] = False
        for t in tr.consumers:
            self._input_arrived(tr.batch, t)
            self._release_output(tr.batch, tr.producer)
        self._try_transfers()
        self._try_device(tr.dst)
        self._try_device(tr.src)

    def run(self) -> None:
        self.start_devices()
        while self.events:
            self.now, _, payload = heapq.heappop(self.events)
            if isinstance(payload, _Transfer):
                self.transfer_done(payload)
            else:
                self.node_done(*payload)
        stuck = [d for d in range(self.ev.m) if self.started[d] < len(self.queue[d])]
        if stuck:  # cannot happen for a topological order; guard against misuse
            raise ValueError("the order is not topological: devices wait forever")


def simulate(
    model: CostModel,
    assignment: Sequence[int],
    order: Sequence[int],
    batches: int = 1,
    compute: np.ndarray | None = None,
    policy: str = "static",
) -> SimResult:
    """Run ``batches`` steps of the plan, back to back.

    ``policy``: ``static`` -- each device runs its nodes strictly in the plan's order,
    step after step (a CUDA stream); ``ready`` -- an idle device starts the ready node
    of the earliest step, earliest in the plan's order (a dependency-driven runtime,
    which lets steps overlap however the placement goes back and forth).
    """
    if policy not in ("static", "ready"):
        raise ValueError("policy must be static or ready")
    ev = Evaluator(model)
    table = (model.compute if compute is None else compute).tolist()
    run = _Run(ev, assignment, order, batches, table, policy == "static")
    run.run()
    over = tuple(
        model.devices.devices[d].id
        for d in range(ev.m)
        if run.peak[d] > ev.capacity[d] * (1 + 1e-9)
    )
    return SimResult(
        makespan_s=max(run.done_at, default=0.0),
        busy_s=tuple(run.busy_s),
        peak_memory_bytes=tuple(run.peak),
        out_of_memory=over,
        transfers=run.transfers,
    )


def steady_period(
    model: CostModel,
    assignment: Sequence[int],
    order: Sequence[int],
    batches: int = 8,
    compute: np.ndarray | None = None,
    policy: str = "ready",
) -> tuple[float, SimResult]:
    """Seconds per step in steady state: what ``batches`` more steps cost after
    ``batches`` steps, ``(T(2b) - T(b)) / b`` (completions can bunch up, so the time
    between two completions says little). Also the longer run's result."""
    short = simulate(model, assignment, order, batches, compute, policy)
    long = simulate(model, assignment, order, 2 * batches, compute, policy)
    return (long.makespan_s - short.makespan_s) / batches, long
