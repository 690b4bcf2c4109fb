"""Replay a job trace on a fleet, round by round, with a policy or the blind baseline.

Time advances in rounds of ``round_s`` seconds. Each round the scheduler places the
jobs that have arrived; a placed job advances at its true throughput (``truth``) on
the model it got, scaled by its gang size, and finishes mid-round when its work runs
out (its devices come free at the next round, as in a real round-based scheduler).
The scheduler's own table can start from other estimates: the replay posts every
round's measured throughput to it, as running jobs would.

The heterogeneity-blind baseline (``fifo``) starts jobs in arrival order on the first
free devices in fleet order, whatever their model (a gang on mixed models runs at the
slowest one's pace), and runs each to completion; it waits when the next job in line
does not fit.
"""

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from cyborg.scheduler.cluster.estimates import ThroughputTable
from cyborg.scheduler.cluster.fleet import Fleet
from cyborg.scheduler.cluster.jobs import Job
from cyborg.scheduler.cluster.policies import solve, total_normalized
from cyborg.scheduler.cluster.rounds import Placement, Scheduler, build_problem
from cyborg.scheduler.devices import Device

BASELINE = "fifo"


@dataclasses.dataclass(frozen=True)
class Metrics:
    policy: str
    jct_s: dict[str, float]  # per job: finish - arrival
    makespan_s: float
    utilization: float  # busy device-seconds over devices x makespan
    fairness: float  # Jain's index of (isolated best time / JCT)
    moves: int
    rounds: int
    unfinished: int

    @property
    def average_jct_s(self) -> float:
        return float(np.mean(list(self.jct_s.values()))) if self.jct_s else 0.0


def replay(
    jobs: Sequence[Job],
    fleet: Fleet,
    truth: ThroughputTable,
    policy: str,
    round_s: float = 360.0,
    min_rounds: int = 3,
    max_rounds: int = 100_000,
    estimates: ThroughputTable | None = None,
) -> Metrics:
    """``policy``: one of :data:`~cyborg.scheduler.cluster.policies.POLICIES` or
    ``fifo``; ``estimates``: the scheduler's table (default: the truth itself)."""
    order = sorted(jobs, key=lambda j: (j.arrival_s, j.id))
    remaining = {j.id: j.work for j in order}
    finished: dict[str, float] = {}
    running: dict[str, Placement] = {}  # fifo only: non-preemptive
    scheduler = None if policy == BASELINE else Scheduler(estimates or truth, policy, min_rounds)
    t, busy, moves, rounds, nxt = 0.0, 0.0, 0, 0, 0
    active: list[Job] = []
    while (nxt < len(order) or active) and rounds < max_rounds:
        while nxt < len(order) and order[nxt].arrival_s <= t:
            if _runnable(order[nxt], fleet, truth):  # else it stays unfinished
                active.append(order[nxt])
            nxt += 1
        if not active:
            t = max(t, _round_up(order[nxt].arrival_s, round_s))
            continue
        placements: Mapping[str, Placement]
        if scheduler is None:
            placements = _fifo(active, fleet, running)
        else:
            plan = scheduler.schedule(active, fleet, remaining)
            placements, moves = plan.placements, moves + len(plan.moved)
        by_id = fleet.by_id()
        for job in list(active):
            p = placements.get(job.id)
            if p is None:
                continue
            rate = _true_rate(job, p, truth, by_id)
            if rate <= 0:
                continue
            if estimates is not None and len({by_id[i].model for i in p.device_ids}) == 1:
                estimates.record(job.job_type, p.model, rate * job.devices / len(p.device_ids))
            need = remaining[job.id] / rate
            spent = min(need, round_s)
            busy += spent * len(p.device_ids)
            remaining[job.id] -= rate * spent
            if need <= round_s:
                finished[job.id] = t + need
                active.remove(job)
                running.pop(job.id, None)
        t += round_s
        rounds += 1
    return _metrics(policy, order, finished, fleet, truth, busy, moves, rounds)


def _runnable(job: Job, fleet: Fleet, truth: ThroughputTable) -> bool:
    """Some model has a known throughput for it and enough devices for its gang."""
    return any(
        truth.get(job.job_type, m) > 0 and fleet.count(m) >= job.devices for m in fleet.models
    )


def _round_up(x: float, step: float) -> float:
    return float(np.ceil(x / step) * step)


def _true_rate(
    job: Job, p: Placement, truth: ThroughputTable, by_id: Mapping[str, Device]
) -> float:
    """Steps/s of the gang: the slowest model's per-gang rate, scaled by gang size."""
    rates = [truth.get(job.job_type, by_id[i].model) for i in p.device_ids]
    return min(rates) * len(p.device_ids) / job.devices


def _fifo(
    active: Sequence[Job], fleet: Fleet, running: dict[str, Placement]
) -> dict[str, Placement]:
    used = {i for p in running.values() for i in p.device_ids}
    free = [d for d in fleet.devices if d.id not in used]
    for job in active:  # in arrival order
        if job.id in running:
            continue
        if len(free) < job.devices:
            break  # head of line waits
        gang, free = free[: job.devices], free[job.devices :]
        running[job.id] = Placement(gang[0].model, tuple(d.id for d in gang), "blind", 0.0)
    return dict(running)


def _metrics(
    policy: str,
    jobs: Sequence[Job],
    finished: Mapping[str, float],
    fleet: Fleet,
    truth: ThroughputTable,
    busy: float,
    moves: int,
    rounds: int,
) -> Metrics:
    jct = {j.id: finished[j.id] - j.arrival_s for j in jobs if j.id in finished}
    start = min((j.arrival_s for j in jobs), default=0.0)
    makespan = max(finished.values(), default=start) - start
    ideal = []
    for j in jobs:
        if j.id in jct:
            best = max((truth.get(j.job_type, m) for m in fleet.models), default=0.0)
            ideal.append((j.work / best) / jct[j.id] if best > 0 and jct[j.id] > 0 else 1.0)
    x = np.array(ideal)
    fairness = float(x.sum() ** 2 / (len(x) * (x**2).sum())) if len(x) else 1.0
    capacity = len(fleet.devices) * makespan
    return Metrics(
        policy=policy,
        jct_s=jct,
        makespan_s=makespan,
        utilization=busy / capacity if capacity > 0 else 0.0,
        fairness=fairness,
        moves=moves,
        rounds=rounds,
        unfinished=len(jobs) - len(jct),
    )


def static_throughput(
    jobs: Sequence[Job],
    fleet: Fleet,
    table: ThroughputTable,
    rounds: int = 60,
    min_rounds: int = 1,
) -> tuple[float, float]:
    """(achieved, optimum) total normalized throughput of a static job set under
    ``max_throughput``: the rounds' integral placements averaged, and the LP's value."""
    problem = build_problem(jobs, fleet, table, {})
    optimum = total_normalized(problem, solve(problem, "max_throughput").fractions)
    scheduler = Scheduler(table, "max_throughput", min_rounds)
    best = {j.id: float(b) for j, b in zip(jobs, problem.best, strict=True)}
    achieved = 0.0
    for _ in range(rounds):
        plan = scheduler.schedule(jobs, fleet)
        achieved += sum(p.steps_per_s / best[k] for k, p in plan.placements.items())
    return achieved / rounds, optimum
