"""The learning target of bench/scheduler.py: does planning recover from a wrong model?

One device model's true speed is planted 2x off: in the simulator every operator on it
takes twice (or half) its roofline time, while the planner sees only the factors
learned so far (cyborg/scheduler/factors.py). Each run plans with them (``plan_graph``,
what the ``graph_aware`` plugin runs in the conductor), times one step in the simulator
under the true costs, turns the timing into samples as the conductor's
``planning.step_samples`` does, and fits them with ``factors.fit_step_times``. Two
kinds of measurement:

``device``
  each device's busy seconds (a measurement's ``device_times_ms``): exact per device;
``step``
  the step time only: each device is credited with the plan's measured over estimated
  step time, times its own estimated compute. Exact only when the run uses one device.

Exploration: a plan that leaves a device model out never measures it. So when the
plan would measure nothing new exactly (no (op type, model) pair that no run measured
exactly yet) while some model has such pairs, the run times the whole graph on one
device of that model instead (exact with either measurement): a calibration run, at
most one per model.

The curve: after k runs, the simulated time of the plan made with the learned factors
over that of the plan made with the true costs, both judged as every other target.
``noise``: the same ratio for the plan made with the true factors times 1 +- 1e-9. The
learned factors only converge to the truth, so where the planner's choice flips under
so small a change, no curve can be expected to come closer than that.
"""

import dataclasses
import pathlib
import statistics
import sys
from collections.abc import Callable, Sequence

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import scheduler_graphs as graphs

from cyborg.scheduler import factors, synthetic
from cyborg.scheduler.costs import CostModel, build_cost_model, restrict, roofline_table
from cyborg.scheduler.devices import DeviceSet
from cyborg.scheduler.evaluate import Evaluator
from cyborg.scheduler.graph import Graph
from cyborg.scheduler.plan import NoFeasiblePlan
from cyborg.scheduler.planner import plan_graph
from cyborg.scheduler.simulator import simulate

Judge = Callable[[CostModel, str, Sequence[int], Sequence[int]], float]
Check = Callable[[str, bool, str], bool]
Run = tuple[tuple[int, ...], tuple[int, ...]]  # (assignment, order)
Pair = tuple[str, str]  # (op type, device model)

RUNS = 50
SHOWN = (0, 1, 2, 3, 5, 10, 20, 30, 40, 50)
WITHIN = 1.05
MODES = ("device", "step")
NUDGE = 1e-9


@dataclasses.dataclass(frozen=True)
class Instance:
    graph: Graph
    set_name: str
    devices: DeviceSet
    objective: str
    planted_model: str
    planted: float  # true seconds / roofline seconds of every operator on that model

    def true_factors(self, scale: float = 1.0) -> dict[Pair, float]:
        ops = {node.op_type for node in self.graph.nodes}
        return {(op, self.planted_model): self.planted * scale for op in ops}


def instances(quick: bool) -> list[Instance]:
    """Graphs on sets where the planted model matters, both directions and objectives."""
    three = synthetic.device_set([graphs.H100, graphs.A100, graphs.T4])
    linked = graphs.device_set("2H100+2T4 link")
    cases = [
        (graphs.transformer_graph(1), "H100+A100+T4", three, graphs.A100),
        (synthetic.random_dag(60, 3), "2H100+2T4 link", linked, graphs.T4),
        (synthetic.random_dag(25, 0), "H100+A100+T4", three, graphs.T4),
        (
            graphs.light_models()["bvlc_alexnet"](),
            "H100+T4",
            graphs.device_set("H100+T4"),
            graphs.T4,
        ),
    ]
    return [
        Instance(graph, set_name, devices, objective, model, planted)
        for graph, set_name, devices, model in cases[: 2 if quick else None]
        for planted in (2.0, 0.5)
        for objective in ("latency", "throughput")
    ]


class Truth:
    """The planted costs of one instance: simulated times of plans, and the reference."""

    def __init__(self, instance: Instance, judge: Judge, steps: int) -> None:
        self.instance, self.judge, self.steps = instance, judge, steps
        self.model = build_cost_model(instance.graph, instance.devices, instance.true_factors())
        self.judged: dict[Run, float] = {}
        self.best = self.seconds(self.plan_with(instance.true_factors()))

    def plan_with(self, learned: factors.Factors) -> Run:
        model = build_cost_model(self.instance.graph, self.instance.devices, learned)
        # One copy of the graph: a run is what the simulator times (replicas aside).
        plan = plan_graph(model, self.instance.objective, steps=self.steps, replicate=False)
        return plan.assignment, plan.order

    def seconds(self, run: Run) -> float:
        if run not in self.judged:  # plans repeat once learning settles
            self.judged[run] = self.judge(self.model, self.instance.objective, *run)
        return self.judged[run]

    def ratio(self, run: Run) -> float:
        return self.seconds(run) / self.best

    def noise(self) -> float:
        nudged = (self.instance.true_factors(1 + s * NUDGE) for s in (1, -1))
        return max(self.ratio(self.plan_with(f)) for f in nudged)


def _unmeasured(model: CostModel, measured: set[Pair]) -> set[Pair]:
    """(op type, model) pairs with roofline time that no run has measured exactly."""
    uncorrected = roofline_table(model.graph, model.devices, {})
    return {
        (node.op_type, device.model)
        for i, node in enumerate(model.graph.nodes)
        for d, device in enumerate(model.devices.devices)
        if uncorrected[i, d] > 0 and (node.op_type, device.model) not in measured
    }


def exactly_measured(model: CostModel, run: Run, mode: str) -> set[Pair]:
    """The pairs a run credits exactly: all with per-device times; with the step time
    only, those of a run on one device (its busy time is then the step time)."""
    if mode != "device" and len(set(run[0])) > 1:
        return set()
    uncorrected = roofline_table(model.graph, model.devices, {})
    return {
        (model.graph.nodes[i].op_type, model.devices.devices[d].model)
        for i, d in enumerate(run[0])
        if uncorrected[i, d] > 0
    }


def next_run(
    model: CostModel, plan: Run, objective: str, mode: str, measured: set[Pair], steps: int
) -> Run:
    """What this run times: the plan, or the graph on one device of a model that the
    plan never measures (when the plan measures nothing new exactly and some model
    still has pairs that no run measured exactly)."""
    if exactly_measured(model, plan, mode) - measured:
        return plan
    devices = model.devices.devices
    for name in sorted({m for _, m in _unmeasured(model, measured)}):
        d = next(d for d, device in enumerate(devices) if device.model == name)
        try:
            alone = plan_graph(restrict(model, [d]), objective, steps=steps)
        except NoFeasiblePlan:
            continue  # the graph does not fit one device of that model
        return (d,) * len(alone.assignment), alone.order
    return plan


def measure(truth: Truth, model: CostModel, run: Run, mode: str) -> list[factors.StepSample]:
    """One step of ``run`` simulated under the true costs, as samples: per device, the
    uncorrected roofline seconds of its nodes per op type and its measured seconds.

    The step time is what a client reports as ``step_time_ms``: one step for a latency
    plan, the time per step in steady state for a throughput plan (which the conductor
    divides by the plan's estimated stage time)."""
    assignment, order = run
    timed = simulate(truth.model, assignment, order)
    ev = Evaluator(model)
    compute, _ = ev.loads(assignment)
    if truth.instance.objective == "throughput":
        estimated = ev.period_of(assignment)
    else:
        estimated = ev.latency_of(assignment, order)
    ratio = truth.seconds(run) / estimated
    uncorrected = roofline_table(model.graph, model.devices, {})
    samples = []
    for d in sorted(set(assignment)):
        by_op: dict[str, float] = {}
        for i in (i for i, a in enumerate(assignment) if a == d):
            op = model.graph.nodes[i].op_type
            by_op[op] = by_op.get(op, 0.0) + float(uncorrected[i, d])
        seconds = timed.busy_s[d] if mode == "device" else ratio * compute[d]
        if seconds > 0:
            samples.append(factors.StepSample(model.devices.devices[d].model, by_op, seconds))
    return samples


def learn(instance: Instance, mode: str, truth: Truth, runs: int = RUNS) -> list[float]:
    """The curve: after 0..runs runs, the learned plan's true time over the reference's."""
    learned: dict[Pair, float] = {}
    measured: set[Pair] = set()
    curve = []
    for number in range(runs + 1):
        model = build_cost_model(instance.graph, instance.devices, learned)
        plan = truth.plan_with(learned)
        curve.append(truth.ratio(plan))
        if number == runs:
            break
        run = next_run(model, plan, instance.objective, mode, measured, truth.steps)
        learned = factors.fit_step_times(learned, measure(truth, model, run, mode))
        measured |= exactly_measured(model, run, mode)
    return curve


def first_within(curve: Sequence[float]) -> int | None:
    return next((k for k, ratio in enumerate(curve) if ratio <= WITHIN), None)


def settled(curve: Sequence[float]) -> int | None:
    """The first run from which every later plan is within the tolerance."""
    late = [k for k, ratio in enumerate(curve) if ratio > WITHIN]
    start = late[-1] + 1 if late else 0
    return start if start < len(curve) else None


def _runs(values: Sequence[int | None]) -> str:
    """Median and worst run number; "never" counts as worse than any."""
    reached = sorted(k for k in values if k is not None)
    if not reached:
        return "never"
    worst = "never" if len(reached) < len(values) else str(reached[-1])
    return f"{statistics.median(reached):g} (median), {worst} (worst)"


def _row(instance: Instance, mode: str, curve: list[float], noise: float) -> str:
    planted = f"{instance.planted_model.split('-')[0]} x{instance.planted:g}"
    marks = [first_within(curve), settled(curve)]
    return (
        f"{instance.graph.name[:19]:19} {instance.set_name[:15]:15} {planted:9} "
        f"{instance.objective[:4]:4} {mode:6} "
        + " ".join(f"{curve[k]:5.3f}" for k in SHOWN)
        + "".join(f" {'-' if k is None else k:>5}" for k in marks)
        + f" {noise:5.3f}"
    )


def report(quick: bool, judge: Judge, check: Check, steps: int) -> None:
    """Print the curves of every instance in both modes, then the target."""
    print(
        "\n== learning: one model's true speed planted 2x off; simulated time of the plan "
        "made with the learned factors / the plan made with the true costs, after k runs"
    )
    print(
        f"{'graph':19} {'devices':15} {'planted':9} {'obj':4} {'mode':6} "
        + " ".join(f"{k:>5}" for k in SHOWN)
        + f" {'first':>5} {'stays':>5} {'noise':>5}"
    )
    print(
        "(first: the first run within 5 %; stays: within from that run on; noise: the "
        "true-cost plan's ratio with its factors nudged by 1e-9)"
    )
    curves: dict[str, list[tuple[list[float], float]]] = {mode: [] for mode in MODES}
    for instance in instances(quick):
        truth = Truth(instance, judge, steps)
        noise = truth.noise()
        for mode in MODES:
            curve = learn(instance, mode, truth)
            curves[mode].append((curve, noise))
            print(_row(instance, mode, curve, noise))
    for mode in MODES:
        _summarise(mode, curves[mode], check)


def _summarise(mode: str, curves: list[tuple[list[float], float]], check: Check) -> None:
    """The target (per-device times) or a note (step time only). An instance counts as
    within when its last plan is within the tolerance, or no worse than the plan made
    with the true factors nudged by 1e-9 (the planner's own noise, see above)."""
    final = [curve[-1] for curve, _ in curves]
    missed = [
        (ratio, noise) for ratio, (_, noise) in zip(final, curves, strict=True) if ratio > WITHIN
    ]
    noisy = sum(1 for ratio, noise in missed if ratio <= noise * (1 + 1e-9))
    detail = (
        f"{len(final) - len(missed)} of {len(final)} instances"
        + (f" (+{noisy} as close as the planner's own noise)" if noisy else "")
        + f", worst {max(final):.3f}; within from run "
        f"{_runs([first_within(c) for c, _ in curves])}; for good from run "
        f"{_runs([settled(c) for c, _ in curves])}"
    )
    if mode == "device":
        name = f"learning: <= {WITHIN:.2f} x the true-cost plan after {RUNS} runs (device times)"
        check(name, len(missed) == noisy, detail)
    else:
        print(f"note  learning from the step time only (not a target): {detail}")
