"""Co-location in bench/scheduler.py: ONNX training steps whose weight, gradient and
update nodes must share a device (groups derived by the importer).

Per instance: how many groups a plan made without the groups splits, what that plan
costs once repaired (each split group moved to where most of its compute is), and
the plan made with the groups (simulated ms); target: no plan splits a group. Plans
are of one copy of the graph (``replicate=False``): repairing is about where its
groups go, and the simulator runs one copy.
"""

import math
import statistics
import time
from collections.abc import Callable

import scheduler_graphs as graphs

from cyborg.scheduler import colocation, onnx_import
from cyborg.scheduler.costs import CostModel, build_cost_model
from cyborg.scheduler.graph import Graph
from cyborg.scheduler.planner import plan_graph
from cyborg.scheduler.synthetic_training import mlp_training_step

Judge = Callable[[CostModel, str, tuple[int, ...] | list[int], tuple[int, ...] | list[int]], float]


def report(quick: bool, judge: Judge, check: Callable[[str, bool, str], bool], steps: int) -> None:
    sizes = (8,) if quick else (8, 24)
    sets = ("2H100+2T4 link", "4H100+4A100 link") if quick else tuple(graphs.DEVICE_SETS)
    print("\n== co-location: ONNX MLP training steps (width 4096, batch 64), simulated ms")
    print(
        f"{'graph':14} {'devices':28} {'obj':4} {'groups':>6} {'split':>5} "
        f"{'repaired':>9} {'ours':>9} {'rep/ours':>8} {'plan ms':>8}"
    )
    splits, ratios = 0, []
    for layers in sizes:
        graph = onnx_import.graph_from_onnx(mlp_training_step(layers, 4096, 64))
        blind = Graph(graph.nodes, graph.edges, graph.name)
        for set_name in sets:
            devices = graphs.device_set(set_name)
            model = build_cost_model(graph, devices)
            for objective in ("latency", "throughput"):
                free = plan_graph(
                    build_cost_model(blind, devices), objective, steps=steps, replicate=False
                )
                repaired = colocation.repair(graph, model.compute.tolist(), free.assignment)
                start = time.perf_counter()
                plan = plan_graph(model, objective, steps=steps, replicate=False)
                elapsed = (time.perf_counter() - start) * 1000
                splits += colocation.splits(graph, plan.assignment)
                rep = judge(model, objective, repaired, free.order)
                ours = judge(model, objective, plan.assignment, plan.order)
                ratios.append(rep / ours if ours and not math.isinf(ours) else math.nan)
                print(
                    f"{graph.name:14} {set_name[:28]:28} {objective[:4]:4} "
                    f"{len(graph.groups):6d} {colocation.splits(graph, free.assignment):5d} "
                    f"{rep * 1e3:9.3f} {ours * 1e3:9.3f} {ratios[-1]:8.3f} {elapsed:8.1f}"
                )
    check(
        "no plan splits a co-location group",
        splits == 0,
        f"{splits} split; a plan made without the groups, repaired, costs "
        f"{statistics.median(ratios):.3f} x ours at the median, {max(ratios):.3f} x at worst",
    )
