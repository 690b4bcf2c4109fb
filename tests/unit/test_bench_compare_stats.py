"""How bench/compare.py sums up its samples: percentiles, the ratio ours/upstream and
the speed-up, the goal verdict, the printed table and the JSON it writes."""

import json
import pathlib

import pytest

from bench import compare_stats
from bench.compare_stats import Figure, Row, Summary

LATENCY = Figure("get", "GET something", goal=3)
RATE = Figure("rate", "cycles at once", unit="cycles/s", goal=10)


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1 .. 100
    assert compare_stats.percentile(values, 50) == pytest.approx(50.5)
    assert compare_stats.percentile(values, 90) == pytest.approx(90.1)
    assert compare_stats.percentile(values, 99) == pytest.approx(99.01)
    assert compare_stats.percentile([7.0], 99) == 7.0
    assert compare_stats.percentile([3.0, 1.0, 2.0], 0) == 1.0  # order does not matter


def test_no_samples_is_an_error_not_a_zero() -> None:
    with pytest.raises(ValueError):
        compare_stats.percentile([], 50)


def test_summary_of_skewed_samples() -> None:
    summary = compare_stats.summarize([10.0] * 9 + [100.0])
    assert summary.n == 10
    assert summary.median == 10.0
    assert summary.p90 == pytest.approx(19.0)
    assert summary.p99 == pytest.approx(91.9)
    assert summary.mean == pytest.approx(19.0)


def _summary(median: float) -> Summary:
    return Summary(n=3, median=median, p90=median, p99=median, mean=median)


def test_times_ratio_is_ours_over_upstream_and_speedup_its_inverse() -> None:
    row = Row(LATENCY, ours=_summary(5.0), upstream=_summary(20.0))
    assert row.ratio == pytest.approx(0.25)
    assert row.speedup == pytest.approx(4.0)
    assert row.goal_met is True
    assert Row(LATENCY, _summary(10.0), _summary(20.0)).goal_met is False


def test_rates_speedup_is_the_ratio_itself() -> None:
    row = Row(RATE, ours=_summary(12.0), upstream=_summary(3.0))
    assert row.ratio == pytest.approx(4.0)
    assert row.speedup == pytest.approx(4.0)
    assert row.goal_met is False


def test_without_upstream_there_is_no_ratio_and_no_verdict() -> None:
    row = Row(LATENCY, ours=_summary(5.0), upstream=None)
    assert row.ratio is None and row.speedup is None and row.goal_met is None
    assert Row(Figure("x", "no goal"), _summary(1.0), _summary(2.0)).goal_met is None


def test_table_prints_each_side_the_ratio_and_the_goal() -> None:
    rows = [
        Row(LATENCY, _summary(5.0), _summary(20.0)),
        Row(RATE, _summary(12.0), _summary(3.0)),
        Row(Figure("alone", "ours alone"), _summary(1.5), None),
    ]
    lines = compare_stats.table(rows)
    assert len(lines) == 2 + len(rows)
    assert lines[2].split()[-5:] == ["0.250", "4.0x", ">=", "3x:", "met"]
    assert lines[3].endswith(">= 10x: NOT met") and "cycles/s" in lines[3]
    assert lines[4].split()[-2:] == ["-", "-"]  # no ratio, no speed-up, no goal


def test_json_round_trip(tmp_path: pathlib.Path) -> None:
    rows = [Row(LATENCY, _summary(5.0), _summary(20.0)), Row(RATE, _summary(12.0), None)]
    doc = compare_stats.document(rows, uptime_before="up 1 min", upstream_skipped=None)
    path = tmp_path / "compare.json"
    compare_stats.write(str(path), doc)
    read = json.loads(path.read_text())
    assert read["uptime_before"] == "up 1 min"
    assert read["figures"]["get"]["ratio_ours_upstream"] == pytest.approx(0.25)
    assert read["figures"]["get"]["goal_met"] is True
    assert read["figures"]["rate"]["upstream"] is None
    assert compare_stats.rows_from(read, [LATENCY, RATE]) == rows
