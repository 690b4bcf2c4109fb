"""cyborg-plan: plan a model's placement on accelerators, offline.

cyborg-plan GRAPH DEVICES [--objective latency|throughput] [--max-devices N]
            [--factors FILE] [--measured FILE] [--factors-out FILE]
            [--cost-model multiplier|work]
            [--scheduler graph_aware|first_fit] [--effort X] [--steps N]
            [--output plan|resourceclaim|resourceclaimtemplate] [--format json|yaml]
            [--progress auto|always|never]
            [--svg FILE]
cyborg-plan --plan PLAN [DEVICES] --output resourceclaim|resourceclaimtemplate ...
cyborg-plan jobs submit|list|show|cancel ...  (through the API: cyborg.cmd.plan_jobs)

GRAPH is an ONNX model (``*.onnx``) or a JSON graph; DEVICES a JSON device set (see
the scheduler admin guide for both formats). Prints the plan as JSON: the device of
every node, compute and memory per device, the estimated step time (latency) or stage
time (throughput), the replayed time per step (throughput: over ``--steps`` pipelined
steps) and the best single device's. ``--factors`` reads learned cost factors;
``--measured`` fits them to measured step times (and transfers) first;
``--factors-out`` writes the factors used; ``--cost-model`` picks one factor per op
type and model or time against work (:mod:`cyborg.cmd.plan_learning`). ``--svg FILE``
also draws the plan there (:mod:`cyborg.scheduler.drawing`:
the graph coloured by device, each device's timeline of one step). Exits 2 on bad
input, 1 when nothing fits. On graphs of 1,000 nodes or more (``--progress auto``;
``always``, ``never``) the stages of the planning go to stderr: a bar on a terminal,
plain lines otherwise.

``--output resourceclaim`` (or ``resourceclaimtemplate``) prints the plan as Kubernetes
ResourceClaims instead, one per host (YAML documents, or JSON: one object or a List),
see :mod:`cyborg.kubernetes.claims`. ``--plan`` renders a plan made before: a stored
plan as ``GET /v2/plans/{uuid}`` returns it (its claims carry the plan's uuid), or
this command's own JSON; DEVICES then only adds where each device is.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from cyborg.cmd import plan_claims, plan_jobs, plan_learning
from cyborg.common import progress
from cyborg.scheduler import json_input
from cyborg.scheduler.base import PlanRequest, UnknownScheduler, load_scheduler
from cyborg.scheduler.costs import build_cost_model
from cyborg.scheduler.device_json import load_devices
from cyborg.scheduler.drawing import picture
from cyborg.scheduler.graph import Graph, GraphError
from cyborg.scheduler.graph_json import load_graph
from cyborg.scheduler.onnx_import import load_onnx_graph
from cyborg.scheduler.plan import OBJECTIVES, NoFeasiblePlan, plan_to_dict
from cyborg.scheduler.replay import DEFAULT_STEPS

# ``--progress auto`` reports on graphs of at least this many nodes (after reading).
LARGE_GRAPH = 1000
PROGRESS_CHOICES = ("auto", "always", "never")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cyborg-plan",
        description="Plan where each operator of a model runs on a set of accelerators "
        "(graph-aware scheduler, offline) and print the plan as JSON.",
    )
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="GRAPH DEVICES",
        help="ONNX model (.onnx) or JSON graph, and the JSON device set (with --plan: "
        "the device set only, optional)",
    )
    parser.add_argument("--objective", choices=OBJECTIVES, default="latency")
    parser.add_argument("--max-devices", type=int, default=None, metavar="N")
    parser.add_argument("--factors", metavar="FILE", help="learned cost factors (JSON)")
    parser.add_argument(
        "--measured", metavar="FILE", help="measured step times to fit the factors to (JSON)"
    )
    parser.add_argument("--factors-out", metavar="FILE", help="write the factors used")
    parser.add_argument(
        "--cost-model",
        choices=plan_learning.COST_MODELS,
        help="learned costs: one factor per op type and model, or time against work "
        "(default: the --factors file's kind; multiplier without one)",
    )
    parser.add_argument("--scheduler", default="graph_aware", help="plugin name")
    parser.add_argument("--effort", type=float, default=1.0, help="search effort multiplier")
    parser.add_argument(
        "--steps",
        type=int,
        default=DEFAULT_STEPS,
        metavar="N",
        help=f"throughput: pipelined steps per run the plan is judged over ({DEFAULT_STEPS})",
    )
    parser.add_argument(
        "--progress",
        choices=PROGRESS_CHOICES,
        default="auto",
        help=f"stages of the planning on stderr (auto: graphs of {LARGE_GRAPH}+ nodes)",
    )
    parser.add_argument(
        "--svg", metavar="FILE", help="also draw the plan (graph by device, timeline) as SVG"
    )
    plan_claims.add_arguments(parser)
    return parser


def _inputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """GRAPH and DEVICES as attributes; --plan takes the place of GRAPH."""
    args.graph = args.devices = None
    if args.plan is not None:
        if len(args.inputs) > 1:
            parser.error("with --plan give at most DEVICES, no GRAPH")
        args.devices = args.inputs[0] if args.inputs else None
    elif len(args.inputs) != 2:
        parser.error("give GRAPH and DEVICES (or --plan PLAN)")
    else:
        args.graph, args.devices = args.inputs
    if args.plan is not None and args.svg is not None:
        parser.error("--svg draws a plan it makes: give GRAPH and DEVICES, not --plan")
    if args.plan is not None and args.output == "plan":
        parser.error("--plan renders a plan: give --output resourceclaim or resourceclaimtemplate")


def _graph(path: str) -> Graph:
    return load_onnx_graph(path) if path.endswith(".onnx") else load_graph(path)


class _PlanProgress:
    """The reporter of one run: made at once (``always``), or once the graph read is
    large (``auto``), or never; finished when the run ends."""

    def __init__(self, choice: str) -> None:
        self.choice = choice
        self.shown: progress.Progress | None = None
        if choice == "always":
            self.shown = progress.Progress("cyborg-plan")

    @property
    def reporter(self) -> progress.Reporter:
        return self.shown or progress.SILENT

    def graph_read(self, graph: Graph) -> None:
        if self.shown is None and self.choice == "auto" and len(graph.nodes) >= LARGE_GRAPH:
            self.shown = progress.Progress("cyborg-plan")
        self.reporter.note(f"{len(graph.nodes)} nodes, {len(graph.edges)} edges")

    def __enter__(self) -> "_PlanProgress":
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self.shown is not None:
            self.shown.finish(failed=kind is not None)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Plan GRAPH on DEVICES (and draw it with --svg)."""
    with _PlanProgress(args.progress) as shown:
        shown.reporter.phase("reading the graph")
        graph = _graph(args.graph)
        shown.graph_read(graph)
        return _plan(args, graph, shown.reporter)


def _plan(args: argparse.Namespace, graph: Graph, reporter: progress.Reporter) -> dict[str, Any]:
    reporter.phase("cost model")
    devices = load_devices(args.devices)
    factors = plan_learning.load(args.factors, args.cost_model)
    if args.measured:
        document = json_input.read_json(args.measured, "measured")
        factors = plan_learning.fit(factors, graph, devices, document, f"measured {args.measured}")
    if args.factors_out:
        plan_learning.write(args.factors_out, factors)
    request = PlanRequest(
        args.objective, args.max_devices, factors, args.effort, args.steps, reporter
    )
    scheduler = load_scheduler(args.scheduler)
    model = build_cost_model(graph, devices, factors)
    reporter.note(f"{len(graph.nodes)} nodes on {len(devices.devices)} devices")
    result = plan_to_dict(scheduler.plan_model(model, request), model)
    if args.svg:
        title = f"Plan of {graph.name}: {result['objective']}, {result['algorithm']}"
        with open(args.svg, "w", encoding="utf-8") as out:
            out.write(picture.plan_svg(graph, result, title))
    return result


def _documents(args: argparse.Namespace) -> Any:
    """What to print: the plan, or its claims."""
    plan = plan_claims.read_plan(args.plan) if args.plan is not None else run(args)
    if args.output == "plan":
        return plan
    return plan_claims.render(plan, args)


def _print(document: Any, fmt: str) -> None:
    if fmt == "json":
        json.dump(document, sys.stdout, indent=2)
        print()
    elif isinstance(document, dict) and document.get("kind") == "List":
        yaml.safe_dump_all(document["items"], sys.stdout, sort_keys=False, width=1000)
    else:
        yaml.safe_dump(document, sys.stdout, sort_keys=False, width=1000)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["jobs"]:  # a graph file named "jobs" is ./jobs
        return plan_jobs.main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    _inputs(parser, args)
    try:
        result = _documents(args)
    except (json_input.InputFormatError, GraphError, UnknownScheduler, ValueError) as err:
        if isinstance(err, NoFeasiblePlan):
            print(f"cyborg-plan: no plan: {err}", file=sys.stderr)
            return 1
        print(f"cyborg-plan: error: {err}", file=sys.stderr)
        return 2
    _print(result, args.format or ("yaml" if args.output != "plan" else "json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
