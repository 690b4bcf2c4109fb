"""Figures of the side-by-side benchmark (bench/compare.py): their summaries, the
ratio ours/upstream, whether the goal is met, the printed table and the JSON.

Pure functions over lists of samples; nothing here times or starts anything.
"""

import dataclasses
import json
import math
import statistics
from collections.abc import Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class Figure:
    """One line of the table. ``unit`` is "ms" (lower is better) or "cycles/s"
    (higher is better); ``goal`` is the speed-up over upstream the issue asks for."""

    key: str
    label: str
    unit: str = "ms"
    goal: float | None = None

    @property
    def higher_is_better(self) -> bool:
        return self.unit.endswith("/s")


@dataclasses.dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p90: float
    p99: float
    mean: float


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile, interpolated between the closest ranks."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Sequence[float]) -> Summary:
    return Summary(
        n=len(values),
        median=statistics.median(values),
        p90=percentile(values, 90),
        p99=percentile(values, 99),
        mean=statistics.fmean(values),
    )


@dataclasses.dataclass(frozen=True)
class Row:
    figure: Figure
    ours: Summary | None
    upstream: Summary | None

    @property
    def ratio(self) -> float | None:
        """Median ours / median upstream (below 1 is better for times, above for rates)."""
        if self.ours is None or self.upstream is None or self.upstream.median == 0:
            return None
        return self.ours.median / self.upstream.median

    @property
    def speedup(self) -> float | None:
        """How many times better ours is: upstream/ours for times, ours/upstream for rates."""
        ratio = self.ratio
        if ratio is None or ratio == 0:
            return None
        return ratio if self.figure.higher_is_better else 1 / ratio

    @property
    def goal_met(self) -> bool | None:
        if self.figure.goal is None or self.speedup is None:
            return None
        return self.speedup >= self.figure.goal


def _value(summary: Summary | None, field: str) -> str:
    if summary is None:
        return "-"
    return f"{getattr(summary, field):.1f}"


def _goal(row: Row) -> str:
    if row.figure.goal is None:
        return ""
    verdict = {True: "met", False: "NOT met", None: "unknown"}[row.goal_met]
    return f">= {row.figure.goal:g}x: {verdict}"


def table(rows: Sequence[Row]) -> list[str]:
    """The table as printed: median, p90, p99 of each side, the ratio and the goal."""
    head = (
        f"{'figure':<44} {'unit':>8} {'ours p50':>9} {'p90':>8} {'p99':>8} "
        f"{'up p50':>9} {'p90':>8} {'p99':>8} {'ours/up':>8} {'speedup':>8}  goal"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.3f}"
        speedup = "-" if row.speedup is None else f"{row.speedup:.1f}x"
        lines.append(
            f"{row.figure.label:<44} {row.figure.unit:>8} {_value(row.ours, 'median'):>9} "
            f"{_value(row.ours, 'p90'):>8} {_value(row.ours, 'p99'):>8} "
            f"{_value(row.upstream, 'median'):>9} {_value(row.upstream, 'p90'):>8} "
            f"{_value(row.upstream, 'p99'):>8} {ratio:>8} {speedup:>8}  {_goal(row)}"
        )
    return lines


def row_json(row: Row) -> dict[str, Any]:
    return {
        "label": row.figure.label,
        "unit": row.figure.unit,
        "goal_speedup": row.figure.goal,
        "ours": None if row.ours is None else dataclasses.asdict(row.ours),
        "upstream": None if row.upstream is None else dataclasses.asdict(row.upstream),
        "ratio_ours_upstream": row.ratio,
        "speedup": row.speedup,
        "goal_met": row.goal_met,
    }


def document(rows: Sequence[Row], **context: Any) -> dict[str, Any]:
    """What is written to the JSON file: every figure by key, plus the run's context
    (uptime, options, memory, why upstream was skipped)."""
    return {**context, "figures": {row.figure.key: row_json(row) for row in rows}}


def write(path: str, doc: dict[str, Any]) -> None:
    with open(path, "w") as handle:
        json.dump(doc, handle, indent=2, sort_keys=True)
        handle.write("\n")


def rows_from(doc: dict[str, Any], figures: Sequence[Figure]) -> list[Row]:
    """The rows of a JSON file written by ``write`` (to compare a later run with it)."""

    def summary(data: dict[str, Any] | None) -> Summary | None:
        return None if data is None else Summary(**data)

    found = doc["figures"]
    return [
        Row(f, summary(found[f.key]["ours"]), summary(found[f.key]["upstream"]))
        for f in figures
        if f.key in found
    ]
