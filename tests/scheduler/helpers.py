"""Cost models built by hand, so that tests can check numbers on paper."""

import dataclasses
import random
from collections.abc import Sequence

import numpy as np

from cyborg.scheduler.costs import CostModel, build_cost_model
from cyborg.scheduler.devices import Device, DeviceSet, Link
from cyborg.scheduler.graph import Edge, Graph, Node

H100, A100, T4, FPGA = "H100-SXM5-80GB", "A100-SXM4-80GB", "T4", "FPGA-HBM"
# (catalog models, hosts, peer links) of the seeded property tests.
SETS = [
    ([H100, T4], 1, False),
    ([A100, T4, FPGA], 1, False),
    ([H100, H100, T4, T4], 1, True),
    ([A100, FPGA, A100, FPGA], 2, False),
]


def device(dev_id: str, host: str = "h", memory_mb: float = 1024.0) -> Device:
    return Device(dev_id, "test", host, memory_mb, {"fp32": 1.0}, 100.0)


def random_edges(rng: random.Random, n: int, chain: bool) -> list[tuple[int, int, float]]:
    """A chain of ``n`` nodes, or a random DAG (each pair with probability 0.4), with
    0 to 8 bytes per edge."""
    if chain:
        return [(i, i + 1, rng.uniform(0, 8)) for i in range(n - 1)]
    return [(s, t, rng.uniform(0, 8)) for t in range(1, n) for s in range(t) if rng.random() < 0.4]


def hand_model(
    compute: Sequence[Sequence[float]],
    edges: Sequence[tuple[int, int, float] | tuple[int, int, float, str]],
    transfer_per_byte: float = 1.0,
    memory: Sequence[float] | None = None,
    capacity_mb: Sequence[float] | None = None,
    contention: bool = False,
    blocking: bool = False,
    params: Sequence[float] | None = None,
    training: bool = False,
) -> CostModel:
    """Node i costs compute[i][d] on device d; an edge (i, j, b[, tensor]) costs
    b * transfer_per_byte between different devices (no latency). Resources (one per
    ordered pair of devices) only with ``contention``; ``blocking``: every transfer
    keeps both ends busy. ``memory``: activation bytes, ``params``: parameter bytes."""
    n, m = len(compute), len(compute[0])
    nodes = [
        Node(
            f"n{i + 1}",
            "Op",
            param_bytes=params[i] if params else 0.0,
            activation_bytes=memory[i] if memory else 0.0,
        )
        for i in range(n)
    ]
    graph = Graph(
        nodes,
        [Edge(f"n{e[0] + 1}", f"n{e[1] + 1}", e[2], e[3] if len(e) > 3 else None) for e in edges],
        "hand",
        training=training,
    )
    caps = capacity_mb or [1024.0] * m
    devices = DeviceSet(tuple(device(f"d{d}", memory_mb=caps[d]) for d in range(m)))
    model = build_cost_model(graph, devices)
    links = tuple(
        tuple(
            Link("same", 0.0, 0.0, ())
            if a == b
            else Link(
                "test",
                1e-9 / transfer_per_byte,
                0.0,
                (f"{a}>{b}",) if contention else (),
                blocking,
                blocking,
            )
            for b in range(m)
        )
        for a in range(m)
    )
    per_byte = np.full((m, m), transfer_per_byte)
    np.fill_diagonal(per_byte, 0.0)
    return dataclasses.replace(
        model,
        compute=np.asarray(compute, dtype=float),
        links=links,
        per_byte=per_byte,
        latency=np.zeros((m, m)),
    )


# Topcuoglu, Hariri and Wu, "Performance-effective and low-complexity task scheduling
# for heterogeneous computing", IEEE TPDS 13(3), 2002: Figure 2 (10 tasks, 3 processors).
TEXTBOOK_COMPUTE = [
    [14, 16, 9], [13, 19, 18], [11, 13, 19], [13, 8, 17], [12, 13, 10],
    [13, 16, 9], [7, 15, 11], [5, 11, 14], [18, 12, 20], [21, 7, 16],
]  # fmt: skip
TEXTBOOK_EDGES = [
    (0, 1, 18), (0, 2, 12), (0, 3, 9), (0, 4, 11), (0, 5, 14), (1, 7, 19), (1, 8, 16),
    (2, 6, 23), (3, 7, 27), (3, 8, 23), (4, 8, 13), (5, 7, 15), (6, 9, 17), (7, 9, 11),
    (8, 9, 13),
]  # fmt: skip
TEXTBOOK_RANKS = [108.0, 77.0, 80.0, 80.0, 69.0, 63.333, 42.667, 35.667, 44.333, 14.667]
