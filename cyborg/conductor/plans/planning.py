"""The graph-aware scheduler in the conductor: graphs, plans, measurements, claims.

* ``create_graph`` analyses an uploaded graph (the scheduler's JSON graph format, or
  an ONNX model) with the scheduler's importers and stores the result.
* ``create_plans`` builds the candidates from the live inventory that the device
  profile and constraints allow (cyborg.conductor.plans.device_scope, candidate_devices; with
  Placement, only providers that its allocation candidates say are free), loads the
  ``[scheduler] driver`` plugin and the learned factors, and stores up to ``count``
  ranked plans: the plugin's plan, then its plans with fewer devices allowed (per host
  with ``single_host``), best estimate first.
* ``report_measurement`` turns a measured step time (and, when given, each device's
  busy time) into new factors with cyborg.scheduler.factors and stores them (each
  row's version + 1).

Claiming a plan is cyborg.conductor.plans.claim.
"""

import base64
import binascii
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from oslo_log import log

from cyborg.clients import placement as placement_client
from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.conductor.plans import candidate_devices, device_scope
from cyborg.objects import device_profile as profile_obj
from cyborg.objects import graph as graph_obj
from cyborg.objects import plan as plan_obj
from cyborg.objects import schedulable as schedulable_obj
from cyborg.objects import scheduler_factor as factor_obj
from cyborg.objects.base import new_uuid
from cyborg.scheduler import analysis, factors, graph_json
from cyborg.scheduler import plan as scheduler_plan
from cyborg.scheduler.base import PlanRequest, load_scheduler
from cyborg.scheduler.costs import CostModel, build_cost_model, roofline_table
from cyborg.scheduler.graph import Graph, GraphError
from cyborg.scheduler.json_input import InputFormatError

LOG = log.getLogger(__name__)

MAX_PLANS = 5
NO_DEVICE = "no schedulable device in the inventory"
NOTHING_MATCHES = "no schedulable device matches the device profile and constraints"
#: How many skipped devices a 409 names.
MAX_LISTED = 10
FreeProviders = Callable[[list[device_scope.Query]], set[str]]


def free_in_placement(client: placement_client.PlacementClient) -> FreeProviders:
    """The providers Placement's allocation candidates offer for any of the queries."""

    def free(queries: list[device_scope.Query]) -> set[str]:
        found: set[str] = set()
        for query in queries:
            found |= candidate_devices.free_providers(client.get_allocation_candidates(query))
        return found

    return free


def parse_graph(*, document: Any = None, onnx_b64: str | None = None) -> tuple[Graph, str]:
    """The analysed graph of an upload and its format; GraphInvalid (400) if wrong."""
    try:
        if onnx_b64 is None:
            return graph_json.graph_from_dict(document, "graph"), "json"
        return _onnx_graph(onnx_b64), "onnx"
    except (InputFormatError, GraphError) as err:
        raise exception.GraphInvalid(reason=str(err)) from err


def _onnx_graph(onnx_b64: str) -> Graph:
    from cyborg.scheduler import onnx_import  # onnx is heavy: imported on first use

    try:
        raw = base64.b64decode(onnx_b64, validate=True)
    except (binascii.Error, ValueError) as err:
        raise InputFormatError(f"onnx: not base64 ({err})") from err
    try:
        import onnx

        model = onnx.load_from_string(raw)
    except Exception as err:  # protobuf's DecodeError and friends on garbage
        raise InputFormatError(f"onnx: not a readable ONNX model ({err})") from err
    graph = onnx_import.graph_from_onnx(model)
    if not graph.nodes:
        raise InputFormatError("onnx: the model has no operator to place")
    return graph


def create_graph(
    context: RequestContext,
    *,
    name: str | None,
    document: Any = None,
    onnx_b64: str | None = None,
    project_id: str | None,
) -> str:
    graph, fmt = parse_graph(document=document, onnx_b64=onnx_b64)
    summary = analysis.summarize(graph)
    stored = graph_obj.create(
        context,
        name=name or graph.name,
        format=fmt,
        document=graph_json.graph_to_dict(graph),
        nodes=summary.nodes,
        flops=summary.flops,
        bytes_moved=summary.bytes_moved,
        param_bytes=summary.param_bytes,
        project_id=project_id,
    )
    return stored.uuid


def _predicted_by_op(
    model: CostModel, uncorrected: np.ndarray, device: int, plan: scheduler_plan.Plan
) -> dict[str, float]:
    """Uncorrected seconds per op type on ``device``; a replica's scaled by its share
    of the batch."""
    assignment, share = plan.assignment, 1.0
    found = plan.replicated
    if found is not None:
        replica = next(r for r, devices in enumerate(found.replicas) if device in devices)
        assignment, share = found.assignment(replica), found.shares[replica]
    totals: dict[str, float] = {}
    for i, d in enumerate(assignment):
        if d == device:
            op = model.graph.nodes[i].op_type
            totals[op] = totals.get(op, 0.0) + share * float(uncorrected[i, device])
    return totals


def plan_result(
    plan: scheduler_plan.Plan,
    model: CostModel,
    uncorrected: np.ndarray,
    candidates: candidate_devices.Candidates,
) -> dict[str, Any]:
    """The stored result: the scheduler's plan JSON, each device with its deployable,
    provider and uncorrected roofline seconds per op type (for measurements)."""
    result = scheduler_plan.plan_to_dict(plan, model)
    positions = {d.id: k for k, d in enumerate(model.devices.devices)}
    for device in result["devices"]:
        source = candidates.sources[device["id"]]
        device["deployable_uuid"] = source.deployable_uuid
        device["deployable_name"] = source.deployable_name
        device["rp_uuid"] = source.rp_uuid
        # What a Kubernetes claim of the plan needs (cyborg.kubernetes.claims).
        device["device_type"] = source.device_type
        device["numa_node"] = model.devices.devices[positions[device["id"]]].numa_node
        device["predicted_by_op_s"] = _predicted_by_op(
            model, uncorrected, positions[device["id"]], plan
        )
    result["skipped"] = dict(candidates.skipped)
    return result


def refusal(reason: str, skipped: Mapping[str, str]) -> exception.NoFeasiblePlan:
    """The 409 "no plan" for ``reason``, naming the devices left out and why (at most
    MAX_LISTED of them, the rest counted)."""
    if not skipped:
        return exception.NoFeasiblePlan(reason=reason)
    names = sorted(skipped)
    listed = "; ".join(f"{name}: {skipped[name]}" for name in names[:MAX_LISTED])
    more = len(names) - MAX_LISTED
    tail = f"; and {more} more" if more > 0 else ""
    return exception.NoFeasiblePlan(reason=f"{reason}; skipped {listed}{tail}")


def rank_plans(
    graph: Graph,
    candidates: candidate_devices.Candidates,
    request: PlanRequest,
    driver: str,
    count: int,
) -> list[dict[str, Any]]:
    """Up to ``count`` distinct plans, best estimate first (fewer devices on ties)."""
    if not candidates.devices.devices:
        raise refusal(NO_DEVICE, candidates.skipped)
    scheduler = load_scheduler(driver)
    model = build_cost_model(graph, candidates.devices, request.factors)
    uncorrected = roofline_table(graph, candidates.devices, {})
    found: dict[tuple[tuple[int, ...], ...], scheduler_plan.Plan] = {}
    allowed = request.max_devices or len(candidates.devices)
    while allowed >= 1 and len(found) < count:
        try:
            plan = scheduler.plan_model(model, dataclasses.replace(request, max_devices=allowed))
        except scheduler_plan.NoFeasiblePlan:
            break  # fewer devices will not fit either
        found.setdefault(plan.key, plan)
        allowed = min(allowed, len(plan.devices_used)) - 1
    if not found:
        raise refusal("the graph does not fit the free devices' memory", candidates.skipped)
    ranked = sorted(found.values(), key=lambda p: (p.estimate_s, len(p.devices_used)))
    return [plan_result(p, model, uncorrected, candidates) for p in ranked[:count]]


def profile_group(
    context: RequestContext, name: str | None, project_id: str | None
) -> device_scope.ProfileGroup | None:
    """The stored profile's one group (404 unknown, 400 unfit to plan); None without."""
    if not name:
        return None
    profile = profile_obj.get_by_name(context, name, visible_to_project=project_id)
    return device_scope.profile_group(profile.name, profile.groups)


def _estimate(result: Mapping[str, Any]) -> tuple[float, int]:
    key = "estimated_step_s" if result["objective"] == "latency" else "estimated_stage_s"
    return float(result[key]), int(result["devices_used"])


def create_plans(
    context: RequestContext,
    *,
    graph_uuid: str,
    objective: str,
    max_devices: int | None,
    count: int,
    project_id: str | None,
    driver: str,
    effort: float = 1.0,
    device_profile_name: str | None = None,
    constraints: Mapping[str, Any] | None = None,
    free_providers: FreeProviders | None = None,
) -> list[str]:
    """Store up to ``count`` ranked plans of a graph; returns their uuids, best first.

    ``project_id`` limits to that project's graphs and profiles (others are 404);
    ``device_profile_name`` and ``constraints`` narrow the devices
    (cyborg.conductor.plans.device_scope); ``free_providers`` (allocation candidate queries ->
    free provider uuids) is Placement's view.
    """
    stored = graph_obj.get_by_uuid(context, graph_uuid, project_id=project_id)
    graph = graph_json.graph_from_dict(stored.document, "stored graph")
    group = profile_group(context, device_profile_name, project_id)
    scope = device_scope.Constraints.from_dict(constraints)
    every = schedulable_obj.get_all(context)
    rows = device_scope.select(every, group, scope)
    if not rows:
        narrowed = group is not None or bool(constraints)
        left_out = {row.deployable_name: device_scope.why_not(row, group, scope) for row in every}
        raise refusal(NOTHING_MATCHES if narrowed else NO_DEVICE, left_out)
    free = None
    if free_providers is not None:
        free = free_providers(device_scope.placement_queries(rows, group))
    models = sorted({device_scope.scheduler_model(row) for row in rows})
    learned = factor_obj.as_mapping(factor_obj.get_all(context, device_models=models))
    request = PlanRequest(objective, max_devices, learned, effort)
    count = min(count, MAX_PLANS)
    pools = list(device_scope.by_host(rows).values()) if scope.single_host else [rows]
    results: list[dict[str, Any]] = []
    refused: exception.NoFeasiblePlan | None = None
    for pool in pools:
        try:
            results += rank_plans(
                graph, candidate_devices.build(pool, free), request, driver, count
            )
        except exception.NoFeasiblePlan as err:
            refused = err  # another host may fit
    if not results:
        raise refused or exception.NoFeasiblePlan(reason=NO_DEVICE)
    results = sorted(results, key=_estimate)[:count]
    op_types = {node.op_type for node in graph.nodes}
    for result in results:
        used = {device["model"] for device in result["devices"]}
        result["learned_factors"] = {
            f"{op}@{model}": value
            for (op, model), value in sorted(learned.items())
            if op in op_types and model in used
        }
    asked = {
        "objective": objective,
        "max_devices": max_devices,
        "driver": driver,
        "device_profile_name": group.name if group else None,
        "constraints": dict(constraints or {}),
    }
    new = [
        plan_obj.NewPlan(
            uuid=new_uuid(), objective=objective, rank=rank, request=asked, result=result
        )
        for rank, result in enumerate(results, start=1)
    ]
    plan_obj.create_all(context, graph_id=stored.id, project_id=stored.project_id, plans=new)
    return [plan.uuid for plan in new]


def step_samples(
    result: Mapping[str, Any],
    step_time_s: float,
    device_times_s: Mapping[str, float] | None = None,
) -> list[factors.StepSample]:
    """One sample per device of a plan from one measured step.

    With ``device_times_s`` (device id -> its measured busy seconds) each device listed
    is credited exactly. Otherwise a whole step is one number, so each device is
    credited with the plan's measured over estimated ratio of its own corrected
    compute; the fit then moves the factors of every op type on the plan's models
    towards that ratio. On a single-device plan this is exact as well. The step time
    of a throughput plan is its time per step in steady state, so it is compared
    with the estimated stage time; a latency plan's with the estimated step.
    """
    throughput = result.get("objective") == "throughput"
    key = "estimated_stage_s" if throughput else "estimated_step_s"
    estimated = float(result.get(key) or 0.0)
    ratio = step_time_s / estimated if estimated > 0 else 0.0
    samples = []
    for device in result["devices"]:
        if not device.get("predicted_by_op_s"):
            continue
        if device_times_s is not None:
            if device["id"] not in device_times_s:
                continue
            measured = device_times_s[device["id"]]
        else:
            measured = ratio * float(device["compute_s"])
        if measured > 0:
            samples.append(
                factors.StepSample(device["model"], device["predicted_by_op_s"], measured)
            )
    return samples


def report_measurement(
    context: RequestContext,
    *,
    plan_uuid: str,
    step_time_ms: float,
    project_id: str | None,
    device_times_ms: Mapping[str, float] | None = None,
) -> None:
    plan = plan_obj.get_by_uuid(context, plan_uuid, project_id=project_id)
    device_times_s = None
    if device_times_ms is not None:
        known = {device["id"] for device in plan.result["devices"]}
        unknown = sorted(set(device_times_ms) - known)
        if unknown:
            raise exception.Invalid(
                reason=f"device_times_ms names devices the plan does not use: {', '.join(unknown)}"
            )
        device_times_s = {d: ms / 1000.0 for d, ms in device_times_ms.items()}
    samples = step_samples(plan.result, step_time_ms / 1000.0, device_times_s)
    if not samples:
        return
    models = sorted({s.device_model for s in samples})
    current = factor_obj.as_mapping(factor_obj.get_all(context, device_models=models))
    updated = factors.fit_step_times(current, samples)
    factor_obj.save(context, {k: v for k, v in updated.items() if current.get(k) != v})
