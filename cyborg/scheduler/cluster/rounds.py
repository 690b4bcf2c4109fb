"""Scheduling rounds: integral, all-or-nothing placements from the policy's fractions.

Each round (a few minutes of wall time in a real cluster) every job either runs on a
whole gang of devices of one model or waits: when there are more jobs than devices
the fractions become time-sharing. As in Gavel, a job's priority on a model is its
fraction there over the share of rounds it has had there so far, so that over many
rounds the shares converge to the fractions. Then:

- a job placed less than ``min_rounds`` rounds ago keeps its devices (the move bound:
  a job moves, or is preempted, at most once every ``min_rounds`` rounds);
- a job that runs again on the same model keeps its previous devices when they are
  free (no move);
- devices left free are backfilled with waiting jobs (fastest model first), and
  elastic jobs grow onto what still remains.

The allocation is recomputed only when the job set or the fleet changes (arrivals,
completions, device failures); otherwise the cached fractions are reused, so new
throughput estimates take effect at the next such event.
"""

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from cyborg.scheduler.cluster.estimates import ThroughputTable
from cyborg.scheduler.cluster.fleet import Fleet, FreePool, locality
from cyborg.scheduler.cluster.jobs import Job
from cyborg.scheduler.cluster.policies import Allocation, Problem, solve
from cyborg.scheduler.devices import Device

_EPS = 1e-6

#: job position -> its placement this round.
_Placed = dict[int, "Placement"]


@dataclasses.dataclass(frozen=True)
class Placement:
    model: str
    device_ids: tuple[str, ...]
    locality: str
    steps_per_s: float  # the whole gang's, as estimated when placed


@dataclasses.dataclass(frozen=True)
class RoundPlan:
    round: int
    placements: Mapping[str, Placement]
    moved: tuple[str, ...]  # jobs that run on other devices than in the round before
    recomputed: bool  # whether the policy's LP ran this round


@dataclasses.dataclass
class _History:
    rounds_active: int = 0
    rounds_on: dict[str, int] = dataclasses.field(default_factory=dict)
    last: Placement | None = None  # the placement of the previous round, if it ran
    placed_round: int = -1  # when it last started on its current devices


def build_problem(
    jobs: Sequence[Job], fleet: Fleet, table: ThroughputTable, remaining: Mapping[str, float]
) -> Problem:
    models = fleet.models
    return Problem(
        models=models,
        counts=np.array([fleet.count(m) for m in models], dtype=float),
        throughput=np.array([[table.get(j.job_type, m) for m in models] for j in jobs]).reshape(
            len(jobs), len(models)
        ),
        gang=np.array([j.devices for j in jobs], dtype=float),
        weight=np.array([j.weight for j in jobs], dtype=float),
        remaining=np.array([max(remaining.get(j.id, j.work), _EPS) for j in jobs], dtype=float),
        projects=tuple(j.project for j in jobs),
    )


class Scheduler:
    """Keeps the per-job history a round needs; one instance per cluster."""

    def __init__(self, table: ThroughputTable, policy: str, min_rounds: int = 3) -> None:
        if min_rounds < 1:
            raise ValueError("min_rounds must be at least 1")
        self.table = table
        self.policy = policy
        self.min_rounds = min_rounds
        self.round = 0
        self._history: dict[str, _History] = {}
        self._cache: tuple[tuple[str, ...], tuple[str, ...], Allocation] | None = None

    def schedule(
        self, jobs: Sequence[Job], fleet: Fleet, remaining: Mapping[str, float] | None = None
    ) -> RoundPlan:
        """Placements for this round of the active ``jobs`` on ``fleet`` (the live,
        healthy devices); ``remaining``: work left per job id (default: all of it)."""
        left = remaining or {}
        problem = build_problem(jobs, fleet, self.table, left)
        allocation, recomputed = self._allocation(jobs, fleet, problem)
        ids = {j.id for j in jobs}
        self._history = {k: v for k, v in self._history.items() if k in ids}
        hist = [self._history.setdefault(j.id, _History()) for j in jobs]
        pool = FreePool(fleet)
        placed: dict[int, Placement] = {}
        self._keep_leased(hist, pool, placed)
        self._by_priority(jobs, problem, allocation, hist, pool, placed)
        self._backfill(jobs, problem, hist, pool, placed)
        self._grow_elastic(jobs, pool, placed, fleet.by_id())
        moved = self._record(jobs, hist, placed)
        plan = RoundPlan(
            self.round, {jobs[i].id: p for i, p in sorted(placed.items())}, moved, recomputed
        )
        self.round += 1
        return plan

    def _allocation(
        self, jobs: Sequence[Job], fleet: Fleet, problem: Problem
    ) -> tuple[Allocation, bool]:
        key = (tuple(j.id for j in jobs), tuple(d.id for d in fleet.devices))
        if self._cache is not None and self._cache[:2] == key:
            return self._cache[2], False
        allocation = solve(problem, self.policy)
        self._cache = (*key, allocation)
        return allocation, True

    def _place(
        self, j: int, job: Job, problem: Problem, m: int, pool: FreePool, hist: _History
    ) -> Placement | None:
        model = problem.models[m]
        last = hist.last
        prefer = (
            last.device_ids
            if last and last.model == model and len(last.device_ids) == job.devices
            else ()
        )
        got = pool.take(model, job.devices, prefer=prefer)
        if got is None:
            return None
        return Placement(
            model, tuple(d.id for d in got), locality(got), float(problem.throughput[j, m])
        )

    def _keep_leased(self, hist: list[_History], pool: FreePool, placed: _Placed) -> None:
        for i, h in enumerate(hist):
            last = h.last
            if last is None or self.round - h.placed_round >= self.min_rounds:
                continue
            if pool.take_exact(last.model, last.device_ids) is not None:
                placed[i] = last  # devices gone (failed): it competes like any other

    def _by_priority(
        self,
        jobs: Sequence[Job],
        problem: Problem,
        allocation: Allocation,
        hist: list[_History],
        pool: FreePool,
        placed: _Placed,
    ) -> None:
        x = allocation.fractions
        order = []
        for j, m in zip(*np.nonzero(x > _EPS), strict=False):
            h = hist[j]
            share = h.rounds_on.get(problem.models[m], 0) / max(h.rounds_active, 1)
            priority = x[j, m] / share if share > 0 else np.inf
            order.append((-priority, -x[j, m], int(j), int(m)))
        for _, _, j, m in sorted(order):
            if j not in placed:
                got = self._place(j, jobs[j], problem, m, pool, hist[j])
                if got is not None:
                    placed[j] = got

    def _backfill(
        self,
        jobs: Sequence[Job],
        problem: Problem,
        hist: list[_History],
        pool: FreePool,
        placed: _Placed,
    ) -> None:
        for j, job in enumerate(jobs):
            if j in placed:
                continue
            for m in np.argsort(-problem.throughput[j], kind="stable"):
                if problem.throughput[j, m] <= 0:
                    break
                got = self._place(j, job, problem, int(m), pool, hist[j])
                if got is not None:
                    placed[j] = got
                    break

    def _grow_elastic(
        self, jobs: Sequence[Job], pool: FreePool, placed: _Placed, devices: Mapping[str, Device]
    ) -> None:
        for j, p in sorted(placed.items()):
            job = jobs[j]
            if not job.elastic or len(p.device_ids) != job.devices:
                continue
            for extra in range((job.max_devices or job.devices) - job.devices, 0, -1):
                got = pool.take(p.model, extra, near=[devices[i] for i in p.device_ids])
                if got is not None:
                    ids = p.device_ids + tuple(d.id for d in got)
                    placed[j] = Placement(
                        p.model,
                        ids,
                        locality([devices[i] for i in ids]),
                        p.steps_per_s * len(ids) / job.devices,
                    )
                    break

    def _record(
        self, jobs: Sequence[Job], hist: list[_History], placed: _Placed
    ) -> tuple[str, ...]:
        moved = []
        for i, (job, h) in enumerate(zip(jobs, hist, strict=False)):
            h.rounds_active += 1
            p = placed.get(i)
            if p is None:
                h.last = None
                continue
            h.rounds_on[p.model] = h.rounds_on.get(p.model, 0) + 1
            if h.last is None or set(h.last.device_ids) != set(p.device_ids):
                if h.last is not None:
                    moved.append(job.id)
                h.placed_round = self.round
            h.last = p
        return tuple(moved)
