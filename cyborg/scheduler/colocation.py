"""Co-location groups: nodes that must run on one device.

When every group can be one node without closing a cycle (``Graph.contractible``), the
planner searches the contracted graph and expands the result: every search (HEFT,
pipeline splits, balancing, local search) then keeps a group on one device without
knowing about groups. Otherwise (a weight's forward and backward nodes around the rest
of the model) the searches keep groups themselves: HEFT and greedy balancing put a
group's later members where its first went, local search moves whole groups, and
contiguous pipeline splits are repaired (:func:`repair`) before local search.

A contracted group runs its members one after another: compute, parameters and
activations add up per device; edges inside a group vanish (one device, no transfer)
and every other edge is kept as it is, between the groups (or nodes) of its ends, so
transfers are counted as before.
"""

import dataclasses
from collections.abc import Sequence

import numpy as np

from cyborg.scheduler.costs import CostModel
from cyborg.scheduler.graph import Edge, Graph, Node


@dataclasses.dataclass(frozen=True)
class Contraction:
    model: CostModel  # over the contracted graph
    #: [contracted node] original node positions, in topological order.
    members: tuple[tuple[int, ...], ...]
    n_original: int

    def expand(self, assignment: Sequence[int]) -> tuple[int, ...]:
        """The device of every original node."""
        result = [0] * self.n_original
        for unit, members in enumerate(self.members):
            for i in members:
                result[i] = assignment[unit]
        return tuple(result)

    def expand_order(self, order: Sequence[int]) -> tuple[int, ...]:
        """A topological order of the original graph: each unit's members in place."""
        return tuple(i for unit in order for i in self.members[unit])


def _merged(graph: Graph, members: Sequence[int]) -> Node:
    nodes = [graph.nodes[i] for i in members]
    first = nodes[0]
    if len(nodes) == 1:
        return first
    return Node(
        name=first.name,
        op_type="Colocated",
        flops=sum(n.flops for n in nodes),
        bytes_read=sum(n.bytes_read for n in nodes),
        bytes_written=sum(n.bytes_written for n in nodes),
        param_bytes=sum(n.param_bytes for n in nodes),
        activation_bytes=sum(n.activation_bytes for n in nodes),
        precision=first.precision,
    )


def contract(model: CostModel) -> Contraction:
    """The model over the graph with every co-location group as one node."""
    graph = model.graph
    members: list[tuple[int, ...]] = []
    unit = [-1] * len(graph.nodes)
    for i in range(len(graph.nodes)):  # units in position order, a group at its first
        g = graph.group_of[i]
        if unit[i] >= 0:
            continue
        group = graph.groups[g] if g >= 0 else (i,)
        for j in group:
            unit[j] = len(members)
        members.append(group)
    nodes = [_merged(graph, m) for m in members]
    # Each edge keeps its tensor: an unnamed one is named after its producer and bytes,
    # which is how the graph tells tensors apart (graph.Graph.edge_tensor).
    edges = [
        Edge(
            nodes[unit[s]].name,
            nodes[unit[d]].name,
            e.bytes,
            e.tensor if e.tensor is not None else f"{e.src}/{e.bytes!r}",
        )
        for e, s, d in zip(graph.edges, graph.edge_src, graph.edge_dst, strict=True)
        if unit[s] != unit[d]
    ]
    contracted = Graph(nodes, edges, name=graph.name, training=graph.training)
    rows = np.zeros((len(members), model.n_devices))
    np.add.at(rows, np.asarray(unit, dtype=int), model.compute)
    memory = np.zeros(len(members))
    np.add.at(memory, np.asarray(unit, dtype=int), model.node_memory)
    reduced = dataclasses.replace(model, graph=contracted, compute=rows, node_memory=memory)
    return Contraction(reduced, tuple(members), len(graph.nodes))


def splits(graph: Graph, assignment: Sequence[int]) -> int:
    """How many co-location groups ``assignment`` spreads over more than one device."""
    return sum(1 for g in graph.groups if len({assignment[i] for i in g}) > 1)


def with_groups(graph: Graph, nodes: Sequence[int]) -> list[int]:
    """``nodes`` with every other member of their groups, each once, in first-seen order."""
    if not graph.groups:
        return list(nodes)
    out: dict[int, None] = {}
    for i in nodes:
        g = graph.group_of[i]
        out.update(dict.fromkeys(graph.groups[g] if g >= 0 else (i,)))
    return list(out)


def repair(
    graph: Graph, compute: Sequence[Sequence[float]], assignment: Sequence[int]
) -> list[int]:
    """``assignment`` with each split group moved to the device where the most of its
    compute already runs (ties: the lower device position)."""
    result = list(assignment)
    for group in graph.groups:
        devices = {assignment[i] for i in group}
        if len(devices) < 2:
            continue
        weight = {d: sum(compute[i][d] for i in group if assignment[i] == d) for d in devices}
        target = min(devices, key=lambda d: (-weight[d], d))
        for i in group:
            result[i] = target
    return result
