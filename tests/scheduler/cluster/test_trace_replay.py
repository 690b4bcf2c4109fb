"""The trace replay on tiny traces worked out by hand, and the targets in small."""

import json
import pathlib

import pytest

from cyborg.scheduler.cluster.estimates import ThroughputTable
from cyborg.scheduler.cluster.fleet import make_fleet
from cyborg.scheduler.cluster.jobs import Job
from cyborg.scheduler.cluster.trace_replay import replay, static_throughput

GAVEL = pathlib.Path(__file__).parents[3] / "bench" / "data" / "gavel_throughputs.json"


def test_a_two_job_trace_by_hand() -> None:
    # One device at 1 step/s, rounds of 360 s: "long" (720 steps) and "short" (360).
    fleet = make_fleet({"A": 1}, per_host=1, roots=1)
    truth = ThroughputTable.from_matrix({"t": {"A": 1.0}})
    jobs = [Job("long", "t", 720), Job("short", "t", 360)]
    fifo = replay(jobs, fleet, truth, "fifo")
    # FIFO (arrival, then id): long 0-720, short 720-1080.
    assert fifo.jct_s == {"long": 720, "short": 1080}
    srpt = replay(jobs, fleet, truth, "min_jct", min_rounds=1)
    assert srpt.jct_s == {"short": 360, "long": 1080}
    assert srpt.average_jct_s == 720 < fifo.average_jct_s == 900
    assert fifo.makespan_s == srpt.makespan_s == 1080
    assert fifo.utilization == srpt.utilization == 1.0
    # Jain's index of (ideal / JCT): short 360/360, long 720/1080 -> (1, 2/3).
    assert srpt.fairness == pytest.approx(25 / 26)


def test_arrivals_wait_for_their_round() -> None:
    fleet = make_fleet({"A": 1}, per_host=1, roots=1)
    truth = ThroughputTable.from_matrix({"t": {"A": 2.0}})
    result = replay([Job("late", "t", 360, arrival_s=1000)], fleet, truth, "max_min")
    # Starts at the round boundary 1080, runs 180 s.
    assert result.jct_s == {"late": pytest.approx(1080 + 180 - 1000)}


def test_a_job_that_fits_nowhere_is_left_unfinished() -> None:
    fleet = make_fleet({"A": 1}, per_host=2, roots=1)
    truth = ThroughputTable.from_matrix({"t": {"A": 1.0}, "u": {"B": 1.0}})
    jobs = [Job("big", "t", 10, devices=3), Job("elsewhere", "u", 10), Job("ok", "t", 10)]
    result = replay(jobs, fleet, truth, "max_min")
    assert set(result.jct_s) == {"ok"}
    assert result.unfinished == 2


def test_learning_fixes_a_wrong_prior() -> None:
    fleet = make_fleet({"A": 1, "B": 1}, per_host=1, roots=1)
    truth = ThroughputTable.from_matrix({"t": {"A": 1.0, "B": 4.0}})
    guess = ThroughputTable.from_matrix({"t": {"A": 2.0, "B": 1.0}})  # backwards
    replay(
        [Job("a", "t", 36000), Job("b", "t", 36000)],
        fleet,
        truth,
        "max_throughput",
        estimates=guess,
    )
    assert guess.get("t", "B") == pytest.approx(4.0, rel=0.05)
    assert guess.get("t", "A") == pytest.approx(1.0, rel=0.05)


def test_on_a_mixed_fleet_awareness_beats_the_blind_baseline() -> None:
    matrix = json.loads(GAVEL.read_text())["throughputs"]
    truth = ThroughputTable.from_matrix(matrix)
    fleet = make_fleet({"K80": 1, "P100": 1, "V100": 1}, per_host=4)
    types = sorted(matrix)
    jobs = [
        Job(
            f"j{i}",
            types[i % 4],
            work=3600 * matrix[types[i % 4]]["V100"] * (1 + i % 3),
            arrival_s=600.0 * i,
        )
        for i in range(16)
    ]
    blind = replay(jobs, fleet, truth, "fifo")
    aware = replay(jobs, fleet, truth, "min_jct")
    assert blind.unfinished == aware.unfinished == 0
    assert aware.average_jct_s < blind.average_jct_s
    achieved, optimum = static_throughput(jobs, fleet, truth, rounds=30)
    assert achieved <= optimum + 1e-6
    assert achieved >= 0.95 * optimum
