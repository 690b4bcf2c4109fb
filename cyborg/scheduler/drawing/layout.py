"""A layered layout of a graph: one row per topological level, boxes and edge lines.

Level of a node = the longest chain of edges from a source to it. Within a level, nodes
are ordered by the mean slot of their predecessors (one downward barycentre pass, ties
by position), which untangles chains and fan-outs enough to read.

Bounded whatever the graph: above :data:`NODE_LIMIT` nodes the levels are cut into at
most :data:`BAND_LIMIT` bands and each band draws one *stage* box per device holding
its nodes (edges summed between boxes); the layout's ``note`` says so. At most
:data:`EDGE_LIMIT` edge lines are drawn (the note says how many were left out).
"""

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from cyborg.scheduler.graph import Graph

NODE_LIMIT = 250
BAND_LIMIT = 30
EDGE_LIMIT = 1500
BOX_W, BOX_H = 128.0, 30.0
GAP_X, GAP_Y = 16.0, 34.0

#: A box's (label, title, device) from the node positions it stands for.
_Describe = Callable[[tuple[int, ...]], tuple[str, str, str | None]]


@dataclasses.dataclass(frozen=True)
class Box:
    x: float
    y: float
    label: str
    title: str
    device: str | None  # the device id, None when not placed
    nodes: tuple[str, ...]  # the nodes it stands for (one unless a stage)


@dataclasses.dataclass(frozen=True)
class Layout:
    boxes: tuple[Box, ...]
    edges: tuple[tuple[float, float, float, float], ...]  # x1, y1, x2, y2
    width: float
    height: float
    summarised: bool
    note: str | None


def levels(graph: Graph) -> list[int]:
    level = [0] * len(graph)
    for i in graph.topo:
        for k in graph.preds[i]:
            level[i] = max(level[i], level[graph.edge_src[k]] + 1)
    return level


def layout(graph: Graph, placement: Mapping[str, str]) -> Layout:
    """Boxes for every node (or stage) at their level, and the edges between them."""
    if len(graph) > NODE_LIMIT:
        return _stages(graph, placement)
    level = levels(graph)
    rows: list[list[int]] = [[] for _ in range(max(level, default=-1) + 1)]
    slot = [0.0] * len(graph)
    for i in graph.topo:
        rows[level[i]].append(i)
    for row in rows:
        row.sort(key=lambda i: (_barycentre(graph, slot, i), i))
        for s, i in enumerate(row):
            slot[i] = s
    names = [node.name for node in graph.nodes]
    members = [[(i,) for i in row] for row in rows]
    boxes, centre = _place(members, lambda key: _node_box(graph, placement, key[0]), names)
    pairs = list(zip(graph.edge_src, graph.edge_dst, strict=True))
    return _finish(boxes, centre, pairs, False, None)


def _barycentre(graph: Graph, slot: Sequence[float], i: int) -> float:
    preds = graph.preds[i]
    if not preds:
        return float(i)
    return sum(slot[graph.edge_src[k]] for k in preds) / len(preds)


def _node_box(graph: Graph, placement: Mapping[str, str], i: int) -> tuple[str, str, str | None]:
    node = graph.nodes[i]
    device = placement.get(node.name)
    where = f" on {device}" if device else " (not placed)"
    return node.name, f"{node.name} ({node.op_type}){where}", device


def _stages(graph: Graph, placement: Mapping[str, str]) -> Layout:
    level = levels(graph)
    depth = max(level) + 1
    bands = min(depth, BAND_LIMIT)
    groups: dict[tuple[int, str], list[int]] = {}
    for i in graph.topo:
        key = (level[i] * bands // depth, placement.get(graph.nodes[i].name, ""))
        groups.setdefault(key, []).append(i)
    keys = sorted(groups)
    rows: list[list[tuple[int, ...]]] = [[] for _ in range(bands)]
    group_of = [0] * len(graph)
    for g, key in enumerate(keys):
        rows[key[0]].append(tuple(groups[key]))
        for i in groups[key]:
            group_of[i] = g
    names = [node.name for node in graph.nodes]

    def describe(members: tuple[int, ...]) -> tuple[str, str, str | None]:
        device = placement.get(names[members[0]])
        low, high = level[members[0]], max(level[i] for i in members)
        span = f"level {low}" if low == high else f"levels {low}-{high}"
        where = f"on {device}" if device else "not placed"
        return f"{len(members)} nodes", f"{len(members)} nodes, {span}, {where}", device

    boxes, centre = _place(rows, describe, names)
    first = [groups[key][0] for key in keys]  # the node a stage box is centred by
    pairs = sorted(
        {
            (first[group_of[s]], first[group_of[d]])
            for s, d in zip(graph.edge_src, graph.edge_dst, strict=True)
            if group_of[s] != group_of[d]
        }
    )
    note = (
        f"{len(graph)} nodes over {depth} levels, more than the {NODE_LIMIT} drawn one by "
        f"one: summarised as {len(boxes)} stage boxes (one per device per band of levels)"
    )
    return _finish(boxes, centre, pairs, True, note)


def _place(
    rows: Sequence[Sequence[tuple[int, ...]]],
    describe: _Describe,
    names: Sequence[str],
) -> tuple[list[Box], dict[int, tuple[float, float]]]:
    """Rows of member tuples as boxes, each row centred; the centre of each box by its
    first member."""
    widest = max((len(row) for row in rows), default=0)
    full = widest * (BOX_W + GAP_X)
    boxes: list[Box] = []
    centre: dict[int, tuple[float, float]] = {}
    for r, row in enumerate(rows):
        left = GAP_X + (full - len(row) * (BOX_W + GAP_X)) / 2
        y = GAP_Y / 2 + r * (BOX_H + GAP_Y)
        for s, members in enumerate(row):
            x = left + s * (BOX_W + GAP_X)
            label, title, device = describe(members)
            boxes.append(Box(x, y, label, title, device, tuple(names[i] for i in members)))
            centre[members[0]] = (x + BOX_W / 2, y)
    return boxes, centre


def _finish(
    boxes: list[Box],
    centre: Mapping[int, tuple[float, float]],
    pairs: Sequence[tuple[int, int]],
    summarised: bool,
    note: str | None,
) -> Layout:
    edges = tuple(
        (centre[s][0], centre[s][1] + BOX_H, centre[d][0], centre[d][1])
        for s, d in pairs[:EDGE_LIMIT]
    )
    if len(pairs) > EDGE_LIMIT:
        left_out = f"{len(pairs) - EDGE_LIMIT} of {len(pairs)} edges not drawn"
        note = f"{note}; {left_out}" if note else left_out
    width = max((b.x + BOX_W for b in boxes), default=0.0) + GAP_X
    height = max((b.y + BOX_H for b in boxes), default=0.0) + GAP_Y / 2
    return Layout(tuple(boxes), edges, width, height, summarised, note)
