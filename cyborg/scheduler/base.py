"""The scheduler plugin interface (stevedore namespace ``cyborg.scheduler``).

The conductor builds the candidates from its inventory (one
:class:`~cyborg.scheduler.devices.Device` per accelerator that matches the request:
host, model, memory, peak throughput, NUMA node, peer links), loads the configured
plugin with :func:`load_scheduler` and asks it for a plan::

    scheduler = load_scheduler("graph_aware")
    plan = scheduler.plan(graph, DeviceSet(tuple(candidates)), PlanRequest("throughput"))

A plugin is pure: no I/O, no configuration, no clocks; the same input gives the same
plan. It raises :class:`~cyborg.scheduler.plan.NoFeasiblePlan` when nothing fits. It
may tell ``request.progress`` its stages (that reporter does the I/O).
"""

import abc
import dataclasses
from importlib import metadata
from typing import Any, ClassVar

from stevedore import driver as stevedore_driver
from stevedore import exception as stevedore_exc

from cyborg.common.progress import SILENT, Reporter
from cyborg.scheduler.costs import CostModel, build_cost_model
from cyborg.scheduler.devices import DeviceSet
from cyborg.scheduler.factors import Factors
from cyborg.scheduler.graph import Graph
from cyborg.scheduler.plan import OBJECTIVES, Plan
from cyborg.scheduler.replay import DEFAULT_STEPS

NAMESPACE = "cyborg.scheduler"


@dataclasses.dataclass(frozen=True)
class PlanRequest:
    """What to optimise, and within which limits."""

    objective: str = "latency"  # or "throughput"
    max_devices: int | None = None
    factors: Factors = dataclasses.field(default_factory=dict)  # learned corrections
    effort: float = 1.0  # scales the optional search work
    steps: int = DEFAULT_STEPS  # throughput: how many pipelined steps a run lasts
    # Told the search's stages as it goes (cyborg-plan on large graphs); not an input.
    progress: Reporter = dataclasses.field(default=SILENT, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}")
        if self.max_devices is not None and self.max_devices < 1:
            raise ValueError("max_devices must be at least 1")
        if self.steps < 1:
            raise ValueError("steps must be at least 1")


class Scheduler(abc.ABC):
    """Maps every node of a graph to one of the candidate devices."""

    #: The stevedore entry-point name.
    name: ClassVar[str]

    def plan(self, graph: Graph, candidates: DeviceSet, request: PlanRequest) -> Plan:
        """The plan for ``graph`` on ``candidates`` (builds the cost model first)."""
        return self.plan_model(build_cost_model(graph, candidates, request.factors), request)

    @abc.abstractmethod
    def plan_model(self, model: CostModel, request: PlanRequest) -> Plan:
        """The plan over an already built cost model."""


class UnknownScheduler(LookupError):
    pass


def known_schedulers() -> list[str]:
    return sorted(ep.name for ep in metadata.entry_points(group=NAMESPACE))


def load_scheduler(name: str) -> Scheduler:
    """The plugin registered under ``name`` in the ``cyborg.scheduler`` namespace."""
    try:
        manager: Any = stevedore_driver.DriverManager(NAMESPACE, name, invoke_on_load=True)
    except stevedore_exc.NoMatches as err:
        raise UnknownScheduler(
            f"no scheduler {name!r}; known: {', '.join(known_schedulers()) or 'none'}"
        ) from err
    scheduler: Scheduler = manager.driver
    return scheduler
