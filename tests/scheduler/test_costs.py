"""The roofline, link classes, memory, learned factors and the critical path."""

import pytest

from cyborg.scheduler import analysis, factors, synthetic
from cyborg.scheduler.costs import build_cost_model
from cyborg.scheduler.devices import Device, DeviceSet, Interconnect, PeerLink, link_between
from cyborg.scheduler.evaluate import Evaluator
from cyborg.scheduler.graph import Edge, Graph, Node

T4, H100 = "T4", "H100-SXM5-80GB"


def _devices() -> DeviceSet:
    return DeviceSet(
        (
            Device(
                "a",
                "X",
                "h1",
                1024,
                {"fp32": 10.0, "fp16": 40.0},
                100.0,
                numa_node=0,
                links=(PeerLink("b", "nvlink", 50.0, 1.0),),
                pcie_gbps=20.0,
                launch_overhead_us=5.0,
            ),
            Device("b", "X", "h1", 1024, {"fp32": 10.0}, 100.0, numa_node=0, pcie_gbps=20.0),
            Device("c", "Y", "h1", 1024, {"fp32": 1.0}, 10.0, numa_node=1, pcie_gbps=10.0),
            Device("d", "Y", "h2", 1024, {"fp32": 1.0}, 10.0, numa_node=0, pcie_gbps=10.0),
        ),
        Interconnect(
            pcie_latency_us=3.0,
            numa_bandwidth_gbps=5.0,
            numa_latency_us=4.0,
            network_bandwidth_gbps=2.0,
            network_latency_us=10.0,
        ),
    )


def test_roofline_takes_the_slower_of_compute_and_memory() -> None:
    nodes = [
        Node("compute", "MatMul", flops=1e12),  # 1e12 / 10e12 = 0.1 s on a
        Node("memory", "Add", flops=1e6, bytes_read=5e9, bytes_written=5e9),  # 10e9 / 100e9
        Node("half", "MatMul", flops=4e12, precision="fp16"),  # 40 TFLOPS on a, 10 on b
        Node("view", "Reshape"),
        Node("measured", "Relu", flops=1e15, measured={"Y": 0.25}),
    ]
    model = build_cost_model(Graph(nodes, []), _devices())
    overhead = 5e-6
    assert model.compute[0, 0] == pytest.approx(0.1 + overhead)
    assert model.compute[1, 0] == pytest.approx(0.1 + overhead)
    assert model.compute[2, 0] == pytest.approx(0.1 + overhead)
    assert model.compute[2, 1] == pytest.approx(0.4 + overhead)  # fp16 falls back to fp32
    assert model.compute[3].tolist() == [0.0] * 4
    assert model.compute[4, 2] == model.compute[4, 3] == 0.25


def test_factors_scale_the_roofline() -> None:
    graph = Graph([Node("mm", "MatMul", flops=1e12)], [])
    plain = build_cost_model(graph, _devices())
    scaled = build_cost_model(graph, _devices(), {("MatMul", "Y"): 2.0})
    assert scaled.compute[0, 2] == pytest.approx(2 * plain.compute[0, 2])
    assert scaled.compute[0, 0] == plain.compute[0, 0]


def test_link_classes() -> None:
    devices = _devices()
    a, b, c, d = devices.devices
    ic = devices.interconnect
    mb = 1e6
    assert link_between(a, a, ic).seconds(mb) == 0.0
    peer = link_between(b, a, ic)  # declared on a's side only
    assert (peer.kind, peer.resources) == ("peer", ("peer:b>a",))
    assert peer.seconds(mb) == pytest.approx(1e-6 + mb / 50e9)
    numa = link_between(a, c, ic)
    assert numa.kind == "numa" and numa.seconds(mb) == pytest.approx(7e-6 + mb / 5e9)
    assert numa.resources == ("pcie-up:a", "pcie-down:c", "numa:h1:0>1")
    network = link_between(c, d, ic)
    assert network.kind == "network" and network.seconds(mb) == pytest.approx(16e-6 + mb / 2e9)
    assert "nic-out:h1" in network.resources and "nic-in:h2" in network.resources
    same_numa = link_between(b, Device("e", "X", "h1", 1, {"fp32": 1}, 1, 0), ic)
    assert same_numa.kind == "pcie"


def test_memory_counts_nodes_and_received_tensors() -> None:
    nodes = [Node("p", "Op", param_bytes=100, activation_bytes=10), Node("q", "Op", 0, 0, 0, 5, 1)]
    model = build_cost_model(Graph(nodes, [Edge("p", "q", 7)]), _devices())
    ev = Evaluator(model)
    assert ev.memory_of([0, 0]) == [116, 0, 0, 0]
    assert ev.memory_of([0, 1]) == [110, 13, 0, 0]


def test_ema_update_moves_towards_the_measured_ratio() -> None:
    sample = factors.OpSample("MatMul", T4, predicted_s=1.0, measured_s=4.0)
    once = factors.update_from_ops({}, [sample], alpha=0.5)
    assert once[("MatMul", T4)] == pytest.approx(2.0)  # exp(0.5 * log 4)
    many = factors.update_from_ops({}, [sample] * 30, alpha=0.5)
    assert many[("MatMul", T4)] == pytest.approx(4.0, rel=1e-6)
    clipped = factors.update_from_ops({}, [factors.OpSample("X", T4, 1.0, 1e6)] * 50)
    assert clipped[("X", T4)] == factors.MAX_FACTOR


def test_least_squares_recovers_factors_from_step_times() -> None:
    true = {"MatMul": 1.6, "Add": 3.0}
    samples = [
        factors.StepSample(T4, {"MatMul": mm, "Add": add}, true["MatMul"] * mm + true["Add"] * add)
        for mm, add in [(1.0, 0.1), (2.0, 0.5), (0.5, 0.4), (3.0, 0.2)]
    ]
    fitted = factors.fit_step_times({}, samples, ridge=1e-6)
    assert fitted[("MatMul", T4)] == pytest.approx(1.6, rel=1e-3)
    assert fitted[("Add", T4)] == pytest.approx(3.0, rel=1e-3)


def test_critical_path_by_hand() -> None:
    # a -> b -> d and a -> c -> d; c is slow, the edge a -> b is expensive.
    graph = Graph(
        [Node(x, "Op") for x in "abcd"],
        [Edge("a", "b"), Edge("a", "c"), Edge("b", "d"), Edge("c", "d")],
    )
    assert analysis.critical_path(graph, [1, 2, 5, 1]) == analysis.CriticalPath(7, ("a", "c", "d"))
    with_edges = analysis.critical_path(graph, [1, 2, 5, 1], edge_cost=[10, 0, 0, 0])
    assert with_edges == analysis.CriticalPath(14, ("a", "b", "d"))


def test_summary_totals() -> None:
    graph = synthetic.transformer(2, hidden=64, seq=8)
    summary = analysis.summarize(graph)
    assert summary.nodes == len(graph.nodes) == 2 * 12 + 2
    assert summary.flops == sum(n.flops for n in graph.nodes)
    assert summary.edge_bytes == sum(graph.edge_bytes)
