"""Cluster-scheduling jobs (API microversion 2.9): the scheduler's queue.

The queue is the queued jobs in the order (priority descending, created_at, id): the
highest priority first, first come first served within a priority.
"""

import dataclasses
import datetime
from typing import Any

import sqlalchemy as sa
from oslo_serialization import jsonutils

from cyborg.common import constants, exception
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import base, pagination

MODEL = models.Job
SORT_KEYS = frozenset({"id", "uuid", "name", "priority", "created_at", "updated_at"})
QUEUE_ORDER = (MODEL.priority.desc(), MODEL.created_at, MODEL.id)


@dataclasses.dataclass
class Job:
    id: int
    uuid: str
    name: str | None
    project_id: str | None
    graph_uuid: str | None
    job_type: str | None
    #: {device model: work units per second of one gang}; None when not given.
    throughputs: dict[str, float] | None
    min_devices: int
    max_devices: int
    priority: int
    weight: float
    state: str
    #: The scheduler's proposed devices; None until the job is allocated.
    allocation: dict[str, Any] | None
    created_at: datetime.datetime
    updated_at: datetime.datetime | None


@dataclasses.dataclass(frozen=True)
class NewJob:
    name: str | None
    project_id: str | None
    graph_uuid: str | None
    job_type: str | None
    throughputs: dict[str, float] | None
    min_devices: int
    max_devices: int
    priority: int = 0
    weight: float = 1.0


def _loads(text: str | None) -> Any:
    return None if text is None else jsonutils.loads(text)


def _from_row(row: Any) -> Job:
    return base.from_row(
        Job,
        row,
        throughputs=_loads(row.throughputs_json),
        allocation=_loads(row.allocation_json),
    )


def _owned(stmt: Any, project_id: str | None) -> Any:
    return stmt if project_id is None else stmt.where(MODEL.project_id == project_id)


@db_api.context_manager.reader
def get_by_uuid(context: RequestContext, uuid: str, *, project_id: str | None = None) -> Job:
    """One job; ``project_id`` limits to that project's jobs (others are 404)."""
    row = context.session.scalars(
        _owned(sa.select(MODEL), project_id).where(MODEL.uuid == uuid)
    ).first()
    if row is None:
        raise exception.JobNotFound(uuid=uuid)
    return _from_row(row)


@db_api.context_manager.reader
def get_page(
    context: RequestContext,
    *,
    project_id: str | None = None,
    state: str | None = None,
    page: pagination.PageRequest = pagination.ALL,
) -> list[Job]:
    """A page of jobs (of one project, in one state when given), in one query (two
    with a marker)."""
    stmt = _owned(sa.select(MODEL), project_id)
    if state is not None:
        stmt = stmt.where(MODEL.state == state)
    stmt = pagination.paginate(context.session, stmt, MODEL, page, SORT_KEYS)
    return [_from_row(row) for row in context.session.scalars(stmt)]


@db_api.context_manager.reader
def count_queued(context: RequestContext, project_id: str | None) -> int:
    stmt = sa.select(sa.func.count(MODEL.id)).where(
        MODEL.project_id == project_id if project_id is not None else MODEL.project_id.is_(None),
        MODEL.state == constants.JobState.QUEUED.value,
    )
    return int(context.session.scalar(stmt) or 0)


@db_api.context_manager.reader
def queue(context: RequestContext, *, limit: int | None = None) -> list[Job]:
    """The queued jobs in queue order (priority desc, created_at, id)."""
    stmt = sa.select(MODEL).where(MODEL.state == constants.JobState.QUEUED.value)
    stmt = stmt.order_by(*QUEUE_ORDER)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_from_row(row) for row in context.session.scalars(stmt)]


@db_api.context_manager.writer
def create(context: RequestContext, new: NewJob, uuid: str) -> Job:
    """Store a queued job."""
    row = MODEL(
        uuid=uuid,
        name=new.name,
        project_id=new.project_id,
        graph_uuid=new.graph_uuid,
        job_type=new.job_type,
        throughputs_json=None if new.throughputs is None else jsonutils.dumps(new.throughputs),
        min_devices=new.min_devices,
        max_devices=new.max_devices,
        priority=new.priority,
        weight=new.weight,
        state=constants.JobState.QUEUED.value,
    )
    context.session.add(row)
    context.session.flush()
    return _from_row(row)


@db_api.context_manager.writer
def cancel(context: RequestContext, uuid: str, *, project_id: str | None = None) -> None:
    """Queued or allocated -> cancelled; 404 for a job the project cannot see, 409 for
    one in another state (running, finished, already cancelled)."""
    cancellable = [state.value for state in constants.JOB_CANCELLABLE_STATES]
    stmt = (
        sa.update(MODEL)
        .where(MODEL.uuid == uuid, MODEL.state.in_(cancellable))
        .values(state=constants.JobState.CANCELLED.value, allocation_json=None)
    )
    if project_id is not None:
        stmt = stmt.where(MODEL.project_id == project_id)
    if base.rowcount(context.session.execute(stmt)) == 0:
        current = get_by_uuid(context, uuid, project_id=project_id)  # 404 when not there
        raise exception.JobStateConflict(uuid=uuid, state=current.state)


@db_api.context_manager.writer
def set_allocated(context: RequestContext, uuid: str, allocation: dict[str, Any]) -> bool:
    """Queued -> allocated with the scheduler's proposal; False when the job left the
    queue meanwhile (cancelled), and then nothing changes."""
    result = context.session.execute(
        sa.update(MODEL)
        .where(MODEL.uuid == uuid, MODEL.state == constants.JobState.QUEUED.value)
        .values(
            state=constants.JobState.ALLOCATED.value,
            allocation_json=jsonutils.dumps(allocation),
        )
    )
    return base.rowcount(result) == 1


@db_api.context_manager.reader
def allocated_device_uuids(context: RequestContext) -> set[str]:
    """The deployables the allocated jobs' proposals name (not yet bound: held for them)."""
    stmt = sa.select(MODEL.allocation_json).where(
        MODEL.state == constants.JobState.ALLOCATED.value, MODEL.allocation_json.is_not(None)
    )
    return {
        str(device["deployable_uuid"])
        for text in context.session.scalars(stmt)
        for device in (_loads(text) or {}).get("devices", [])
    }
