"""The outbox of accelerator-request-bound events owed to Nova.

``add`` runs in the transaction that resolves an ARQ (Bound or BindFailed), so an
event exists only once the state it reports is committed. ``claim_due`` hands the
due events of instances whose binding is over to one conductor: rows are locked
with SKIP LOCKED and pushed to their next attempt before the transaction ends, so
two conductors never send the same event at once, and a conductor that dies while
sending leaves them to be sent again at that next attempt.
"""

import dataclasses
import datetime
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from oslo_utils import timeutils

from cyborg.common import constants, exception
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models

MODEL = models.NovaNotification
ARQ = models.ExtendedAcceleratorRequest


@dataclasses.dataclass(frozen=True)
class PendingEvent:
    id: int
    arq_uuid: str
    instance_uuid: str
    status: str
    attempts: int
    created_at: datetime.datetime


@db_api.context_manager.writer
def add(context: RequestContext, arq_uuid: str, status: str) -> None:
    """Owe Nova the event of ``arq_uuid``'s bind (replacing an older one of it)."""
    arq = context.session.execute(
        sa.select(ARQ.id, ARQ.instance_uuid).where(ARQ.uuid == arq_uuid)
    ).first()
    if arq is None or arq.instance_uuid is None:
        raise exception.ARQNotFound(uuid=arq_uuid)
    context.session.execute(sa.delete(MODEL).where(MODEL.arq_id == arq.id))
    now = timeutils.utcnow()
    context.session.execute(
        sa.insert(MODEL).values(
            arq_id=arq.id,
            arq_uuid=arq_uuid,
            instance_uuid=arq.instance_uuid,
            status=status,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


@db_api.context_manager.writer
def claim_due(
    context: RequestContext,
    backoff: Callable[[int], datetime.timedelta],
    limit: int = 200,
) -> list[PendingEvent]:
    """Due events of instances with no ARQ still binding; each moved to its next try."""
    now = timeutils.utcnow()
    still_binding = (
        sa.select(ARQ.id)
        .where(
            ARQ.instance_uuid == MODEL.instance_uuid,
            ARQ.state == constants.ARQState.BIND_STARTED.value,
        )
        .exists()
    )
    rows = context.session.execute(
        sa.select(MODEL)
        .where(MODEL.next_attempt_at <= now, ~still_binding)
        .order_by(MODEL.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars()
    events = [
        PendingEvent(r.id, r.arq_uuid, r.instance_uuid, r.status, r.attempts + 1, r.created_at)
        for r in rows
    ]
    for attempts in {e.attempts for e in events}:
        context.session.execute(
            sa.update(MODEL)
            .where(MODEL.id.in_([e.id for e in events if e.attempts == attempts]))
            .values(attempts=attempts, next_attempt_at=now + backoff(attempts), updated_at=now)
        )
    return events


@db_api.context_manager.writer
def delete(context: RequestContext, ids: Sequence[int]) -> None:
    if ids:
        context.session.execute(sa.delete(MODEL).where(MODEL.id.in_(list(ids))))


@db_api.context_manager.reader
def pending(context: RequestContext, instance_uuid: str | None = None) -> list[PendingEvent]:
    """Events not yet taken by Nova (for tests and operators)."""
    stmt = sa.select(MODEL).order_by(MODEL.id)
    if instance_uuid is not None:
        stmt = stmt.where(MODEL.instance_uuid == instance_uuid)
    return [
        PendingEvent(r.id, r.arq_uuid, r.instance_uuid, r.status, r.attempts, r.created_at)
        for r in context.session.scalars(stmt)
    ]
