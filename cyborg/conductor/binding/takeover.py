"""Binds another conductor left BindStarted: taken over, by one conductor each, and
finished or failed (cyborg.conductor.binding.bind_flow.resume_bind).

Every periodic run of every conductor looks for two kinds:

* binds of a conductor run that stopped (a clean stop, or a newer run on its host) or
  whose heartbeat is older than ``[conductor] conductor_dead_after``
  (cyborg.conductor.liveness): taken over at once;
* binds unchanged for ``[conductor] bind_timeout``, whoever is binding them: the
  fallback for binds that name no conductor (started before conductors recorded
  heartbeats) and for a conductor that is alive but stuck.

A conductor never takes over its own binds: its threads may still be running them.
Taking one is a compare-and-swap (cyborg.objects.abandoned_bind.take_over), so two
conductors never both take the same bind; and the conductor it was taken from, if it
is in fact alive, can no longer write it (the fence in bind_flow).
"""

import contextlib
import dataclasses
import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING

from oslo_log import log
from oslo_utils import timeutils

from cyborg.common.context import RequestContext
from cyborg.conductor.binding import bind_flow
from cyborg.objects import abandoned_bind

if TYPE_CHECKING:  # the Binder calls in here with itself
    from cyborg.conductor.binding.binder import Binder

LOG = log.getLogger(__name__)

Describe = Callable[[abandoned_bind.AbandonedBind], str]

STOPPED = (
    "The conductor binding it ({host}) stopped before it claimed a device in Placement; "
    "bind it again."
)
TIMED_OUT = (
    "Its bind made no progress for [conductor] bind_timeout ({seconds}s) and had claimed "
    "no device in Placement; bind it again."
)


def take_over_from_dead(
    binder: "Binder", context: RequestContext, dead_after: datetime.timedelta
) -> list[str]:
    """Take over the binds of conductor runs dead for ``dead_after``; the uuids taken."""
    cutoff = timeutils.utcnow() - dead_after
    found = abandoned_bind.of_dead_conductors(context, cutoff, taker=binder.conductor)
    return _take_over(
        binder,
        context,
        found,
        lambda bind: f"its conductor ({bind.hostname}) stopped",
        lambda bind: STOPPED.format(host=bind.hostname),
    )


def take_over_timed_out(
    binder: "Binder", context: RequestContext, older_than: datetime.timedelta
) -> list[str]:
    """Take over binds unchanged for ``older_than``; the uuids taken."""
    cutoff = timeutils.utcnow() - older_than
    found = abandoned_bind.unchanged_since(context, cutoff, taker=binder.conductor)
    seconds = int(older_than.total_seconds())
    return _take_over(
        binder,
        context,
        found,
        lambda bind: f"unchanged since {bind.arq.updated_at} ({_binding(bind)})",
        lambda _bind: TIMED_OUT.format(seconds=seconds),
    )


def _binding(bind: abandoned_bind.AbandonedBind) -> str:
    return f"conductor {bind.hostname}" if bind.hostname else "no conductor recorded"


def _take_over(
    binder: "Binder",
    context: RequestContext,
    found: list[abandoned_bind.AbandonedBind],
    why: Describe,
    unplaced: Describe,
) -> list[str]:
    taken = []
    for bind in found:
        if not abandoned_bind.take_over(context, bind.arq, binder.conductor):
            continue  # another conductor took it, or it moved on meanwhile
        LOG.warning("Taking over the bind of accelerator request %s: %s", bind.arq.uuid, why(bind))
        taken.append(bind.arq.uuid)
        arq = dataclasses.replace(bind.arq, binding_conductor=binder.conductor)
        # A failure is logged and leaves the ARQ BindFailed: go on with the others.
        with contextlib.suppress(Exception):
            bind_flow.resume_bind(binder, context, arq, unplaced(bind))
    return taken
