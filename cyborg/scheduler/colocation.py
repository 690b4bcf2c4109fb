"""Co-location groups as single nodes: search the contracted graph, expand the result.

Every search (HEFT, pipeline splits, balancing, local search, the exact solver) then
keeps a group on one device without knowing about groups. A group's node runs its
members one after another: compute, parameters and activations add up per device; edges
inside a group vanish (one device, no transfer) and every other edge is kept as it is,
between the groups (or nodes) of its ends, so transfers are counted as before.
:class:`~cyborg.scheduler.graph.Graph` has already refused groups that would close a
cycle, so the contracted graph is a DAG.
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
    edges = [
        Edge(nodes[unit[s]].name, nodes[unit[d]].name, b)
        for s, d, b in zip(graph.edge_src, graph.edge_dst, graph.edge_bytes, strict=True)
        if unit[s] != unit[d]
    ]
    contracted = Graph(nodes, edges, name=graph.name)
    rows = np.zeros((len(members), model.n_devices))
    np.add.at(rows, np.asarray(unit, dtype=int), model.compute)
    memory = np.zeros(len(members))
    np.add.at(memory, np.asarray(unit, dtype=int), model.node_memory)
    reduced = dataclasses.replace(model, graph=contracted, compute=rows, node_memory=memory)
    return Contraction(reduced, tuple(members), len(graph.nodes))


def splits(graph: Graph, assignment: Sequence[int]) -> int:
    """How many co-location groups ``assignment`` spreads over more than one device."""
    return sum(1 for g in graph.groups if len({assignment[i] for i in g}) > 1)
