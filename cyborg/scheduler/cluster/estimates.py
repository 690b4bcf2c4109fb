"""Throughput estimates per (job type, device model), learned from the fleet.

A job type starts from a prior: a throughput someone measured and posted, or the
planner's estimate for its graph on one device of the model (steps per second of the
plan :func:`~cyborg.scheduler.planner.plan_graph` picks). Every measurement a running
job posts then moves the estimate by an exponentially weighted moving average, so a
handful of reports outweigh a wrong prior while one noisy report does not.
"""

import dataclasses
from collections.abc import Iterable, Mapping

from cyborg.scheduler.costs import build_cost_model
from cyborg.scheduler.devices import Device, DeviceSet
from cyborg.scheduler.graph import Graph
from cyborg.scheduler.plan import NoFeasiblePlan
from cyborg.scheduler.planner import plan_graph

#: Weight of a new measurement: after 5 reports the prior keeps 0.6**5 < 8 %.
DEFAULT_ALPHA = 0.4


@dataclasses.dataclass
class Estimate:
    steps_per_s: float
    source: str  # "measured", "planner" or "prior"
    samples: int = 0


class ThroughputTable:
    """Throughput of each job type on each device model (for the job's gang size)."""

    def __init__(self, alpha: float = DEFAULT_ALPHA) -> None:
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = alpha
        self._table: dict[tuple[str, str], Estimate] = {}

    @classmethod
    def from_matrix(
        cls, matrix: Mapping[str, Mapping[str, float]], **kw: float
    ) -> "ThroughputTable":
        """A table of measured throughputs: ``{job_type: {model: steps_per_s}}``."""
        table = cls(**kw)
        for job_type, row in matrix.items():
            for model, value in row.items():
                table.set_prior(job_type, model, value, source="measured")
        return table

    def set_prior(
        self, job_type: str, model: str, steps_per_s: float, source: str = "prior"
    ) -> None:
        if steps_per_s < 0:
            raise ValueError("a throughput cannot be negative")
        self._table[(job_type, model)] = Estimate(steps_per_s, source)

    def known(self, job_type: str) -> bool:
        return any(t == job_type for t, _ in self._table)

    def get(self, job_type: str, model: str) -> float:
        """Steps per second; 0 where nothing is known (the job cannot run there)."""
        found = self._table.get((job_type, model))
        return found.steps_per_s if found else 0.0

    def estimate(self, job_type: str, model: str) -> Estimate | None:
        return self._table.get((job_type, model))

    def record(self, job_type: str, model: str, steps_per_s: float) -> Estimate:
        """A measurement posted by a running job; returns the updated estimate."""
        if steps_per_s < 0:
            raise ValueError("a throughput cannot be negative")
        old = self._table.get((job_type, model))
        if old is None:
            value = steps_per_s
        else:
            value = old.steps_per_s + self.alpha * (steps_per_s - old.steps_per_s)
        samples = 1 if old is None else old.samples + 1
        new = Estimate(value, "measured", samples)
        self._table[(job_type, model)] = new
        return new


def planner_estimate(graph: Graph, device: Device, effort: float = 0.2) -> float:
    """Steps per second of ``graph`` on one ``device`` by the planner's cost model (0
    when it does not fit the device's memory)."""
    model = build_cost_model(graph, DeviceSet((device,)))
    try:
        plan = plan_graph(model, objective="throughput", max_devices=1, effort=effort)
    except NoFeasiblePlan:
        return 0.0
    return 1.0 / plan.estimate_s if plan.estimate_s > 0 else 0.0


def seed_from_planner(
    table: ThroughputTable, job_type: str, graph: Graph, devices: Iterable[Device]
) -> None:
    """Priors for a new job type: the planner's estimate on one device of each model
    (models that already have an estimate keep it)."""
    seen: set[str] = set()
    for device in devices:
        if device.model in seen or table.estimate(job_type, device.model) is not None:
            continue
        seen.add(device.model)
        table.set_prior(job_type, device.model, planner_estimate(graph, device), "planner")
