"""The sizes target of bench/scheduler.py: does the learned cost model carry over to
sizes, graph families, device models and transfers it was not fitted on?

The truth is a simulated device per catalog model whose kernels reach a fraction of
the roofline that depends on the op type and on the device (bigger devices are harder
to fill), with a launch cost of its own::

    t = lam(model) * launch_s + max(compute_s / e_c(op, model), memory_s / e_m(op, model))

(the efficiencies follow the device's catalog figures, so models with close figures
behave alike; a step measures within 1 % noise, seeded). This is not a real GPU's
timing: it is a truth the old one-multiplier model cannot represent (its launch and
its throughput terms scale together) and the learned model need not match exactly
(its max has one slope per op type, the truth's regime changes with the size).

Each run times the training graph at one of :data:`TRAIN_BATCHES` (in turn) on one
device of every fitted model: a per-device time, what a measurement's
``device_times_ms`` reports. Errors are |estimated / true - 1| of a whole graph on one
device, median and worst over the held-out cases; "roofline" is the cost model with no
learning, "multiplier" today's :func:`cyborg.scheduler.factors.fit_step_times` on the
same samples, "learned" :mod:`cyborg.scheduler.work_model`.
"""

import dataclasses
import statistics
from collections.abc import Callable, Sequence

import numpy as np
import scheduler_graphs as graphs

from cyborg.scheduler import factors, synthetic
from cyborg.scheduler import work_model as wm
from cyborg.scheduler.costs import roofline_table
from cyborg.scheduler.devices import DeviceSet
from cyborg.scheduler.graph import Graph, Node

Check = Callable[[str, bool, str], bool]

RUNS = 20
CURVE = (0, 1, 2, 5, 10, 20)
TRAIN_BATCHES = (2, 4, 16, 32)
HELD_OUT_BATCHES = (1, 8, 64)
TARGET = 0.05
NOISE = 0.01
FITTED = (graphs.H100, graphs.A100, graphs.T4)
UNSEEN = "H200-SXM5-141GB"

# Fraction of peak FLOPs and of memory bandwidth a kernel reaches on the reference device
# (an A100), by op type; other op types: DEFAULT_EFFICIENCY.
EFFICIENCY = {
    "Conv": (0.55, 0.5),
    "MatMul": (0.7, 0.6),
    "Gemm": (0.7, 0.6),
    "Attention": (0.45, 0.5),
    "BatchNormalization": (0.2, 0.75),
    "LayerNormalization": (0.2, 0.6),
    "Softmax": (0.2, 0.55),
    "Relu": (0.2, 0.85),
    "Add": (0.2, 0.8),
    "MaxPool": (0.2, 0.65),
}
DEFAULT_EFFICIENCY = (0.3, 0.7)
REFERENCE = (19.5, 2039.0)  # A100: fp32 TFLOPS, GB/s


@dataclasses.dataclass(frozen=True)
class Truth:
    """The simulated devices: seconds of one node on one device of a model."""

    def launch_multiplier(self, device: wm.Profile) -> float:
        # Small devices have slower launches relative to their catalog figure.
        return 1.5 * (REFERENCE[0] / device.peak_tflops) ** 0.2

    def efficiencies(self, op: str, device: wm.Profile) -> tuple[float, float]:
        e_c, e_m = EFFICIENCY.get(op, DEFAULT_EFFICIENCY)
        fill = (device.peak_tflops / REFERENCE[0]) ** -0.15
        feed = (device.memory_bandwidth_gbps / REFERENCE[1]) ** -0.1
        return min(e_c * fill, 0.95), min(e_m * feed, 0.95)

    def seconds(self, op: str, features: Sequence[float], device: wm.Profile) -> float:
        launch, compute, memory, _ = features
        e_c, e_m = self.efficiencies(op, device)
        return self.launch_multiplier(device) * launch + max(compute / e_c, memory / e_m)


def at_batch(graph: Graph, batch: int) -> Graph:
    """``graph`` (exported at batch 1) at ``batch``: work and activations scale, the
    weights do not."""

    def scaled(node: Node) -> Node:
        activations_read = max(node.bytes_read - node.param_bytes, 0.0)
        return dataclasses.replace(
            node,
            flops=node.flops * batch,
            bytes_read=node.param_bytes + activations_read * batch,
            bytes_written=node.bytes_written * batch,
            activation_bytes=node.activation_bytes * batch,
            measured={},
        )

    return Graph([scaled(n) for n in graph.nodes], graph.edges, f"{graph.name}@{batch}")


def _device(model: str) -> DeviceSet:
    return synthetic.device_set([model])


def _profile(devices: DeviceSet) -> wm.Profile:
    d = devices.devices[0]
    return wm.profile_of(d.peak_tflops, d.memory_bandwidth_gbps)


def true_seconds(truth: Truth, graph: Graph, devices: DeviceSet) -> float:
    features = wm.graph_features(graph, devices)[:, 0]
    profile = _profile(devices)
    return sum(
        truth.seconds(node.op_type, f, profile)
        for node, f in zip(graph.nodes, features, strict=True)
        if f[0] > 0
    )


def estimated_seconds(graph: Graph, devices: DeviceSet, learned: factors.Factors) -> float:
    return float(roofline_table(graph, devices, learned)[:, 0].sum())


@dataclasses.dataclass
class Learners:
    """The three estimates after the same runs."""

    multiplier: dict[tuple[str, str], float] = dataclasses.field(default_factory=dict)
    learned: wm.WorkModel = dataclasses.field(default_factory=wm.WorkModel)

    def estimates(self) -> dict[str, factors.Factors]:
        return {"roofline": {}, "multiplier": self.multiplier, "learned": self.learned}


def train(truth: Truth, base: Graph, runs: int, rng: np.random.Generator) -> list[Learners]:
    """After 0..runs runs on ``base`` (at TRAIN_BATCHES in turn) on every FITTED model."""
    state = Learners()
    history = [dataclasses.replace(state)]
    for number in range(runs):
        graph = at_batch(base, TRAIN_BATCHES[number % len(TRAIN_BATCHES)])
        work, steps, profiles = [], [], {}
        for model in FITTED:
            devices = _device(model)
            measured = true_seconds(truth, graph, devices) * (1 + NOISE * rng.standard_normal())
            features = wm.graph_features(graph, devices)
            nodes = range(len(graph.nodes))
            work.append(wm.work_sample(graph, devices, features, 0, nodes, measured))
            uncorrected = roofline_table(graph, devices, {})[:, 0]
            predicted: dict[str, float] = {}
            for node, seconds in zip(graph.nodes, uncorrected, strict=True):
                predicted[node.op_type] = predicted.get(node.op_type, 0.0) + float(seconds)
            steps.append(factors.StepSample(model, predicted, measured))
            profiles[model] = _profile(devices)
        state = Learners(
            factors.fit_step_times(state.multiplier, steps),
            state.learned.learn(work, profiles=profiles),
        )
        history.append(state)
    return history


def errors(
    truth: Truth, cases: Sequence[tuple[Graph, str]], learners: Learners
) -> dict[str, list[float]]:
    result: dict[str, list[float]] = {name: [] for name in learners.estimates()}
    for graph, model in cases:
        devices = _device(model)
        real = true_seconds(truth, graph, devices)
        for name, learned in learners.estimates().items():
            result[name].append(estimated_seconds(graph, devices, learned) / real - 1)
    return result


def _cell(values: Sequence[float]) -> str:
    worst = max(values, key=abs)
    return f"{statistics.median(abs(v) for v in values) * 100:5.1f}/{worst * 100:+6.1f}"


def transfer_errors(rng: np.random.Generator) -> tuple[list[float], list[float]]:
    """Links: the true latency and bandwidth are off the declared ones by a per-kind
    factor; 20 measured transfers (1 KiB..256 MiB) per kind, then held-out sizes."""
    truth = {"pcie": (2.5, 0.7), "peer": (1.8, 0.8), "network": (1.3, 0.55)}
    declared = {
        "pcie": (5e-6, 1 / 25e9),
        "peer": (2e-6, 1 / 450e9),
        "network": (30e-6, 1 / 12.5e9),
    }
    train_sizes = [2.0 ** (10 + 18 * i / (RUNS - 1)) for i in range(RUNS)]
    held_out = [3e3, 7e5, 5e7, 4e8]

    def true(kind: str, nbytes: float) -> float:
        (lat, per), (a, b) = declared[kind], truth[kind]
        return a * lat + b**-1 * nbytes * per

    samples = [
        wm.TransferSample(
            kind, n, *declared[kind], true(kind, n) * (1 + NOISE * rng.standard_normal())
        )
        for kind in sorted(truth)
        for n in train_sizes
    ]
    learned = wm.WorkModel().learn(transfers=samples)
    before, after = [], []
    for kind in sorted(truth):
        lat, per = declared[kind]
        alpha, beta = learned.link_factors(kind)
        for n in held_out:
            real = true(kind, n)
            before.append((lat + n * per) / real - 1)
            after.append((alpha * lat + beta * n * per) / real - 1)
    return before, after


def report(quick: bool, check: Check) -> None:
    truth = Truth()
    rng = np.random.default_rng(17)
    resnet = graphs.light_models()["resnet50"]()
    cnns = ("inception_v1",) if quick else ("inception_v1", "densenet121", "vgg19")
    bert = graphs.transformer_graph(2, hidden=768, heads=12, seq=128, batch=1)
    gpt2 = graphs.transformer_graph(2, hidden=768, heads=12, seq=1024, batch=1)
    large = graphs.transformer_graph(2, hidden=1024, heads=16, seq=512, batch=1)
    print(
        "\n== learning sizes: |estimated / true - 1| of a whole graph on one device, "
        "median/worst in %, after k runs (held-out cases only; synthetic truth, see "
        "bench/scheduler_learning_sizes.py)"
    )
    print(
        f"{'fitted on':22} {'held out':34} {'estimate':10} " + " ".join(f"{k:>12}" for k in CURVE)
    )
    held: list[float] = []
    for name, base, families in (
        ("resnet50 b2/4/16/32", resnet, {"resnet50 b1/8/64": [resnet]}),
        (
            "resnet50 b2/4/16/32",
            resnet,
            {"other CNNs b1/8/64": [graphs.light_models()[c]() for c in cnns]},
        ),
        ("bert-shape b2/4/16/32", bert, {"bert-shape b1/8/64": [bert]}),
        (
            "bert-shape b2/4/16/32",
            bert,
            {"gpt2-shape s1024 b1/8": [gpt2], "h1024 s512 b1/8": [large]},
        ),
    ):
        history = train(truth, base, RUNS, np.random.default_rng(17))
        for family, members in families.items():
            batches = HELD_OUT_BATCHES if "64" in family else HELD_OUT_BATCHES[:2]
            cases = [(at_batch(g, b), m) for g in members for b in batches for m in FITTED]
            curves = {k: errors(truth, cases, history[k]) for k in CURVE}
            for estimate in ("roofline", "multiplier", "learned"):
                print(
                    f"{name:22} {family:34} {estimate:10} "
                    + " ".join(f"{_cell(curves[k][estimate]):>12}" for k in CURVE)
                )
            if "b1/8/64" in family and family.split()[0] == name.split()[0]:
                held += curves[RUNS]["learned"]
    # An unseen device model: fitted on FITTED (resnet50), estimated for UNSEEN.
    history = train(truth, resnet, RUNS, rng)
    cases = [(at_batch(resnet, b), UNSEEN) for b in HELD_OUT_BATCHES]
    unseen = errors(truth, cases, history[RUNS])
    print(
        f"unseen model {UNSEEN} (nearest of {', '.join(m.split('-')[0] for m in FITTED)}): "
        + ", ".join(f"{k} {_cell(v)}" for k, v in unseen.items())
    )
    before, after = transfer_errors(rng)
    print(
        "links (pcie, peer, network; held-out sizes): "
        f"declared {_cell(before)}, learned {_cell(after)}"
    )
    worst = max(abs(v) for v in held)
    check(
        f"learning sizes: within {TARGET:.0%} on held-out sizes after {RUNS} runs",
        worst <= TARGET,
        f"worst {worst * 100:.1f} % over {len(held)} cases (resnet50, bert-shape at b1/8/64 "
        f"on {len(FITTED)} models)",
    )


if __name__ == "__main__":

    def _print_check(name: str, ok: bool, detail: str) -> bool:
        print(f"{'PASS' if ok else 'MISS'}  {name}: {detail}")
        return ok

    import sys

    report("--quick" in sys.argv, _print_check)
