"""Accelerator requests let go: unbinding and deleting (see bind_flow for binding).

Allocations Cyborg claimed in Placement are released before the handles are freed;
the mdevs of MDEV handles, held until then, are removed after the commit. A release
that fails leaves the ARQs UnbindFailed (unbind) or Deleting (delete), to be retried.
"""

import contextlib
import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING

from oslo_log import log
from oslo_utils import timeutils

from cyborg.common import arq_states, constants, exception
from cyborg.common.context import RequestContext
from cyborg.conductor.binding import arqs as arq_checks
from cyborg.conductor.binding import standalone, vgpu
from cyborg.objects import accelerator_request as arq_obj

if TYPE_CHECKING:  # the Binder calls in here with itself
    from cyborg.conductor.binding.binder import Binder

LOG = log.getLogger(__name__)

State = constants.ARQState


def unbind_arqs(
    binder: "Binder",
    context: RequestContext,
    *,
    uuids: Sequence[str],
    project_id: str | None = None,
) -> None:
    """Free the ARQs' attach handles and clear their binding (all or none).

    Allocations Cyborg claimed for them are released first (the binder's claimer); if
    that fails they become UnbindFailed with the reason, and unbinding them again
    retries. The mdevs of MDEV handles, held until then, are removed after the commit.
    """
    arqs = arq_checks.require_arqs(context, list(uuids), project_id)
    try:
        standalone.release(binder.claimer, arqs.values())
    except Exception as err:
        _mark_unbind_failed(context, list(arqs), arq_checks.failure_reason(err))
        raise
    held_mdevs = arq_obj.unbind_many(context, uuids, project_id=project_id)
    vgpu.remove_held(context, binder.mdevs, held_mdevs)


def _mark_unbind_failed(context: RequestContext, uuids: list[str], reason: str) -> None:
    for uuid in uuids:
        with contextlib.suppress(exception.CyborgException):  # changed meanwhile
            arq_obj.update_state(
                context,
                uuid,
                expected=arq_states.sources(arq_states.ARQEvent.UNBIND_FAILED),
                new_state=State.UNBIND_FAILED,
                bind_failure_reason=reason,
            )
    LOG.warning("Unbinding accelerator requests %s failed: %s", ", ".join(uuids), reason)


def delete_arqs(
    binder: "Binder",
    context: RequestContext,
    *,
    uuids: Sequence[str] | None = None,
    instance_uuid: str | None = None,
    project_id: str | None = None,
) -> None:
    """Delete by uuids (all or none) or by instance (idempotent).

    The ARQs become Deleting first (committed); then the allocations Cyborg claimed
    for them are released (the binder's claimer), the rows removed and the mdevs of
    their handles removed after that commit. A failure leaves them Deleting, which
    Nova counts as resolved, and finish_abandoned_deletes completes them later.
    """
    if (uuids is None) == (instance_uuid is None):
        raise exception.Invalid(reason="delete accelerator requests by uuids or by instance")
    deleting = arq_obj.mark_deleting(
        context, uuids=uuids, instance_uuid=instance_uuid, project_id=project_id
    )
    _finish_delete(binder, context, deleting)


def _finish_delete(binder: "Binder", context: RequestContext, uuids: Sequence[str]) -> None:
    if not uuids:
        return
    standalone.release(binder.claimer, arq_obj.get_all(context, uuids=list(uuids)))
    held_mdevs = arq_obj.delete_deleting(context, uuids)
    vgpu.remove_held(context, binder.mdevs, held_mdevs)


def finish_abandoned_deletes(
    binder: "Binder", context: RequestContext, older_than: datetime.timedelta
) -> list[str]:
    """Complete deletions left Deleting for longer than ``older_than``; their uuids."""
    stuck = arq_obj.get_deleting_before(context, timeutils.utcnow() - older_than)
    if stuck:
        LOG.warning("Finishing the deletion of accelerator requests %s", ", ".join(stuck))
        _finish_delete(binder, context, stuck)
    return stuck
