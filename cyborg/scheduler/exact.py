"""The exact oracle: the planner's own cost model solved with OR-Tools CP-SAT.

For small instances (tests and ``bench/scheduler.py`` use it up to 25 nodes), it gives
the optimum the heuristics are measured against. OR-Tools is a test requirement, not a
runtime one: importing this module without it raises ``ImportError``.

Latency: a boolean per (node, device), an optional interval per (node, device) with
no overlap per device; per tensor and destination device that reads it, one transfer
interval on every link resource of its route (no overlap per resource, as in the
planner's estimate and the simulator) and on its blocking ends' devices, between the
producer's end and the start of every consumer there; memory per device; at most
``max_devices`` used; minimise the makespan. Transfers may be ordered freely on a link,
so the optimum can be below any list schedule's.

Throughput: minimise the largest device load (with the transfers it blocks for) or used
route's link pressure, exactly as :meth:`Evaluator.period_of` computes them (each
tensor sent to a device adds its transfer time to its route and to every resource of
it).

Memory is the resident-set bound (:meth:`Evaluator.resident_of`, with each tensor
counted once per device): a linear constraint, where the planner checks the peak of a
schedule, so the oracle may refuse a split that the planner can use.

Co-location groups are constraints (every member on the device of the first).

Times are scaled to integers (about 10**5 steps across the best single-device time);
the returned value is the float estimate of the solution the solver found.
"""

import dataclasses
import math
from collections.abc import Sequence

from ortools.sat.python import cp_model

from cyborg.scheduler.costs import CostModel
from cyborg.scheduler.evaluate import LINK_EFFICIENCY, Evaluator

RESOLUTION = 100_000


@dataclasses.dataclass(frozen=True)
class ExactResult:
    value: float  # the planner's float estimate of the solution found
    assignment: tuple[int, ...]
    order: tuple[int, ...]
    optimal: bool  # proven optimal (up to the integer scaling)
    lower_bound: float  # seconds


def _horizon_unit(ev: Evaluator) -> float:
    totals = ev.model.compute.sum(axis=0)
    transfers = sum(ev.edge_bytes) * float(ev.model.per_byte.max()) + len(ev.edge_bytes) * float(
        ev.model.latency.max()
    )
    scale = float(totals.min()) + transfers
    return max(scale, 1e-12) / RESOLUTION


def solve_exact(
    model: CostModel,
    objective: str = "latency",
    max_devices: int | None = None,
    time_limit_s: float | None = 10.0,
    hint: Sequence[int] | None = None,
    workers: int = 2,
    work_limit: float | None = None,
) -> ExactResult | None:
    """The optimal (or best found within the limits) plan; None if infeasible.

    ``work_limit`` bounds CP-SAT's deterministic time (its own count of work, about a
    second each on a reference machine): the same answer on a loaded machine as on an
    idle one, which tests need. ``time_limit_s`` is wall-clock, for benchmarks; None
    leaves it unbounded.
    """
    ev = Evaluator(model)
    unit = _horizon_unit(ev)
    cp = cp_model.CpModel()
    x = [[cp.new_bool_var(f"x{i}_{d}") for d in range(ev.m)] for i in range(ev.n)]
    for i in range(ev.n):
        cp.add_exactly_one(x[i])
        for d in range(ev.m):
            if ev.memory[i] > ev.capacity[d]:
                cp.add(x[i][d] == 0)
    for group in model.graph.groups:  # co-location: one device for the whole group
        for i in group[1:]:
            for d in range(ev.m):
                cp.add(x[i][d] == x[group[0]][d])
    _memory(cp, ev, x)
    if max_devices is not None and max_devices < ev.m:
        used = [cp.new_bool_var(f"u{d}") for d in range(ev.m)]
        for i in range(ev.n):
            for d in range(ev.m):
                cp.add_implication(x[i][d], used[d])
        cp.add(sum(used) <= max_devices)
    if objective == "latency":
        starts, goal = _latency(cp, ev, x, unit)
    else:
        starts, goal = [], _throughput(cp, ev, x, unit)
    cp.minimize(goal)
    if hint is not None:
        for i in range(ev.n):
            for d in range(ev.m):
                cp.add_hint(x[i][d], hint[i] == d)
    solver = cp_model.CpSolver()
    if time_limit_s is not None:
        solver.parameters.max_time_in_seconds = time_limit_s
    if work_limit is not None:
        solver.parameters.max_deterministic_time = work_limit
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = 1
    # Deterministic whatever the threads: among plans tied in the model, which one comes
    # back decides the optimum's simulated time, and a benchmark must not vary with it.
    solver.parameters.interleave_search = True
    status = solver.solve(cp)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    assignment = tuple(next(d for d in range(ev.m) if solver.value(x[i][d])) for i in range(ev.n))
    position = {node: p for p, node in enumerate(model.graph.topo)}
    if starts:
        order = tuple(sorted(range(ev.n), key=lambda i: (solver.value(starts[i]), position[i])))
    else:
        order = tuple(model.graph.topo)
    return ExactResult(
        value=ev.cost(objective, assignment, order),
        assignment=assignment,
        order=order,
        optimal=status == cp_model.OPTIMAL,
        lower_bound=solver.best_objective_bound * unit,
    )


def _tensors(ev: Evaluator) -> list[tuple[int, list[int], float]]:
    """(source, consumers, bytes) of every tensor."""
    found: dict[int, tuple[int, list[int], float]] = {}
    for s, t, k in zip(ev.edge_src, ev.edge_dst, ev.edge_tensor, strict=True):
        if k >= 0:
            found.setdefault(k, (s, [], ev.tensor_bytes[k]))[1].append(t)
    return [found[k] for k in sorted(found)]


def _reads(
    cp: cp_model.CpModel, x: list[list[cp_model.IntVar]], consumers: list[int], d: int, name: str
) -> cp_model.IntVar:
    """A boolean: some of ``consumers`` runs on device ``d``."""
    z = cp.new_bool_var(name)
    cp.add_max_equality(z, [x[c][d] for c in consumers])
    return z


def _upper_bound(ev: Evaluator, unit: float) -> int:
    """Integer time by which any schedule without idling has finished."""
    compute = sum(round(max(row) / unit) for row in ev.compute)
    slowest = [
        max(ev.transfer(a, b, nbytes) for a in range(ev.m) for b in range(ev.m))
        for nbytes in ev.edge_bytes
    ]
    return compute + sum(math.ceil(s / unit) for s in slowest) + 1


def _memory(cp: cp_model.CpModel, ev: Evaluator, x: list[list[cp_model.IntVar]]) -> None:
    """Nodes' memory plus received tensors (once each) per device, in KiB (rounded up)."""
    tensors = _tensors(ev)
    total = sum(ev.memory) + sum(nbytes for _, _, nbytes in tensors)
    for d in range(ev.m):
        if total <= ev.capacity[d]:
            continue
        terms = [math.ceil(ev.memory[i] / 1024) * x[i][d] for i in range(ev.n)]
        for k, (s, consumers, nbytes) in enumerate(tensors):
            z = cp.new_bool_var(f"z{k}_{d}")
            for c in consumers:
                cp.add(z >= x[c][d] - x[s][d])
            terms.append(math.ceil(nbytes / 1024) * z)
        cp.add(sum(terms) <= int(ev.capacity[d] // 1024))


def _latency(
    cp: cp_model.CpModel, ev: Evaluator, x: list[list[cp_model.IntVar]], unit: float
) -> tuple[list[cp_model.IntVar], cp_model.IntVar]:
    dur = [[round(ev.compute[i][d] / unit) for d in range(ev.m)] for i in range(ev.n)]
    horizon = _upper_bound(ev, unit)
    start = [cp.new_int_var(0, horizon, f"s{i}") for i in range(ev.n)]
    end = [cp.new_int_var(0, horizon, f"e{i}") for i in range(ev.n)]
    on_device: list[list[cp_model.IntervalVar]] = [[] for _ in range(ev.m)]
    for d in range(ev.m):
        for i in range(ev.n):
            cp.add(end[i] == start[i] + dur[i][d]).only_enforce_if(x[i][d])
            on_device[d].append(
                cp.new_optional_fixed_size_interval_var(start[i], dur[i][d], x[i][d], f"iv{i}_{d}")
            )
    for s, t in zip(ev.edge_src, ev.edge_dst, strict=True):
        cp.add(start[t] >= end[s])
    on_resource: list[list[cp_model.IntervalVar]] = [[] for _ in ev.resource_names]
    for k, (s, consumers, nbytes) in enumerate(_tensors(ev)):
        for b in range(ev.m):
            reads = _reads(cp, x, consumers, b, f"r{k}_{b}")
            begin = cp.new_int_var(0, horizon, f"ts{k}_{b}")  # its transfer to b, if any
            for a in range(ev.m):
                delay = math.ceil(ev.transfer(a, b, nbytes) / unit)
                if a == b or delay <= 0:
                    continue
                y = cp.new_bool_var(f"y{k}_{a}_{b}")
                cp.add_bool_and([x[s][a], reads]).only_enforce_if(y)
                cp.add_bool_or([x[s][a].negated(), reads.negated(), y])
                cp.add(begin >= end[s]).only_enforce_if(y)
                for c in consumers:
                    cp.add(start[c] >= begin + delay).only_enforce_if([y, x[c][b]])
                interval = cp.new_optional_fixed_size_interval_var(
                    begin, delay, y, f"tr{k}_{a}_{b}"
                )
                for r in ev.resources[a][b]:
                    on_resource[r].append(interval)
                if ev.blocks_sender[a][b]:
                    on_device[a].append(interval)
                if ev.blocks_receiver[a][b]:
                    on_device[b].append(interval)
    for intervals in on_device + on_resource:
        if len(intervals) > 1:
            cp.add_no_overlap(intervals)
    makespan = cp.new_int_var(0, horizon, "makespan")
    cp.add_max_equality(makespan, end)
    return start, makespan


def _throughput(
    cp: cp_model.CpModel, ev: Evaluator, x: list[list[cp_model.IntVar]], unit: float
) -> cp_model.IntVar:
    """Period >= every device's load and every used route's link pressure (as
    :meth:`Evaluator.period_of`)."""
    bound = _upper_bound(ev, unit) * max(len(ev.resource_names), 1)
    period = cp.new_int_var(0, bound, "period")
    device: list[list[cp_model.LinearExprT]] = [
        [round(ev.compute[i][d] / unit) * x[i][d] for i in range(ev.n)] for d in range(ev.m)
    ]
    per_resource: list[list[cp_model.LinearExprT]] = [[] for _ in ev.resource_names]
    per_route: dict[tuple[int, int], list[cp_model.LinearExprT]] = {}
    used: dict[tuple[int, int], cp_model.IntVar] = {}
    for k, (s, consumers, nbytes) in enumerate(_tensors(ev)):
        for b in range(ev.m):
            reads = _reads(cp, x, consumers, b, f"r{k}_{b}")
            for a in range(ev.m):
                if a == b:
                    continue
                y = cp.new_bool_var(f"y{k}_{a}_{b}")
                cp.add_bool_or([x[s][a].negated(), reads.negated(), y])  # both -> y
                if (a, b) not in used:
                    used[(a, b)] = cp.new_bool_var(f"used{a}_{b}")
                cp.add_implication(y, used[(a, b)])
                seconds = ev.transfer(a, b, nbytes) / unit
                per_route.setdefault((a, b), []).append(round(seconds / LINK_EFFICIENCY) * y)
                for r in ev.resources[a][b]:
                    per_resource[r].append(round(seconds / LINK_EFFICIENCY) * y)
                if ev.blocks_sender[a][b]:
                    device[a].append(round(seconds) * y)
                if ev.blocks_receiver[a][b]:
                    device[b].append(round(seconds) * y)
    for terms in device:
        cp.add(period >= sum(terms))
    for (a, b), own in per_route.items():
        route = ev.resources[a][b]
        resources = cp_model.LinearExpr.sum([term for r in route for term in per_resource[r]])
        repeated = cp_model.LinearExpr.sum(own) * (len(route) - 1)
        cp.add(period >= resources - repeated).only_enforce_if(used[(a, b)])
    return period
