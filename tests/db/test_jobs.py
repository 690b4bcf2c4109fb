"""The jobs' queue on every backend: its order, the per-project limit, cancelling."""

import datetime

import pytest
import sqlalchemy as sa

from cyborg.common import exception
from cyborg.conductor.jobs import queue
from cyborg.conductor.plans import planning
from cyborg.db import models
from cyborg.objects import job as job_obj

T0 = datetime.datetime(2026, 12, 4, 10, 0, 0)


def _new(project: str = "p1", **values) -> job_obj.NewJob:  # type: ignore[no-untyped-def]
    fields = {
        "name": None,
        "project_id": project,
        "graph_uuid": None,
        "job_type": "resnet50",
        "throughputs": None,
        "min_devices": 1,
        "max_devices": 1,
        **values,
    }
    return job_obj.NewJob(**fields)


def _stored(db, rows: list[tuple[str, int, int]]) -> None:  # type: ignore[no-untyped-def]
    """Jobs (uuid suffix, priority, seconds after T0), inserted in this order."""
    with db.engine.begin() as connection:
        connection.execute(
            sa.insert(models.Job),
            [
                {
                    "uuid": f"00000000-0000-4000-8000-{name:0>12}",
                    "name": name,
                    "project_id": "p1",
                    "job_type": "t",
                    "min_devices": 1,
                    "max_devices": 1,
                    "priority": priority,
                    "weight": 1.0,
                    "state": "queued",
                    "created_at": T0 + datetime.timedelta(seconds=seconds),
                }
                for name, priority, seconds in rows
            ],
        )


def test_the_queue_is_priority_then_age_then_id(db) -> None:  # type: ignore[no-untyped-def]
    # "b" and "c" share priority and created_at: the id (insertion order) decides.
    _stored(db, [("a", 0, 0), ("b", 5, 20), ("c", 5, 20), ("d", 5, 10), ("e", 9, 30)])
    assert [job.name for job in job_obj.queue(db.context)] == ["e", "d", "b", "c", "a"]
    assert [job.name for job in job_obj.queue(db.context, limit=2)] == ["e", "d"]


def test_cancelled_and_allocated_jobs_leave_the_queue(db) -> None:  # type: ignore[no-untyped-def]
    _stored(db, [("a", 0, 0), ("b", 0, 1), ("c", 0, 2)])
    uuid = "00000000-0000-4000-8000-{:0>12}"
    job_obj.cancel(db.context, uuid.format("a"))
    assert job_obj.set_allocated(db.context, uuid.format("b"), {"count": 1})
    assert [job.name for job in job_obj.queue(db.context)] == ["c"]
    # A cancelled job is not allocated after all (the round read it before the cancel).
    assert not job_obj.set_allocated(db.context, uuid.format("a"), {"count": 1})
    assert job_obj.get_by_uuid(db.context, uuid.format("a")).allocation is None
    assert job_obj.get_by_uuid(db.context, uuid.format("b")).allocation == {"count": 1}


def test_the_project_limit_counts_queued_jobs_only(db) -> None:  # type: ignore[no-untyped-def]
    first = queue.create_job(db.context, _new(), queued_limit=2, visible_to_project="p1")
    queue.create_job(db.context, _new(), queued_limit=2, visible_to_project="p1")
    with pytest.raises(exception.QuotaExceeded, match="queued_jobs limit 2, usage 2"):
        queue.create_job(db.context, _new(), queued_limit=2, visible_to_project="p1")
    # Another project has its own count; -1 is no limit.
    queue.create_job(db.context, _new("p2"), queued_limit=2, visible_to_project="p2")
    queue.create_job(db.context, _new(), queued_limit=-1, visible_to_project="p1")
    queue.cancel_job(db.context, first, project_id="p1")
    queue.create_job(db.context, _new(), queued_limit=3, visible_to_project="p1")
    assert job_obj.count_queued(db.context, "p1") == 3
    assert job_obj.count_queued(db.context, "p2") == 1


def test_a_job_of_a_graph_needs_a_graph_the_project_sees(db) -> None:  # type: ignore[no-untyped-def]
    graph = planning.create_graph(
        db.context,
        name="g",
        document={"name": "g", "nodes": [{"name": "a", "op_type": "Relu", "flops": 1}]},
        project_id="p1",
    )
    new = _new(job_type=None, graph_uuid=graph)
    with pytest.raises(exception.GraphNotFound):
        queue.create_job(
            db.context,
            _new("p2", job_type=None, graph_uuid=graph),
            queued_limit=5,
            visible_to_project="p2",
        )
    uuid = queue.create_job(db.context, new, queued_limit=5, visible_to_project="p1")
    assert job_obj.get_by_uuid(db.context, uuid).graph_uuid == graph


def test_cancel_is_409_outside_queued_and_allocated(db) -> None:  # type: ignore[no-untyped-def]
    uuid = queue.create_job(
        db.context, _new(throughputs={"A100": 2.5}), queued_limit=5, visible_to_project="p1"
    )
    with pytest.raises(exception.JobNotFound):
        queue.cancel_job(db.context, uuid, project_id="p2")
    with db.engine.begin() as connection:
        connection.execute(sa.update(models.Job).values(state="running"))
    with pytest.raises(exception.JobStateConflict, match="is running"):
        queue.cancel_job(db.context, uuid, project_id="p1")
    stored = job_obj.get_by_uuid(db.context, uuid)
    assert (stored.state, stored.throughputs) == ("running", {"A100": 2.5})
