"""Job rounds on every backend: the head of the queue gets proposed devices among the
free ones, by priority tier, with the cluster scheduler; nothing is bound."""

import pytest
import sqlalchemy as sa

from cyborg.conductor.jobs import queue, rounds
from cyborg.db import models
from cyborg.objects import job as job_obj
from tests.db import seed

# Deployables 1-4 are V100s, 5-8 K80s (attribute model); host = host{i % 2}.
MODELS = {i: "V100" if i <= 4 else "K80" for i in range(1, 9)}


def _fleet(db) -> None:  # type: ignore[no-untyped-def]
    seed.devices(db.engine, 8, hosts=2)
    with db.engine.begin() as connection:
        connection.execute(
            sa.insert(models.Attribute),
            [
                {
                    "uuid": f"00000000-0000-4000-8011-{i:012d}",
                    "deployable_id": i,
                    "key": "model",
                    "value": model,
                }
                for i, model in MODELS.items()
            ],
        )


def _queue(db, **values) -> str:  # type: ignore[no-untyped-def]
    fields = {
        "name": None,
        "project_id": "p1",
        "graph_uuid": None,
        "job_type": "t",
        "throughputs": None,
        "min_devices": 1,
        "max_devices": 1,
        **values,
    }
    new = job_obj.NewJob(**fields)
    return queue.create_job(db.context, new, queued_limit=-1, visible_to_project=None)


def _models(job: job_obj.Job) -> list[str]:
    assert job.allocation is not None
    return [
        MODELS[int(d["deployable_name"].rpartition("gpu")[2])] for d in job.allocation["devices"]
    ]


def test_each_job_gets_the_model_it_is_fastest_on(db) -> None:  # type: ignore[no-untyped-def]
    _fleet(db)
    # ResNet gains 6.8x from a V100, the recommender 2.2x: the V100s go to ResNet.
    resnet = _queue(
        db, job_type="resnet", throughputs={"V100": 17.0, "K80": 2.5}, min_devices=4, max_devices=4
    )
    recsys = _queue(
        db,
        job_type="recsys",
        throughputs={"V100": 0.57, "K80": 0.26},
        min_devices=4,
        max_devices=4,
    )
    assert rounds.run_round(db.context, policy="max_throughput", limit=10) == 2
    first, second = (job_obj.get_by_uuid(db.context, u) for u in (resnet, recsys))
    assert (first.state, second.state) == ("allocated", "allocated")
    assert _models(first) == ["V100"] * 4 and _models(second) == ["K80"] * 4
    assert first.allocation is not None and first.allocation["count"] == 4
    assert first.allocation["policy"] == "max_throughput"
    # Nothing is free now: a new job stays queued, and a second round changes nothing.
    late = _queue(db, min_devices=1)
    assert rounds.run_round(db.context, policy="max_throughput", limit=10) == 0
    assert job_obj.get_by_uuid(db.context, late).state == "queued"


def test_a_higher_priority_is_served_first(db) -> None:  # type: ignore[no-untyped-def]
    _fleet(db)
    # Both run on V100s only, and there are four: one job fits.
    only_v100 = {"V100": 1.0}
    low = _queue(db, throughputs=only_v100, min_devices=4, max_devices=4, priority=0)
    high = _queue(db, throughputs=only_v100, min_devices=4, max_devices=4, priority=5)
    assert rounds.run_round(db.context, policy="max_min", limit=10) == 1
    assert job_obj.get_by_uuid(db.context, high).state == "allocated"
    assert job_obj.get_by_uuid(db.context, low).state == "queued"


def test_held_devices_are_not_proposed(db) -> None:  # type: ignore[no-untyped-def]
    _fleet(db)
    seed.bound_arqs(db.engine, 3)  # deployables 1-3 are bound to VMs
    job = _queue(db, min_devices=2, max_devices=8)
    assert rounds.run_round(db.context, policy="max_throughput", limit=10) == 1
    stored = job_obj.get_by_uuid(db.context, job)
    assert stored.allocation is not None
    names = {d["deployable_name"] for d in stored.allocation["devices"]}
    assert not names & {"host1_gpu1", "host0_gpu2", "host1_gpu3"}
    # One V100 is left free, four K80s: the elastic job grows onto all four K80s.
    assert _models(stored) == ["K80"] * 4 and stored.allocation["count"] == 4


def test_a_job_whose_models_are_absent_stays_queued(db) -> None:  # type: ignore[no-untyped-def]
    _fleet(db)
    job = _queue(db, throughputs={"H100": 50.0})
    assert rounds.run_round(db.context, policy="min_jct", limit=10) == 0
    assert job_obj.get_by_uuid(db.context, job).state == "queued"


def test_an_allocated_job_keeps_its_devices_from_later_rounds(db) -> None:  # type: ignore[no-untyped-def]
    _fleet(db)
    first = _queue(db, throughputs={"V100": 1.0}, min_devices=3, max_devices=3)
    assert rounds.run_round(db.context, policy="max_throughput", limit=10) == 1
    second = _queue(db, throughputs={"V100": 1.0}, min_devices=2, max_devices=2)
    assert rounds.run_round(db.context, policy="max_throughput", limit=10) == 0
    queue.cancel_job(db.context, first, project_id=None)
    assert rounds.run_round(db.context, policy="max_throughput", limit=10) == 1
    assert job_obj.get_by_uuid(db.context, second).state == "allocated"


@pytest.mark.parametrize("limit", [1, 2])
def test_the_round_takes_the_head_of_the_queue(db, limit: int) -> None:  # type: ignore[no-untyped-def]
    _fleet(db)
    jobs = [_queue(db, priority=p) for p in (1, 3, 2)]
    assert rounds.run_round(db.context, policy="max_throughput", limit=limit) == limit
    states = [job_obj.get_by_uuid(db.context, u).state for u in jobs]
    expected = {1: ["queued", "allocated", "queued"], 2: ["queued", "allocated", "allocated"]}
    assert states == expected[limit]
