"""``first_fit``: the simple default, blind to speed and links.

Nodes in topological order go to the first candidate (in the caller's order) until its
memory is full, then to the next: the whole graph on the first candidate whenever it
fits there, which is what a scheduler that treats a model as one opaque request does. Co-location
groups are placed as one node each (:mod:`cyborg.scheduler.colocation`).
"""

from cyborg.scheduler import colocation
from cyborg.scheduler.base import PlanRequest, Scheduler
from cyborg.scheduler.costs import CostModel
from cyborg.scheduler.evaluate import Evaluator
from cyborg.scheduler.heft import rank_order, upward_ranks
from cyborg.scheduler.plan import NoFeasiblePlan, Plan, make_plan


def first_fit_assignment(ev: Evaluator, max_devices: int) -> list[int]:
    """Fill devices in order along the topological order; NoFeasiblePlan if it spills."""
    assignment = [0] * ev.n
    used = [0.0] * ev.m
    d = 0
    for i in ev.model.graph.topo:
        while True:
            incoming = sum(b for s, b in ev.inputs[i] if assignment[s] != d)
            if used[d] + ev.memory[i] + incoming <= ev.capacity[d]:
                break
            d += 1
            if d >= min(ev.m, max_devices):
                raise NoFeasiblePlan(
                    f"{ev.model.graph.name} does not fit the first "
                    f"{min(ev.m, max_devices)} candidates"
                )
        assignment[i] = d
        used[d] += ev.memory[i] + incoming
    return assignment


class FirstFit(Scheduler):
    name = "first_fit"

    def plan_model(self, model: CostModel, request: PlanRequest) -> Plan:
        ev = Evaluator(model)
        if model.graph.groups:
            contraction = colocation.contract(model)
            small = Evaluator(contraction.model)
            placed = first_fit_assignment(small, request.max_devices or ev.m)
            assignment = list(contraction.expand(placed))
        else:
            assignment = first_fit_assignment(ev, request.max_devices or ev.m)
        order = rank_order(ev, upward_ranks(ev))
        return make_plan(ev, request.objective, "first-fit", assignment, order)
