"""A plan: the device of every node, with the estimates that justify it, and its JSON."""

import dataclasses
from collections.abc import Sequence
from typing import Any

from cyborg.scheduler import analysis, replicas, timeline
from cyborg.scheduler.costs import CostModel
from cyborg.scheduler.evaluate import Evaluator

OBJECTIVES = ("latency", "throughput")


class NoFeasiblePlan(ValueError):
    """No assignment fits the candidates' memory (or none is allowed)."""


@dataclasses.dataclass(frozen=True)
class Plan:
    objective: str
    #: which candidate won: "single-device", "heft", "pipeline-dp", "data-parallel/R",
    #: "hybrid/SxR" (stages x replicas), ...
    algorithm: str
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
    #: Replicas of the graph (:mod:`cyborg.scheduler.replicas`); None: one copy, whose
    #: ``assignment`` is the plan. Replicated, ``assignment`` is the first replica's.
    replicated: replicas.Replicated | None = None

    @property
    def estimate_s(self) -> float:
        return self.latency_s if self.objective == "latency" else self.period_s

    @property
    def devices_used(self) -> tuple[int, ...]:
        if self.replicated is not None:
            return self.replicated.devices
        return tuple(sorted(set(self.assignment)))

    @property
    def kind(self) -> str:
        """ "pipeline" (one copy of the graph), "data-parallel" or "hybrid"."""
        return "pipeline" if self.replicated is None else self.replicated.kind

    @property
    def key(self) -> tuple[tuple[int, ...], ...]:
        """What tells two plans apart: every replica's assignment."""
        if self.replicated is None:
            return (self.assignment,)
        return tuple(self.replicated.assignment(r) for r in range(len(self.replicated.shares)))


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


def make_replicated_plan(
    ev: Evaluator,
    algorithm: str,
    found: replicas.Replicated,
    order: Sequence[int],
    single_device_s: float | None = None,
    replayed_s: float | None = None,
) -> Plan:
    """A throughput :class:`Plan` of replicas, with ``found``'s estimates
    (``replayed_s``: :func:`replicas.replayed_s`), memory at its exact peak."""
    found = replicas.with_peak(ev, found, order)
    return Plan(
        objective="throughput",
        algorithm=algorithm,
        assignment=found.assignment(0),
        order=tuple(order),
        latency_s=found.latency_s,
        period_s=found.cost,
        memory_bytes=found.memory,
        single_device_s=single_device_s,
        replayed_s=replayed_s,
        replicated=found,
    )


def _replica_fields(plan: Plan, model: CostModel) -> dict[str, Any]:
    """Kind, replicas, stages, batch shares, each replica's devices by stage."""
    ids = [d.id for d in model.devices.devices]
    found = plan.replicated
    if found is None:
        return {
            "kind": "pipeline",
            "replicas": 1,
            "stages": len(plan.devices_used),
            "batch_shares": [1.0],
            "replica_devices": [[ids[d] for d in plan.devices_used]],
            "allreduce_s": 0.0,
        }
    return {
        "kind": found.kind,
        "replicas": len(found.shares),
        "stages": found.stages,
        "batch_shares": [round(f, 6) for f in found.shares],
        "replica_devices": [[ids[d] for d in devices] for devices in found.replicas],
        "allreduce_s": found.allreduce_s,
    }


def _loads(plan: Plan, ev: Evaluator) -> tuple[list[float], list[float], list[int]]:
    """Busy seconds per device and link resource, and nodes per device."""
    nodes = [0] * ev.m
    found = plan.replicated
    if found is None:
        for d in plan.assignment:
            nodes[d] += 1
        device_load, link_load = ev.loads(plan.assignment)
        return device_load, link_load, nodes
    for devices in found.replicas:
        for s in found.stage_of:
            nodes[devices[s]] += 1
    return list(found.device_load), list(found.link_load), nodes


def plan_to_dict(plan: Plan, model: CostModel) -> dict[str, Any]:
    """The plan as ``cyborg-plan`` prints it."""
    ev = Evaluator(model)
    device_load, link_load, nodes_per_device = _loads(plan, ev)
    devices = model.devices.devices
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
        **_replica_fields(plan, model),
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
        # One step of the estimate's schedule, for the plan picture (replicated: the
        # slowest replica's, on its share of the batch, before the all-reduce).
        "timeline": _timeline(plan, model, ev),
    }


def _timeline(plan: Plan, model: CostModel, ev: Evaluator) -> dict[str, Any]:
    found = plan.replicated
    if found is None:
        return timeline.step_timeline(model, plan.assignment, plan.order)
    slowest = max(
        range(len(found.shares)),
        key=lambda r: max(found.device_load[d] for d in found.replicas[r]),
    )
    share = replicas.scaled(ev, found.shares[slowest], replicas.split_compute(model))
    return timeline.step_timeline(model, found.assignment(slowest), plan.order, share)
