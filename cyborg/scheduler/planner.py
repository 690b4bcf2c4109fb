"""The graph-aware planner: several constructions, local search, keep the best.

Candidates, all scored by one :class:`~cyborg.scheduler.evaluate.Evaluator`:

1. every single device that holds the whole graph (the baseline a plan never loses to:
   the best of them is always a candidate, see 5.);
2. memory-aware HEFT: textbook and contention-aware on all allowed devices, then
   contention-aware on growing device subsets (fastest first, and best-connected
   first), which is how the planner decides how many devices are worth their transfers;
3. for throughput, exact DP pipeline splits of two topological orders (Kahn's and
   depth-first) over those two device sequences, the exact DP over device kinds
   (:mod:`cyborg.scheduler.stage_dp`: every sequence of kinds, so which devices and in
   which order too) on Kahn's order, and greedy load balancing
   (:mod:`cyborg.scheduler.balance`);
4. local search from the two best (for latency also in the rank order of the plan it
   found), then iterated local search: seeded kicks from a current plan that wanders
   among plans within ``WALK`` of the best;
5. for throughput, replicas of the whole graph (:mod:`cyborg.scheduler.replicas`):
   data parallel (each replica one device) and hybrid (each a pipeline of ``S``
   stages), the batch split to balance mixed devices, plus the gradients' ring
   all-reduce; after 6. the best of them replaces the plan if its step is shorter;
6. the event-driven replay (:mod:`cyborg.scheduler.replay`, what execution does) of
   the winner and of a few more multi-device candidates: latency keeps the shortest
   replay, throughput the best estimate whose run of ``steps`` replays faster than the
   best single device; the single device stays unless a plan replays strictly faster.

Candidates are ranked by the estimate for the objective (fewer devices on ties). Optional
work (2.-5. beyond the first runs) is budgeted in work units, so plans are deterministic.

A graph with co-location groups is planned on its contraction when it has one (each
group one node, see :mod:`cyborg.scheduler.colocation`), so no search can split a
group; the plan is then expanded and estimated, and replayed, on the graph as given.
Otherwise HEFT, balancing and local search keep groups together themselves, and the
pipeline splits are repaired (each split group to where most of its compute is) before
they are ranked.
"""

import dataclasses
import itertools
import math
import random
from collections.abc import Sequence

import numpy as np

from cyborg.common.progress import SILENT, Reporter
from cyborg.scheduler import (
    balance,
    colocation,
    heft,
    local_search,
    pipeline,
    replay,
    replicas,
    stage_dp,
)
from cyborg.scheduler.costs import CostModel, device_speed_order
from cyborg.scheduler.evaluate import Evaluator
from cyborg.scheduler.graph import depth_first_order
from cyborg.scheduler.plan import (
    OBJECTIVES,
    NoFeasiblePlan,
    Plan,
    make_plan,
    make_replicated_plan,
)

# Work units (about one list step, ~0.5 us in CPython) for the optional work of one
# plan: HEFT on device subsets, more pipeline splits, local search. The first HEFT run
# and split are always done. 60,000 keeps a 1,000-node plan on 8 devices near 50 ms.
PLAN_UNITS = 60_000
# Iterated local search moves on from a kicked plan within this much of the best.
WALK = 0.02
# Besides the search's winner (always replayed), how many more multi-device candidates
# (best estimates first) are replayed, and the work units (replayed node steps +
# transfers) they may use: small graphs get them all, 1,000 nodes about two for latency.
REPLAY_ALTERNATIVES = 3
REPLAY_UNITS = 5_000


@dataclasses.dataclass(frozen=True)
class _Candidate:
    algorithm: str
    assignment: tuple[int, ...]
    order: tuple[int, ...]
    cost: float


class _Budget:
    def __init__(self, units: float) -> None:
        self.left = units

    def take(self, units: float) -> bool:
        """Spend ``units`` if that many are left."""
        if units > self.left:
            return False
        self.left -= units
        return True


def _subset_sizes(limit: int) -> list[int]:
    """``limit`` first, then 2, 3, 4, 6, 8, 12, ... below it."""
    sizes, k = [limit], 2
    while k < limit:
        sizes.append(k)
        k = k + 1 if k < 4 else k * 3 // 2
    return sizes


def _single_devices(ev: Evaluator, objective: str, order: Sequence[int]) -> list[_Candidate]:
    """Every device that holds the whole graph (no transfers: cost = its compute sum)."""
    need = ev.memory_of((0,) * ev.n, order)[0]  # no transfers: the same on any device
    totals = ev.model.compute.sum(axis=0)
    return [
        _Candidate("single-device", (d,) * ev.n, tuple(order), float(totals[d]))
        for d in range(ev.m)
        if need <= ev.capacity[d]
    ]


def _heft_units(ev: Evaluator, devices: int) -> float:
    if devices >= heft.VECTOR_FROM:
        return 40 * ev.n + 6 * len(ev.edge_src)
    return 1.5 * (ev.n + len(ev.edge_src)) * devices


def _heft_candidates(
    ev: Evaluator,
    objective: str,
    limit: int,
    rankings: list[list[int]],
    budget: _Budget,
    order: Sequence[int],
) -> list[_Candidate]:
    """Textbook and contention-aware HEFT on all allowed devices, then contention-aware
    HEFT on smaller subsets while the budget lasts (reusing the rank order of all)."""
    subsets: list[tuple[int, ...]] = []
    for k in _subset_sizes(limit):
        for ranking in rankings:
            subset = tuple(sorted(ranking[:k]))
            if len(subset) > 1 and subset not in subsets:
                subsets.append(subset)
    if not subsets:
        return []
    runs = [(subsets[0], False)] + [(subset, True) for subset in subsets]
    found = []
    for number, (subset, contention) in enumerate(runs):
        if number > 1 and not budget.take(_heft_units(ev, len(subset))):
            continue
        result = heft.heft(ev, subset, None if len(subset) == ev.m else order, contention)
        if result.fits:
            cost = ev.cost(objective, result.assignment, result.order)
            name = f"{'heft-links' if contention else 'heft'}/{len(subset)}"
            found.append(_Candidate(name, result.assignment, result.order, cost))
    return found


def _pipeline_candidates(
    ev: Evaluator, limit: int, rankings: list[list[int]], order: Sequence[int], budget: _Budget
) -> list[_Candidate]:
    found = []
    topological = [list(ev.model.graph.topo), depth_first_order(ev.model.graph)]
    cuts = min(ev.n + 1, pipeline.MAX_CUTS)
    units = ev.n * 2 + len(ev.edge_src) + cuts * cuts * limit // 50
    for number, (sequence, topo) in enumerate(itertools.product(rankings, topological)):
        if number and not budget.take(units):
            continue
        split = pipeline.best_split(ev, topo, sequence[:limit])
        if split is not None and ev.fits(split.assignment, order):
            cost = ev.period_of(split.assignment)
            algorithm = f"pipeline-dp/{len(split.devices)}"
            found.append(_Candidate(algorithm, split.assignment, tuple(order), cost))
    # Over device kinds, on Kahn's order (on the benchmark's random DAGs it gave the
    # better starts for local search; one run keeps the planning time).
    found_kinds = stage_dp.best_kind_split(ev, topological[0], list(range(ev.m)), limit)
    if found_kinds is not None and ev.fits(found_kinds.split.assignment):
        split = found_kinds.split
        cost = ev.period_of(split.assignment)
        algorithm = f"pipeline-kinds/{len(split.devices)}"
        found.append(_Candidate(algorithm, split.assignment, tuple(order), cost))
    return found


def _devices_phrase(limit: int, count: int) -> str:
    """ "the device", "any of the 3 devices", "2 of the 4 devices"."""
    if count == 1:
        return "the device"
    if limit >= count:
        return f"any of the {count} devices"
    return f"{limit} of the {count} devices"


def plan_graph(
    model: CostModel,
    objective: str = "latency",
    max_devices: int | None = None,
    effort: float = 1.0,
    steps: int = replay.DEFAULT_STEPS,
    progress: Reporter = SILENT,
    gradients: np.ndarray | None = None,
    replicate: bool = True,
) -> Plan:
    """The best plan found for ``objective`` on at most ``max_devices`` devices.

    ``effort`` scales the work units of the optional steps (subset HEFT runs, extra
    pipeline splits, local search, replays of alternatives). ``steps``: for throughput,
    how many pipelined steps a run lasts (the replay that picks the plan includes the
    pipeline's fill). ``progress`` is told the stages: constructions (a note per
    kind), local search (its work units), replays. ``gradients``: per node, the bytes
    a replicated plan all-reduces (default :func:`replicas.gradient_bytes`);
    ``replicate``: whether replicated plans compete (the benchmark compares).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}")
    if model.graph.groups and model.graph.contractible:
        return _plan_contracted(
            model, objective, max_devices, effort, steps, progress, gradients, replicate
        )
    ev = Evaluator(model)
    limit = min(max_devices or ev.m, ev.m)
    if limit < 1 or ev.n == 0:
        raise NoFeasiblePlan("no device may be used" if limit < 1 else "the graph is empty")
    budget = _Budget(effort * PLAN_UNITS)
    progress.phase("constructions")
    order = heft.rank_order(ev, heft.upward_ranks(ev))
    speed = device_speed_order(model)
    chain = pipeline.chain_sequence(ev, speed[0], list(range(ev.m)))
    rankings = [speed] if chain == speed else [speed, chain]
    singles = _single_devices(ev, objective, order)
    candidates = list(singles)
    progress.note(_found("single devices", singles))
    if objective == "throughput":
        candidates += _pipeline_candidates(ev, limit, rankings, order, budget)
        units = 25 * (ev.n + len(ev.edge_src)) + ev.n * ev.m // 4
        balanced = None
        if budget.take(units):
            balanced = balance.greedy_balance(ev, list(range(ev.m)), limit)
        if balanced is not None:
            cost = ev.period_of(balanced)
            candidates.append(_Candidate("greedy-balance", tuple(balanced), tuple(order), cost))
        progress.note(_found("pipeline splits and balance", candidates[len(singles) :]))
    heft_budget = _Budget(budget.left / 2)
    built = _heft_candidates(ev, objective, limit, rankings, heft_budget, order)
    candidates += built
    progress.note(_found("HEFT", built))
    budget.left -= budget.left / 2 - heft_budget.left
    if model.graph.groups:
        candidates = _repaired(ev, objective, candidates)
    if not candidates:
        raise NoFeasiblePlan(
            f"no placement of {model.graph.name} fits the memory of {_devices_phrase(limit, ev.m)}"
        )
    candidates.sort(key=lambda c: (c.cost, len(set(c.assignment))))
    progress.phase("local search (work units)", total=max(0.0, budget.left))
    best = _search(ev, objective, candidates, limit, budget.left, progress)
    single = min(singles, key=lambda c: c.cost, default=None)
    chosen, replayed = _replayed_choice(
        ev, objective, [best, *candidates], single, steps, effort * REPLAY_UNITS, progress
    )
    single_s = None if single is None else single.cost
    if objective == "throughput" and replicate:
        won = _replicated_choice(
            ev,
            limit,
            order,
            rankings,
            gradients,
            chosen.cost,
            single_s,
            steps,
            effort,
            progress,
        )
        if won is not None:
            found, seconds = won
            return make_replicated_plan(ev, _replica_name(found), found, order, single_s, seconds)
    return make_plan(
        ev, objective, chosen.algorithm, chosen.assignment, chosen.order, single_s, replayed
    )


def _replicated_choice(
    ev: Evaluator,
    limit: int,
    order: Sequence[int],
    rankings: list[list[int]],
    gradients: np.ndarray | None,
    beat_s: float,
    single_s: float | None,
    steps: int,
    effort: float,
    progress: Reporter = SILENT,
) -> tuple[replicas.Replicated, float] | None:
    """The replicated candidate with the shortest estimated step (fewer devices on
    ties) if it is shorter than ``beat_s`` (the plan chosen without replicas) and its
    replay is no slower than the single device; with its replayed seconds per step.
    ``effort`` scales how many candidates are built (at least 4) and split (see
    :func:`replicas.candidates`). The best is replayed, and up to
    :data:`REPLAY_ALTERNATIVES` more while their work units last (a replica of one
    device replays free: to its compute sum)."""
    if limit < 2:
        return None
    most = max(4, round(replicas.MAX_CANDIDATES * effort))
    splits = round(replicas.MAX_SPLITS * effort)
    found = replicas.candidates(ev, limit, order, rankings, gradients, most, splits)
    units = effort * REPLAY_UNITS
    ranked = sorted(found, key=lambda c: (c.cost, len(c.devices)))
    progress.note(_found("replicas", ranked))
    per_replay = _replay_units(ev, "throughput", steps)
    for number, c in enumerate(ranked[: REPLAY_ALTERNATIVES + 1]):
        if c.cost >= beat_s * (1 - 1e-9):
            break
        if number and c.stages > 1:
            if units < per_replay:
                break
            units -= per_replay
        seconds = replicas.replayed_s(ev, c, order, steps)
        if single_s is None or seconds <= single_s * (1 + 1e-9):
            return c, seconds
    return None


def _replica_name(found: replicas.Replicated) -> str:
    """ "data-parallel/4", "hybrid/2x3" (stages x replicas)."""
    count = len(found.shares)
    if found.stages == 1:
        return f"data-parallel/{count}"
    return f"hybrid/{found.stages}x{count}"


def _repaired(ev: Evaluator, objective: str, candidates: list[_Candidate]) -> list[_Candidate]:
    """The candidates with every split co-location group repaired (those that still fit)."""
    graph = ev.model.graph
    kept = []
    for c in candidates:
        if colocation.splits(graph, c.assignment):
            fixed = tuple(colocation.repair(graph, ev.compute, c.assignment))
            if not ev.fits(fixed):
                continue
            cost = ev.cost(objective, fixed, c.order)
            c = _Candidate(f"{c.algorithm}+colocated", fixed, c.order, cost)
        kept.append(c)
    return kept


def _plan_contracted(
    model: CostModel,
    objective: str,
    max_devices: int | None,
    effort: float,
    steps: int,
    progress: Reporter,
    gradients: np.ndarray | None = None,
    replicate: bool = True,
) -> Plan:
    """:func:`plan_graph` on the contraction, expanded; the single device wins unless the
    expanded plan also replays strictly faster on the graph as given. A replicated plan
    is estimated again on the graph as given (its all-reduce counts the gradients of
    the graph as given in either)."""
    contraction = colocation.contract(model)
    grads = replicas.gradient_bytes(model.graph) if gradients is None else gradients
    unit_grads = np.array([grads[list(members)].sum() for members in contraction.members])
    found = plan_graph(
        contraction.model, objective, max_devices, effort, steps, progress, unit_grads, replicate
    )
    ev = Evaluator(model)
    assignment = contraction.expand(found.assignment)
    order = contraction.expand_order(found.order)
    if found.replicated is not None:
        again = replicas.rebuilt(ev, found.replicated, assignment, order, grads)
        seconds = math.inf if again is None else replicas.replayed_s(ev, again, order, steps)
        single = found.single_device_s
        if again is not None and (single is None or seconds <= single * (1 + 1e-9)):
            return make_replicated_plan(ev, found.algorithm, again, order, single, seconds)
        # The first replica alone (replayed below when it spans devices).
        alone = ev.period_of(assignment)
        name = f"{found.algorithm}/first-replica"
        found = dataclasses.replace(found, algorithm=name, replicated=None, replayed_s=alone)
    replayed = found.replayed_s
    if len(set(assignment)) > 1:
        replayed = replay.seconds_per_step(ev, objective, assignment, order, steps)
        single = found.single_device_s
        if single is not None and replayed >= single * (1 - 1e-9):
            best = min(
                (d for d in range(ev.m) if ev.fits((d,) * ev.n)),
                key=lambda d: ev.cost(objective, (d,) * ev.n, order),
            )
            assignment, replayed = (best,) * ev.n, single
            return make_plan(ev, objective, "single-device", assignment, order, single, replayed)
    return make_plan(
        ev, objective, found.algorithm, assignment, order, found.single_device_s, replayed
    )


def _found(kind: str, found: Sequence[_Candidate | replicas.Replicated]) -> str:
    """ "HEFT: 4 candidates, best 0.0123 s" (seconds of the objective's estimate)."""
    best = min((c.cost for c in found), default=None)
    return f"{kind}: {len(found)} candidates" + ("" if best is None else f", best {best:.4g} s")


def _replay_units(ev: Evaluator, objective: str, steps: int) -> float:
    """Work units of one replay: node steps plus transfers."""
    replayed = 1 if objective == "latency" else min(steps, replay.MAX_REPLAYED_STEPS)
    return replayed * (ev.n + len(ev.edge_src))


def _replayed_choice(
    ev: Evaluator,
    objective: str,
    ranked: list[_Candidate],
    single: _Candidate | None,
    steps: int,
    units: float,
    progress: Reporter = SILENT,
) -> tuple[_Candidate, float]:
    """The plan to keep, and its replayed seconds per step
    (:func:`replay.seconds_per_step`).

    Replayed: the search's winner (``ranked[0]``) and, while ``units`` last, up to
    :data:`REPLAY_ALTERNATIVES` more multi-device candidates no worse than the single
    device in the estimate, best estimates first. Latency keeps the shortest replay
    (the replay is what one step takes); throughput the first whose run of ``steps``
    replays faster than the single device (the estimate ranks steady-state stage times
    better than a short replay does). The best single device stays unless a plan replays
    strictly faster (its replay is its estimate, whatever the steps)."""
    pool: list[_Candidate] = []
    for c in ranked:
        if len(set(c.assignment)) < 2 or any(c.assignment == p.assignment for p in pool):
            continue
        if single is not None and c.cost > single.cost:
            continue
        if len(pool) > REPLAY_ALTERNATIVES:
            break
        pool.append(c)
    best = single or ranked[0]
    best_s = math.inf if single is None else single.cost
    per_replay = _replay_units(ev, objective, steps)
    progress.phase("replay", total=len(pool))
    for number, c in enumerate(pool):
        if number:
            if units < per_replay:
                break
            units -= per_replay
        seconds = replay.seconds_per_step(ev, objective, c.assignment, c.order, steps)
        progress.advance(detail=f"{c.algorithm}: {seconds:.4g} s")
        if seconds < best_s * (1 - 1e-9):
            best, best_s = c, seconds
            if objective != "latency":
                break  # the best stage time that also beats the single device
    return best, best_s


def _descend(
    ev: Evaluator,
    objective: str,
    assignment: Sequence[int],
    order: Sequence[int],
    limit: int,
    units: float,
) -> tuple[list[int], float, float, tuple[int, ...]]:
    """Local search; for latency, then again in the rank order of the assignment found
    when that order is better. (assignment, cost, units spent, order)"""
    allowed = list(range(ev.m))
    if objective != "latency":
        result, cost, spent = local_search.improve_period(ev, assignment, allowed, limit, units)
        return result, cost, spent, tuple(order)
    result, cost, spent = local_search.improve_latency(
        ev, assignment, order, allowed, limit, units
    )
    ranked = tuple(heft.rank_order(ev, heft.assigned_ranks(ev, result)))
    spent += 2 * (ev.n + len(ev.edge_src))
    if ev.latency_of(result, ranked) < cost and spent < units:
        again, cost2, more = local_search.improve_latency(
            ev, result, ranked, allowed, limit, units - spent
        )
        return again, cost2, spent + more, ranked
    return result, cost, spent, tuple(order)


def _search(
    ev: Evaluator,
    objective: str,
    ranked: list[_Candidate],
    limit: int,
    units: float,
    progress: Reporter = SILENT,
) -> _Candidate:
    """Local search from the two best distinct candidates, then iterated local search
    (seeded kicks, see :func:`local_search.perturb`) from the best while units last."""
    others = [c for c in ranked[1:] if c.assignment != ranked[0].assignment]
    starts = [ranked[0], *others[:1]]
    best = ranked[0]
    left = units
    for start in starts:
        assignment, cost, spent, order = _descend(
            ev, objective, start.assignment, start.order, limit, units / 2 / len(starts)
        )
        left -= spent
        if cost < best.cost and ev.fits(assignment, order):
            best = _Candidate(f"{start.algorithm}+search", tuple(assignment), order, cost)
        progress.advance(spent, detail=f"best {best.cost:.4g} s")
    rng = random.Random(len(ev.edge_src) * 7919 + ev.n)  # noqa: S311 - search, not secrets
    allowed = list(range(ev.m))
    current = best
    while left > 0:
        kicked = local_search.perturb(ev, current.assignment, allowed, limit, rng)
        assignment, cost, spent, order = _descend(
            ev, objective, kicked, current.order, limit, left
        )
        left -= max(spent, 1.0)
        progress.advance(max(spent, 1.0), detail=f"best {best.cost:.4g} s")
        if not ev.fits(assignment, order):
            continue
        name = best.algorithm if best.algorithm.endswith("+search") else f"{best.algorithm}+search"
        found = _Candidate(name, tuple(assignment), order, cost)
        if cost < best.cost * (1 - 1e-9):
            best = current = found
        elif cost <= best.cost * (1 + WALK):  # wander along near-best plans
            current = found
    return best
