"""Replicated plans: the ring all-reduce, batch shares, memory, and the one ranking."""

import json

import numpy as np
import pytest

from cyborg.scheduler import heft, replicas, synthetic, synthetic_models
from cyborg.scheduler.costs import build_cost_model, device_speed_order
from cyborg.scheduler.devices import Device, DeviceSet, Interconnect, PeerLink
from cyborg.scheduler.drawing import picture
from cyborg.scheduler.evaluate import Evaluator
from cyborg.scheduler.graph import Edge, Graph, Node
from cyborg.scheduler.onnx_import import graph_from_onnx
from cyborg.scheduler.plan import make_replicated_plan, plan_to_dict
from cyborg.scheduler.planner import plan_graph
from cyborg.scheduler.synthetic_models import Layer, training_graph
from cyborg.scheduler.synthetic_training import mlp_training_step

H100 = "H100-SXM5-80GB"


def gpu(
    dev_id: str,
    host: str = "h",
    tflops: float = 100.0,
    memory_mb: float = 80 * 1024,
    pcie_gbps: float = 10.0,
    links: tuple[PeerLink, ...] = (),
) -> Device:
    """A device without launch overhead: a node's time is its FLOPs over the peak."""
    return Device(
        dev_id,
        f"gpu-{tflops:g}",
        host,
        memory_mb,
        {"fp32": tflops},
        1000.0,
        links=links,
        pcie_gbps=pcie_gbps,
        launch_overhead_us=0.0,
    )


def chain(n: int, flops: float = 1e12, params: float = 0.0, act: float = 1e6) -> Graph:
    """An inference chain: compute-bound nodes, ``act`` bytes between them."""
    nodes = [Node(f"n{i}", "MatMul", flops, 0.0, act, params, act) for i in range(n)]
    edges = [Edge(f"n{i}", f"n{i + 1}", act) for i in range(n - 1)]
    return Graph(nodes, edges, name=f"chain-{n}")


def evaluator(
    graph: Graph, devices: list[Device], interconnect: Interconnect | None = None
) -> Evaluator:
    links = interconnect or Interconnect()
    return Evaluator(build_cost_model(graph, DeviceSet(tuple(devices), links)))


def test_ring_all_reduce_on_known_numbers() -> None:
    # Four devices on one host through PCIe at 10 GB/s, 5 us a transfer: 1 GB takes
    # 2 * 3/4 * 1e9 B / 1e10 B/s = 0.15 s, plus 2 * 3 * 5 us.
    ev = evaluator(chain(1), [gpu(f"g{k}") for k in range(4)])
    assert replicas.ring_allreduce_s(ev, [0, 1, 2, 3], 1e9) == pytest.approx(0.15 + 30e-6)
    # Two devices: 2 * 1/2 * 1e9 / 1e10 + 2 * 5 us.
    assert replicas.ring_allreduce_s(ev, [0, 1], 1e9) == pytest.approx(0.1 + 10e-6)
    assert replicas.ring_allreduce_s(ev, [0], 1e9) == 0.0
    assert replicas.ring_allreduce_s(ev, [0, 1], 0.0) == 0.0


def test_the_slowest_link_of_the_ring_sets_its_time() -> None:
    # g0-g1 peer-linked at 100 GB/s, g2 and g3 through 10 GB/s PCIe: the ring has to
    # cross PCIe, so its 1/1e10 s per byte counts (and PCIe's 5 us, over the peer's 2).
    fast = (PeerLink("g1", "nvlink", 100.0),)
    ev = evaluator(chain(1), [gpu("g0", links=fast), gpu("g1"), gpu("g2"), gpu("g3")])
    ring = replicas.ring_order(ev, [0, 1, 2, 3])
    assert sorted(ring) == [0, 1, 2, 3]
    assert replicas.ring_allreduce_s(ev, ring, 1e9) == pytest.approx(0.15 + 30e-6)
    # The peer-linked pair alone: 1e9 / 1e11 + 2 * 2 us.
    assert replicas.ring_allreduce_s(ev, [0, 1], 1e9) == pytest.approx(0.01 + 4e-6)


def test_concurrent_rings_share_a_nic() -> None:
    # Two rings of two devices, each across the same two hosts: every NIC carries a
    # hop of each ring, so each gets half its bandwidth (1.25 GB/s of 2.5).
    devices = [gpu("a0", "h0"), gpu("a1", "h0"), gpu("b0", "h1"), gpu("b1", "h1")]
    ev = evaluator(
        chain(1), devices, Interconnect(network_bandwidth_gbps=2.5, network_latency_us=0.0)
    )
    alone = replicas.allreduce_s(ev, [([0, 2], 1e9)])
    both = replicas.allreduce_s(ev, [([0, 2], 1e9), ([1, 3], 1e9)])
    latency = 2 * 2 * 5e-6  # two hops of PCIe latency on each side of the network
    assert alone == pytest.approx(1e9 / 2.5e9 + latency)
    assert both == pytest.approx(2 * 1e9 / 2.5e9 + latency)


def test_gradient_bytes_of_an_onnx_training_step() -> None:
    # Three 64x64 fp32 weights: their gradients are what the Momentum updates take.
    graph = graph_from_onnx(mlp_training_step(3, width=64))
    assert replicas.gradient_bytes(graph).sum() == pytest.approx(3 * 64 * 64 * 4)
    # An inference graph all-reduces nothing; a training graph without optimizer
    # nodes its parameters.
    assert replicas.gradient_bytes(chain(3, params=10.0)).sum() == 0.0
    nodes = [Node("a", "MatMul", 1.0, param_bytes=7.0), Node("b", "MatMul", 1.0, param_bytes=5.0)]
    trained = Graph(nodes, [Edge("a", "b", 1.0)], training=True)
    assert replicas.gradient_bytes(trained).tolist() == [7.0, 5.0]


def test_batch_shares_follow_the_speed_of_mixed_devices() -> None:
    # 200 and 100 TFLOPS, compute-bound, no fixed costs: shares 2/3 and 1/3, and the
    # two replicas finish together.
    ev = evaluator(chain(4), [gpu("fast", tflops=200.0), gpu("slow", tflops=100.0)])
    order = heft.rank_order(ev, heft.upward_ranks(ev))
    (found,) = replicas.candidates(ev, 2, order, [device_speed_order(ev.model)])
    assert found.kind == "data-parallel"
    assert found.shares == pytest.approx((2 / 3, 1 / 3))
    assert found.device_load[0] == pytest.approx(found.device_load[1])
    # 4 nodes of 1e12 FLOP: 4e12 / 300e12 s per step on the pair.
    assert found.cost == pytest.approx(4e12 / 300e12)
    assert found.allreduce_s == 0.0


def test_balance_caps_a_replica_at_what_its_memory_holds() -> None:
    # Period f (both replicas alike), but the first holds at most 0.3 of the batch.
    pieces = [np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]])]
    shares = replicas.balance(pieces, [0.3, 10.0])
    assert shares == pytest.approx((0.3, 0.7))
    assert replicas.balance(pieces, [0.3, 0.5]) is None  # 0.8 of the batch at most
    assert replicas.balance(pieces, [0.01, 10.0]) is None  # not worth a replica


def test_replicas_win_for_a_small_model_on_many_equal_gpus() -> None:
    # Three layers on eight H100s: a pipeline has at most three stages, the replicas
    # share the batch eight ways and all-reduce little over NVLink.
    layers = [Layer(f"l{k}", 4e12, 1e6, 4e6, 4e6) for k in range(3)]
    graph = training_graph("small", layers)
    model = build_cost_model(graph, synthetic.device_set([H100] * 8))
    plan = plan_graph(model, "throughput")
    pipelines = plan_graph(model, "throughput", replicate=False)
    assert plan.kind == "data-parallel"
    assert plan.replicated is not None and len(plan.replicated.shares) == 8
    assert plan.replicated.shares == pytest.approx((1 / 8,) * 8)
    assert plan.replicated.allreduce_s > 0
    assert plan.period_s < pipelines.period_s
    assert plan.replayed_s is not None and plan.single_device_s is not None
    assert plan.replayed_s <= plan.single_device_s
    result = plan_to_dict(plan, model)
    assert result["kind"] == "data-parallel"
    assert (result["replicas"], result["stages"]) == (8, 1)
    assert len(result["devices"]) == result["devices_used"] == 8
    assert sum(result["batch_shares"]) == pytest.approx(1.0)
    assert [len(r) for r in result["replica_devices"]] == [1] * 8
    assert result["algorithm"] == "data-parallel/8"
    assert result["timeline"]["devices"]
    assert picture.plan_svg(graph, result, "replicas").startswith("<svg")


def test_a_pipeline_wins_over_slow_links() -> None:
    # Four devices on four hosts over a 0.1 GB/s network; 1 GB of gradients would
    # take seconds to all-reduce, the pipeline moves 1 MB activations.
    layers = [Layer(f"l{k}", 2e12, 1.25e8, 5e5, 5e5) for k in range(4)]
    graph = training_graph("big-weights", layers)
    devices = [gpu(f"g{k}", host=f"h{k}") for k in range(4)]
    model = build_cost_model(
        graph, DeviceSet(tuple(devices), Interconnect(network_bandwidth_gbps=0.1))
    )
    ev = Evaluator(model)
    order = heft.rank_order(ev, heft.upward_ranks(ev))
    found = replicas.candidates(ev, 4, order, [device_speed_order(model)])
    assert found and min(c.allreduce_s for c in found) > 1.0
    plan = plan_graph(model, "throughput")
    assert plan.kind == "pipeline" and plan.replicated is None
    assert plan_to_dict(plan, model)["replicas"] == 1


def test_no_replica_of_a_model_one_device_cannot_hold() -> None:
    # 30 GiB of weights and optimizer state per layer, two layers, 40 GiB devices: no
    # device holds the model (no data-parallel plan), one layer per device does.
    layers = [Layer(f"l{k}", 1e12, 2e9, 1e6, 1e6) for k in range(2)]
    graph = training_graph("too-big", layers)
    devices = [gpu(f"g{k}", memory_mb=40 * 1024) for k in range(4)]
    ev = evaluator(graph, devices)
    assert max(ev.model.node_memory) < 40 * 2**30 < sum(ev.model.node_memory)
    order = heft.rank_order(ev, heft.upward_ranks(ev))
    found = replicas.candidates(ev, 4, order, [device_speed_order(ev.model)])
    assert found and all(c.kind == "hybrid" for c in found)
    for c in found:
        assert all(c.memory[d] <= ev.capacity[d] for d in c.devices)
        assert len({len(r) for r in c.replicas}) == 1
    single = replicas.build(
        ev,
        [(0,), (1,)],
        (0,) * ev.n,
        order,
        replicas.split_compute(ev.model),
        replicas.gradient_bytes(graph),
    )
    assert single is None


def test_hybrid_plans_keep_stages_alike_across_replicas() -> None:
    graph = synthetic_models.bert_base_like(batch=32)
    model = build_cost_model(graph, synthetic.device_set([H100] * 4 + ["A100-SXM4-80GB"] * 4))
    ev = Evaluator(model)
    order = heft.rank_order(ev, heft.upward_ranks(ev))
    found = replicas.candidates(ev, 8, order, [device_speed_order(model)])
    hybrids = [c for c in found if c.kind == "hybrid"]
    assert hybrids
    for c in hybrids:
        assert len(c.stage_of) == ev.n and max(c.stage_of) + 1 == c.stages
        assert sum(c.shares) == pytest.approx(1.0)
        used = [d for r in c.replicas for d in r]
        assert len(used) == len(set(used)) <= 8
    assert len(found) <= replicas.MAX_CANDIDATES
    # A replica of one device replays to its estimate; a pipelined one is replayed.
    data = next(c for c in found if c.kind == "data-parallel")
    assert replicas.replayed_s(ev, data, order, 8) == pytest.approx(data.cost)
    replayed = replicas.replayed_s(ev, hybrids[0], order, 8)
    assert hybrids[0].allreduce_s < replayed < 2 * hybrids[0].cost
    # Its JSON and picture: every replica's devices, the slowest replica's timeline.
    plan = make_replicated_plan(ev, "hybrid", hybrids[0], order, None, replayed)
    result = plan_to_dict(plan, model)
    assert result["kind"] == "hybrid" and result["stages"] == hybrids[0].stages
    assert len(result["devices"]) == len(hybrids[0].devices)
    assert sum(d["nodes"] for d in result["devices"]) == ev.n * len(hybrids[0].shares)
    assert len(result["timeline"]["devices"]) == hybrids[0].stages
    assert picture.plan_svg(graph, result, "hybrid").startswith("<svg")


def test_replicated_plans_are_deterministic() -> None:
    graph = synthetic_models.resnet50_like(batch=64)
    devices = synthetic.device_set([H100, H100, "A100-SXM4-80GB", "T4"], hosts=2)
    first = plan_graph(build_cost_model(graph, devices), "throughput")
    again = plan_graph(build_cost_model(graph, devices), "throughput")
    assert first == again
    a = plan_to_dict(first, build_cost_model(graph, devices))
    b = plan_to_dict(again, build_cost_model(graph, devices))
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_latency_plans_are_never_replicated() -> None:
    layers = [Layer(f"l{k}", 4e12, 1e6, 4e6, 4e6) for k in range(3)]
    model = build_cost_model(training_graph("small", layers), synthetic.device_set([H100] * 8))
    plan = plan_graph(model, "latency")
    assert plan.kind == "pipeline"
    assert plan_to_dict(plan, model)["batch_shares"] == [1.0]


def test_a_contracted_graph_all_reduces_the_gradients_of_the_graph_as_given() -> None:
    # Two co-location groups of two nodes (a contractible graph, planned on its
    # contraction): the replicated plan is estimated again on the four nodes, and its
    # ring carries all their parameters.
    nodes = [Node(f"n{i}", "MatMul", 4e12, 0.0, 4e6, 1e6, 4e6) for i in range(4)]
    edges = [Edge(f"n{i}", f"n{i + 1}", 4e6) for i in range(3)]
    graph = Graph(nodes, edges, training=True, colocate=[("n0", "n1"), ("n2", "n3")])
    assert graph.contractible
    model = build_cost_model(graph, synthetic.device_set([H100] * 8))
    plan = plan_graph(model, "throughput")
    found = plan.replicated
    assert found is not None and plan.kind in ("data-parallel", "hybrid")
    assert len(plan.assignment) == len(found.stage_of) == 4
    ev = Evaluator(model)
    rings = [
        (
            replicas.ring_order(ev, [r[s] for r in found.replicas]),
            1e6 * found.stage_of.count(s),
        )
        for s in range(found.stages)
    ]
    assert found.allreduce_s == pytest.approx(replicas.allreduce_s(ev, rings))
