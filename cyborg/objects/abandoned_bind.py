"""BindStarted ARQs left by a conductor that stopped or hung, and taking them over.

Finding one is a read; taking it is a compare-and-swap on the ARQ's row (still
BindStarted, still bound by the same conductor run, unchanged since it was read), so
of several conductors trying at once exactly one wins each ARQ.
"""

import dataclasses
import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from oslo_utils import timeutils

from cyborg.common import constants
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import base
from cyborg.objects import conductor as conductor_obj

ARQ = models.ExtendedAcceleratorRequest
CONDUCTOR = models.Conductor
BIND_STARTED = constants.ARQState.BIND_STARTED.value


@dataclasses.dataclass(frozen=True)
class AbandonedBind:
    arq: arq_obj.AcceleratorRequest
    hostname: str | None  # where the conductor run binding it ran (None: none recorded)


class _Seen(NamedTuple):
    conductor: str | None
    updated_at: datetime.datetime | None
    hostname: str | None


def _not_by(taker: str | None) -> sa.ColumnElement[bool]:
    """Not bound by run ``taker``: a conductor never takes over its own binds, which
    its threads may still be running."""
    if taker is None:
        return sa.true()
    return sa.or_(ARQ.binding_conductor.is_(None), ARQ.binding_conductor != taker)


def _found(context: RequestContext, where: Any, *, dead_only: bool) -> list[AbandonedBind]:
    """The BindStarted ARQs matching ``where``, with their handles, and the host of the
    run binding each (``dead_only``: only ARQs whose run has a row).

    Two statements, which READ COMMITTED lets see different states: an ARQ another
    conductor took over between them is left out, else its compare-and-swap would
    take it from that conductor.
    """
    stmt = sa.select(ARQ.uuid, ARQ.binding_conductor, ARQ.updated_at, CONDUCTOR.hostname)
    stmt = stmt.join(
        CONDUCTOR, CONDUCTOR.uuid == ARQ.binding_conductor, isouter=not dead_only
    ).where(ARQ.state == BIND_STARTED, where)
    seen = {row[0]: _Seen(*row[1:]) for row in context.session.execute(stmt.order_by(ARQ.id))}
    if not seen:
        return []
    arqs = arq_obj.get_all(context, uuids=list(seen), states=[BIND_STARTED])
    return [
        AbandonedBind(arq, seen[arq.uuid].hostname)
        for arq in arqs
        if (arq.binding_conductor, arq.updated_at)
        == (seen[arq.uuid].conductor, seen[arq.uuid].updated_at)
    ]


@db_api.context_manager.reader
def of_dead_conductors(
    context: RequestContext, cutoff: datetime.datetime, *, taker: str | None = None
) -> list[AbandonedBind]:
    """BindStarted ARQs whose conductor run stopped or was last heard of before
    ``cutoff``, but not run ``taker``'s (two statements). A run with no row is not
    taken for dead: the bind timeout covers it."""
    where = sa.and_(conductor_obj.is_dead(cutoff), _not_by(taker))
    return _found(context, where, dead_only=True)


@db_api.context_manager.reader
def unchanged_since(
    context: RequestContext, cutoff: datetime.datetime, *, taker: str | None = None
) -> list[AbandonedBind]:
    """BindStarted ARQs unchanged since before ``cutoff``, whoever is binding them but
    run ``taker``."""
    where = sa.and_(ARQ.updated_at < cutoff, _not_by(taker))
    return _found(context, where, dead_only=False)


@db_api.context_manager.writer
def take_over(
    context: RequestContext, arq: arq_obj.AcceleratorRequest, conductor: str | None
) -> bool:
    """Make conductor run ``conductor`` the one binding ``arq``, if the ARQ is as it was
    read (BindStarted, same binding conductor, same ``updated_at``); whether it was."""
    previous = (
        ARQ.binding_conductor.is_(None)
        if arq.binding_conductor is None
        else ARQ.binding_conductor == arq.binding_conductor
    )
    result = context.session.execute(
        sa.update(ARQ)
        .where(
            ARQ.uuid == arq.uuid,
            ARQ.state == BIND_STARTED,
            ARQ.updated_at == arq.updated_at,
            previous,
        )
        .values(binding_conductor=conductor, updated_at=timeutils.utcnow())
        .execution_options(synchronize_session=False)
    )
    return base.rowcount(result) == 1
