"""Throughput estimates: planner priors, then EWMA over posted measurements."""

import pytest

from cyborg.scheduler.cluster.estimates import ThroughputTable, planner_estimate, seed_from_planner
from cyborg.scheduler.synthetic import device_set, transformer


def test_measurements_move_the_estimate_by_the_ewma() -> None:
    table = ThroughputTable(alpha=0.5)
    table.set_prior("bert", "V100", 10.0, source="planner")
    assert table.record("bert", "V100", 20.0).steps_per_s == 15.0
    second = table.record("bert", "V100", 20.0)
    assert second.steps_per_s == 17.5
    assert (second.source, second.samples) == ("measured", 2)


def test_a_first_measurement_without_prior_is_taken_as_is() -> None:
    table = ThroughputTable()
    assert table.get("new", "A100") == 0.0
    assert table.record("new", "A100", 7.0).steps_per_s == 7.0
    assert table.known("new")


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError):
        ThroughputTable(alpha=0)
    with pytest.raises(ValueError):
        ThroughputTable().record("x", "A", -1.0)


def test_a_new_job_type_starts_from_the_planner() -> None:
    graph = transformer(layers=2, hidden=256, seq=64)
    devices = device_set(["T4", "H100-SXM5-80GB"]).devices
    slow, fast = (planner_estimate(graph, d) for d in devices)
    assert 0 < slow < fast
    table = ThroughputTable()
    table.set_prior("lm", "T4", 1.0, source="measured")
    seed_from_planner(table, "lm", graph, devices)
    assert table.get("lm", "T4") == 1.0  # a measurement is kept
    estimate = table.estimate("lm", "H100-SXM5-80GB")
    assert estimate is not None and estimate.source == "planner"
    assert estimate.steps_per_s == pytest.approx(fast)
