"""Accelerator requests (ARQs): one accelerator for one device-profile group.

Each ARQ keeps a copy of its profile's name and group, so it stays meaningful after
the profile is deleted. Lists join the attach handle and deployable in the same
statement: a page costs one statement whatever its size (two with a marker).
"""

import dataclasses
import datetime
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from oslo_serialization import jsonutils
from oslo_utils import timeutils

from cyborg.common import constants, exception
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import attach_handle, base, pagination

SORT_KEYS = frozenset(
    {
        "id",
        "uuid",
        "state",
        "hostname",
        "instance_uuid",
        "device_profile_name",
        "created_at",
        "updated_at",
    }
)

ARQ_MODEL = models.ExtendedAcceleratorRequest


@dataclasses.dataclass
class AcceleratorRequest:
    id: int
    uuid: str
    state: str
    project_id: str | None
    device_profile_id: int | None
    device_profile_name: str
    device_profile_group: dict[str, str]
    device_profile_group_id: int
    hostname: str | None
    device_rp_uuid: str | None
    instance_uuid: str | None
    attach_handle_id: int | None
    deployable_id: int | None
    created_at: datetime.datetime
    updated_at: datetime.datetime | None
    bind_failure_reason: str | None
    # Joined from the attach handle and deployable the ARQ is bound to.
    attach_handle_type: str | None = None
    attach_handle_uuid: str | None = None
    attach_handle_info: dict[str, str] | None = None
    deployable_uuid: str | None = None


def _select() -> Any:
    return (
        sa.select(
            ARQ_MODEL,
            models.AttachHandle.attach_type,
            models.AttachHandle.uuid,
            models.AttachHandle.attach_info,
            models.Deployable.uuid,
        )
        .outerjoin(models.AttachHandle, models.AttachHandle.id == ARQ_MODEL.attach_handle_id)
        .outerjoin(models.Deployable, models.Deployable.id == ARQ_MODEL.deployable_id)
    )


def _from_result(result: Any) -> list[AcceleratorRequest]:
    arqs = []
    for row, handle_type, handle_uuid, handle_info, deployable_uuid in result:
        arqs.append(
            base.from_row(
                AcceleratorRequest,
                row,
                device_profile_group=jsonutils.loads(row.device_profile_group),
                attach_handle_type=handle_type,
                attach_handle_uuid=handle_uuid,
                attach_handle_info=jsonutils.loads(handle_info) if handle_info else None,
                deployable_uuid=deployable_uuid,
            )
        )
    return arqs


def _owned(stmt: Any, project_id: str | None) -> Any:
    return stmt if project_id is None else stmt.where(ARQ_MODEL.project_id == project_id)


@db_api.context_manager.reader
def get_by_uuid(
    context: RequestContext, uuid: str, *, project_id: str | None = None
) -> AcceleratorRequest:
    """One ARQ; with ``project_id``, another project's ARQ is reported as missing."""
    stmt = _owned(_select().where(ARQ_MODEL.uuid == uuid), project_id)
    arqs = _from_result(context.session.execute(stmt))
    if not arqs:
        raise exception.ARQNotFound(uuid=uuid)
    return arqs[0]


@db_api.context_manager.reader
def get_all(
    context: RequestContext,
    *,
    project_id: str | None = None,
    instance_uuid: str | None = None,
    states: Collection[str] | None = None,
    device_rp_uuid: str | None = None,
    uuids: Collection[str] | None = None,
    page: pagination.PageRequest = pagination.ALL,
) -> list[AcceleratorRequest]:
    stmt = _owned(_select(), project_id)
    if uuids is not None:
        stmt = stmt.where(ARQ_MODEL.uuid.in_(list(uuids)))
    if instance_uuid is not None:
        stmt = stmt.where(ARQ_MODEL.instance_uuid == instance_uuid)
    if states is not None:
        stmt = stmt.where(ARQ_MODEL.state.in_(list(states)))
    if device_rp_uuid is not None:
        stmt = stmt.where(ARQ_MODEL.device_rp_uuid == device_rp_uuid)
    stmt = pagination.paginate(context.session, stmt, ARQ_MODEL, page, SORT_KEYS)
    return _from_result(context.session.execute(stmt))


@db_api.context_manager.reader
def get_bind_started_before(
    context: RequestContext, cutoff: datetime.datetime
) -> list[AcceleratorRequest]:
    """ARQs in BindStarted since before ``cutoff`` (their binder may have died)."""
    stmt = _select().where(
        ARQ_MODEL.state == constants.ARQState.BIND_STARTED.value,
        ARQ_MODEL.updated_at < cutoff,
    )
    return _from_result(context.session.execute(stmt.order_by(ARQ_MODEL.id)))


@db_api.context_manager.writer
def create_many(
    context: RequestContext,
    *,
    device_profile_id: int | None,
    device_profile_name: str,
    groups: Sequence[dict[str, str]],
    counts: Sequence[int],
    project_id: str | None,
) -> list[AcceleratorRequest]:
    """Create ``counts[i]`` ARQs for group ``i`` of a profile: two statements in all."""
    # Bulk inserts bypass the ORM column defaults, so the timestamp is set here.
    now = timeutils.utcnow()
    rows = [
        {
            "uuid": base.new_uuid(),
            "project_id": project_id,
            "state": constants.ARQState.INITIAL.value,
            "substate": "Initial",
            "device_profile_id": device_profile_id,
            "device_profile_name": device_profile_name,
            "device_profile_group": jsonutils.dumps(group, sort_keys=True),
            "device_profile_group_id": group_id,
            "created_at": now,
        }
        for group_id, (group, count) in enumerate(zip(groups, counts, strict=True))
        for _ in range(count)
    ]
    if not rows:
        return []
    context.session.execute(sa.insert(ARQ_MODEL), rows)
    uuids = [row["uuid"] for row in rows]
    stmt = _select().where(ARQ_MODEL.uuid.in_(uuids)).order_by(ARQ_MODEL.id)
    return _from_result(context.session.execute(stmt))


@db_api.context_manager.writer
def update_state(
    context: RequestContext,
    uuid: str,
    *,
    expected: Collection[str],
    new_state: str,
    **values: Any,
) -> None:
    """Compare-and-swap: move ``uuid`` to ``new_state`` only from one of ``expected``.

    Of two callers racing for the same transition, exactly one succeeds; the other
    gets ARQStateConflict naming the state it found.
    """
    result = context.session.execute(
        sa.update(ARQ_MODEL)
        .where(ARQ_MODEL.uuid == uuid, ARQ_MODEL.state.in_(list(expected)))
        .values(state=new_state, updated_at=timeutils.utcnow(), **values)
    )
    if base.rowcount(result) == 1:
        return
    actual = context.session.scalar(sa.select(ARQ_MODEL.state).where(ARQ_MODEL.uuid == uuid))
    if actual is None:
        raise exception.ARQNotFound(uuid=uuid)
    raise exception.ARQStateConflict(
        uuid=uuid, actual=actual, expected=", ".join(sorted(expected))
    )


@db_api.context_manager.writer
def delete_by_uuids(
    context: RequestContext, uuids: Sequence[str], *, project_id: str | None = None
) -> None:
    """Delete every listed ARQ, or none when one is missing (the 404 names them)."""
    stmt = _owned(sa.select(ARQ_MODEL.uuid).where(ARQ_MODEL.uuid.in_(list(uuids))), project_id)
    found = set(context.session.scalars(stmt.with_for_update()))
    missing = [uuid for uuid in uuids if uuid not in found]
    if missing:
        raise exception.ARQNotFound(uuid=", ".join(missing))
    context.session.execute(sa.delete(ARQ_MODEL).where(ARQ_MODEL.uuid.in_(list(found))))


@db_api.context_manager.writer
def delete_by_instance(
    context: RequestContext, instance_uuid: str, *, project_id: str | None = None
) -> int:
    """Delete an instance's ARQs; idempotent (0 when there are none)."""
    stmt = _owned(sa.delete(ARQ_MODEL).where(ARQ_MODEL.instance_uuid == instance_uuid), project_id)
    return int(base.rowcount(context.session.execute(stmt)))


# --- binding: each function below is one transaction --------------------------------

# States unbind moves from; Unbound ARQs are left as they are (unbinding is idempotent).
UNBINDABLE_STATES = frozenset(
    {
        constants.ARQState.INITIAL,
        constants.ARQState.BIND_STARTED,
        constants.ARQState.BOUND,
        constants.ARQState.BIND_FAILED,
        constants.ARQState.UNBIND_FAILED,
    }
)

# What unbinding clears; the ARQ keeps its project and profile group.
_UNBOUND_VALUES: dict[str, Any] = {
    "hostname": None,
    "device_rp_uuid": None,
    "instance_uuid": None,
    "attach_handle_id": None,
    "deployable_id": None,
}


@db_api.context_manager.reader
def get_uuids_for_instances(
    context: RequestContext, instance_uuids: Collection[str], *, states: Collection[str]
) -> list[str]:
    """Uuids of the ARQs of any of these instances that are in one of ``states``."""
    stmt = sa.select(ARQ_MODEL.uuid).where(
        ARQ_MODEL.instance_uuid.in_(list(instance_uuids)), ARQ_MODEL.state.in_(list(states))
    )
    return list(context.session.scalars(stmt.order_by(ARQ_MODEL.id)))


@db_api.context_manager.writer
def attach_free_handle(
    context: RequestContext, uuid: str, *, deployable_id: int
) -> attach_handle.AttachHandle:
    """Claim a free handle of the deployable for a BindStarted ARQ and make it Bound.

    One transaction: if the ARQ left BindStarted meanwhile (unbound, deleted), nothing
    changes; if no handle is free, the ARQ stays BindStarted (NoFreeAttachHandle).
    The ARQ is written before the handle is read: on SQLite that first write takes the
    database's write lock, so a concurrent bind waits for this one and then finds the
    handle taken, instead of both reading it free and one failing "database is locked".
    """
    update_state(
        context,
        uuid,
        expected={constants.ARQState.BIND_STARTED},
        new_state=constants.ARQState.BOUND,
        deployable_id=deployable_id,
    )
    handle = attach_handle.claim_free(context, deployable_id)
    context.session.execute(
        sa.update(ARQ_MODEL)
        .where(ARQ_MODEL.uuid == uuid)
        .values(attach_handle_id=handle.id)
        .execution_options(synchronize_session=False)
    )
    return handle


class _Locked(NamedTuple):
    id: int
    uuid: str
    state: str
    attach_handle_id: int | None


def _lock(context: RequestContext, where: Any, project_id: str | None) -> list[_Locked]:
    """The ARQs matching ``where`` (and owned by ``project_id``), row-locked."""
    stmt = sa.select(ARQ_MODEL.id, ARQ_MODEL.uuid, ARQ_MODEL.state, ARQ_MODEL.attach_handle_id)
    stmt = _owned(stmt.where(where), project_id).with_for_update().order_by(ARQ_MODEL.id)
    return [_Locked(*row) for row in context.session.execute(stmt)]


def _lock_all(
    context: RequestContext, uuids: Sequence[str], project_id: str | None
) -> list[_Locked]:
    """Every listed ARQ, row-locked; ARQNotFound naming the missing ones otherwise."""
    rows = _lock(context, ARQ_MODEL.uuid.in_(list(uuids)), project_id)
    found = {row.uuid for row in rows}
    missing = [uuid for uuid in uuids if uuid not in found]
    if missing:
        raise exception.ARQNotFound(uuid=", ".join(missing))
    return rows


def _release_handles(context: RequestContext, rows: Sequence[_Locked]) -> None:
    attach_handle.release_many(
        context, [row.attach_handle_id for row in rows if row.attach_handle_id is not None]
    )


@db_api.context_manager.writer
def unbind_many(
    context: RequestContext, uuids: Sequence[str], *, project_id: str | None = None
) -> None:
    """Unbind every listed ARQ or none: free its handle, clear its binding, Unbound.

    Three statements whatever the count. A missing ARQ is a 404 naming it; one that is
    Deleting is a 409 and nothing changes; one already Unbound is left as it is.
    """
    rows = _lock_all(context, uuids, project_id)
    for row in rows:
        if row.state not in UNBINDABLE_STATES | {constants.ARQState.UNBOUND}:
            raise exception.ARQStateConflict(
                uuid=row.uuid, actual=row.state, expected=", ".join(sorted(UNBINDABLE_STATES))
            )
    _release_handles(context, rows)
    ids = [row.id for row in rows if row.state in UNBINDABLE_STATES]
    if not ids:
        return
    context.session.execute(
        sa.update(ARQ_MODEL)
        .where(ARQ_MODEL.id.in_(ids))
        .values(
            state=constants.ARQState.UNBOUND.value,
            updated_at=timeutils.utcnow(),
            **_UNBOUND_VALUES,
        )
        .execution_options(synchronize_session=False)
    )


@db_api.context_manager.writer
def delete_releasing_handles(
    context: RequestContext,
    *,
    uuids: Sequence[str] | None = None,
    instance_uuid: str | None = None,
    project_id: str | None = None,
) -> int:
    """Delete ARQs and free the attach handles of the bound ones; return the count.

    By ``uuids``: all or none (the 404 names the missing). By ``instance_uuid``:
    idempotent. Three statements whatever the count.
    """
    if (uuids is None) == (instance_uuid is None):
        raise exception.Invalid(reason="give either ARQ uuids or an instance uuid, not both")
    if uuids is not None:
        rows = _lock_all(context, uuids, project_id)
    else:
        rows = _lock(context, ARQ_MODEL.instance_uuid == instance_uuid, project_id)
    if not rows:
        return 0
    _release_handles(context, rows)
    context.session.execute(
        sa.delete(ARQ_MODEL)
        .where(ARQ_MODEL.id.in_([row.id for row in rows]))
        .execution_options(synchronize_session=False)
    )
    return len(rows)
