"""Deployables: the schedulable units of a device, one Placement provider each."""

import dataclasses
import datetime
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import attribute as attribute_obj
from cyborg.objects import base, pagination

SORT_KEYS = frozenset(
    {
        "id",
        "uuid",
        "name",
        "num_accelerators",
        "device_id",
        "rp_uuid",
        "driver_name",
        "created_at",
        "updated_at",
    }
)


@dataclasses.dataclass
class Deployable:
    id: int
    uuid: str
    parent_id: int | None
    root_id: int | None
    name: str
    num_accelerators: int
    device_id: int
    rp_uuid: str | None
    driver_name: str | None
    bitstream_id: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime | None
    attributes: list[attribute_obj.Attribute] = dataclasses.field(default_factory=list)


def _with_attributes(context: RequestContext, rows: list[models.Deployable]) -> list[Deployable]:
    attributes = attribute_obj.get_for_deployables(context, [row.id for row in rows])
    return [base.from_row(Deployable, row, attributes=attributes[row.id]) for row in rows]


@db_api.context_manager.reader
def get_by_uuid(context: RequestContext, uuid: str) -> Deployable:
    row = context.session.scalars(
        sa.select(models.Deployable).where(models.Deployable.uuid == uuid)
    ).first()
    if row is None:
        raise exception.DeployableNotFound(uuid=uuid)
    return _with_attributes(context, [row])[0]


@db_api.context_manager.reader
def get_by_rp_uuid(context: RequestContext, rp_uuid: str) -> Deployable:
    row = context.session.scalars(
        sa.select(models.Deployable).where(models.Deployable.rp_uuid == rp_uuid)
    ).first()
    if row is None:
        raise exception.DeployableNotFound(uuid=f"rp_uuid={rp_uuid}")
    return _with_attributes(context, [row])[0]


@db_api.context_manager.reader
def get_all(
    context: RequestContext,
    *,
    device_id: int | None = None,
    hostname: str | None = None,
    ids: Collection[int] | None = None,
    page: pagination.PageRequest = pagination.ALL,
) -> list[Deployable]:
    """Deployables with their attributes: two statements (three with a marker)."""
    stmt = sa.select(models.Deployable)
    if ids is not None:
        stmt = stmt.where(models.Deployable.id.in_(list(ids)))
    if device_id is not None:
        stmt = stmt.where(models.Deployable.device_id == device_id)
    if hostname is not None:
        stmt = stmt.join(models.Device, models.Device.id == models.Deployable.device_id).where(
            models.Device.hostname == hostname
        )
    stmt = pagination.paginate(context.session, stmt, models.Deployable, page, SORT_KEYS)
    return _with_attributes(context, list(context.session.scalars(stmt)))


@db_api.context_manager.writer
def create(context: RequestContext, **values: Any) -> Deployable:
    row = models.Deployable(uuid=values.pop("uuid", None) or base.new_uuid(), **values)
    with (
        base.duplicates_as("deployable"),
        base.references_as(exception.DeviceNotFound(uuid=f"id={values.get('device_id')}")),
    ):
        context.session.add(row)
        context.session.flush()
    return base.from_row(Deployable, row, attributes=[])


@db_api.context_manager.writer
def update(context: RequestContext, uuid: str, **values: Any) -> Deployable:
    row = context.session.scalars(
        sa.select(models.Deployable).where(models.Deployable.uuid == uuid).with_for_update()
    ).first()
    if row is None:
        raise exception.DeployableNotFound(uuid=uuid)
    for name, value in values.items():
        setattr(row, name, value)
    with base.duplicates_as("deployable"):
        context.session.flush()
    return _with_attributes(context, [row])[0]
