"""How good and how fast the graph-aware scheduler is (``tox -e bench-scheduler``).

  python bench/scheduler.py [--quick] [--rows] [--exact-limit 10] [--skip-learning]

Every plan is judged by the discrete-event simulator (cyborg/scheduler/simulator.py:
per-device queues, one transfer at a time per link resource, memory over time), not by
the planner's own estimate: latency = one step, devices in the plan's order;
throughput = seconds per step in steady state, what b more pipelined steps cost after b
steps, b = 8 or twice the pipeline's depth (up to 64), devices taking ready work. The
planner is asked for runs of 8 steps (``steps=BATCHES``).

Compared per instance: the best single device, first fit (heterogeneity-blind),
textbook HEFT, the CP-SAT optimum of the planner's cost model (instances of at most 25
nodes) and ours (the ``graph_aware`` plugin). Then the targets:

* small instances: ours <= 1.05 x optimum at the median, <= 1.20 x at worst;
* never worse than the best single device; at least as good as HEFT on >= 80 %;
* planning time p50 < 100 ms for 1,000 nodes on 8 devices, < 2 s for 10,000 on 64;
* co-location (bench/scheduler_colocation.py): ONNX training steps, no plan splits a
  group (and what repairing a plan made without the groups costs);
* replicas (bench/scheduler_replicas.py): ResNet-50, BERT-base and GPT-2 small shaped
  training steps on mixed GPU sets, pipelines only against pipelines and data-parallel
  / hybrid replicas in one ranking (the planner's estimate: step time and ratio);
* learning (bench/scheduler_learning.py): with one device model's true speed planted
  2x off in the simulator, after <= 50 reported runs the plan is within 5 % of the
  plan made with the true costs (the curve is printed);
* learning sizes (bench/scheduler_learning_sizes.py): after 20 runs the learned cost
  model (cyborg/scheduler/work_model.py) estimates held-out batch sizes within 5 %;
  held-out graph families, an unseen device model and links are printed with it.

Prints tables and a PASS/FAIL line per target; exits 0 either way (a benchmark).
"""

import argparse
import dataclasses
import math
import pathlib
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import scheduler_colocation as colocation
import scheduler_graphs as graphs
import scheduler_learning as learning
import scheduler_learning_sizes as learning_sizes
import scheduler_replicas as replicas

from cyborg.scheduler import heft, synthetic
from cyborg.scheduler import replicas as replicas_mod
from cyborg.scheduler.costs import CostModel, build_cost_model
from cyborg.scheduler.evaluate import Evaluator
from cyborg.scheduler.first_fit import first_fit_assignment
from cyborg.scheduler.graph import Graph
from cyborg.scheduler.plan import NoFeasiblePlan, Plan
from cyborg.scheduler.planner import plan_graph
from cyborg.scheduler.simulator import simulate, steady_period

try:
    from cyborg.scheduler.exact import solve_exact
except ImportError:  # ortools is a test requirement
    solve_exact = None  # type: ignore[assignment]

SMALL = 25
BATCHES = 8


@dataclasses.dataclass
class Row:
    graph: str
    devices: str
    objective: str
    nodes: int
    n_devices: int
    sim: dict[str, float]  # method -> simulated seconds (inf: no plan / out of memory)
    estimate: dict[str, float]
    plan_ms: float
    exact_optimal: bool | None = None


def judge(
    model: CostModel,
    objective: str,
    assignment: tuple[int, ...] | list[int],
    order: tuple[int, ...] | list[int],
) -> float:
    if objective == "latency":
        result = simulate(model, assignment, order)
        value = result.makespan_s
    else:
        # Enough steps to fill the pipeline: twice its depth (one step's time over the
        # busiest device's or link's time per step), at least BATCHES.
        ev = Evaluator(model)
        busiest = max(max(load) for load in ev.loads(assignment))
        depth = simulate(model, assignment, order).makespan_s / max(busiest, 1e-12)
        batches = min(max(BATCHES, math.ceil(2 * depth)), 64)
        value, result = steady_period(model, assignment, order, batches)
    return math.inf if result.out_of_memory else value


def judge_plan(model: CostModel, objective: str, plan: Plan) -> float:
    """:func:`judge` of a plan; a replicated one: its slowest replica simulated on its
    share of the batch (cyborg.scheduler.replicas.scaled_model), plus its all-reduce."""
    found = plan.replicated
    if found is None:
        return judge(model, objective, plan.assignment, plan.order)
    slowest = 0.0
    for r, share in enumerate(found.shares):
        part = replicas_mod.scaled_model(model, share)
        slowest = max(slowest, judge(part, objective, found.assignment(r), plan.order))
    return slowest + found.allreduce_s


def run_instance(graph: Graph, set_name: str, objective: str, exact_limit: float) -> Row:
    model = build_cost_model(graph, graphs.device_set(set_name))
    ev = Evaluator(model)
    order = heft.rank_order(ev, heft.upward_ranks(ev))
    sim: dict[str, float] = {}
    est: dict[str, float] = {}
    totals = model.compute.sum(axis=0)
    fitting = [d for d in range(ev.m) if model.node_memory.sum() <= ev.capacity[d]]
    if fitting:
        d = min(fitting, key=lambda k: totals[k])
        sim["single"] = judge(model, objective, (d,) * ev.n, order)
        est["single"] = float(totals[d])
    else:
        sim["single"] = est["single"] = math.inf
    try:
        ff = first_fit_assignment(ev, ev.m)
        sim["first-fit"] = judge(model, objective, ff, order)
        est["first-fit"] = ev.cost(objective, ff, order)
    except NoFeasiblePlan:
        sim["first-fit"] = est["first-fit"] = math.inf
    h = heft.heft(ev)
    sim["heft"] = judge(model, objective, h.assignment, h.order) if h.fits else math.inf
    est["heft"] = ev.cost(objective, h.assignment, h.order) if h.fits else math.inf
    start = time.perf_counter()
    try:
        plan = plan_graph(model, objective, steps=BATCHES)
        elapsed = (time.perf_counter() - start) * 1000
        sim["ours"] = judge_plan(model, objective, plan)
        est["ours"] = plan.estimate_s
    except NoFeasiblePlan:
        elapsed = (time.perf_counter() - start) * 1000
        sim["ours"] = est["ours"] = math.inf
        plan = None
    row = Row(graph.name, set_name, objective, ev.n, ev.m, sim, est, elapsed)
    if solve_exact is not None and ev.n <= SMALL and exact_limit > 0:
        hint = plan.assignment if plan is not None else None
        exact = solve_exact(model, objective, time_limit_s=exact_limit, hint=hint)
        if exact is not None:
            sim["optimum"] = judge(model, objective, exact.assignment, exact.order)
            est["optimum"] = exact.value
            row.exact_optimal = exact.optimal
    return row


def small_graphs(quick: bool) -> Iterator[Graph]:
    sizes = (10, 16, 25) if quick else (8, 12, 16, 20, 25)
    for n in sizes:
        for seed in range(1 if quick else 2):
            yield synthetic.random_dag(n, seed)
    light = graphs.light_models()
    for name in ("bvlc_alexnet", "zfnet512"):
        yield light[name]()
    yield graphs.transformer_graph(1)


def medium_graphs(quick: bool) -> Iterator[Graph]:
    light = graphs.light_models()
    for name in sorted(light) if not quick else ("resnet50", "inception_v1", "vgg19"):
        yield light[name]()
    yield graphs.transformer_graph(4)
    if not quick:
        yield graphs.transformer_graph(12)
        yield synthetic.transformer(8)
        yield synthetic.random_dag(200, 7)
    for layers in (2, 6):
        torch_graph = graphs.torch_transformer(layers)
        if torch_graph is None:
            print(
                "note: torch is not installed; skipping the torch-exported transformers "
                "(pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu)"
            )
            break
        yield torch_graph


def fmt(value: float) -> str:
    return "-" if math.isinf(value) else f"{value * 1e3:.3f}"


METHODS = ("single", "first-fit", "heft", "optimum", "ours")


def print_rows(rows: list[Row], title: str) -> None:
    print(f"\n== {title}: simulated ms per step (latency) or per pipelined step (throughput)")
    header = (
        f"{'graph':24} {'devices':28} {'obj':4} {'n':>5} "
        + " ".join(f"{m:>9}" for m in METHODS)
        + f" {'ours/best':>9} {'plan ms':>8}"
    )
    print(header)
    for r in rows:
        best = min(v for k, v in r.sim.items() if k != "ours")
        ratio = r.sim["ours"] / best if best and not math.isinf(best) else math.nan
        print(
            f"{r.graph[:24]:24} {r.devices[:28]:28} {r.objective[:4]:4} {r.nodes:5d} "
            + " ".join(f"{fmt(r.sim.get(m, math.inf)):>9}" for m in METHODS)
            + f" {ratio:9.3f} {r.plan_ms:8.1f}"
        )


def summarise(rows: list[Row], title: str) -> None:
    print(f"\n== {title}: by graph family and objective (median simulated ratio to ours)")
    print(
        f"{'family':22} {'obj':10} {'count':>5} {'single/ours':>12} {'ff/ours':>8} "
        f"{'heft/ours':>10} {'p50 plan ms':>12}"
    )
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        family = "onnx-light" if r.graph.startswith("light_") else re.sub(r"-\d.*$", "", r.graph)
        groups.setdefault((family, r.objective), []).append(r)
    for (family, objective), members in sorted(groups.items()):

        def med(method: str, members: list[Row] = members) -> float:
            ratios = [
                r.sim[method] / r.sim["ours"] for r in members if not math.isinf(r.sim["ours"])
            ]
            return statistics.median(ratios) if ratios else math.nan

        print(
            f"{family:22} {objective:10} {len(members):5d} {med('single'):12.3f} "
            f"{med('first-fit'):8.3f} {med('heft'):10.3f} "
            f"{statistics.median(r.plan_ms for r in members):12.1f}"
        )


def timing(n: int, set_models: list[str], hosts: int, seeds: int, objective: str) -> list[float]:
    result = []
    devices = synthetic.device_set(set_models, hosts=hosts)
    for seed in range(seeds):
        model = build_cost_model(synthetic.random_dag(n, seed), devices)
        start = time.perf_counter()
        plan_graph(model, objective, steps=BATCHES)
        result.append((time.perf_counter() - start) * 1000)
    return result


def check(name: str, ok: bool, detail: str) -> bool:
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    return ok


def targets(small: list[Row], every: list[Row], times: dict[str, list[float]]) -> None:
    print("\n== targets")
    with_opt = [r for r in small if "optimum" in r.sim and not math.isinf(r.sim["optimum"])]
    sim_ratio = [r.sim["ours"] / r.sim["optimum"] for r in with_opt]
    est_ratio = [r.estimate["ours"] / r.estimate["optimum"] for r in with_opt]
    proven = sum(1 for r in with_opt if r.exact_optimal)
    if sim_ratio:
        check(
            "median <= 1.05 x optimum (small, simulated)",
            statistics.median(sim_ratio) <= 1.05,
            f"median {statistics.median(sim_ratio):.3f}, {len(sim_ratio)} instances "
            f"({proven} proven optimal); planner's estimate: median "
            f"{statistics.median(est_ratio):.3f}",
        )
        check(
            "worst <= 1.20 x optimum (small, simulated)",
            max(sim_ratio) <= 1.20,
            f"worst {max(sim_ratio):.3f}; planner's estimate: worst {max(est_ratio):.3f}",
        )
    else:
        why = "ortools is not installed" if solve_exact is None else "--exact-limit 0"
        print(f"SKIP  optimum targets: {why}")
    tol = 1 + 1e-6
    worse_single = [r for r in every if r.sim["ours"] > r.sim["single"] * tol]
    check(
        "never worse than the best single device (simulated)",
        not worse_single,
        f"{len(worse_single)} of {len(every)} instances worse"
        + (
            f" (worst {max(r.sim['ours'] / r.sim['single'] for r in worse_single):.3f}x)"
            if worse_single
            else ""
        ),
    )
    est_worse = [r for r in every if r.estimate["ours"] > r.estimate["single"] * tol]
    check(
        "never worse than the best single device (planner's estimate)",
        not est_worse,
        f"{len(est_worse)} of {len(every)} instances worse",
    )
    beats = [r for r in every if r.sim["ours"] <= r.sim["heft"] * tol]
    share = len(beats) / len(every)
    check(
        ">= HEFT on >= 80% of instances (simulated)",
        share >= 0.8,
        f"{share:.0%} ({len(beats)} of {len(every)})",
    )
    for key, limit in (("1000 nodes x 8 devices", 100.0), ("10000 nodes x 64 devices", 2000.0)):
        samples = times.get(key, [])
        if samples:
            p50 = statistics.median(samples)
            check(
                f"planning p50 < {limit:.0f} ms, {key}",
                p50 < limit,
                f"p50 {p50:.0f} ms, max {max(samples):.0f} ms over {len(samples)} plans",
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer graphs and device sets")
    parser.add_argument("--rows", action="store_true", help="print every instance")
    parser.add_argument(
        "--exact-limit",
        type=float,
        default=10.0,
        help="CP-SAT seconds per small instance (0: skip the optimum)",
    )
    parser.add_argument(
        "--skip-learning", action="store_true", help="skip the learning curves (about 30 s)"
    )
    args = parser.parse_args()
    objectives = ("latency", "throughput")
    small_sets = graphs.SMALL_SETS[:2] if args.quick else graphs.SMALL_SETS
    medium_sets = list(graphs.DEVICE_SETS)[::2] if args.quick else list(graphs.DEVICE_SETS)

    def sweep(
        make: Callable[[bool], Iterator[Graph]], sets: list[str] | tuple[str, ...], limit: float
    ) -> list[Row]:
        rows = []
        for graph in make(args.quick):
            for set_name in sets:
                for objective in objectives:
                    rows.append(run_instance(graph, set_name, objective, limit))
        return rows

    small = sweep(small_graphs, small_sets, args.exact_limit)
    medium = sweep(medium_graphs, medium_sets, 0.0)
    if args.rows:
        print_rows(small, "small instances (<= 25 nodes, with the CP-SAT optimum)")
        print_rows(medium, "ONNX light models, transformers, random DAGs")
    summarise(small + medium, "all instances")
    m8 = [graphs.H100] * 2 + [graphs.A100] * 3 + [graphs.T4] * 3
    m64 = [graphs.H100] * 16 + [graphs.A100] * 24 + [graphs.T4] * 16 + [graphs.FPGA] * 8
    seeds = (3, 1) if args.quick else (7, 3)
    times = {
        "1000 nodes x 8 devices": timing(1000, m8, 2, seeds[0], "latency")
        + timing(1000, m8, 2, seeds[0], "throughput"),
        "10000 nodes x 64 devices": timing(10000, m64, 2, seeds[1], "latency")
        + timing(10000, m64, 2, seeds[1], "throughput"),
    }
    print("\n== planning time (ms; wall clock, this machine)")
    for key, samples in times.items():
        print(f"{key:26} p50 {statistics.median(samples):8.1f}  max {max(samples):8.1f}")
    targets(small, small + medium, times)
    colocation.report(args.quick, judge, check, steps=BATCHES)
    replicas.report(args.quick, check, steps=BATCHES, judge=judge_plan)
    if not args.skip_learning:
        learning.report(args.quick, judge, check, steps=BATCHES)
        learning_sizes.report(args.quick, check)


if __name__ == "__main__":
    main()
