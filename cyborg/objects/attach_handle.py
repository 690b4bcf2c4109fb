"""Attach handles: an attachable PCI function or MDEV slot of a deployable."""

import dataclasses
import datetime
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from oslo_utils import timeutils

from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import base


@dataclasses.dataclass
class AttachHandle:
    id: int
    uuid: str
    deployable_id: int
    cpid_id: int
    in_use: bool
    attach_type: str
    attach_info: str
    created_at: datetime.datetime
    updated_at: datetime.datetime | None


@db_api.context_manager.reader
def get_by_uuid(context: RequestContext, uuid: str) -> AttachHandle:
    row = context.session.scalars(
        sa.select(models.AttachHandle).where(models.AttachHandle.uuid == uuid)
    ).first()
    if row is None:
        raise exception.AttachHandleNotFound(uuid=uuid)
    return base.from_row(AttachHandle, row)


@db_api.context_manager.reader
def get_all(
    context: RequestContext, *, deployable_id: int | None = None, in_use: bool | None = None
) -> list[AttachHandle]:
    stmt = sa.select(models.AttachHandle).order_by(models.AttachHandle.id)
    if deployable_id is not None:
        stmt = stmt.where(models.AttachHandle.deployable_id == deployable_id)
    if in_use is not None:
        stmt = stmt.where(models.AttachHandle.in_use == in_use)
    return [base.from_row(AttachHandle, row) for row in context.session.scalars(stmt)]


@db_api.context_manager.writer
def create(context: RequestContext, **values: Any) -> AttachHandle:
    row = models.AttachHandle(uuid=values.pop("uuid", None) or base.new_uuid(), **values)
    with (
        base.duplicates_as("attach handle at this address"),
        base.references_as(exception.DeployableNotFound(uuid=f"id={values.get('deployable_id')}")),
    ):
        context.session.add(row)
        context.session.flush()
    return base.from_row(AttachHandle, row)


@db_api.context_manager.writer
def claim_free(context: RequestContext, deployable_id: int) -> AttachHandle:
    """Mark the first free handle of a deployable in use and return it.

    The row lock (``FOR UPDATE``) makes concurrent claims of the same deployable wait
    for each other, so each free handle goes to exactly one caller; a caller that
    finds none left gets NoFreeAttachHandle (409). SQLite has no row locks: there the
    guarded UPDATE below is what keeps two callers off one handle.
    """
    row = context.session.scalars(
        sa.select(models.AttachHandle)
        .where(
            models.AttachHandle.deployable_id == deployable_id,
            models.AttachHandle.in_use.is_(False),
        )
        .order_by(models.AttachHandle.id)
        .limit(1)
        .with_for_update()
    ).first()
    if row is None:
        raise exception.NoFreeAttachHandle(deployable=f"id={deployable_id}")
    claimed = context.session.execute(
        sa.update(models.AttachHandle)
        .where(models.AttachHandle.id == row.id, models.AttachHandle.in_use.is_(False))
        .values(in_use=True)
        .execution_options(synchronize_session=False)
    )
    if base.rowcount(claimed) != 1:
        raise exception.NoFreeAttachHandle(deployable=f"id={deployable_id}")
    context.session.refresh(row)
    return base.from_row(AttachHandle, row)


@db_api.context_manager.writer
def release(context: RequestContext, handle_id: int) -> None:
    """Mark a handle free again; releasing a free handle is harmless."""
    release_many(context, [handle_id])


@db_api.context_manager.writer
def release_many(context: RequestContext, handle_ids: Collection[int]) -> None:
    """Mark many handles free in one statement."""
    if not handle_ids:
        return
    context.session.execute(
        sa.update(models.AttachHandle)
        .where(models.AttachHandle.id.in_(list(handle_ids)))
        .values(in_use=False, updated_at=timeutils.utcnow())
        .execution_options(synchronize_session=False)
    )
