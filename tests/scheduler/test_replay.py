"""The planner's event-driven replay against the simulator that judges plans."""

import random

import pytest

from cyborg.scheduler import heft, synthetic
from cyborg.scheduler.costs import build_cost_model
from cyborg.scheduler.evaluate import Evaluator
from cyborg.scheduler.replay import replay, seconds_per_step
from cyborg.scheduler.simulator import simulate
from tests.scheduler.helpers import H100, SETS, T4


@pytest.mark.parametrize("seed", range(8))
def test_replay_times_what_the_simulator_runs(seed: int) -> None:
    models, hosts, links = SETS[seed % len(SETS)]
    model = build_cost_model(
        synthetic.random_dag(15 + 5 * seed, seed), synthetic.device_set(models, hosts, links)
    )
    ev = Evaluator(model)
    order = heft.rank_order(ev, heft.upward_ranks(ev))
    rng = random.Random(seed)
    for _ in range(3):
        assignment = [rng.randrange(ev.m) for _ in range(ev.n)]
        for static, steps in ((True, 1), (True, 3), (False, 5)):
            policy = "static" if static else "ready"
            expected = simulate(model, assignment, order, steps, policy=policy).makespan_s
            assert max(replay(ev, assignment, order, steps, static)) == pytest.approx(
                expected, rel=1e-12
            )


@pytest.mark.parametrize("steps", [1, 8, 100])
def test_a_single_device_replays_to_its_compute_sum(steps: int) -> None:
    model = build_cost_model(synthetic.random_dag(30, 2), synthetic.device_set([H100, T4]))
    ev = Evaluator(model)
    total = float(model.compute[:, 1].sum())
    for objective in ("latency", "throughput"):
        seconds = seconds_per_step(ev, objective, [1] * ev.n, model.graph.topo, steps)
        assert seconds == pytest.approx(total)


def test_long_runs_are_extrapolated_from_the_replayed_rate() -> None:
    model = build_cost_model(
        synthetic.transformer(4, hidden=2048, seq=1024),
        synthetic.device_set([H100] * 4, peer_links=True),
    )
    ev = Evaluator(model)
    split = [min(3, i * 4 // ev.n) for i in range(ev.n)]
    order = model.graph.topo
    short, long = (seconds_per_step(ev, "throughput", split, order, s) for s in (8, 1000))
    # The pipeline's fill weighs less on a long run; no device works faster than it can.
    assert long < short
    assert long >= max(ev.loads(split)[0]) * (1 - 1e-9)
