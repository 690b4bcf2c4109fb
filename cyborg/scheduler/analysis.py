"""Whole-graph facts: totals and the critical path."""

import dataclasses
from collections.abc import Sequence

from cyborg.scheduler.graph import Graph


@dataclasses.dataclass(frozen=True)
class CriticalPath:
    length: float  # seconds (or whatever unit the costs are in)
    nodes: tuple[str, ...]  # first to last


def critical_path(
    graph: Graph, node_cost: Sequence[float], edge_cost: Sequence[float] | None = None
) -> CriticalPath:
    """The longest path through the DAG, counting ``node_cost[i]`` for every node and
    ``edge_cost[k]`` (default 0) for every edge on it."""
    best = [0.0] * len(graph.nodes)
    back = [-1] * len(graph.nodes)
    for i in graph.topo:
        start, via = 0.0, -1
        for k in graph.preds[i]:
            s = graph.edge_src[k]
            arrive = best[s] + (edge_cost[k] if edge_cost is not None else 0.0)
            if arrive > start:
                start, via = arrive, s
        best[i] = start + node_cost[i]
        back[i] = via
    if not best:
        return CriticalPath(0.0, ())
    node = max(range(len(best)), key=best.__getitem__)
    length = best[node]
    path = []
    while node >= 0:
        path.append(graph.nodes[node].name)
        node = back[node]
    return CriticalPath(length, tuple(reversed(path)))


@dataclasses.dataclass(frozen=True)
class Summary:
    nodes: int
    edges: int
    flops: float
    bytes_moved: float  # read + written by all nodes
    param_bytes: float
    activation_bytes: float
    edge_bytes: float


def summarize(graph: Graph) -> Summary:
    return Summary(
        nodes=len(graph.nodes),
        edges=len(graph.edges),
        flops=sum(n.flops for n in graph.nodes),
        bytes_moved=sum(n.traffic_bytes for n in graph.nodes),
        param_bytes=sum(n.param_bytes for n in graph.nodes),
        activation_bytes=sum(n.activation_bytes for n in graph.nodes),
        edge_bytes=sum(graph.edge_bytes),
    )
