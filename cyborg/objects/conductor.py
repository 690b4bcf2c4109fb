"""Conductor runs and their heartbeats: which conductors are alive.

Each conductor process is a run with a uuid of its own: its first heartbeat writes
the run's row, the next ones refresh ``heartbeat_at``, and a clean stop clears it. A run whose
heartbeat is older than ``[conductor] conductor_dead_after``, cleared, or gone is
dead: the binds it left are taken over (cyborg.conductor.binding.takeover).
Timestamps are the writers' clocks: the conductors' clocks must agree (NTP) to well
within that option.
"""

import dataclasses
import datetime

import sqlalchemy as sa
from oslo_utils import timeutils

from cyborg.common import constants
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import base

MODEL = models.Conductor
ARQ = models.ExtendedAcceleratorRequest


@dataclasses.dataclass
class Conductor:
    id: int
    uuid: str
    hostname: str
    heartbeat_at: datetime.datetime | None
    created_at: datetime.datetime
    updated_at: datetime.datetime | None


@db_api.context_manager.writer
def beat(context: RequestContext, uuid: str, hostname: str) -> bool:
    """Say conductor run ``uuid`` on ``hostname`` is alive now; whether it was known.

    The first beat of a run writes its row, and ends the earlier runs on the same
    host (host names are unique among conductors): their heartbeats are cleared, so
    the binds they left are taken over without waiting. A run whose row was pruned
    while it could not reach the database is written again the same way.
    """
    now = timeutils.utcnow()
    result = context.session.execute(
        sa.update(MODEL).where(MODEL.uuid == uuid).values(heartbeat_at=now, updated_at=now)
    )
    if base.rowcount(result) == 1:
        return True
    context.session.execute(
        sa.update(MODEL)
        .where(MODEL.hostname == hostname, MODEL.heartbeat_at.is_not(None))
        .values(heartbeat_at=None, updated_at=now)
    )
    context.session.execute(
        sa.insert(MODEL).values(uuid=uuid, hostname=hostname, heartbeat_at=now, created_at=now)
    )
    return False


@db_api.context_manager.writer
def sign_off(context: RequestContext, uuid: str) -> None:
    """Run ``uuid`` has stopped: whatever binds it left are taken over at once."""
    context.session.execute(
        sa.update(MODEL)
        .where(MODEL.uuid == uuid)
        .values(heartbeat_at=None, updated_at=timeutils.utcnow())
    )


def is_dead(cutoff: datetime.datetime) -> sa.ColumnElement[bool]:
    """The condition on MODEL of a run that stopped, or was last heard of before ``cutoff``."""
    return sa.or_(MODEL.heartbeat_at.is_(None), MODEL.heartbeat_at < cutoff)


@db_api.context_manager.writer
def prune(context: RequestContext, cutoff: datetime.datetime) -> int:
    """Forget dead runs no binding ARQ names (one statement); how many."""
    binding = (
        sa.select(ARQ.id)
        .where(
            ARQ.binding_conductor == MODEL.uuid,
            ARQ.state == constants.ARQState.BIND_STARTED.value,
        )
        .exists()
    )
    result = context.session.execute(
        sa.delete(MODEL)
        .where(is_dead(cutoff), ~binding)
        .execution_options(synchronize_session=False)
    )
    return base.rowcount(result)


@db_api.context_manager.reader
def get_all(context: RequestContext) -> list[Conductor]:
    rows = context.session.scalars(sa.select(MODEL).order_by(MODEL.id))
    return [base.from_row(Conductor, row) for row in rows]
