"""The plan picture (SVG): the graph coloured by device, a legend, and each device's
timeline of one step (compute, sends, receives, idle).

Pure Python (xml.etree): a server draws it without Graphviz. ElementTree escapes every
text and attribute, so names from a graph cannot inject markup. The output is a function
of its inputs only (no ids, dates or dict-order surprises): tests compare structure.
Every drawn element carries a ``class`` (``node``, ``stage``, ``edge``, ``legend``,
``bar compute|send|receive|idle``) and ``data-*`` attributes naming what it stands for.
"""

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from cyborg.scheduler.drawing import layout as layout_mod
from cyborg.scheduler.graph import Graph

#: Colour-blind-safe (Okabe-Ito, then Tol's muted), cycled past their count.
PALETTE = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#882255",
)  # fmt: skip
UNPLACED = "#BBBBBB"
KIND_COLOUR = {"send": "#555555", "receive": "#8C8C8C", "idle": "#EEEEEE"}
TIMELINE_W = 800.0
LANE_H, ROW_GAP, MARGIN, LABEL_W = 12.0, 10.0, 16.0, 190.0
FONT = "font-family:sans-serif;font-size:11px"


def device_colours(device_ids: Sequence[str]) -> dict[str, str]:
    """A colour per device, by its position in the plan's device list."""
    return {d: PALETTE[k % len(PALETTE)] for k, d in enumerate(device_ids)}


def plan_svg(
    graph: Graph,
    result: Mapping[str, Any],
    title: str,
) -> str:
    """The picture of a plan's ``result`` (``plan_to_dict``'s, or a stored plan's)."""
    devices = list(result.get("devices", []))
    colours = device_colours([d["id"] for d in devices])
    drawn = layout_mod.layout(graph, result.get("placement", {}))
    timeline = result.get("timeline")
    rows = len(timeline["devices"]) if timeline else 0
    width = max(drawn.width, LABEL_W + TIMELINE_W + 3 * MARGIN + 40.0)
    graph_top = 40.0 + (18.0 if drawn.note else 0.0)
    legend_top = graph_top + drawn.height + MARGIN
    timeline_top = legend_top + 18.0 * (len(devices) + 1) + MARGIN
    height = timeline_top + 30.0 + rows * (3 * LANE_H + ROW_GAP) + 40.0
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "width": _n(width),
            "height": _n(height),
            "viewBox": f"0 0 {_n(width)} {_n(height)}",
            "style": FONT,
        },
    )
    ET.SubElement(svg, "title").text = title
    _text(svg, MARGIN, 20.0, title, "heading", bold=True)
    if drawn.note:
        _text(svg, MARGIN, 38.0, drawn.note, "note")
    _graph(
        ET.SubElement(svg, "g", {"class": "graph", "transform": f"translate(0 {_n(graph_top)})"}),
        drawn,
        colours,
    )
    _legend(svg, devices, colours, legend_top)
    _timeline(svg, timeline, colours, timeline_top)
    ET.indent(svg, space=" ")
    return ET.tostring(svg, encoding="unicode", xml_declaration=False) + "\n"


def _n(value: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros (deterministic, short)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _text(parent: ET.Element, x: float, y: float, text: str, cls: str, bold: bool = False) -> None:
    attrs = {"class": cls, "x": _n(x), "y": _n(y)}
    if bold:
        attrs["font-weight"] = "bold"
    ET.SubElement(parent, "text", attrs).text = text


def _graph(parent: ET.Element, drawn: layout_mod.Layout, colours: Mapping[str, str]) -> None:
    for x1, y1, x2, y2 in drawn.edges:
        ET.SubElement(
            parent,
            "line",
            {
                "class": "edge",
                "x1": _n(x1),
                "y1": _n(y1),
                "x2": _n(x2),
                "y2": _n(y2),
                "stroke": "#777777",
            },
        )
    kind = "stage" if drawn.summarised else "node"
    for box in drawn.boxes:
        attrs = {"class": kind, "data-device": box.device or ""}
        if not drawn.summarised:
            attrs["data-node"] = box.nodes[0]
        else:
            attrs["data-nodes"] = str(len(box.nodes))
        group = ET.SubElement(parent, "g", attrs)
        ET.SubElement(group, "title").text = box.title
        fill = colours.get(box.device or "", UNPLACED)
        ET.SubElement(
            group,
            "rect",
            {
                "x": _n(box.x),
                "y": _n(box.y),
                "width": _n(layout_mod.BOX_W),
                "height": _n(layout_mod.BOX_H),
                "rx": "4",
                "fill": fill,
                "stroke": "#333333",
            },
        )
        _text(group, box.x + 6, box.y + 19, _short(box.label, 19), "label")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _legend(
    parent: ET.Element,
    devices: Sequence[Mapping[str, Any]],
    colours: Mapping[str, str],
    top: float,
) -> None:
    group = ET.SubElement(parent, "g", {"class": "legend"})
    _text(group, MARGIN, top + 10, "Devices", "heading", bold=True)
    for k, device in enumerate(devices):
        y = top + 18.0 * (k + 1)
        item = ET.SubElement(group, "g", {"class": "legend-item", "data-device": device["id"]})
        ET.SubElement(
            item,
            "rect",
            {
                "x": _n(MARGIN),
                "y": _n(y),
                "width": "12",
                "height": "12",
                "fill": colours[device["id"]],
            },
        )
        where = " ".join(str(device.get(k) or "") for k in ("model", "host")).strip()
        nodes = device.get("nodes")
        count = f", {nodes} nodes" if nodes is not None else ""
        _text(item, MARGIN + 18, y + 10, f"{device['id']} {where}{count}", "label")


def _timeline(
    parent: ET.Element, timeline: Mapping[str, Any] | None, colours: Mapping[str, str], top: float
) -> None:
    group = ET.SubElement(parent, "g", {"class": "timeline"})
    if not timeline:
        _text(group, MARGIN, top + 10, "No timeline recorded with this plan.", "note")
        return
    step = float(timeline["step_s"])
    heading = f"Timeline of one step: {_duration(step)} (the estimate's schedule)"
    _text(group, MARGIN, top + 10, heading, "heading", bold=True)
    _kinds(group, MARGIN + LABEL_W + TIMELINE_W / 2, top + 10)
    scale = TIMELINE_W / step if step > 0 else 0.0
    left = MARGIN + LABEL_W
    for r, device in enumerate(timeline["devices"]):
        y = top + 24 + r * (3 * LANE_H + ROW_GAP)
        row = ET.SubElement(group, "g", {"class": "device-row", "data-device": device["id"]})
        _text(row, MARGIN, y + 2 * LANE_H, _short(device["id"], 30), "label")
        bars = {
            "compute": device["compute"],
            "idle": _idle(device["compute"], step),
            "send": device["send"],
            "receive": device["receive"],
        }
        lane = {"compute": 0, "idle": 0, "send": 1, "receive": 2}
        for kind, items in bars.items():
            fill = colours.get(device["id"], UNPLACED) if kind == "compute" else KIND_COLOUR[kind]
            for start, end, label, count in items:
                bar = ET.SubElement(
                    row,
                    "rect",
                    {
                        "class": f"bar {kind}",
                        "data-device": device["id"],
                        "data-count": str(count),
                        "x": _n(left + start * scale),
                        "y": _n(y + lane[kind] * LANE_H),
                        "width": _n(max((end - start) * scale, 0.5)),
                        "height": _n(LANE_H - 2),
                        "fill": fill,
                    },
                )
                what = f"{kind} {label}" if label else kind
                title = f"{what}: {_duration(start)} to {_duration(end)}"
                ET.SubElement(bar, "title").text = title
    _axis(group, left, top + 24 + len(timeline["devices"]) * (3 * LANE_H + ROW_GAP), step)


def _idle(compute: Sequence[Sequence[Any]], step: float) -> list[list[Any]]:
    """The gaps of a compute lane within the step, as idle bars."""
    gaps, at = [], 0.0
    for start, end, _, _ in compute:
        if start > at:
            gaps.append([at, start, "", 1])
        at = max(at, end)
    if step > at:
        gaps.append([at, step, "", 1])
    return gaps


def _kinds(parent: ET.Element, x: float, y: float) -> None:
    """What the bars' colours mean."""
    key = ET.SubElement(parent, "g", {"class": "kinds"})
    for k, (kind, fill) in enumerate((("compute", "#FFFFFF"), *KIND_COLOUR.items())):
        left = x + k * 90.0
        attrs = {"x": _n(left), "y": _n(y - 9), "width": "10", "height": "10", "fill": fill}
        if kind == "compute":
            attrs["stroke"] = "#333333"
        ET.SubElement(key, "rect", attrs)
        label = kind  # compute bars take their device's colour
        _text(key, left + 14, y, label, "label")


def _duration(seconds: float) -> str:
    """Three significant digits in a unit that suits: us, ms or s."""
    if seconds <= 0:
        return "0 s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e6:.3g} us"


def _axis(parent: ET.Element, left: float, y: float, step: float) -> None:
    axis = ET.SubElement(parent, "g", {"class": "axis"})
    ET.SubElement(
        axis,
        "line",
        {
            "x1": _n(left),
            "y1": _n(y),
            "x2": _n(left + TIMELINE_W),
            "y2": _n(y),
            "stroke": "#333333",
        },
    )
    for k in range(5):
        x = left + TIMELINE_W * k / 4
        ET.SubElement(
            axis,
            "line",
            {"x1": _n(x), "y1": _n(y), "x2": _n(x), "y2": _n(y + 4), "stroke": "#333333"},
        )
        _text(axis, x - 10, y + 16, _duration(step * k / 4) if k else "0", "tick")
    _text(axis, MARGIN, y + 16, "lanes: compute, send, receive", "note")
