"""Accelerator requests from creation to deletion: the binding state machine.

Pure orchestration over cyborg.objects. Every state change is a compare-and-swap,
so two conductors (or two threads of one) racing for the same ARQ cannot both win:

    Initial|Unbound --bind--> BindStarted --handle claimed--> Bound
                                   \\--any failure--> BindFailed
    any but Deleting --unbind--> Unbound   (releasing Placement failed: UnbindFailed)
    any --delete--> Deleting --allocations released--> (row removed)

Unbinding and deleting are in cyborg.conductor.binding.unbinding.

Each state is committed before the side effects of the next step start, and the
event Nova is owed for a resolved ARQ is written in the transaction that resolves it.

MDEV handles (vGPU, cyborg.conductor.binding.vgpu) take one more step, ordered so that
no failure leaves a Bound ARQ without its mdev, or an mdev no handle accounts for:

1. claim the handle; the ARQ stays BindStarted, holding it (committed);
2. the agent creates the mdev named by the handle's uuid (idempotent);
3. BindStarted -> Bound, holding that same handle, with Nova's event (committed).

A failure at 2 or 3 moves the ARQ to BindFailed and lets go of the handle, which
stays in use ("held") until the agent has removed the mdev, then is freed. Unbind and
delete do the same: the handle is held in their transaction, the mdev removed after
the commit, the handle freed last. A removal the agent does not answer is retried
by the periodic task; a conductor that dies after 1 leaves a BindStarted ARQ that
resume_abandoned_binds takes on from 2.
"""

import contextlib
import datetime
import functools
from collections.abc import Callable, Mapping
from typing import Protocol

from oslo_db import exception as db_exc
from oslo_log import log
from oslo_utils import timeutils

from cyborg.common import constants, exception
from cyborg.common.context import RequestContext
from cyborg.conductor.binding import quota, standalone, vgpu
from cyborg.conductor.placement import claiming
from cyborg.db import api as db_api
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import attach_handle, nova_notification
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import device_profile as profile_obj

LOG = log.getLogger(__name__)

State = constants.ARQState

# A binding names where the ARQ goes; project_id (optional) also changes its owner.
# Without device_rp_uuid Cyborg picks the device and claims it (standalone_bind).
REQUIRED_BINDING_KEYS = ("hostname", "instance_uuid")
OPTIONAL_BINDING_KEYS = ("device_rp_uuid", "project_id")

BINDABLE_STATES = frozenset({State.INITIAL, State.UNBOUND})
# An instance with an ARQ in one of these is being or was bound: Nova binds all of an
# instance's ARQs in one request, and adding one to a bound instance is not supported.
BINDING_STATES = frozenset({State.BIND_STARTED, State.BOUND})

XILINX_TRAIT = "trait:CUSTOM_FPGA_XILINX"


def accelerator_count(group: Mapping[str, str]) -> int:
    """How many ARQs one device-profile group asks for (upstream's rule).

    The sum of its ``resources:*`` amounts, except that a Xilinx FPGA is two PCI
    functions (management and user PF), so it takes two ARQs per FPGA.
    """
    try:
        if group.get(XILINX_TRAIT) == "required":
            return 2 * int(group.get("resources:FPGA", 0))
        return sum(int(value) for key, value in group.items() if key.startswith("resources:"))
    except ValueError as err:
        raise exception.Invalid(reason=f"a resources amount is not an integer: {err}") from err


def create_arqs(
    context: RequestContext,
    *,
    device_profile_name: str,
    project_id: str | None,
    visible_to_project: str | None = None,
) -> list[str]:
    """One Initial ARQ per accelerator the profile asks for; returns their uuids."""
    profile = profile_obj.get_by_name(
        context, device_profile_name, visible_to_project=visible_to_project
    )
    arqs = arq_obj.create_many(
        context,
        device_profile_id=profile.id,
        device_profile_name=profile.name,
        groups=profile.groups,
        counts=[accelerator_count(group) for group in profile.groups],
        project_id=project_id,
    )
    return [arq.uuid for arq in arqs]


def _check_bindings(bindings: Mapping[str, Mapping[str, str]]) -> None:
    """Refuse a malformed binding before any ARQ changes (400)."""
    if not bindings:
        raise exception.Invalid(reason="no accelerator requests to bind")
    allowed = set(REQUIRED_BINDING_KEYS + OPTIONAL_BINDING_KEYS)
    for uuid, binding in bindings.items():
        absent = [key for key in REQUIRED_BINDING_KEYS if not binding.get(key)]
        unknown = sorted(set(binding) - allowed)
        if absent or unknown:
            raise exception.Invalid(
                reason=f"binding of {uuid}: missing {absent or 'nothing'}, "
                f"unknown {unknown or 'nothing'}"
            )


def require_arqs(
    context: RequestContext, uuids: list[str], project_id: str | None
) -> dict[str, arq_obj.AcceleratorRequest]:
    """The listed ARQs; 404 naming every one missing (or another project's). One query."""
    found = {arq.uuid: arq for arq in arq_obj.get_all(context, uuids=uuids, project_id=project_id)}
    missing = [uuid for uuid in uuids if uuid not in found]
    if missing:
        raise exception.ARQNotFound(uuid=", ".join(missing))
    return found


def _refuse_hot_add(context: RequestContext, bindings: Mapping[str, Mapping[str, str]]) -> None:
    """One query over every ARQ of the instances named: none may be bound or binding."""
    instances = {binding["instance_uuid"] for binding in bindings.values()}
    taken = arq_obj.get_uuids_for_instances(context, instances, states=BINDING_STATES)
    if taken:
        raise exception.Invalid(
            reason=f"the instance already has bound accelerator requests ({', '.join(taken)}); "
            "bind all of an instance's accelerator requests in one request"
        )


class BindStep(Protocol):
    """Agent work a bind needs before its handle is claimed (FPGA programming)."""

    def needed(self, arq: arq_obj.AcceleratorRequest) -> bool: ...

    def run(
        self,
        context: RequestContext,
        arq: arq_obj.AcceleratorRequest,
        deployable: deployable_obj.Deployable,
    ) -> None: ...


RunLater = Callable[[Callable[[], None]], None]


def bind_arqs(
    context: RequestContext,
    *,
    bindings: Mapping[str, Mapping[str, str]],
    project_id: str | None = None,
    notify_nova: bool = False,
    step: BindStep | None = None,
    run_later: RunLater | None = None,
    claimer: claiming.Claimer | None = None,
    limits: quota.Limits | None = None,
    mdevs: vgpu.MdevAgent | None = None,
    pins: standalone.Pins | None = None,
) -> None:
    """Bind each ARQ to a free attach handle of the deployable at its ``device_rp_uuid``.

    All ARQs are attempted; those that fail end in BindFailed, and the first error is
    raised once every ARQ has been tried. With ``notify_nova``, each result is also
    written to the outbox of events for Nova, in the transaction that resolves it.
    An ARQ that needs ``step`` (minutes of FPGA programming) or ``mdevs`` (an agent
    call) is finished by ``run_later`` once it is BindStarted, so the caller gets its
    answer at once. Without ``mdevs``, MDEV handles bind as PCI ones do (no mdev).
    A binding without ``device_rp_uuid`` is bound without Nova: ``claimer`` picks and
    claims its device in Placement, within the quota ``limits`` (standalone_bind);
    ``pins`` names the provider an ARQ must take there.
    """
    _check_bindings(bindings)
    arqs = require_arqs(context, list(bindings), project_id)
    _refuse_hot_add(context, bindings)
    standalone.precheck(bindings, arqs, claimer, limits, pins)
    errors: list[Exception] = []
    unplaced: dict[str, Mapping[str, str]] = {}
    for uuid, binding in bindings.items():
        try:
            # Persisted before any side effect: a conductor that dies from here on
            # leaves a BindStarted ARQ that resume_abandoned_binds finishes.
            # (_check_bindings let only the binding columns through.)
            arq_obj.update_state(
                context,
                uuid,
                expected=BINDABLE_STATES,
                new_state=State.BIND_STARTED,
                bind_failure_reason=None,
                **binding,
            )
        except Exception as err:
            errors.append(err)  # not ours: the ARQ is left as it was
            continue
        if standalone.is_standalone(binding):
            unplaced[uuid] = binding  # placed below, with the other ARQs of its instance
            continue
        finish = functools.partial(
            _finish_bind, context, arqs[uuid], binding["device_rp_uuid"], notify_nova, step, mdevs
        )
        _finish_now_or_later(finish, arqs[uuid], step, mdevs, run_later, errors)
    if unplaced and claimer is not None:
        errors += _bind_standalone(
            context, unplaced, arqs, claimer, limits, step, run_later, mdevs, pins
        )
    if errors:
        raise errors[0]


def _bind_standalone(
    context: RequestContext,
    bindings: Mapping[str, Mapping[str, str]],
    arqs: Mapping[str, arq_obj.AcceleratorRequest],
    claimer: claiming.Claimer,
    limits: quota.Limits | None,
    step: BindStep | None,
    run_later: RunLater | None,
    mdevs: vgpu.MdevAgent | None = None,
    pins: standalone.Pins | None = None,
) -> list[Exception]:
    """Claim devices for BindStarted ARQs, then finish them as Nova's (no Nova events)."""
    claims, failed = standalone.claim(context, bindings, arqs, claimer, limits, pins)
    errors: list[Exception] = []
    for uuid, err in failed.items():
        _mark_failed(context, uuid, failure_reason(err), False)
        if err not in errors:
            errors.append(err)
    for uuid, claimed in claims.items():
        finish = standalone.releasing(
            context,
            claimer,
            uuid,
            claimed,
            functools.partial(
                _finish_bind, context, arqs[uuid], claimed.rp_uuid, False, step, mdevs
            ),
        )
        _finish_now_or_later(finish, arqs[uuid], step, mdevs, run_later, errors)
    return errors


def _finish_now_or_later(
    finish: Callable[[], None],
    arq: arq_obj.AcceleratorRequest,
    step: BindStep | None,
    mdevs: vgpu.MdevAgent | None,
    run_later: RunLater | None,
    errors: list[Exception],
) -> None:
    """Hand a bind that waits on an agent to ``run_later``; finish the others now,
    adding their failure to ``errors``."""
    if run_later is not None and _later(arq, step, mdevs):
        run_later(finish)
        return
    try:
        finish()
    except Exception as err:
        errors.append(err)


def _later(
    arq: arq_obj.AcceleratorRequest, step: BindStep | None, mdevs: vgpu.MdevAgent | None
) -> bool:
    """Whether the ARQ's bind waits on an agent (FPGA programming, vGPU mdev)."""
    return any(s is not None and s.needed(arq) for s in (step, mdevs))


def _finish_bind(
    context: RequestContext,
    arq: arq_obj.AcceleratorRequest,
    device_rp_uuid: str,
    notify_nova: bool,
    step: BindStep | None = None,
    mdevs: vgpu.MdevAgent | None = None,
) -> None:
    """BindStarted -> Bound with a claimed handle, or -> BindFailed with the reason.

    An MDEV handle gets its mdev between the claim and Bound (the module's docstring);
    a resumed bind that holds one already goes on from its mdev.
    """
    uuid = arq.uuid
    held = arq.attach_handle_id  # only a BindStarted ARQ holding an MDEV handle has one
    try:
        if held is None:
            handle = _claim(context, arq, device_rp_uuid, notify_nova, step, mdevs)
            if handle.attach_type not in _hold_types(mdevs):
                LOG.info("Bound accelerator request %s to attach handle %s", uuid, handle.uuid)
                return
            held = handle.id
        if mdevs is not None:
            vgpu.create(context, mdevs, held)
        with db_api.context_manager.writer.using(context):
            arq_obj.update_state(
                context,
                uuid,
                expected={State.BIND_STARTED},
                new_state=State.BOUND,
                holding_handle=held,
            )
            if notify_nova:
                nova_notification.add(context, uuid, constants.NovaEventStatus.COMPLETED)
    except Exception as err:
        LOG.warning("Binding accelerator request %s failed: %s", uuid, err)
        _mark_failed(context, uuid, failure_reason(err), notify_nova, held, mdevs)
        raise
    LOG.info("Bound accelerator request %s to MDEV attach handle id=%s", uuid, held)


def _hold_types(mdevs: vgpu.MdevAgent | None) -> frozenset[str]:
    """The handle types a bind claims before agent work: MDEV when there are agents."""
    return arq_obj.HELD_TYPES if mdevs is not None else frozenset()


def _claim(
    context: RequestContext,
    arq: arq_obj.AcceleratorRequest,
    device_rp_uuid: str,
    notify_nova: bool,
    step: BindStep | None,
    mdevs: vgpu.MdevAgent | None,
) -> attach_handle.AttachHandle:
    """Run ``step``, then claim a free handle: the ARQ is Bound (with Nova's event), or
    BindStarted holding an MDEV handle whose mdev the caller creates next."""
    deployable = deployable_obj.get_by_rp_uuid(context, device_rp_uuid)
    if step is not None and step.needed(arq):
        step.run(context, arq, deployable)
    hold = _hold_types(mdevs)
    # The claim's transaction writes first (see attach_free_handle): no read here.
    with db_api.context_manager.writer.using(context):
        try:
            handle = arq_obj.attach_free_handle(
                context, arq.uuid, deployable_id=deployable.id, hold_types=hold
            )
        except db_exc.DBReferenceError as err:  # an agent report removed it meanwhile
            raise exception.DeviceRemovedDuringBind(rp_uuid=device_rp_uuid) from err
        if notify_nova and handle.attach_type not in hold:
            nova_notification.add(context, arq.uuid, constants.NovaEventStatus.COMPLETED)
    return handle


def failure_reason(err: Exception) -> str:
    # Our exceptions carry messages fit for users; anything else may hold internals.
    if isinstance(err, exception.CyborgException):
        return str(err)[:255]
    return f"internal error ({type(err).__name__}); see the conductor log"


def _mark_failed(
    context: RequestContext,
    uuid: str,
    reason: str,
    notify_nova: bool,
    held: int | None = None,
    mdevs: vgpu.MdevAgent | None = None,
) -> None:
    """BindFailed; an ARQ holding MDEV handle ``held`` lets go of it, and its mdev (if
    the agent made it) is removed after the commit."""
    try:
        with db_api.context_manager.writer.using(context):
            arq_obj.fail_bind(context, uuid, reason=reason, holding_handle=held)
            if notify_nova:
                nova_notification.add(context, uuid, constants.NovaEventStatus.FAILED)
    except exception.CyborgException as err:
        # Unbound or deleted meanwhile: whoever did that owns its state now.
        LOG.info("Not marking accelerator request %s BindFailed: %s", uuid, err)
        return
    if held is not None:
        vgpu.remove_held(context, mdevs, [held])


def resume_abandoned_binds(
    context: RequestContext,
    older_than: datetime.timedelta,
    notify_nova: bool,
    step: BindStep | None = None,
    mdevs: vgpu.MdevAgent | None = None,
) -> list[str]:
    """Finish binds left in BindStarted for longer than ``older_than``.

    A conductor that died mid-bind left them; binding them again ends each in Bound
    or BindFailed, and Nova is told either way. Returns the uuids resumed.
    """
    abandoned = arq_obj.get_bind_started_before(context, timeutils.utcnow() - older_than)
    for arq in abandoned:
        LOG.warning(
            "Accelerator request %s has been binding since %s: finishing its bind",
            arq.uuid,
            arq.updated_at,
        )
        # A failure is logged and leaves the ARQ BindFailed: go on with the others.
        with contextlib.suppress(Exception):
            notify = notify_nova and not standalone.is_standalone_arq(arq)
            _finish_bind(context, arq, arq.device_rp_uuid or "", notify, step, mdevs)
    return [arq.uuid for arq in abandoned]
