"""The timeline of one step of a plan: what each device computes, sends and receives.

It is the planner's own list schedule (:meth:`Evaluator.trace`, the estimate the plan
was chosen by), so the picture shows the schedule the estimated step time comes from.
Stored with the plan as JSON (``result["timeline"]``) and drawn by
:mod:`cyborg.scheduler.drawing`.

Bounded whatever the graph: bars of one lane closer than 1/:data:`RESOLUTION` of the
step are merged (a merged bar carries how many it holds, not a node name), so a lane
holds at most about ``RESOLUTION`` bars, as many as a picture can show.
"""

from collections.abc import Sequence
from typing import Any

from cyborg.scheduler.costs import CostModel
from cyborg.scheduler.evaluate import Evaluator, Interval

#: Bars per lane at most (about two per pixel column of the drawn timeline).
RESOLUTION = 400
KINDS = ("compute", "send", "receive")
_WHAT = {"compute": "nodes", "send": "transfers", "receive": "transfers"}

Bar = list[Any]  # [start_s, end_s, label, count]


def step_timeline(
    model: CostModel,
    assignment: Sequence[int],
    order: Sequence[int],
    ev: Evaluator | None = None,
) -> dict[str, Any]:
    """``{"step_s", "devices": [{"id", "compute", "send", "receive"}]}``: the bars of
    the devices the plan uses, in device order, each ``[start_s, end_s, label, count]``.
    ``ev``: the estimate to schedule with (default: ``model``'s)."""
    booked: list[Interval] = []
    finish, _ = (ev or Evaluator(model)).trace(assignment, order, booked)
    step = max(finish, default=0.0)
    used = sorted(set(assignment))
    lanes: dict[tuple[int, str], list[Bar]] = {(d, k): [] for d in used for k in KINDS}
    names = [node.name for node in model.graph.nodes]
    for it in sorted(booked, key=lambda b: (b.start, b.end, b.node, b.producer)):
        if it.src == it.dst:
            lanes[(it.dst, "compute")].append([it.start, it.end, names[it.node], 1])
            continue
        label = f"{names[it.producer]} -> {names[it.node]}"
        lanes[(it.src, "send")].append([it.start, it.end, label, 1])
        lanes[(it.dst, "receive")].append([it.start, it.end, label, 1])
    gap = step / RESOLUTION
    devices = model.devices.devices
    return {
        "step_s": step,
        "devices": [
            {"id": devices[d].id, **{k: _merged(lanes[(d, k)], gap, _WHAT[k]) for k in KINDS}}
            for d in used
        ],
    }


def _merged(bars: list[Bar], gap: float, what: str) -> list[Bar]:
    """A bar narrower than ``gap`` that starts within ``gap`` of the previous bar's end
    joins it (and a narrow previous bar takes in the next): every bar left covers at
    least ``gap`` of the step, or follows a gap that long."""
    out: list[Bar] = []
    for start, end, label, count in bars:
        if out:
            last = out[-1]
            narrow = end - start < gap or last[1] - last[0] < gap
            if narrow and start - last[1] < gap:
                last[1] = max(last[1], end)
                last[3] += count
                last[2] = f"{last[3]} {what}"
                continue
        out.append([start, end, label, count])
    return out
