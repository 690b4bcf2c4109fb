"""Seeded synthetic graphs and device sets, for tests, benchmarks and documentation."""

import random

from cyborg.scheduler.catalog import CATALOG
from cyborg.scheduler.devices import Device, DeviceSet, PeerLink
from cyborg.scheduler.graph import Edge, Graph, Node

_OPS = ("MatMul", "Conv", "Add", "Relu", "Softmax", "LayerNormalization", "Gemm", "Concat")


def random_dag(n: int, seed: int, width: int = 4, max_inputs: int = 3) -> Graph:
    """A layered random DAG of ``n`` nodes: compute-heavy and memory-bound ops mixed,
    tensors of 64 KiB to 64 MiB, parameters on a third of the nodes."""
    rng = random.Random(seed)  # noqa: S311 - test data
    nodes, edges = [], []
    for i in range(n):
        op = rng.choice(_OPS)
        heavy = op in ("MatMul", "Conv", "Gemm")
        flops = 10 ** rng.uniform(8.5, 11.5) if heavy else 10 ** rng.uniform(5, 8)
        out = 2 ** rng.uniform(16, 26)
        params = 2 ** rng.uniform(18, 28) if heavy and rng.random() < 0.7 else 0.0
        nodes.append(Node(f"n{i}", op, flops, out + params, out, params, out))
        if i:
            sources = {rng.randrange(max(0, i - width * 3), i)}
            while len(sources) < min(i, rng.randint(1, max_inputs)) and rng.random() < 0.5:
                sources.add(rng.randrange(max(0, i - width * 6), i))
            edges += [Edge(f"n{s}", f"n{i}", nodes[s].bytes_written) for s in sorted(sources)]
    return Graph(nodes, edges, name=f"random-{n}-{seed}")


def transformer(
    layers: int, hidden: int = 4096, seq: int = 2048, batch: int = 1, precision: str = "fp16"
) -> Graph:
    """A decoder stack as a graph of its main kernels (2-byte elements)."""
    tokens, size = batch * seq, 2
    act = tokens * hidden * size
    nodes: list[Node] = []
    edges: list[Edge] = []
    idx: dict[str, int] = {}

    def add(
        name: str, op: str, flops: float, params: float, inputs: list[str], out: float = act
    ) -> str:
        read = params + sum(nodes[idx[i]].activation_bytes for i in inputs)
        nodes.append(Node(name, op, flops, read, out, params, out, precision))
        idx[name] = len(nodes) - 1
        edges.extend(Edge(i, name, nodes[idx[i]].activation_bytes) for i in inputs)
        return name

    x = add("embed", "Gather", 0.0, 32000 * hidden * size, [])
    for layer in range(layers):
        p = f"l{layer}."
        h = add(p + "ln1", "LayerNormalization", 8 * tokens * hidden, 2 * hidden * size, [x])
        qkv = add(
            p + "qkv",
            "MatMul",
            2 * tokens * hidden * 3 * hidden,
            3 * hidden * hidden * size,
            [h],
            3 * act,
        )
        scores = add(
            p + "scores",
            "MatMul",
            2 * batch * seq * seq * hidden,
            0.0,
            [qkv],
            batch * 32 * seq * seq * size,
        )
        probs = add(
            p + "softmax",
            "Softmax",
            5 * batch * 32 * seq * seq,
            0.0,
            [scores],
            batch * 32 * seq * seq * size,
        )
        ctx = add(p + "context", "MatMul", 2 * batch * seq * seq * hidden, 0.0, [probs, qkv])
        o = add(p + "out", "MatMul", 2 * tokens * hidden * hidden, hidden * hidden * size, [ctx])
        x = add(p + "res1", "Add", tokens * hidden, 0.0, [x, o])
        h = add(p + "ln2", "LayerNormalization", 8 * tokens * hidden, 2 * hidden * size, [x])
        up = add(
            p + "up",
            "MatMul",
            2 * tokens * hidden * 4 * hidden,
            4 * hidden * hidden * size,
            [h],
            4 * act,
        )
        g = add(p + "gelu", "Gelu", 8 * tokens * 4 * hidden, 0.0, [up], 4 * act)
        down = add(
            p + "down", "MatMul", 2 * tokens * 4 * hidden * hidden, 4 * hidden * hidden * size, [g]
        )
        x = add(p + "res2", "Add", tokens * hidden, 0.0, [x, down])
    add(
        "lm_head",
        "MatMul",
        2 * tokens * hidden * 32000,
        32000 * hidden * size,
        [x],
        tokens * 32000 * size,
    )
    return Graph(nodes, edges, name=f"transformer-{layers}x{hidden}")


def device_set(
    models: list[str], hosts: int = 1, peer_links: bool = True, numa: bool = True
) -> DeviceSet:
    """Devices of catalog ``models`` spread round-robin over ``hosts`` hosts; devices of
    one model on one host are peer-linked (all pairs) when the model has a link type."""
    devices = []
    for i, model in enumerate(models):
        host = f"host{i % hosts}"
        devices.append((f"{model.split('-')[0].lower()}-{i}", model, host, (i // hosts) % 2))
    result = []
    for dev_id, model, host, numa_node in devices:
        spec = CATALOG[model]
        links: tuple[PeerLink, ...] = ()
        if peer_links and spec.peer_link_type:
            links = tuple(
                PeerLink(other, spec.peer_link_type, spec.peer_link_gbps)
                for other, other_model, other_host, _ in devices
                if other_model == model and other_host == host and other > dev_id
            )
        result.append(
            Device(
                id=dev_id,
                model=model,
                host=host,
                memory_mb=spec.memory_mb,
                peak_tflops=dict(spec.peak_tflops),
                memory_bandwidth_gbps=spec.memory_bandwidth_gbps,
                numa_node=numa_node if numa else None,
                links=links,
                pcie_gbps=spec.pcie_gbps,
                launch_overhead_us=spec.launch_overhead_us,
            )
        )
    return DeviceSet(tuple(result))
