"""The cost model: seconds per (node, device), seconds per transfer, bytes per device.

Compute (roofline)::

    t(node, device) = factor(op_type, model) * (max(flops / peak(precision),
                                                    bytes / memory_bandwidth)
                                                + launch_overhead)

unless the node carries a measured time for the device's model, which is used as is.
Nodes with no work at all (views such as ``Reshape``) cost nothing.

Transfer of ``b`` bytes from device ``a`` to ``c``: ``latency + b / bandwidth`` of
their link class (:func:`cyborg.scheduler.devices.link_between`), zero on one device.

Memory: a device must hold the parameters and activations of every node placed on it,
plus every tensor it receives from another device (all resident for the whole step).

Every algorithm and every estimate in the planner reads this one model, as plain lists
and numpy arrays indexed by node and device position.
"""

import dataclasses
from collections.abc import Mapping

import numpy as np

from cyborg.scheduler.devices import DeviceSet, Link, link_between
from cyborg.scheduler.factors import Factors, factor_for
from cyborg.scheduler.graph import Graph
from cyborg.scheduler.work_model import WorkModel, profile_of


@dataclasses.dataclass(frozen=True, eq=False)
class CostModel:
    graph: Graph
    devices: DeviceSet
    #: [node, device] seconds.
    compute: np.ndarray
    #: [node] resident bytes (parameters + activations).
    node_memory: np.ndarray
    #: [device] bytes.
    capacity: np.ndarray
    #: [device][device] link (class, bandwidth, latency, resources).
    links: tuple[tuple[Link, ...], ...]
    #: [device, device] seconds per byte and fixed seconds per transfer (0 on the diagonal).
    per_byte: np.ndarray
    latency: np.ndarray

    @property
    def n_nodes(self) -> int:
        return len(self.graph.nodes)

    @property
    def n_devices(self) -> int:
        return len(self.devices.devices)

    def transfer(self, a: int, b: int, nbytes: float) -> float:
        """Seconds to move ``nbytes`` from device ``a`` to device ``b``."""
        if a == b or nbytes <= 0:
            return 0.0
        return float(self.latency[a, b] + nbytes * self.per_byte[a, b])

    def edge_times(self) -> np.ndarray:
        """[edge, device, device] transfer seconds (tables for the algorithms)."""
        nbytes = np.asarray(self.graph.edge_bytes, dtype=float)[:, None, None]
        times = self.latency[None, :, :] + nbytes * self.per_byte[None, :, :]
        return np.where(nbytes > 0, times, 0.0)


def roofline_table(graph: Graph, devices: DeviceSet, factors: Factors) -> np.ndarray:
    """[node, device] seconds: the roofline (vectorised), then measured times."""
    models = [d.model for d in devices.devices]
    flops = np.array([node.flops for node in graph.nodes], dtype=float)
    traffic = np.array([node.traffic_bytes for node in graph.nodes], dtype=float)
    precisions = sorted({node.precision for node in graph.nodes})
    peak = np.array([[d.peak_flops(p) for d in devices.devices] for p in precisions])
    by_precision = np.array([precisions.index(node.precision) for node in graph.nodes], dtype=int)
    bandwidth = np.array([d.memory_bandwidth_gbps * 1e9 for d in devices.devices])
    overhead = np.array([d.launch_overhead_us * 1e-6 for d in devices.devices])
    op_types = sorted({node.op_type for node in graph.nodes})
    factor = np.array([[factor_for(factors, op, m) for m in models] for op in op_types])
    by_op = np.array([op_types.index(node.op_type) for node in graph.nodes], dtype=int)
    seconds = np.maximum(flops[:, None] / peak[by_precision], traffic[:, None] / bandwidth)
    seconds = factor[by_op] * (seconds + overhead[None, :])
    if isinstance(factors, WorkModel):  # learned time against work (work_model.py)
        profiles = [profile_of(d.peak_tflops, d.memory_bandwidth_gbps) for d in devices.devices]
        compute, memory = flops[:, None] / peak[by_precision], traffic[:, None] / bandwidth
        ops = [node.op_type for node in graph.nodes]
        seconds = factors.node_seconds(ops, models, profiles, compute, memory, overhead)
    seconds[(flops <= 0) & (traffic <= 0)] = 0.0  # views: no kernel at all
    for i, node in enumerate(graph.nodes):
        for d, model in enumerate(models):
            if model in node.measured:
                seconds[i, d] = float(node.measured[model])
    return seconds


def build_cost_model(
    graph: Graph, devices: DeviceSet, factors: Factors | None = None
) -> CostModel:
    m = len(devices.devices)
    links = tuple(
        tuple(link_between(a, b, devices.interconnect) for b in devices.devices)
        for a in devices.devices
    )
    per_byte = np.zeros((m, m))
    latency = np.zeros((m, m))
    for a in range(m):
        for b in range(m):
            if a != b:
                per_byte[a, b] = 1.0 / (links[a][b].bandwidth_gbps * 1e9)
                latency[a, b] = links[a][b].latency_us * 1e-6
    if isinstance(factors, WorkModel):  # learned latency and bandwidth per link kind
        kinds = [[link.kind for link in row] for row in links]
        per_byte, latency = factors.scale_links(kinds, per_byte, latency)
    return CostModel(
        graph=graph,
        devices=devices,
        compute=roofline_table(graph, devices, factors or {}),
        node_memory=np.array([node.memory_bytes for node in graph.nodes], dtype=float),
        capacity=np.array([dev.memory_bytes for dev in devices.devices], dtype=float),
        links=links,
        per_byte=per_byte,
        latency=latency,
    )


def restrict(model: CostModel, positions: list[int]) -> CostModel:
    """The same model over the devices at ``positions`` only (in that order)."""
    idx = np.asarray(positions, dtype=int)
    return dataclasses.replace(
        model,
        devices=model.devices.subset(positions),
        compute=model.compute[:, idx],
        capacity=model.capacity[idx],
        links=tuple(tuple(model.links[a][b] for b in positions) for a in positions),
        per_byte=model.per_byte[np.ix_(idx, idx)],
        latency=model.latency[np.ix_(idx, idx)],
    )


def device_speed_order(model: CostModel) -> list[int]:
    """Device positions, fastest first for this graph (total compute time)."""
    totals = model.compute.sum(axis=0)
    return sorted(range(model.n_devices), key=lambda d: (totals[d], d))


def describe_links(model: CostModel) -> Mapping[str, int]:
    """How many ordered device pairs fall in each link class."""
    counts: dict[str, int] = {}
    for row in model.links:
        for link in row:
            counts[link.kind] = counts.get(link.kind, 0) + 1
    return counts
