"""The computation graph: operators (nodes) with their work, tensors (edges) with bytes.

A :class:`Graph` is immutable and validated when built: unique node names, edges between
known nodes, no cycles. It carries integer indexes (``preds``, ``succs``, ``topo``) so
that the algorithms work on list positions, not names.

Co-location groups (``colocate``) name nodes that must run on one device (a weight, its
gradient and its optimizer update). Groups that share a node are merged. A group may
leave and re-enter itself (``a -> x -> b`` with ``a`` and ``b`` grouped but ``x`` not:
a weight's forward and backward nodes); ``contractible`` says whether none does, so
that every group can be searched as a single node.
"""

import dataclasses
import heapq
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8")
#: Optimizer op types (``ai.onnx.preview.training``'s and onnxruntime's): the ONNX
#: importer ties their parameters to them, a replicated plan all-reduces the gradients
#: they take (:mod:`cyborg.scheduler.replicas`).
OPTIMIZERS = frozenset(
    {
        "Adam",
        "Adagrad",
        "Momentum",
        "SGDOptimizer",
        "SGDOptimizerV2",
        "AdamOptimizer",
        "AdamWOptimizer",
        "LambOptimizer",
    }
)


class GraphError(ValueError):
    """A graph that cannot be scheduled: duplicate names, unknown endpoints, a cycle."""


@dataclasses.dataclass(frozen=True)
class Node:
    """One operator. Work in FLOPs and bytes; memory in bytes; times in seconds."""

    name: str
    op_type: str
    flops: float = 0.0
    bytes_read: float = 0.0
    bytes_written: float = 0.0
    param_bytes: float = 0.0  # weights resident on the device that runs the node
    activation_bytes: float = 0.0  # outputs (and scratch) resident while the step runs
    precision: str = "fp32"
    #: Measured seconds per device model; replaces the roofline estimate there.
    measured: Mapping[str, float] = dataclasses.field(default_factory=dict)

    @property
    def memory_bytes(self) -> float:
        return self.param_bytes + self.activation_bytes

    @property
    def traffic_bytes(self) -> float:
        return self.bytes_read + self.bytes_written


@dataclasses.dataclass(frozen=True)
class Edge:
    """Data from ``src`` to ``dst``: the bytes moved when they run on different devices.

    ``tensor`` names what the edge carries. Edges from one source with the same tensor
    carry one tensor: it moves to a device once, however many of its consumers run
    there. Unnamed edges from one source that carry the same bytes are one tensor (its
    output read by several consumers, as most operators have one output).
    """

    src: str
    dst: str
    bytes: float = 0.0
    tensor: str | None = None


class Graph:
    """A validated DAG. ``nodes[i]`` and the index lists below share positions."""

    def __init__(
        self,
        nodes: Iterable[Node],
        edges: Iterable[Edge],
        name: str = "graph",
        training: bool = False,
        colocate: Iterable[Iterable[str]] = (),
    ):
        self.name = name
        #: A training step keeps every activation until its backward pass (memory).
        self.training = training
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self.edges: tuple[Edge, ...] = tuple(edges)
        self.index: Mapping[str, int] = MappingProxyType(_index(self.nodes))
        self.edge_src: tuple[int, ...] = tuple(self._position(e.src, e) for e in self.edges)
        self.edge_dst: tuple[int, ...] = tuple(self._position(e.dst, e) for e in self.edges)
        self.edge_bytes: tuple[float, ...] = tuple(float(e.bytes) for e in self.edges)
        preds: list[list[int]] = [[] for _ in self.nodes]
        succs: list[list[int]] = [[] for _ in self.nodes]
        for k, (s, d) in enumerate(zip(self.edge_src, self.edge_dst, strict=True)):
            if s == d:
                raise GraphError(f"edge {k} ({self.nodes[s].name!r}) is a self-loop")
            preds[d].append(k)
            succs[s].append(k)
        #: Edge positions into / out of each node.
        self.preds: tuple[tuple[int, ...], ...] = tuple(tuple(p) for p in preds)
        self.succs: tuple[tuple[int, ...], ...] = tuple(tuple(s) for s in succs)
        #: A topological order of node positions (ties broken by position).
        self.topo: tuple[int, ...] = tuple(_topological_order(self))
        tensors: dict[tuple[int, str | float], int] = {}
        #: [edge] the tensor it carries (edges of one tensor share it; -1: no bytes).
        self.edge_tensor: tuple[int, ...] = tuple(
            tensors.setdefault((s, e.bytes if e.tensor is None else e.tensor), len(tensors))
            if e.bytes > 0
            else -1
            for s, e in zip(self.edge_src, self.edges, strict=True)
        )
        sizes = [0.0] * len(tensors)
        for t, nbytes in zip(self.edge_tensor, self.edge_bytes, strict=True):
            if t >= 0:
                sizes[t] = max(sizes[t], nbytes)
        #: [tensor] bytes (the largest of its edges'); what one transfer of it moves.
        self.tensor_bytes: tuple[float, ...] = tuple(sizes)
        #: Co-location groups of two or more node positions (topological order within
        #: a group, groups by their first node), and each node's group (-1: none).
        self.groups: tuple[tuple[int, ...], ...] = _groups(self, colocate)
        group_of = [-1] * len(self.nodes)
        for g, members in enumerate(self.groups):
            for i in members:
                group_of[i] = g
        self.group_of: tuple[int, ...] = tuple(group_of)
        #: Whether the graph with every group as one node is still a DAG.
        self.contractible: bool = _contractible(self)

    @property
    def colocate(self) -> tuple[tuple[str, ...], ...]:
        """The co-location groups by node name."""
        return tuple(tuple(self.nodes[i].name for i in g) for g in self.groups)

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.nodes)} nodes, {len(self.edges)} edges)"

    def _position(self, name: str, edge: Edge) -> int:
        try:
            return self.index[name]
        except KeyError:
            raise GraphError(f"edge {edge.src!r} -> {edge.dst!r}: no node {name!r}") from None


def _index(nodes: Sequence[Node]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if node.name in index:
            raise GraphError(f"two nodes are named {node.name!r}")
        index[node.name] = i
    return index


def _topological_order(graph: Graph) -> list[int]:
    """Kahn's algorithm, smallest position first; a leftover node means a cycle."""
    missing = [len(p) for p in graph.preds]
    ready = [i for i, m in enumerate(missing) if m == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for k in graph.succs[i]:
            j = graph.edge_dst[k]
            missing[j] -= 1
            if missing[j] == 0:
                heapq.heappush(ready, j)
    if len(order) != len(graph.nodes):
        stuck = next(i for i, m in enumerate(missing) if m > 0)
        raise GraphError(f"the graph has a cycle through {graph.nodes[stuck].name!r}")
    return order


def _groups(graph: Graph, colocate: Iterable[Iterable[str]]) -> tuple[tuple[int, ...], ...]:
    """Union-find over the named groups: overlapping groups become one."""
    parent = list(range(len(graph.nodes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for number, group in enumerate(colocate):
        members = []
        for name in group:
            if name not in graph.index:
                raise GraphError(f"co-location group {number}: no node {name!r}")
            members.append(graph.index[name])
        for i in members[1:]:
            parent[root(i)] = root(members[0])
    position = [0] * len(graph.nodes)
    for p, i in enumerate(graph.topo):
        position[i] = p
    by_root: dict[int, list[int]] = {}
    for i in graph.topo:
        by_root.setdefault(root(i), []).append(i)
    groups = [tuple(g) for g in by_root.values() if len(g) > 1]
    return tuple(sorted(groups, key=lambda g: position[g[0]]))


def _contractible(graph: Graph) -> bool:
    """Kahn's algorithm on the graph with every group contracted to one node."""
    if not graph.groups:
        return True
    unit = [g if g >= 0 else len(graph.groups) + i for i, g in enumerate(graph.group_of)]
    succs: dict[int, set[int]] = {}
    missing: dict[int, int] = dict.fromkeys(unit, 0)
    for s, d in zip(graph.edge_src, graph.edge_dst, strict=True):
        a, b = unit[s], unit[d]
        if a != b and b not in succs.setdefault(a, set()):
            succs[a].add(b)
            missing[b] += 1
    ready = [u for u, m in missing.items() if m == 0]
    done = 0
    while ready:
        u = ready.pop()
        done += 1
        for v in succs.get(u, ()):
            missing[v] -= 1
            if missing[v] == 0:
                ready.append(v)
    return done == len(missing)


def depth_first_order(graph: Graph) -> list[int]:
    """A topological order that finishes one branch before starting the next.

    Contiguous slices of it cut fewer edges than Kahn's breadth-first order, which is
    what the pipeline splitter wants.
    """
    missing = [len(p) for p in graph.preds]
    stack = [i for i in reversed(range(len(graph.nodes))) if missing[i] == 0]
    order: list[int] = []
    while stack:
        i = stack.pop()
        order.append(i)
        for k in reversed(graph.succs[i]):
            j = graph.edge_dst[k]
            missing[j] -= 1
            if missing[j] == 0:
                stack.append(j)
    return order
