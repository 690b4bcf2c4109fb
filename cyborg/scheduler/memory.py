"""Peak memory per device, from the tensors alive while a schedule runs.

Nodes run in a topological order (each device its own nodes in that order). A device
holds, for the whole step, the parameters of its nodes; and, over time:

* a node's activations (``activation_bytes``: its outputs and scratch) from its start
  until the last consumer of its output has run, wherever that runs (a node without
  consumers frees them once it has run);
* a tensor received from another device -- once per tensor and device, however many
  consumers read it there -- from its first consumer there until the producer's
  output is freed.

The peak is the parameters plus the most bytes alive at once, in that order. A training
step (``Graph.training``) keeps every activation and received tensor until its backward
pass: nothing is freed, the peak is the sum. The sum of parameters, activations and
received edges (:meth:`~cyborg.scheduler.evaluate.Evaluator.resident_of`) bounds the
peak from above, which the searches use as a quick check before this exact one.

:class:`Liveness` grows the schedule one node at a time, so a list scheduler (HEFT,
first fit) knows the peak it would reach before it places a node, and the evaluator
gets the same numbers for a finished assignment.
"""

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from cyborg.scheduler.evaluate import Evaluator


class Liveness:
    """Live and peak bytes per device of a schedule being built in topological order."""

    def __init__(self, ev: "Evaluator", arrays: bool = False) -> None:
        """``arrays``: keep the per-device numbers in numpy arrays, for callers that
        score every device at once (slower element by element)."""
        self.ev = ev
        zeros: Callable[[], Any] = (lambda: np.zeros(ev.m)) if arrays else (lambda: [0.0] * ev.m)
        #: [device] parameter bytes, bytes alive now, most bytes alive so far
        self.params = zeros()
        self.live = zeros()
        self.peak = zeros()
        self.left = [len(outs) for outs in ev.outputs]  # consumers not yet placed
        #: tensor * m + device of every received copy
        self.copies: set[int] = set()
        self.holders: dict[int, list[int]] = {}  # tensor -> devices with a copy
        #: node -> (device, bytes) to free when its output is dead: copies of its tensors
        self.held: dict[int, list[tuple[int, float]]] = {}
        self.device = [-1] * ev.n
        self.keep = ev.model.graph.training

    def incoming(self, i: int, d: int) -> float:
        """Bytes ``d`` has to receive (new copies) to run ``i``."""
        device, copies, sizes, m = self.device, self.copies, self.ev.tensor_bytes, self.ev.m
        total = 0.0
        for s, t in self.ev.moved_inputs[i]:
            if device[s] != d and t * m + d not in copies:
                total += sizes[t]
        return total

    def peak_if(self, i: int, d: int) -> float:
        """Peak bytes of ``d`` if ``i`` ran there next."""
        ev = self.ev
        now = self.live[d] + self.incoming(i, d) + ev.activation[i]
        return self.params[d] + ev.params[i] + max(self.peak[d], now)

    def place(self, i: int, d: int) -> None:
        """Run ``i`` on ``d`` (after every node placed before it)."""
        ev, device, live = self.ev, self.device, self.live
        for s, t in ev.moved_inputs[i]:
            if device[s] != d and t * ev.m + d not in self.copies:
                nbytes = ev.tensor_bytes[t]
                self.copies.add(t * ev.m + d)
                self.holders.setdefault(t, []).append(d)
                self.held.setdefault(s, []).append((d, nbytes))
                live[d] += nbytes
        device[i] = d
        live[d] += ev.activation[i]
        self.params[d] += ev.params[i]
        if live[d] > self.peak[d]:
            self.peak[d] = live[d]
        if self.keep:
            return
        for s, _ in ev.inputs[i]:
            self.left[s] -= 1
            if not self.left[s]:
                self._free(s)
        if not self.left[i]:
            self._free(i)

    def _free(self, s: int) -> None:
        self.live[self.device[s]] -= self.ev.activation[s]
        for d, nbytes in self.held.pop(s, ()):
            self.live[d] -= nbytes

    def totals(self) -> list[float]:
        """Peak bytes per device: parameters plus the most alive at once."""
        return [float(p + q) for p, q in zip(self.params, self.peak, strict=True)]


def peak_memory(ev: "Evaluator", assignment: Sequence[int], order: Sequence[int]) -> list[float]:
    """Peak bytes per device when ``assignment`` runs in ``order`` (topological)."""
    lv = Liveness(ev)
    for i in order:
        lv.place(i, assignment[i])
    return lv.totals()
