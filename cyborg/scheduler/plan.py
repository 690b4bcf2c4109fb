"""A plan: the device of every node, with the estimates that justify it, and its JSON."""

import dataclasses
from collections.abc import Sequence
from typing import Any

from cyborg.scheduler import analysis, timeline
from cyborg.scheduler.costs import CostModel
from cyborg.scheduler.evaluate import Evaluator

OBJECTIVES = ("latency", "throughput")


class NoFeasiblePlan(ValueError):
    """No assignment fits the candidates' memory (or none is allowed)."""


@dataclasses.dataclass(frozen=True)
class Plan:
    objective: str
    algorithm: str  # which candidate won: "single-device", "heft", "pipeline-dp", ...
    assignment: tuple[int, ...]  # device position per node position
    order: tuple[int, ...]  # priority (topological) order the latency estimate uses
    latency_s: float  # estimated step latency (schedule length)
    period_s: float  # estimated pipeline stage time
    memory_bytes: tuple[float, ...]  # per device
    #: The best single device's estimate for this objective (the plan is never worse).
    single_device_s: float | None = None
    #: Seconds per step by the event-driven replay (:mod:`cyborg.scheduler.replay`):
    #: one step for latency, a run of the request's steps for throughput. Never more
    #: than ``single_device_s``, which a single device's replay equals.
    replayed_s: float | None = None

    @property
    def estimate_s(self) -> float:
        return self.latency_s if self.objective == "latency" else self.period_s

    @property
    def devices_used(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.assignment)))


def make_plan(
    ev: Evaluator,
    objective: str,
    algorithm: str,
    assignment: Sequence[int],
    order: Sequence[int],
    single_device_s: float | None = None,
    replayed_s: float | None = None,
) -> Plan:
    """A :class:`Plan` with every estimate computed by ``ev``."""
    return Plan(
        objective=objective,
        algorithm=algorithm,
        assignment=tuple(assignment),
        order=tuple(order),
        latency_s=ev.latency_of(assignment, order),
        period_s=ev.period_of(assignment),
        memory_bytes=tuple(ev.memory_of(assignment, order)),
        single_device_s=single_device_s,
        replayed_s=replayed_s,
    )


def plan_to_dict(plan: Plan, model: CostModel) -> dict[str, Any]:
    """The plan as ``cyborg-plan`` prints it."""
    ev = Evaluator(model)
    device_load, link_load = ev.loads(plan.assignment)
    devices = model.devices.devices
    nodes_per_device = [0] * len(devices)
    for d in plan.assignment:
        nodes_per_device[d] += 1
    key = "estimated_step_s" if plan.objective == "latency" else "estimated_stage_s"
    summary = analysis.summarize(model.graph)
    path = analysis.critical_path(model.graph, model.compute.min(axis=1).tolist())
    return {
        "graph": model.graph.name,
        "graph_summary": {
            "nodes": summary.nodes,
            "edges": summary.edges,
            "gflops": summary.flops / 1e9,
            "param_mb": summary.param_bytes / 2**20,
            "activation_mb": summary.activation_bytes / 2**20,
            # Every node on its fastest device, no transfers: no step can be shorter.
            "critical_path_s": path.length,
            "critical_path": list(path.nodes),
        },
        "objective": plan.objective,
        "algorithm": plan.algorithm,
        key: plan.estimate_s,
        "estimated_step_s": plan.latency_s,
        "estimated_stage_s": plan.period_s,
        "best_single_device_s": plan.single_device_s,
        "replayed_s": plan.replayed_s,
        "devices_used": len(plan.devices_used),
        "devices": [
            {
                "id": devices[d].id,
                "model": devices[d].model,
                "host": devices[d].host,
                "nodes": nodes_per_device[d],
                "compute_s": device_load[d],
                "memory_mb": round(plan.memory_bytes[d] / 2**20, 3),
                "memory_limit_mb": devices[d].memory_mb,
            }
            for d in plan.devices_used
        ],
        "links": {
            name: load for name, load in zip(ev.resource_names, link_load, strict=True) if load > 0
        },
        "placement": {
            model.graph.nodes[i].name: devices[d].id for i, d in enumerate(plan.assignment)
        },
        # One step of the estimate's schedule, for the plan picture.
        "timeline": timeline.step_timeline(model, plan.assignment, plan.order),
    }
