"""Allocation policies: the fraction of time each job spends on each device model.

Gavel-style (Narayanan et al., OSDI 2020): variables ``x[j, m]`` in [0, 1], the share of
time job ``j`` runs on its gang of ``n_j`` devices of model ``m``, with

    sum_m x[j, m] <= 1              (a job runs on one gang at a time)
    sum_j n_j x[j, m] <= count[m]   (no model is over-subscribed on average)

and job ``j``'s effective throughput ``sum_m T[j, m] x[j, m]``. Normalized throughput
divides it by the job's best throughput on a whole-time gang (``max_m T[j, m]``), so
jobs with different step units add up. The policies:

``max_throughput``  maximize the weighted sum of normalized throughputs;
``max_min``         maximize the smallest normalized throughput over weight, per job
                    (``max_min_projects``: the smallest sum over a project's jobs,
                    projects sharing equally), then a small term for the total, so
                    that capacity the poorest job cannot use still goes to someone;
``min_jct``         maximize the rate at which jobs complete their remaining work,
                    ``sum_j w_j T_j(x) / remaining_j``: the LP relaxation of shortest
                    remaining time first, which minimizes average completion time.

LPs are solved by GLOP (OR-Tools), deterministic and bounded by an iteration limit.
"""

import dataclasses
from collections.abc import Sequence

import numpy as np
from ortools.linear_solver import pywraplp

POLICIES = ("max_throughput", "max_min", "max_min_projects", "min_jct")

#: Weight of the total in the max-min objective (tie-break, far below one job's share).
_TOTAL_TIEBREAK = 1e-3


class PolicyError(ValueError):
    """An unknown policy or a problem the LP solver could not solve."""


@dataclasses.dataclass(frozen=True)
class Problem:
    """One allocation problem: jobs (rows) by device models (columns)."""

    models: tuple[str, ...]
    counts: np.ndarray  # [model] devices
    throughput: np.ndarray  # [job, model] steps/s of the job's gang
    gang: np.ndarray  # [job] devices per gang
    weight: np.ndarray  # [job]
    remaining: np.ndarray  # [job] work left, in the job's steps
    projects: tuple[str, ...]  # [job]

    def __post_init__(self) -> None:
        j, m = self.throughput.shape
        if m != len(self.models) or len(self.counts) != m:
            raise PolicyError("one column per device model")
        if not (
            len(self.gang) == len(self.weight) == len(self.remaining) == len(self.projects) == j
        ):
            raise PolicyError("one row per job")

    @property
    def best(self) -> np.ndarray:
        """[job] throughput on the job's fastest model (1 where it runs nowhere)."""
        top = self.throughput.max(axis=1) if self.throughput.size else np.zeros(0)
        return np.where(top > 0, top, 1.0)

    def feasible(self) -> np.ndarray:
        """[job, model]: the job can run there at all (throughput and enough devices)."""
        return (self.throughput > 0) & (self.gang[:, None] <= self.counts[None, :])


@dataclasses.dataclass(frozen=True)
class Allocation:
    fractions: np.ndarray  # [job, model]
    objective: float

    def normalized(self, problem: Problem) -> np.ndarray:
        """[job] effective throughput over the job's best throughput."""
        return (self.fractions * problem.throughput).sum(axis=1) / problem.best


def solve(problem: Problem, policy: str, iteration_limit: int = 200_000) -> Allocation:
    if policy not in POLICIES:
        raise PolicyError(f"policy must be one of {', '.join(POLICIES)}")
    n_jobs, n_models = problem.throughput.shape
    if n_jobs == 0:
        return Allocation(np.zeros((0, n_models)), 0.0)
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:  # pragma: no cover - GLOP ships with every OR-Tools wheel
        raise PolicyError("the GLOP LP solver is not available")
    solver.SetSolverSpecificParametersAsString(f"max_number_of_iterations:{iteration_limit}")
    feasible = problem.feasible()
    x = [
        [solver.NumVar(0.0, 1.0 if feasible[j, m] else 0.0, "") for m in range(n_models)]
        for j in range(n_jobs)
    ]
    for j in range(n_jobs):
        solver.Add(solver.Sum(x[j]) <= 1.0)
    for m in range(n_models):
        solver.Add(
            solver.Sum([float(problem.gang[j]) * x[j][m] for j in range(n_jobs)])
            <= float(problem.counts[m])
        )
    norm = problem.throughput / problem.best[:, None]
    objective = solver.Objective()
    if policy == "max_throughput":
        _linear(objective, x, norm * problem.weight[:, None], feasible)
    elif policy == "min_jct":
        rate = problem.throughput * (problem.weight / problem.remaining)[:, None]
        _linear(objective, x, rate / max(float(rate.max()), 1e-12), feasible)
    else:
        _max_min(solver, objective, x, problem, norm, feasible, policy == "max_min_projects")
    objective.SetMaximization()
    status = solver.Solve()
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        raise PolicyError(f"the LP solver stopped without a solution (status {status})")
    fractions = np.array([[v.solution_value() for v in row] for row in x])
    return Allocation(np.clip(fractions, 0.0, 1.0), objective.Value())


def _max_min(
    solver: pywraplp.Solver,
    objective: pywraplp.Objective,
    x: list,
    problem: Problem,
    norm: np.ndarray,
    feasible: np.ndarray,
    by_project: bool,
) -> None:
    """Maximize the floor under every group's normalized share over its weight."""
    n_jobs, n_models = norm.shape
    share = [
        solver.Sum([float(norm[j, m]) * x[j][m] for m in range(n_models) if feasible[j, m]])
        for j in range(n_jobs)
    ]
    floor = solver.NumVar(0.0, solver.infinity(), "floor")
    for members, weight in _groups(problem, by_project):
        runnable = [j for j in members if feasible[j].any()]
        if runnable:
            solver.Add(solver.Sum([share[j] for j in runnable]) >= weight * floor)
    _linear(objective, x, norm * _TOTAL_TIEBREAK / n_jobs, feasible)
    objective.SetCoefficient(floor, 1.0)


def _linear(
    objective: pywraplp.Objective, x: list, coef: np.ndarray, feasible: np.ndarray
) -> None:
    for j, m in zip(*np.nonzero(feasible), strict=False):
        objective.SetCoefficient(x[j][m], float(coef[j, m]))


def _groups(problem: Problem, by_project: bool) -> Sequence[tuple[list[int], float]]:
    """(members, weight) of each max-min group: one per job, or one per project."""
    if not by_project:
        return [([j], float(problem.weight[j])) for j in range(len(problem.gang))]
    members: dict[str, list[int]] = {}
    for j, project in enumerate(problem.projects):
        members.setdefault(project, []).append(j)
    # Projects share equally, whatever their number of jobs.
    return [(js, 1.0) for _, js in sorted(members.items())]


def total_normalized(problem: Problem, fractions: np.ndarray) -> float:
    """Sum over jobs of effective over best throughput (the max_throughput objective
    with unit weights)."""
    return float(((fractions * problem.throughput).sum(axis=1) / problem.best).sum())
