"""Rounds: all-or-nothing gangs, locality, time-sharing, the move bound, failures."""

import random

from cyborg.scheduler.cluster.estimates import ThroughputTable
from cyborg.scheduler.cluster.fleet import FreePool, locality, make_fleet
from cyborg.scheduler.cluster.jobs import Job
from cyborg.scheduler.cluster.rounds import Scheduler


def table(**rates: dict[str, float]) -> ThroughputTable:
    return ThroughputTable.from_matrix(rates)


FLAT = table(t={"A": 1.0, "B": 1.0})


def test_a_gang_runs_whole_or_not_at_all() -> None:
    fleet = make_fleet({"A": 1}, per_host=3)
    plan = Scheduler(FLAT, "max_throughput").schedule([Job("big", "t", 10, devices=4)], fleet)
    assert plan.placements == {}
    plan = Scheduler(FLAT, "max_throughput").schedule(
        [Job("big", "t", 10, devices=4), Job("two", "t", 10, devices=2)], fleet
    )
    assert set(plan.placements) == {"two"}
    assert len(plan.placements["two"].device_ids) == 2


def test_gangs_land_on_nvlink_peers_then_one_host() -> None:
    # Two hosts of four devices, two PCIe roots each, peers within a root.
    fleet = make_fleet({"A": 2}, per_host=4, roots=2)
    jobs = [Job("pair", "t", 10, devices=2), Job("four", "t", 10, devices=4)]
    plan = Scheduler(table(t={"A": 1.0}), "max_min").schedule(jobs, fleet)
    assert plan.placements["pair"].locality == "peer"
    assert plan.placements["four"].locality == "host"
    hosts = {fleet.by_id()[i].host for i in plan.placements["four"].device_ids}
    assert len(hosts) == 1


def test_best_fit_keeps_a_whole_root_for_the_next_pair() -> None:
    fleet = make_fleet({"A": 1}, per_host=4, roots=2)
    pool = FreePool(fleet)
    first = pool.take("A", 1)
    assert first is not None
    pair = pool.take("A", 2)
    assert pair is not None and locality(pair) == "peer"
    single = pool.take("A", 1)
    assert single is not None
    # The single went beside the first one, not into the pair's root.
    assert {d.numa_node for d in (*first, *single)} == {first[0].numa_node}


def test_more_jobs_than_devices_time_share() -> None:
    fleet = make_fleet({"A": 1}, per_host=1, roots=1)
    scheduler = Scheduler(table(t={"A": 1.0}), "max_min", min_rounds=1)
    jobs = [Job(f"j{i}", "t", 1e9) for i in range(3)]
    ran = {j.id: 0 for j in jobs}
    for _ in range(30):
        for job_id in scheduler.schedule(jobs, fleet).placements:
            ran[job_id] += 1
    assert sorted(ran.values()) == [10, 10, 10]


def test_no_job_moves_within_its_lease() -> None:
    rng = random.Random(7)
    fleet = make_fleet({"A": 2, "B": 2}, per_host=4)
    rates = table(**{f"t{k}": {"A": 1.0 + k, "B": 3.0 - k} for k in range(3)})
    scheduler = Scheduler(rates, "max_min", min_rounds=3)
    pool = [Job(f"j{i}", f"t{i % 3}", 1e9, devices=rng.choice([1, 1, 2, 4])) for i in range(24)]
    placed_at: dict[str, tuple[int, frozenset[str]]] = {}  # since when, on what
    moves = 0
    for r in range(40):
        active = [j for j in pool if rng.random() < 0.8]
        plan = scheduler.schedule(active, fleet)
        for job_id in plan.moved:
            moves += 1
            # It ran on other devices last round: it had held them 3 rounds at least.
            assert r - placed_at[job_id][0] >= 3
        running = {}
        for job_id, p in plan.placements.items():
            devices = frozenset(p.device_ids)
            since, before = placed_at.get(job_id, (r, devices))
            running[job_id] = (since if before == devices else r, devices)
        placed_at = running
    assert moves > 0  # the bound was exercised, not vacuous


def test_a_leased_job_keeps_its_devices() -> None:
    fleet = make_fleet({"A": 1}, per_host=2, roots=1)
    scheduler = Scheduler(table(t={"A": 1.0}), "max_min", min_rounds=4)
    jobs = [Job(f"j{i}", "t", 1e9) for i in range(4)]
    history = [scheduler.schedule(jobs, fleet).placements for _ in range(8)]
    first = {k: p.device_ids for k, p in history[0].items()}
    for placements in history[1:4]:
        assert {k: p.device_ids for k, p in placements.items()} == first
    assert set(history[4]) != set(first)  # then the other two get their turn


def test_allocation_recomputed_on_events_only() -> None:
    fleet = make_fleet({"A": 1}, per_host=4)
    scheduler = Scheduler(FLAT, "max_throughput")
    jobs = [Job("a", "t", 10), Job("b", "t", 10, devices=2)]
    assert scheduler.schedule(jobs, fleet).recomputed
    plan = scheduler.schedule(jobs, fleet)
    assert not plan.recomputed
    failed = plan.placements["b"].device_ids[0]
    after = scheduler.schedule(jobs, fleet.without([failed]))
    assert after.recomputed
    assert failed not in after.placements["b"].device_ids
    assert len(after.placements["b"].device_ids) == 2
    assert scheduler.schedule(jobs[:1], fleet.without([failed])).recomputed


def test_elastic_job_grows_onto_free_devices() -> None:
    fleet = make_fleet({"A": 1}, per_host=4)
    plan = Scheduler(FLAT, "max_throughput").schedule(
        [Job("e", "t", 10, devices=1, max_devices=3)], fleet
    )
    p = plan.placements["e"]
    assert len(p.device_ids) == 3
    assert p.steps_per_s == 3.0


def test_same_input_same_plans() -> None:
    def run() -> list[dict[str, tuple[str, ...]]]:
        fleet = make_fleet({"A": 2, "B": 1}, per_host=4)
        rates = table(x={"A": 1.0, "B": 2.0}, y={"A": 1.0, "B": 1.2})
        scheduler = Scheduler(rates, "max_throughput", min_rounds=2)
        jobs = [Job(f"j{i}", "xy"[i % 2], 1e9, devices=1 + i % 3) for i in range(10)]
        return [
            {k: p.device_ids for k, p in scheduler.schedule(jobs, fleet).placements.items()}
            for _ in range(6)
        ]

    assert run() == run()
