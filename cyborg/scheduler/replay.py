"""Event-driven replay of a plan: how long execution takes, not how the plan was built.

The list schedule of :meth:`~cyborg.scheduler.evaluate.Evaluator.trace` books link time
knowing the whole schedule: a transfer booked late can still take a link before an
earlier one. Execution cannot. The replay follows the execution semantics instead:

* a device runs one node at a time: its nodes in the plan's priority order, step after
  step (``static``), or the ready node of the earliest step, earliest in that order
  (``ready``, a dependency-driven runtime that lets pipelined steps overlap);
* a transfer starts only once its producer has finished and every link resource of its
  route is free (and its blocking ends are idle: such a transfer keeps them busy); as
  resources free up, the waiting transfers start in the priority order of their
  consumers (earliest step first), every one that can. A tensor moves to a device once
  per step, for all of its consumers there.

Memory is not replayed (the planner checks the peak of its own schedule). Single
device plans replay to their compute sum exactly, whatever the steps.
"""

import heapq
from collections.abc import Sequence

from cyborg.scheduler.evaluate import Evaluator

# Steps replayed at most; longer runs are extrapolated from the last half's rate.
MAX_REPLAYED_STEPS = 16
#: How many pipelined steps a throughput plan is judged over when the request does not
#: say: a short run, so the pipeline's fill is part of what a plan costs.
DEFAULT_STEPS = 64


def replay(
    ev: Evaluator,
    assignment: Sequence[int],
    order: Sequence[int],
    steps: int = 1,
    static: bool = True,
) -> list[float]:
    """Completion time of each of ``steps`` steps run back to back."""
    n, a = ev.n, assignment
    compute = [row[a[i]] for i, row in enumerate(ev.compute)]
    #: per node: consumers on its device (or fed for free), then transfers to make
    local: list[list[int]] = [[] for _ in range(n)]
    sends: list[list[tuple[int, tuple[int, int], float]]] = [[] for _ in range(n)]
    #: [transfer group] (its destination's consumers, the first one's position)
    groups: list[tuple[list[int], int]] = []
    position = [0] * n
    for p, i in enumerate(order):
        position[i] = p
    for i, outs in enumerate(ev.outputs):
        found: dict[tuple[int, int], int] = {}
        for (t, _), k in zip(outs, ev.output_tensors[i], strict=True):
            if a[i] == a[t] or k < 0:
                local[i].append(t)
            elif (k, a[t]) in found:
                consumers, first = groups[found[(k, a[t])]]
                consumers.append(t)
                groups[found[(k, a[t])]] = (consumers, min(first, position[t]))
            else:
                found[(k, a[t])] = len(groups)
                groups.append(([t], position[t]))
                seconds = ev.transfer(a[i], a[t], ev.tensor_bytes[k])
                sends[i].append((found[(k, a[t])], (a[i], a[t]), seconds))
    n_groups = max(len(groups), 1)
    blocking = [
        (ev.blocks_sender[x][y], ev.blocks_receiver[x][y])
        for x in range(ev.m)
        for y in range(ev.m)
    ]
    #: routes with a blocking end at each device
    blocked_at: list[set[tuple[int, int]]] = [set() for _ in range(ev.m)]
    for x in range(ev.m):
        for y in range(ev.m):
            if blocking[x * ev.m + y][0]:
                blocked_at[x].add((x, y))
            if blocking[x * ev.m + y][1]:
                blocked_at[y].add((x, y))
    queues: list[list[int]] = [[] for _ in range(ev.m)]  # static: keys b * n + node
    for b in range(steps):
        for i in order:
            queues[a[i]].append(b * n + i)
    head = [0] * ev.m
    ready: list[list[tuple[int, int, int]]] = [[] for _ in range(ev.m)]
    busy = [False] * ev.m
    missing = [len(ev.inputs[i]) for i in range(n)] * steps
    link_busy = [False] * len(ev.resource_names)
    #: waiting transfers per route: (step, first consumer's position, seq, group key,
    #: seconds); a group key is step * groups + group
    waiting: dict[tuple[int, int], list[tuple[int, int, int, int, float]]] = {}
    #: routes with waiting transfers, per link resource they use
    waiting_on: list[set[tuple[int, int]]] = [set() for _ in ev.resource_names]
    events: list[tuple[float, int, int, int]] = []  # (time, seq, key, -1 or source device)
    done = [0.0] * steps
    seq = 0
    now = 0.0

    def route_free(src: int, dst: int) -> bool:
        if any(link_busy[r] for r in ev.resources[src][dst]):
            return False
        bs, br = blocking[src * ev.m + dst]
        return not (bs and busy[src]) and not (br and busy[dst])

    def arrived(key: int) -> None:
        missing[key] -= 1
        if not missing[key] and not static:
            i = key % n
            heapq.heappush(ready[a[i]], (key // n, position[i], i))

    def run_device(d: int) -> None:
        nonlocal seq
        if busy[d]:
            return
        if static:
            if head[d] >= len(queues[d]) or missing[queues[d][head[d]]]:
                return
            key = queues[d][head[d]]
            head[d] += 1
        else:
            if not ready[d]:
                return
            b, _, i = heapq.heappop(ready[d])
            key = b * n + i
        busy[d] = True
        seq += 1
        heapq.heappush(events, (now + compute[key % n], seq, key, -1))

    def start_transfers(routes: set[tuple[int, int]]) -> None:
        """Start what can start on ``routes``, the only ones whose state changed: in
        the priority order of their first waiting transfer (only the first of a route
        can start, the others need the same resources)."""
        nonlocal seq
        resources_of = ev.resources
        if ev.blocking:
            free = [route for route in routes if route in waiting and route_free(*route)]
        else:
            free = [
                route
                for route in routes
                if route in waiting
                and not any(link_busy[r] for r in resources_of[route[0]][route[1]])
            ]
        if len(free) > 1:
            free.sort(key=lambda route: waiting[route][0])
        for src, dst in free:
            resources = resources_of[src][dst]
            if len(free) > 1 and not route_free(src, dst):
                continue
            queue = waiting[(src, dst)]
            _, _, _, key, seconds = heapq.heappop(queue)
            if not queue:
                del waiting[(src, dst)]
                for r in resources:
                    waiting_on[r].discard((src, dst))
            for r in resources:
                link_busy[r] = True
            bs, br = blocking[src * ev.m + dst]
            if bs:
                busy[src] = True
            if br:
                busy[dst] = True
            seq += 1
            heapq.heappush(events, (now + seconds, seq, key, src))

    if not static:
        for b in range(steps):
            for i in range(n):
                if not missing[i]:
                    heapq.heappush(ready[a[i]], (b, position[i], i))
    for d in range(ev.m):
        run_device(d)
    while events:
        now, _, key, src = heapq.heappop(events)
        if src >= 0:  # a transfer of group key % n_groups ended
            b, (consumers, _) = key // n_groups, groups[key % n_groups]
            dst = a[consumers[0]]
            freed: set[tuple[int, int]] = set()
            for r in ev.resources[src][dst]:
                link_busy[r] = False
                freed |= waiting_on[r]
            bs, br = blocking[src * ev.m + dst]
            if bs:
                busy[src] = False
                freed |= blocked_at[src]
            if br:
                busy[dst] = False
                freed |= blocked_at[dst]
            for t in consumers:
                arrived(b * n + t)
            start_transfers(freed)
            run_device(dst)
            if bs:
                run_device(src)
            continue
        i, b = key % n, key // n
        d = a[i]
        busy[d] = False
        if now > done[b]:
            done[b] = now
        base = b * n
        for t in local[i]:
            arrived(base + t)
            if a[t] != d:
                run_device(a[t])
        if not sends[i] and not blocked_at[d]:
            run_device(d)
            continue
        queued: set[tuple[int, int]] = set(blocked_at[d])
        for g, route, seconds in sends[i]:
            seq += 1
            heapq.heappush(
                waiting.setdefault(route, []), (b, groups[g][1], seq, b * n_groups + g, seconds)
            )
            for r in ev.resources[route[0]][route[1]]:
                waiting_on[r].add(route)
            queued.add(route)
        start_transfers(queued)
        run_device(d)
    return done


def seconds_per_step(
    ev: Evaluator, objective: str, assignment: Sequence[int], order: Sequence[int], steps: int
) -> float:
    """Replayed seconds per step: one step in the plan's order for latency; for
    throughput the time of a run of ``steps`` pipelined steps (``ready`` devices) over
    ``steps``, the fill included -- beyond :data:`MAX_REPLAYED_STEPS`, the replayed run
    plus the remaining steps at the rate of its second half."""
    if objective == "latency":
        return max(replay(ev, assignment, order), default=0.0)
    run = min(steps, MAX_REPLAYED_STEPS)
    done = replay(ev, assignment, order, run, static=False)
    total = max(done, default=0.0)
    if steps > run:
        half = run // 2
        rate = (total - max(done[:half], default=0.0)) / (run - half)
        total += (steps - run) * rate
    return total / steps
