"""Attributes: key/value facts of a deployable (``rc``, ``trait<N>``, scheduler hints)."""

import dataclasses
import datetime
from collections.abc import Collection

import sqlalchemy as sa

from cyborg.common import constants, exception
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import base, pagination

SORT_KEYS = frozenset({"id", "uuid", "deployable_id", "key", "created_at", "updated_at"})


@dataclasses.dataclass
class Attribute:
    id: int
    uuid: str
    deployable_id: int
    key: str
    value: str
    source: str  # constants.AttributeSource
    created_at: datetime.datetime
    updated_at: datetime.datetime | None


@db_api.context_manager.reader
def get_by_uuid(context: RequestContext, uuid: str) -> Attribute:
    row = context.session.scalars(
        sa.select(models.Attribute).where(models.Attribute.uuid == uuid)
    ).first()
    if row is None:
        raise exception.AttributeNotFound(uuid=uuid)
    return base.from_row(Attribute, row)


@db_api.context_manager.reader
def get_all(
    context: RequestContext,
    *,
    deployable_id: int | None = None,
    key: str | None = None,
    page: pagination.PageRequest = pagination.ALL,
) -> list[Attribute]:
    stmt = sa.select(models.Attribute)
    if deployable_id is not None:
        stmt = stmt.where(models.Attribute.deployable_id == deployable_id)
    if key is not None:
        stmt = stmt.where(models.Attribute.key == key)
    stmt = pagination.paginate(context.session, stmt, models.Attribute, page, SORT_KEYS)
    return [base.from_row(Attribute, row) for row in context.session.scalars(stmt)]


def get_for_deployables(
    context: RequestContext, deployable_ids: Collection[int]
) -> dict[int, list[Attribute]]:
    """Attributes of many deployables in one statement, keyed by deployable id.

    Runs inside the caller's transaction (no decorator of its own).
    """
    by_deployable: dict[int, list[Attribute]] = {id_: [] for id_ in deployable_ids}
    if not deployable_ids:
        return by_deployable
    stmt = (
        sa.select(models.Attribute)
        .where(models.Attribute.deployable_id.in_(list(deployable_ids)))
        .order_by(models.Attribute.deployable_id, models.Attribute.id)
    )
    for row in context.session.scalars(stmt):
        by_deployable[row.deployable_id].append(base.from_row(Attribute, row))
    return by_deployable


def get_by_key(context: RequestContext, deployable_id: int, key: str) -> Attribute | None:
    """The deployable's attribute of that key, if any (in the caller's transaction)."""
    row = context.session.scalars(
        sa.select(models.Attribute).where(
            models.Attribute.deployable_id == deployable_id, models.Attribute.key == key
        )
    ).first()
    return None if row is None else base.from_row(Attribute, row)


@db_api.context_manager.reader
def hostname_of(context: RequestContext, uuid: str) -> str:
    """The host of the device whose deployable has the attribute."""
    hostname = context.session.scalar(
        sa.select(models.Device.hostname)
        .join(models.Deployable, models.Deployable.device_id == models.Device.id)
        .join(models.Attribute, models.Attribute.deployable_id == models.Deployable.id)
        .where(models.Attribute.uuid == uuid)
    )
    if hostname is None:
        raise exception.AttributeNotFound(uuid=uuid)
    return str(hostname)


@db_api.context_manager.writer
def create(
    context: RequestContext,
    *,
    deployable_id: int,
    key: str,
    value: str,
    uuid: str | None = None,
    source: str = constants.AttributeSource.OPERATOR,
) -> Attribute:
    row = models.Attribute(
        uuid=uuid or base.new_uuid(),
        deployable_id=deployable_id,
        key=key,
        value=value,
        source=source,
    )
    with (
        base.duplicates_as("attribute with this key on this deployable"),
        base.references_as(exception.DeployableNotFound(uuid=f"id={deployable_id}")),
    ):
        context.session.add(row)
        context.session.flush()
    return base.from_row(Attribute, row)


@db_api.context_manager.writer
def delete(context: RequestContext, uuid: str) -> None:
    result = context.session.execute(
        sa.delete(models.Attribute).where(models.Attribute.uuid == uuid)
    )
    if base.rowcount(result) == 0:
        raise exception.AttributeNotFound(uuid=uuid)
