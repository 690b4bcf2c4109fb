"""Plans of a graph on the live inventory: proposed by the conductor, then claimed."""

import dataclasses
import datetime
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from oslo_serialization import jsonutils

from cyborg.common import constants, exception
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import base, pagination

MODEL = models.Plan
SORT_KEYS = frozenset({"id", "uuid", "rank", "created_at", "updated_at"})


@dataclasses.dataclass
class Plan:
    id: int
    uuid: str
    graph_uuid: str
    project_id: str | None
    objective: str
    rank: int
    request: dict[str, Any]
    result: dict[str, Any]
    state: str
    consumer_uuid: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime | None


@dataclasses.dataclass(frozen=True)
class NewPlan:
    uuid: str
    objective: str
    rank: int
    request: dict[str, Any]
    result: dict[str, Any]


def _from_row(row: Any, graph_uuid: str, with_json: bool = True) -> Plan:
    return Plan(
        id=row.id,
        uuid=row.uuid,
        graph_uuid=graph_uuid,
        project_id=row.project_id,
        objective=row.objective,
        rank=row.rank,
        request=jsonutils.loads(row.request_json) if with_json else {},
        result=jsonutils.loads(row.result_json) if with_json else {},
        state=row.state,
        consumer_uuid=row.consumer_uuid,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _select(project_id: str | None) -> Any:
    stmt = sa.select(MODEL, models.Graph.uuid).join(
        models.Graph, models.Graph.id == MODEL.graph_id
    )
    return stmt if project_id is None else stmt.where(MODEL.project_id == project_id)


@db_api.context_manager.reader
def get_by_uuid(context: RequestContext, uuid: str, *, project_id: str | None = None) -> Plan:
    """One plan; ``project_id`` limits to that project's plans (others are 404)."""
    found = context.session.execute(_select(project_id).where(MODEL.uuid == uuid)).first()
    if found is None:
        raise exception.PlanNotFound(uuid=uuid)
    return _from_row(found[0], found[1])


@db_api.context_manager.reader
def get_all(context: RequestContext, *, uuids: Sequence[str]) -> list[Plan]:
    """The plans of ``uuids`` in rank order, in one query."""
    stmt = _select(None).where(MODEL.uuid.in_(list(uuids))).order_by(MODEL.rank, MODEL.id)
    return [_from_row(row, graph_uuid) for row, graph_uuid in context.session.execute(stmt)]


@db_api.context_manager.reader
def get_page(
    context: RequestContext,
    *,
    project_id: str | None = None,
    graph_uuid: str | None = None,
    page: pagination.PageRequest = pagination.ALL,
) -> list[Plan]:
    """A page of plans (of one graph when ``graph_uuid``), in one query (two with a
    marker), without their request and result (a result holds a node's device per node)."""
    stmt = _select(project_id).options(
        sa.orm.defer(MODEL.request_json), sa.orm.defer(MODEL.result_json)
    )
    if graph_uuid is not None:
        stmt = stmt.where(models.Graph.uuid == graph_uuid)
    stmt = pagination.paginate(context.session, stmt, MODEL, page, SORT_KEYS)
    return [
        _from_row(row, graph_uuid, with_json=False)
        for row, graph_uuid in context.session.execute(stmt)
    ]


@db_api.context_manager.writer
def create_all(
    context: RequestContext, *, graph_id: int, project_id: str | None, plans: Sequence[NewPlan]
) -> None:
    """Store ranked plans of one graph in one statement."""
    if not plans:
        return
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    context.session.execute(
        sa.insert(MODEL),
        [
            {
                "uuid": plan.uuid,
                "graph_id": graph_id,
                "project_id": project_id,
                "objective": plan.objective,
                "rank": plan.rank,
                "request_json": jsonutils.dumps(plan.request),
                "result_json": jsonutils.dumps(plan.result),
                "state": constants.PlanState.PROPOSED.value,
                "created_at": now,
            }
            for plan in plans
        ],
    )


@db_api.context_manager.writer
def mark_claimed(context: RequestContext, uuid: str, consumer_uuid: str) -> None:
    """Proposed -> claimed, once: a second claim is a 409."""
    result = context.session.execute(
        sa.update(MODEL)
        .where(MODEL.uuid == uuid, MODEL.state == constants.PlanState.PROPOSED.value)
        .values(state=constants.PlanState.CLAIMED.value, consumer_uuid=consumer_uuid)
    )
    if base.rowcount(result) == 0:
        current = get_by_uuid(context, uuid)
        raise exception.PlanAlreadyClaimed(uuid=uuid, consumer=current.consumer_uuid)


@db_api.context_manager.writer
def unclaim(context: RequestContext, uuid: str, consumer_uuid: str) -> None:
    """Claimed by ``consumer_uuid`` -> proposed again (its claim failed)."""
    context.session.execute(
        sa.update(MODEL)
        .where(
            MODEL.uuid == uuid,
            MODEL.state == constants.PlanState.CLAIMED.value,
            MODEL.consumer_uuid == consumer_uuid,
        )
        .values(state=constants.PlanState.PROPOSED.value, consumer_uuid=None)
    )
