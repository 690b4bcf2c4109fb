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

from cyborg.common import arq_states, constants, exception
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
    # This ARQ's share of its instance's allocation, claimed by Cyborg (standalone bind).
    claimed_resources: dict[str, int] | None = None
    # The conductor run binding it (cyborg.objects.conductor), while BindStarted.
    binding_conductor: str | None = None
    # Joined from the attach handle and deployable the ARQ is bound to.
    attach_handle_type: str | None = None
    attach_handle_uuid: str | None = None
    attach_handle_info: dict[str, str] | None = None
    deployable_uuid: str | None = None

    @property
    def bound_by_nova(self) -> bool:
        """Bound or binding to the device Nova picked (a ``device_rp_uuid`` and no claim of
        Cyborg's): only Nova, with a service token, may change it. Cyborg's own binds
        (standalone, claimed plans) pick and claim the device themselves."""
        return bool(self.instance_uuid and self.device_rp_uuid) and self.claimed_resources is None


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
                claimed_resources=claimed_from_json(row.claimed_resources),
                attach_handle_type=handle_type,
                attach_handle_uuid=handle_uuid,
                attach_handle_info=jsonutils.loads(handle_info) if handle_info else None,
                deployable_uuid=deployable_uuid,
            )
        )
    return arqs


def claimed_from_json(value: str | None) -> dict[str, int] | None:
    return None if value is None else {rc: int(n) for rc, n in jsonutils.loads(value).items()}


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
def count_in_project(context: RequestContext, project_id: str) -> int:
    """How many ARQs the project holds, in any state (one indexed COUNT)."""
    stmt = sa.select(sa.func.count()).where(ARQ_MODEL.project_id == project_id)
    return int(context.session.execute(stmt).scalar_one())


def _fenced(where: list[Any], fence: str | None) -> list[Any]:
    """``where``, and only while conductor run ``fence`` is binding the ARQ (when given):
    a conductor whose bind another took over cannot write it any more."""
    return where if fence is None else [*where, ARQ_MODEL.binding_conductor == fence]


@db_api.context_manager.writer
def create_many(
    context: RequestContext,
    *,
    device_profile_id: int | None,
    device_profile_name: str,
    groups: Sequence[dict[str, str]],
    counts: Sequence[int],
    project_id: str | None,
    uuids: Sequence[str] | None = None,
) -> list[AcceleratorRequest]:
    """Create ``counts[i]`` ARQs for group ``i`` of a profile: two statements in all.

    ``uuids``: the new ARQs' uuids, in order (``sum(counts)`` of them; new ones if None).
    """
    # Bulk inserts bypass the ORM column defaults, so the timestamp is set here.
    now = timeutils.utcnow()
    given = iter(uuids) if uuids is not None else None
    rows = [
        {
            "uuid": base.new_uuid() if given is None else next(given),
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
    uuids = [str(row["uuid"]) for row in rows]
    stmt = _select().where(ARQ_MODEL.uuid.in_(uuids)).order_by(ARQ_MODEL.id)
    return _from_result(context.session.execute(stmt))


@db_api.context_manager.writer
def update_state(
    context: RequestContext,
    uuid: str,
    *,
    expected: Collection[str],
    new_state: str,
    holding_handle: int | None = None,
    fence: str | None = None,
    **values: Any,
) -> None:
    """Compare-and-swap: move ``uuid`` to ``new_state`` only from one of ``expected``
    (and only while it holds attach handle ``holding_handle``, and while conductor run
    ``fence`` is binding it, when given).

    Of two callers racing for the same transition, exactly one succeeds; the other
    gets ARQStateConflict naming the state it found.
    """
    where = [ARQ_MODEL.uuid == uuid, ARQ_MODEL.state.in_(list(expected))]
    if holding_handle is not None:
        where.append(ARQ_MODEL.attach_handle_id == holding_handle)
    where = _fenced(where, fence)
    result = context.session.execute(
        sa.update(ARQ_MODEL)
        .where(*where)
        .values(state=new_state, updated_at=timeutils.utcnow(), **values)
    )
    if base.rowcount(result) == 1:
        return
    actual = context.session.scalar(sa.select(ARQ_MODEL.state).where(ARQ_MODEL.uuid == uuid))
    if actual is None:
        raise exception.ARQNotFound(uuid=uuid)
    wanted = ", ".join(sorted(expected))
    if holding_handle is not None:
        wanted += f" (holding attach handle id={holding_handle})"
    if fence is not None:
        wanted += " (bound by this conductor, not one that took its bind over)"
    raise exception.ARQStateConflict(uuid=uuid, actual=actual, expected=wanted)


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
UNBINDABLE_STATES = arq_states.sources(arq_states.ARQEvent.UNBIND)

# Handles that stay in use after their ARQ lets go of them, until the agent has removed
# what the bind made on the host (an mdev, an SPDK target); see
# cyborg.objects.attach_handle.
HELD_TYPES = constants.AGENT_MADE_TYPES

# What unbinding clears; the ARQ keeps its project and profile group.
_UNBOUND_VALUES: dict[str, Any] = {
    "hostname": None,
    "device_rp_uuid": None,
    "instance_uuid": None,
    "attach_handle_id": None,
    "deployable_id": None,
    "claimed_resources": None,  # released in Placement before the unbind
    "binding_conductor": None,
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
    context: RequestContext,
    uuid: str,
    *,
    deployable_id: int,
    hold_types: Collection[str] = (),
    fence: str | None = None,
) -> attach_handle.AttachHandle:
    """Claim a free handle of the deployable for a BindStarted ARQ and make it Bound.

    A handle of one of ``hold_types`` (MDEV: the agent creates its mdev first) leaves
    the ARQ BindStarted, holding the handle; update_state(..., holding_handle=) makes
    it Bound once the agent is done, fail_bind lets go of it.
    One transaction: if the ARQ left BindStarted meanwhile (unbound, deleted), nothing
    changes; if no handle is free, the ARQ stays BindStarted (NoFreeAttachHandle); nor
    if ``fence`` (this conductor run) is no longer the one binding it.
    The ARQ is written before the handle is read: on SQLite that first write takes the
    database's write lock, so a concurrent bind waits for this one and then finds the
    handle taken, instead of both reading it free and one failing "database is locked".
    """
    update_state(
        context,
        uuid,
        expected=arq_states.sources(arq_states.ARQEvent.HANDLE_CLAIMED),
        new_state=constants.ARQState.BIND_STARTED,
        fence=fence,
        deployable_id=deployable_id,
    )
    handle = attach_handle.claim_free(context, deployable_id)
    values: dict[str, Any] = {"attach_handle_id": handle.id}
    if handle.attach_type not in hold_types:
        values["state"] = constants.ARQState.BOUND.value
        values["binding_conductor"] = None
    context.session.execute(
        sa.update(ARQ_MODEL)
        .where(ARQ_MODEL.uuid == uuid)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return handle


@db_api.context_manager.writer
def fail_bind(
    context: RequestContext,
    uuid: str,
    *,
    reason: str,
    holding_handle: int | None = None,
    fence: str | None = None,
) -> None:
    """BindStarted -> BindFailed with ``reason`` (ARQStateConflict from any other state).

    An ARQ that holds ``holding_handle`` (claimed with ``hold_types``) lets go of it,
    and the handle stays in use, held until its mdev is removed (attach_handle).
    """
    let_go = {} if holding_handle is None else {"attach_handle_id": None, "deployable_id": None}
    update_state(
        context,
        uuid,
        expected=arq_states.sources(arq_states.ARQEvent.BIND_FAILED),
        new_state=constants.ARQState.BIND_FAILED,
        holding_handle=holding_handle,
        fence=fence,
        bind_failure_reason=reason,
        binding_conductor=None,
        **let_go,
    )
    if holding_handle is not None:
        attach_handle.release_many(context, [holding_handle], hold_types=HELD_TYPES)


class _Locked(NamedTuple):
    id: int
    uuid: str
    state: str
    attach_handle_id: int | None
    attach_type: str | None


def _lock(context: RequestContext, where: Any, project_id: str | None) -> list[_Locked]:
    """The ARQs matching ``where`` (and owned by ``project_id``), row-locked, with the
    type of the handle each holds (a subquery: only ARQ rows are locked)."""
    handle_type = (
        sa.select(models.AttachHandle.attach_type)
        .where(models.AttachHandle.id == ARQ_MODEL.attach_handle_id)
        .scalar_subquery()
    )
    stmt = sa.select(
        ARQ_MODEL.id, ARQ_MODEL.uuid, ARQ_MODEL.state, ARQ_MODEL.attach_handle_id, handle_type
    )
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


def _release_handles(context: RequestContext, rows: Sequence[_Locked]) -> list[int]:
    """Free the rows' handles, but hold those of HELD_TYPES; returns the held ones' ids."""
    attach_handle.release_many(
        context,
        [row.attach_handle_id for row in rows if row.attach_handle_id is not None],
        hold_types=HELD_TYPES,
    )
    return [
        row.attach_handle_id
        for row in rows
        if row.attach_handle_id is not None and row.attach_type in HELD_TYPES
    ]


@db_api.context_manager.writer
def unbind_many(
    context: RequestContext, uuids: Sequence[str], *, project_id: str | None = None
) -> list[int]:
    """Unbind every listed ARQ or none: free its handle, clear its binding, Unbound.

    Three statements whatever the count. A missing ARQ is a 404 naming it; one that is
    Deleting is a 409 and nothing changes; one already Unbound is left as it is.
    Returns the ids of the MDEV handles let go of, which stay held until their mdevs
    are removed.
    """
    rows = _lock_all(context, uuids, project_id)
    for row in rows:
        if row.state not in UNBINDABLE_STATES | {constants.ARQState.UNBOUND}:
            raise exception.ARQStateConflict(
                uuid=row.uuid, actual=row.state, expected=", ".join(sorted(UNBINDABLE_STATES))
            )
    held = _release_handles(context, rows)
    ids = [row.id for row in rows if row.state in UNBINDABLE_STATES]
    if not ids:
        return held
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
    return held


@db_api.context_manager.writer
def mark_deleting(
    context: RequestContext,
    *,
    uuids: Sequence[str] | None = None,
    instance_uuid: str | None = None,
    project_id: str | None = None,
) -> list[str]:
    """Move ARQs to Deleting before the side effects of their deletion; their uuids.

    By ``uuids``: all or none (the 404 names the missing). By ``instance_uuid``:
    idempotent (none is fine). Any state may become Deleting; one already Deleting is
    taken over (a caller that died half-way left it).
    """
    if (uuids is None) == (instance_uuid is None):
        raise exception.Invalid(reason="give either ARQ uuids or an instance uuid, not both")
    if uuids is not None:
        rows = _lock_all(context, uuids, project_id)
    else:
        rows = _lock(context, ARQ_MODEL.instance_uuid == instance_uuid, project_id)
    if rows:
        context.session.execute(
            sa.update(ARQ_MODEL)
            .where(ARQ_MODEL.id.in_([row.id for row in rows]))
            .values(state=constants.ARQState.DELETING.value, updated_at=timeutils.utcnow())
            .execution_options(synchronize_session=False)
        )
    return [row.uuid for row in rows]


@db_api.context_manager.reader
def get_deleting_before(context: RequestContext, cutoff: datetime.datetime) -> list[str]:
    """Uuids of ARQs left Deleting since before ``cutoff`` (their deleter died or failed)."""
    stmt = sa.select(ARQ_MODEL.uuid).where(
        ARQ_MODEL.state == constants.ARQState.DELETING.value, ARQ_MODEL.updated_at < cutoff
    )
    return list(context.session.scalars(stmt.order_by(ARQ_MODEL.id)))


@db_api.context_manager.writer
def delete_deleting(context: RequestContext, uuids: Sequence[str]) -> list[int]:
    """Remove the listed ARQs that are Deleting and free their handles (MDEV ones held).

    Those gone or no longer Deleting are skipped: another conductor finished them.
    Returns the ids of the held MDEV handles, as unbind_many does.
    """
    rows = [
        row
        for row in _lock(context, ARQ_MODEL.uuid.in_(list(uuids)), None)
        if row.state in arq_states.sources(arq_states.ARQEvent.DELETED)
    ]
    if not rows:
        return []
    held = _release_handles(context, rows)
    context.session.execute(
        sa.delete(ARQ_MODEL)
        .where(ARQ_MODEL.id.in_([row.id for row in rows]))
        .execution_options(synchronize_session=False)
    )
    return held
