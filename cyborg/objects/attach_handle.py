"""Attach handles: an attachable PCI function, MDEV slot or SPDK target of a deployable.

A handle an ARQ references is in use. So is, for a while, an MDEV, NVMF or VHOST_USER
handle its ARQ let go of (unbound, deleted, bind failed): what the agent made for it
(a mediated device, an SPDK subsystem or controller) may still exist on the host, and
the handle is "held" until the conductor has had the agent remove it
(cyborg.conductor.binding.vgpu). Such a thing only ever exists for a handle in use.
"""

import dataclasses
import datetime
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from oslo_serialization import jsonutils
from oslo_utils import timeutils

from cyborg.common import constants, exception
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


@db_api.context_manager.reader
def types_at(context: RequestContext, rp_uuids: Collection[str]) -> dict[str, set[str]]:
    """{provider uuid: the attach types of its deployable's handles, free or not} for
    the deployables that are providers ``rp_uuids`` and have handles; one query."""
    stmt = (
        sa.select(models.Deployable.rp_uuid, models.AttachHandle.attach_type)
        .join(models.Deployable, models.Deployable.id == models.AttachHandle.deployable_id)
        .where(models.Deployable.rp_uuid.in_(sorted(set(rp_uuids))))
        .distinct()
    )
    types: dict[str, set[str]] = {}
    for rp_uuid, attach_type in context.session.execute(stmt):
        types.setdefault(str(rp_uuid), set()).add(attach_type)
    return types


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
def release_many(
    context: RequestContext, handle_ids: Collection[int], *, hold_types: Collection[str] = ()
) -> None:
    """Mark many handles free in one statement.

    Handles of ``hold_types`` stay in use (held, see the module's docstring); their
    ``updated_at`` says since when.
    """
    if not handle_ids:
        return
    in_use: Any = False
    if hold_types:
        held = models.AttachHandle.attach_type.in_(list(hold_types))
        in_use = sa.case((held, models.AttachHandle.in_use), else_=sa.false())
    context.session.execute(
        sa.update(models.AttachHandle)
        .where(models.AttachHandle.id.in_(list(handle_ids)))
        .values(in_use=in_use, updated_at=timeutils.utcnow())
        .execution_options(synchronize_session=False)
    )


# --- Handles the agent makes something for: mdevs, SPDK targets ------------------------


@dataclasses.dataclass(frozen=True)
class MdevTarget:
    """Where what the agent makes for a handle lives: on host ``hostname`` (its agent's
    RPC server). For MDEV, the mdev named ``uuid`` on the PCI function and vGPU type of
    ``attach_info``; for NVMF / VHOST_USER, the SPDK target ``attach_info`` names."""

    id: int
    uuid: str
    hostname: str
    attach_info: dict[str, str]
    attach_type: str = constants.AttachType.MDEV.value


_ARQ = models.ExtendedAcceleratorRequest


def _held() -> Any:
    """A handle the agent makes something for, in use, that no ARQ references."""
    referenced = sa.exists().where(_ARQ.attach_handle_id == models.AttachHandle.id)
    return sa.and_(
        models.AttachHandle.attach_type.in_(sorted(constants.AGENT_MADE_TYPES)),
        models.AttachHandle.in_use.is_(True),
        ~referenced,
    )


@db_api.context_manager.reader
def get_mdev_targets(
    context: RequestContext,
    *,
    ids: Collection[int] | None = None,
    held_before: datetime.datetime | None = None,
) -> list[MdevTarget]:
    """The handles of ``ids`` the agent makes something for (MDEV, NVMF, VHOST_USER), or
    those held since before ``held_before``; one query."""
    stmt = (
        sa.select(
            models.AttachHandle.id,
            models.AttachHandle.uuid,
            models.Device.hostname,
            models.AttachHandle.attach_info,
            models.AttachHandle.attach_type,
        )
        .join(models.Deployable, models.Deployable.id == models.AttachHandle.deployable_id)
        .join(models.Device, models.Device.id == models.Deployable.device_id)
        .where(models.AttachHandle.attach_type.in_(sorted(constants.AGENT_MADE_TYPES)))
        .order_by(models.AttachHandle.id)
    )
    if ids is not None:
        stmt = stmt.where(models.AttachHandle.id.in_(list(ids)))
    if held_before is not None:
        stmt = stmt.where(_held(), models.AttachHandle.updated_at < held_before)
    return [
        MdevTarget(
            id=id_,
            uuid=uuid,
            hostname=hostname,
            attach_info=jsonutils.loads(info),
            attach_type=attach_type,
        )
        for id_, uuid, hostname, info, attach_type in context.session.execute(stmt)
    ]


@db_api.context_manager.writer
def take_held(context: RequestContext, handle_id: int, held_before: datetime.datetime) -> bool:
    """Restart a held handle's clock if it is still held since before ``held_before``.

    Of several conductors that found the same held handle, one gets True and removes
    its mdev; the others see a handle held since just now and leave it alone.
    """
    result = context.session.execute(
        sa.update(models.AttachHandle)
        .where(
            models.AttachHandle.id == handle_id,
            _held(),
            models.AttachHandle.updated_at < held_before,
        )
        .values(updated_at=timeutils.utcnow())
        .execution_options(synchronize_session=False)
    )
    return base.rowcount(result) == 1


@db_api.context_manager.writer
def release_held(context: RequestContext, handle_id: int) -> None:
    """Free a handle, still held, whose mdev is gone (a no-op for any other handle)."""
    context.session.execute(
        sa.update(models.AttachHandle)
        .where(models.AttachHandle.id == handle_id, _held())
        .values(in_use=False, updated_at=timeutils.utcnow())
        .execution_options(synchronize_session=False)
    )
