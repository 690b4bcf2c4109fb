"""Replicated plans against pipelines, for bench/scheduler.py.

Training steps shaped like ResNet-50, BERT-base and GPT-2 small
(cyborg/scheduler/synthetic_models.py) on mixed GPU sets, planned for throughput twice:
pipelines only (``replicate=False``) and with the data-parallel and hybrid replicas
competing (cyborg/scheduler/replicas.py). Step times: the planner's estimate (for
replicas the slowest replica's stage time on its share of the batch plus the ring
all-reduce of the gradients) and, when bench/scheduler.py passes its judge, simulated
(a replicated plan replica by replica, plus the all-reduce; "-" where the plan runs
out of memory in the simulator, pipelined steps in flight holding their activations).

  python bench/scheduler_replicas.py [--quick]
"""

import argparse
import math
import pathlib
import statistics
import sys
import time
from collections.abc import Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from cyborg.scheduler import synthetic, synthetic_models
from cyborg.scheduler.costs import CostModel, build_cost_model
from cyborg.scheduler.devices import DeviceSet
from cyborg.scheduler.graph import Graph
from cyborg.scheduler.plan import Plan
from cyborg.scheduler.planner import plan_graph

H100, A100, T4 = "H100-SXM5-80GB", "A100-SXM4-80GB", "T4"
Judge = Callable[[CostModel, str, Plan], float]

# name -> (models, hosts, peer links)
GPU_SETS: dict[str, tuple[list[str], int, bool]] = {
    "8 H100 link": ([H100] * 8, 1, True),
    "4 H100 + 4 A100 link": ([H100] * 4 + [A100] * 4, 1, True),
    "2 H100 + 2 A100 link": ([H100, H100, A100, A100], 1, True),
    "2 H100 + 2 T4 link": ([H100, H100, T4, T4], 1, True),
    "H100 + A100 + 2 T4": ([H100, A100, T4, T4], 1, False),
    "4 A100 2 hosts link": ([A100] * 4, 2, True),
    "2H100+2A100+4T4 2 hosts": ([H100, A100, H100, A100, T4, T4, T4, T4], 2, True),
    "4 T4": ([T4] * 4, 1, False),
    "8 A100 2 hosts link": ([A100] * 8, 2, True),
}
QUICK_SETS = ("8 H100 link", "4 H100 + 4 A100 link", "2H100+2A100+4T4 2 hosts")


def graphs() -> dict[str, Callable[[], Graph]]:
    return {
        "ResNet-50 b256": lambda: synthetic_models.resnet50_like(256),
        "BERT-base b128": lambda: synthetic_models.bert_base_like(128),
        "GPT-2 small b32": lambda: synthetic_models.gpt2_small_like(32),
    }


def device_set(name: str) -> DeviceSet:
    models, hosts, links = GPU_SETS[name]
    return synthetic.device_set(models, hosts=hosts, peer_links=links)


def _ms(seconds: float) -> str:
    return "-" if math.isinf(seconds) else f"{seconds * 1e3:.3f}"


def report(
    quick: bool,
    check: Callable[[str, bool, str], bool],
    steps: int = 8,
    judge: Judge | None = None,
) -> None:
    print("\n== replicas: pipeline-only vs with replicas (ms per step: estimate, simulated)")
    print(
        f"{'graph':16} {'devices':26} {'pipeline':>9} {'replicas':>9} {'ratio':>6} "
        f"{'sim pipe':>9} {'sim repl':>9} {'chosen':14} {'all-red':>8} {'plan ms':>8}  "
        "batch shares"
    )
    ratios, chosen, worse, faster = [], 0, 0, 0
    for graph_name, make in graphs().items():
        graph = make()
        for set_name in QUICK_SETS if quick else GPU_SETS:
            model = build_cost_model(graph, device_set(set_name))
            alone = plan_graph(model, "throughput", steps=steps, replicate=False)
            start = time.perf_counter()
            plan = plan_graph(model, "throughput", steps=steps)
            elapsed = (time.perf_counter() - start) * 1000
            ratio = alone.period_s / plan.period_s if plan.period_s > 0 else math.nan
            ratios.append(ratio)
            found = plan.replicated
            chosen += found is not None
            worse += plan.period_s > alone.period_s * (1 + 1e-9)
            shares = "" if found is None else " ".join(f"{f:.3f}" for f in found.shares)
            reduce = 0.0 if found is None else found.allreduce_s
            sim = (math.nan, math.nan)
            if judge is not None:
                sim = (judge(model, "throughput", alone), judge(model, "throughput", plan))
                faster += sim[1] < sim[0] * (1 - 1e-9)
            print(
                f"{graph_name:16} {set_name[:26]:26} {alone.period_s * 1e3:9.3f} "
                f"{plan.period_s * 1e3:9.3f} {ratio:6.2f} {_ms(sim[0]):>9} {_ms(sim[1]):>9} "
                f"{plan.algorithm[:14]:14} {reduce * 1e3:8.3f} {elapsed:8.1f}  {shares}"
            )
    print(
        f"replicas chosen on {chosen} of {len(ratios)} cases; pipeline/with-replicas step "
        f"ratio median {statistics.median(ratios):.3f}, best {max(ratios):.3f}"
        + ("" if judge is None else f"; simulated faster with replicas on {faster}")
    )
    check(
        "with replicas never slower than pipelines only (planner's estimate)",
        worse == 0,
        f"{worse} of {len(ratios)} cases slower",
    )


def _check(name: str, ok: bool, detail: str) -> bool:
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three device sets")
    report(parser.parse_args().quick, _check)
