"""``first_fit``: the simple default, blind to speed and links.

Nodes in topological order go to the first candidate (in the caller's order) until its
memory is full, then to the next: the whole graph on the first candidate whenever it
fits there, which is what a scheduler that treats a model as one opaque request does.
A member of a co-location group goes where the group's first member went.
"""

from cyborg.scheduler.base import PlanRequest, Scheduler
from cyborg.scheduler.costs import CostModel
from cyborg.scheduler.evaluate import Evaluator
from cyborg.scheduler.heft import rank_order, upward_ranks
from cyborg.scheduler.memory import Liveness
from cyborg.scheduler.plan import NoFeasiblePlan, Plan, make_plan


def first_fit_assignment(ev: Evaluator, max_devices: int) -> list[int]:
    """Fill devices in order along the topological order (a device is full when its
    peak memory would not fit, :mod:`cyborg.scheduler.memory`); NoFeasiblePlan if it
    spills."""
    assignment = [0] * ev.n
    memory = Liveness(ev)
    d = 0
    group_of = ev.model.graph.group_of
    pinned: dict[int, int] = {}
    for i in ev.model.graph.topo:
        if group_of[i] in pinned:  # where the group's first member went, fitting or not
            assignment[i] = pinned[group_of[i]]
            memory.place(i, assignment[i])
            continue
        while memory.peak_if(i, d) > ev.capacity[d]:
            d += 1
            if d >= min(ev.m, max_devices):
                raise NoFeasiblePlan(
                    f"{ev.model.graph.name} does not fit the first "
                    f"{min(ev.m, max_devices)} candidates"
                )
        assignment[i] = d
        memory.place(i, d)
        if group_of[i] >= 0:
            pinned[group_of[i]] = d
    if pinned and not ev.fits(assignment):
        raise NoFeasiblePlan(f"the co-location groups of {ev.model.graph.name} do not fit")
    return assignment


class FirstFit(Scheduler):
    name = "first_fit"

    def plan_model(self, model: CostModel, request: PlanRequest) -> Plan:
        ev = Evaluator(model)
        assignment = first_fit_assignment(ev, request.max_devices or ev.m)
        order = rank_order(ev, upward_ranks(ev))
        return make_plan(ev, request.objective, "first-fit", assignment, order)
