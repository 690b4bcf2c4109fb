"""Plan → API dict."""

from typing import Any

from cyborg.api import links
from cyborg.api.views.common import timestamp
from cyborg.objects.plan import Plan

_INTERNAL = ("predicted_by_op_s",)  # what measurements need, not what users read


def show(plan: Plan, base: str) -> dict[str, Any]:
    result = dict(plan.result)
    result["devices"] = [
        {k: v for k, v in device.items() if k not in _INTERNAL} for device in result["devices"]
    ]
    return {
        "uuid": plan.uuid,
        "graph_uuid": plan.graph_uuid,
        "rank": plan.rank,
        "objective": plan.objective,
        "state": plan.state,
        "consumer_uuid": plan.consumer_uuid,
        "request": plan.request,
        "result": result,
        "created_at": timestamp(plan.created_at),
        "updated_at": timestamp(plan.updated_at),
        "links": links.self_link(base, "plans", plan.uuid),
    }
