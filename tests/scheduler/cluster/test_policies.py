"""The allocation LPs on instances whose optimum is worked out by hand."""

import numpy as np
import pytest

from cyborg.scheduler.cluster.policies import PolicyError, Problem, solve, total_normalized


def problem(throughput, counts, gang=None, weight=None, remaining=None, projects=None) -> Problem:
    t = np.array(throughput, dtype=float)
    n = len(t)
    return Problem(
        models=tuple(f"m{i}" for i in range(t.shape[1])),
        counts=np.array(counts, dtype=float),
        throughput=t,
        gang=np.array(gang or [1] * n, dtype=float),
        weight=np.array(weight or [1] * n, dtype=float),
        remaining=np.array(remaining or [1] * n, dtype=float),
        projects=tuple(projects or ["p"] * n),
    )


def test_max_throughput_puts_each_job_where_it_gains_most() -> None:
    # Job 0 doubles on m1, job 1 barely gains: job 0 on m1 (1) + job 1 on m0 (1/1.1)
    # beats the swap (0.5 + 1).
    p = problem([[1.0, 2.0], [1.0, 1.1]], [1, 1])
    found = solve(p, "max_throughput")
    assert found.fractions == pytest.approx(np.array([[0, 1], [1, 0]]), abs=1e-9)
    assert total_normalized(p, found.fractions) == pytest.approx(1 + 1 / 1.1)


def test_max_min_splits_one_device_evenly_and_by_weight() -> None:
    even = solve(problem([[1.0], [1.0]], [1]), "max_min")
    assert even.fractions[:, 0] == pytest.approx([0.5, 0.5])
    weighted = solve(problem([[1.0], [1.0]], [1], weight=[2, 1]), "max_min")
    assert weighted.fractions[:, 0] == pytest.approx([2 / 3, 1 / 3])


def test_max_min_across_projects_shares_per_project() -> None:
    # Project a has two jobs, b one: each project gets half of the device.
    found = solve(problem([[1.0]] * 3, [1], projects=["a", "a", "b"]), "max_min_projects")
    assert found.fractions[:2, 0].sum() == pytest.approx(0.5)
    assert found.fractions[2, 0] == pytest.approx(0.5)


def test_max_min_still_uses_capacity_the_poorest_job_cannot() -> None:
    # Job 1 only runs on m1; m0 would sit idle under a pure max-min objective.
    found = solve(problem([[1.0, 1.0], [0.0, 1.0]], [1, 1]), "max_min")
    assert found.fractions[0, 0] == pytest.approx(1.0)
    assert found.fractions[1, 1] == pytest.approx(1.0)


def test_min_jct_runs_the_shortest_remaining_job_first() -> None:
    found = solve(problem([[1.0], [1.0]], [1], remaining=[100, 10]), "min_jct")
    assert found.fractions[:, 0] == pytest.approx([0.0, 1.0])


def test_a_gang_larger_than_a_model_gets_no_time_there() -> None:
    found = solve(problem([[5.0, 1.0]], [2, 4], gang=[4]), "max_throughput")
    assert found.fractions[0] == pytest.approx([0.0, 1.0])


def test_capacity_counts_gang_devices() -> None:
    # Three 2-device jobs on 4 devices: at most 2 gangs at a time.
    found = solve(problem([[1.0]] * 3, [4], gang=[2, 2, 2]), "max_min")
    assert (found.fractions[:, 0] * 2).sum() == pytest.approx(4.0)
    assert found.fractions[:, 0] == pytest.approx([2 / 3] * 3)


def test_unknown_policy_and_empty_problem() -> None:
    with pytest.raises(PolicyError):
        solve(problem([[1.0]], [1]), "fastest")
    assert solve(problem(np.zeros((0, 1)), [1]), "max_min").fractions.shape == (0, 1)
