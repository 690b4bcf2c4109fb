"""``graph_aware``: the planner of :mod:`cyborg.scheduler.planner` as a plugin."""

from cyborg.scheduler.base import PlanRequest, Scheduler
from cyborg.scheduler.costs import CostModel
from cyborg.scheduler.plan import Plan
from cyborg.scheduler.planner import plan_graph


class GraphAware(Scheduler):
    name = "graph_aware"

    def plan_model(self, model: CostModel, request: PlanRequest) -> Plan:
        return plan_graph(
            model,
            request.objective,
            request.max_devices,
            request.effort,
            request.steps,
            request.progress,
        )
