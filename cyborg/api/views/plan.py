"""Plan → API dict (a summary in lists), and plan → picture."""

from typing import Any

from cyborg.api import links
from cyborg.api.views.common import timestamp
from cyborg.objects.graph import Graph as StoredGraph
from cyborg.objects.plan import Plan
from cyborg.scheduler import graph_json
from cyborg.scheduler.drawing import picture

SVG = "image/svg+xml"
#: What measurements and the picture need, not what users read as JSON (a timeline
#: grows with the graph; the picture shows it).
_INTERNAL_DEVICE = ("predicted_by_op_s",)
_INTERNAL = ("timeline",)


def _links(plan: Plan, base: str, pictures: bool) -> list[dict[str, Any]]:
    found = links.self_link(base, "plans", plan.uuid)
    if pictures:  # the same URL, asked with Accept: image/svg+xml
        found.append({"href": found[0]["href"], "rel": "describedby", "type": SVG})
    return found


def summary(plan: Plan, base: str, pictures: bool = False) -> dict[str, Any]:
    """What a list shows: the plan without its request and result."""
    return {
        "uuid": plan.uuid,
        "graph_uuid": plan.graph_uuid,
        "rank": plan.rank,
        "objective": plan.objective,
        "state": plan.state,
        "consumer_uuid": plan.consumer_uuid,
        "created_at": timestamp(plan.created_at),
        "updated_at": timestamp(plan.updated_at),
        "links": _links(plan, base, pictures),
    }


def show(plan: Plan, base: str, pictures: bool = False) -> dict[str, Any]:
    """``pictures``: the request's version serves the plan's picture (a link to it)."""
    result = {k: v for k, v in plan.result.items() if k not in _INTERNAL}
    result["devices"] = [
        {k: v for k, v in device.items() if k not in _INTERNAL_DEVICE}
        for device in result["devices"]
    ]
    body = summary(plan, base, pictures)
    body["request"] = plan.request
    body["result"] = result
    return body


def svg(plan: Plan, graph: StoredGraph) -> str:
    """The plan drawn on its graph (a plan made before 2.7 has no timeline to draw)."""
    parsed = graph_json.graph_from_dict(graph.document, "stored graph")
    title = (
        f"Plan {plan.uuid} (rank {plan.rank}, {plan.objective}, {plan.state}) "
        f"of graph {graph.name}"
    )
    return picture.plan_svg(parsed, plan.result, title)
