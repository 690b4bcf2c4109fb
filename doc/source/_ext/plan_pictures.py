"""Draw the user guide's plan pictures when the docs are built (nothing binary is kept).

Plans ``user/examples/towers.json`` on ``user/examples/devices.json``, and a seeded
random graph of 1,200 nodes (:func:`cyborg.scheduler.synthetic.random_dag`) on four
GPUs, with the graph-aware scheduler, and writes what ``cyborg-plan --svg`` writes to
``doc/source/_generated/`` (ignored by git), where ``user/plans.rst`` shows them.
"""

import pathlib
from typing import Any

from cyborg.scheduler import synthetic
from cyborg.scheduler.base import PlanRequest, load_scheduler
from cyborg.scheduler.costs import build_cost_model
from cyborg.scheduler.device_json import load_devices
from cyborg.scheduler.devices import DeviceSet
from cyborg.scheduler.drawing import picture
from cyborg.scheduler.graph import Graph
from cyborg.scheduler.graph_json import load_graph
from cyborg.scheduler.plan import plan_to_dict

SOURCE = pathlib.Path(__file__).resolve().parent.parent
OUT = SOURCE / "_generated"


def _draw(graph: Graph, devices: DeviceSet, name: str, effort: float) -> None:
    model = build_cost_model(graph, devices, {})
    request = PlanRequest("latency", None, {}, effort)
    result = plan_to_dict(load_scheduler("graph_aware").plan_model(model, request), model)
    title = f"Plan of {graph.name}: {result['objective']}, {result['algorithm']}"
    svg = picture.plan_svg(graph, result, title)
    target = OUT / name
    if not target.exists() or target.read_text() != svg:  # keep Sphinx's cache valid
        target.write_text(svg)


def draw(_app: Any = None) -> None:
    OUT.mkdir(exist_ok=True)
    examples = SOURCE / "user" / "examples"
    _draw(
        load_graph(str(examples / "towers.json")),
        load_devices(str(examples / "devices.json")),
        "plan-towers.svg",
        1.0,
    )
    gpus = synthetic.device_set(["H100-SXM5-80GB"] * 2 + ["A100-SXM4-80GB"] * 2, hosts=2)
    _draw(synthetic.random_dag(1200, 4), gpus, "plan-random-1200.svg", 0.2)


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", draw)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
