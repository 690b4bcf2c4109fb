"""The computation graph: operators (nodes) with their work, tensors (edges) with bytes.

A :class:`Graph` is immutable and validated when built: unique node names, edges between
known nodes, no cycles. It carries integer indexes (``preds``, ``succs``, ``topo``) so
that the algorithms work on list positions, not names.
"""

import dataclasses
import heapq
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8")


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
