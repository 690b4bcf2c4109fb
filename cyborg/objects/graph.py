"""Graphs uploaded for planning: the scheduler's analysed graph and its totals."""

import dataclasses
import datetime
from typing import Any

import sqlalchemy as sa
from oslo_serialization import jsonutils

from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import base, pagination

MODEL = models.Graph
SORT_KEYS = frozenset({"id", "uuid", "name", "created_at"})


@dataclasses.dataclass
class Graph:
    id: int
    uuid: str
    project_id: str | None
    name: str
    format: str
    nodes: int
    flops: float
    bytes_moved: float
    param_bytes: float
    created_at: datetime.datetime
    updated_at: datetime.datetime | None
    #: cyborg.scheduler.graph_json's document; None when loaded without it (lists).
    document: dict[str, Any] | None = None


def _from_row(row: Any, with_document: bool) -> Graph:
    document = jsonutils.loads(row.graph_json) if with_document else None
    return base.from_row(Graph, row, document=document)


def _owned(stmt: Any, project_id: str | None) -> Any:
    return stmt if project_id is None else stmt.where(MODEL.project_id == project_id)


@db_api.context_manager.reader
def get_by_uuid(context: RequestContext, uuid: str, *, project_id: str | None = None) -> Graph:
    """One graph with its document; ``project_id`` limits to that project's (else 404)."""
    row = context.session.scalars(
        _owned(sa.select(MODEL), project_id).where(MODEL.uuid == uuid)
    ).first()
    if row is None:
        raise exception.GraphNotFound(uuid=uuid)
    return _from_row(row, with_document=True)


@db_api.context_manager.reader
def get_all(
    context: RequestContext,
    *,
    project_id: str | None = None,
    page: pagination.PageRequest = pagination.ALL,
) -> list[Graph]:
    """Graphs without their documents (one query; the documents can be large)."""
    stmt = _owned(sa.select(MODEL).options(sa.orm.defer(MODEL.graph_json)), project_id)
    stmt = pagination.paginate(context.session, stmt, MODEL, page, SORT_KEYS)
    return [_from_row(row, with_document=False) for row in context.session.scalars(stmt)]


@db_api.context_manager.writer
def create(
    context: RequestContext,
    *,
    name: str,
    format: str,
    document: dict[str, Any],
    nodes: int,
    flops: float,
    bytes_moved: float,
    param_bytes: float,
    project_id: str | None,
) -> Graph:
    row = MODEL(
        uuid=base.new_uuid(),
        project_id=project_id,
        name=name[:255],
        format=format,
        graph_json=jsonutils.dumps(document),
        nodes=nodes,
        flops=flops,
        bytes_moved=bytes_moved,
        param_bytes=param_bytes,
    )
    with base.duplicates_as("graph"):
        context.session.add(row)
        context.session.flush()
    return _from_row(row, with_document=True)
