"""Accelerator requests from creation to deletion: the binding state machine.

Pure orchestration over cyborg.objects. Every state change is a compare-and-swap,
so two conductors (or two threads of one) racing for the same ARQ cannot both win:

    Initial|Unbound --bind--> BindStarted --handle claimed--> Bound
                                   \\--any failure--> BindFailed
    any but Deleting --unbind--> Unbound   (releasing Placement failed: UnbindFailed)
    any --delete--> Deleting --allocations released--> (row removed)

Unbinding and deleting are in cyborg.conductor.binding.unbinding; the collaborators
(claimer, quota, FPGA programming, mdevs, background runner, Nova's outbox) come from
the cyborg.conductor.binding.binder.Binder every function here takes.

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
another takes over (cyborg.conductor.binding.takeover) and goes on with from 2.

Nova's libvirt driver attaches only PCI and MDEV handles and boots an instance without
any other it was given, so Nova's binds (a ``device_rp_uuid``) of SPDK targets (NVMF,
VHOST_USER) go BindFailed, with Nova's event, before anything is claimed
(``refuse_for_nova``): the boot fails instead of coming up without its accelerators.

A bind records the conductor run doing it, and each of its later writes holds only
while that run is still the one binding the ARQ (``fence``): a conductor whose bind
was taken over, because it looked dead, can no longer change it.
"""

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from oslo_db import exception as db_exc
from oslo_log import log

from cyborg.common import arq_states, constants, exception, inventory
from cyborg.common.context import RequestContext
from cyborg.conductor.binding import arqs as arq_checks
from cyborg.conductor.binding import quota, standalone, vgpu
from cyborg.db import api as db_api
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import attach_handle, nova_notification
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import host as host_obj

if TYPE_CHECKING:  # the Binder calls in here with itself
    from cyborg.conductor.binding.binder import Binder

LOG = log.getLogger(__name__)

State = constants.ARQState
ARQs = Mapping[str, arq_obj.AcceleratorRequest]
Bindings = Mapping[str, Mapping[str, str]]


def bind_arqs(
    binder: "Binder",
    context: RequestContext,
    *,
    bindings: Bindings,
    project_id: str | None = None,
    pins: standalone.Pins | None = None,
) -> None:
    """Bind each ARQ to a free attach handle of the deployable at its ``device_rp_uuid``.

    All ARQs are attempted; those that fail end in BindFailed, and the first error is
    raised once every ARQ has been tried. When the binder notifies Nova, each result of
    Nova's binds is also written to the outbox of events for Nova, in the transaction
    that resolves it. An ARQ whose bind waits on an agent (FPGA programming, a vGPU
    mdev) is finished by the binder's background runner once it is BindStarted, so the
    caller gets its answer at once. Without mdev agents, MDEV handles bind as PCI ones
    do (no mdev). A binding without ``device_rp_uuid`` is bound without Nova: the
    binder's claimer picks and claims its device in Placement, within the quota
    (cyborg.conductor.binding.standalone); ``pins`` names the provider an ARQ must take.
    """
    arq_checks.check_bindings(bindings)
    arqs = arq_checks.require_arqs(context, list(bindings), project_id)
    arq_checks.refuse_hot_add(context, bindings)
    standalone.precheck(bindings, arqs, binder.claimer, _limits(binder, context), pins)
    errors: list[Exception] = []
    unplaced: dict[str, Mapping[str, str]] = {}
    spdk = _spdk_targets(context, bindings)
    for uuid, binding in bindings.items():
        try:
            # Persisted before any side effect, naming this conductor: if it dies
            # from here on, another takes the BindStarted ARQ over (takeover).
            # (check_bindings let only the binding columns through.)
            arq_obj.update_state(
                context,
                uuid,
                expected=arq_checks.BINDABLE_STATES,
                new_state=State.BIND_STARTED,
                bind_failure_reason=None,
                binding_conductor=binder.conductor,
                **binding,
            )
        except Exception as err:
            errors.append(err)  # not ours: the ARQ is left as it was
            continue
        if standalone.is_standalone(binding):
            unplaced[uuid] = binding  # placed below, with the other ARQs of its instance
            continue
        try:
            # Here, not in the background where SPDK binds finish: Nova's PATCH says so.
            _refuse_for_nova(binder, context, uuid, binding["device_rp_uuid"], spdk)
        except exception.NovaCannotAttach as err:
            errors.append(err)
            continue
        finish = functools.partial(
            _finish_bind,
            binder,
            context,
            arqs[uuid],
            binding["device_rp_uuid"],
            binder.notifies_nova,
        )
        _finish_now_or_later(binder, finish, arqs[uuid], errors)
    if unplaced:
        errors += _bind_standalone(binder, context, unplaced, arqs, pins)
    if errors:
        raise errors[0]


def _bind_standalone(
    binder: "Binder",
    context: RequestContext,
    bindings: Bindings,
    arqs: ARQs,
    pins: standalone.Pins | None,
) -> list[Exception]:
    """Claim devices for BindStarted ARQs, then finish them as Nova's (no Nova events)."""
    assert binder.claimer is not None  # precheck refused standalone binds without one
    claims, failed = standalone.claim(
        context, bindings, arqs, binder.claimer, _limits(binder, context), pins, binder.conductor
    )
    errors: list[Exception] = []
    for uuid, err in failed.items():
        _mark_failed(binder, context, uuid, arq_checks.failure_reason(err), False)
        if err not in errors:
            errors.append(err)
    for uuid, claimed in claims.items():
        finish = functools.partial(_finish_claimed, binder, context, arqs[uuid], claimed)
        _finish_now_or_later(binder, finish, arqs[uuid], errors)
    return errors


def _finish_claimed(
    binder: "Binder",
    context: RequestContext,
    arq: arq_obj.AcceleratorRequest,
    claimed: standalone.Claimed,
) -> None:
    """Finish a standalone bind on the provider claimed for it; the ARQ's share goes
    back to Placement if that fails."""
    try:
        _finish_bind(binder, context, arq, claimed.rp_uuid, False)
    except Exception:
        assert binder.claimer is not None
        standalone.give_back(context, binder.claimer, {arq.uuid: claimed})
        raise


def _finish_now_or_later(
    binder: "Binder",
    finish: Callable[[], None],
    arq: arq_obj.AcceleratorRequest,
    errors: list[Exception],
) -> None:
    """Hand a bind that waits on an agent to the background runner; finish the others
    now, adding their failure to ``errors``."""
    if binder.run_later is not None and _waits_on_agent(binder, arq):
        binder.run_later(functools.partial(_finish_in_background, binder, finish))
        return
    try:
        finish()
    except Exception as err:
        errors.append(err)


def _waits_on_agent(binder: "Binder", arq: arq_obj.AcceleratorRequest) -> bool:
    """Whether the ARQ's bind calls an agent (FPGA programming, a vGPU mdev)."""
    return any(s is not None and s.needed(arq) for s in (binder.programming, binder.mdevs))


def _finish_in_background(binder: "Binder", finish: Callable[[], None]) -> None:
    """A bind finished after its caller's answer: Nova hears of it at once."""
    try:
        finish()
    finally:
        if binder.nova is not None:
            binder.nova.ring()


def _limits(binder: "Binder", context: RequestContext) -> quota.Limits | None:
    return None if binder.limits is None else binder.limits(context)


def _finish_bind(
    binder: "Binder",
    context: RequestContext,
    arq: arq_obj.AcceleratorRequest,
    device_rp_uuid: str,
    notify_nova: bool,
) -> None:
    """BindStarted -> Bound with a claimed handle, or -> BindFailed with the reason.

    An MDEV handle gets its mdev between the claim and Bound (the module's docstring);
    a resumed bind that holds one already goes on from its mdev.
    """
    uuid = arq.uuid
    held = arq.attach_handle_id  # only a BindStarted ARQ holding an MDEV handle has one
    try:
        if held is None:
            handle = _claim_handle(binder, context, arq, device_rp_uuid, notify_nova)
            if handle.attach_type not in _hold_types(binder):
                LOG.info("Bound accelerator request %s to attach handle %s", uuid, handle.uuid)
                return
            held = handle.id
        if binder.mdevs is not None:
            vgpu.create(context, binder.mdevs, held)
        with db_api.context_manager.writer.using(context):
            arq_obj.update_state(
                context,
                uuid,
                expected=arq_states.sources(arq_states.ARQEvent.HANDLE_CLAIMED),
                new_state=State.BOUND,
                holding_handle=held,
                fence=binder.conductor,
                binding_conductor=None,
            )
            if notify_nova:
                nova_notification.add(context, uuid, constants.NovaEventStatus.COMPLETED)
    except Exception as err:
        LOG.warning("Binding accelerator request %s failed: %s", uuid, err)
        _mark_failed(binder, context, uuid, arq_checks.failure_reason(err), notify_nova, held)
        raise
    LOG.info("Bound accelerator request %s to MDEV attach handle id=%s", uuid, held)


def _hold_types(binder: "Binder") -> frozenset[str]:
    """The handle types a bind claims before agent work: MDEV when there are agents."""
    return arq_obj.HELD_TYPES if binder.mdevs is not None else frozenset()


def _claim_handle(
    binder: "Binder",
    context: RequestContext,
    arq: arq_obj.AcceleratorRequest,
    device_rp_uuid: str,
    notify_nova: bool,
) -> attach_handle.AttachHandle:
    """Program the FPGA if asked, then claim a free handle: the ARQ is Bound (with
    Nova's event), or BindStarted holding an MDEV handle whose mdev comes next."""
    deployable = _deployable_at(context, arq.uuid, device_rp_uuid)
    _refuse_unhealthy(deployable, device_rp_uuid)
    step = binder.programming
    if step is not None and step.needed(arq):
        step.run(context, arq, deployable)
    hold = _hold_types(binder)
    # The claim's transaction writes first (see attach_free_handle): no read here.
    with db_api.context_manager.writer.using(context):
        try:
            handle = arq_obj.attach_free_handle(
                context,
                arq.uuid,
                deployable_id=deployable.id,
                hold_types=hold,
                fence=binder.conductor,
            )
        except db_exc.DBReferenceError as err:  # an agent report removed it meanwhile
            raise exception.DeviceRemovedDuringBind(rp_uuid=device_rp_uuid) from err
        if notify_nova and handle.attach_type not in hold:
            nova_notification.add(context, arq.uuid, constants.NovaEventStatus.COMPLETED)
    return handle


def _deployable_at(
    context: RequestContext, arq_uuid: str, device_rp_uuid: str
) -> deployable_obj.Deployable:
    """The deployable published as ``device_rp_uuid``.

    A report writes Placement inside its transaction (under the host's row lock), so a
    new device's provider can be seen, and allocated by Nova, a moment before its
    deployable is committed. A provider not found is looked for again once the bound
    host's report in flight, if any, has ended.
    """
    try:
        return deployable_obj.get_by_rp_uuid(context, device_rp_uuid)
    except exception.DeployableNotFound:
        hostname = arq_obj.get_by_uuid(context, arq_uuid).hostname
        if not hostname or host_obj.lock(context, hostname) is None:
            raise
        return deployable_obj.get_by_rp_uuid(context, device_rp_uuid)


def _refuse_unhealthy(deployable: deployable_obj.Deployable, rp_uuid: str) -> None:
    """A deployable its driver reports unhealthy or fatal takes no new binds (Placement
    holds it wholly reserved; this closes the window before Nova learns of it)."""
    attributes = {a.key: a.value for a in deployable.attributes}
    if not inventory.is_healthy(attributes):
        raise exception.DeployableUnhealthy(
            rp_uuid=rp_uuid,
            health=attributes[inventory.ATTR_HEALTH],
            reason=attributes.get(inventory.ATTR_HEALTH_REASON) or "no reason given",
        )


def _spdk_targets(context: RequestContext, bindings: Bindings) -> dict[str, set[str]]:
    """{provider uuid: its SPDK target handle types} of the devices Nova's bindings
    name that have such handles; one query for all of them."""
    nova = {b["device_rp_uuid"] for b in bindings.values() if not standalone.is_standalone(b)}
    if not nova:
        return {}
    found = attach_handle.types_at(context, nova)
    spdk = {rp: types & constants.SPDK_TARGET_TYPES for rp, types in found.items()}
    return {rp: types for rp, types in spdk.items() if types}


def _refuse_for_nova(
    binder: "Binder",
    context: RequestContext,
    uuid: str,
    device_rp_uuid: str,
    spdk: Mapping[str, set[str]],
    held: int | None = None,
) -> None:
    """Fail Nova's bind of a device with SPDK target handles (``spdk``, _spdk_targets):
    BindFailed with Nova's event, and raise NovaCannotAttach; any other bind goes on."""
    types = spdk.get(device_rp_uuid)
    if not types:
        return
    err = exception.NovaCannotAttach(types=", ".join(sorted(types)), rp_uuid=device_rp_uuid)
    LOG.warning("Binding accelerator request %s failed: %s", uuid, err)
    _mark_failed(binder, context, uuid, arq_checks.failure_reason(err), binder.notifies_nova, held)
    raise err


def _mark_failed(
    binder: "Binder",
    context: RequestContext,
    uuid: str,
    reason: str,
    notify_nova: bool,
    held: int | None = None,
) -> None:
    """BindFailed; an ARQ holding MDEV handle ``held`` lets go of it, and its mdev (if
    the agent made it) is removed after the commit."""
    try:
        with db_api.context_manager.writer.using(context):
            arq_obj.fail_bind(
                context, uuid, reason=reason, holding_handle=held, fence=binder.conductor
            )
            if notify_nova:
                nova_notification.add(context, uuid, constants.NovaEventStatus.FAILED)
    except exception.CyborgException as err:
        # Unbound, deleted or taken over meanwhile: whoever did that owns its state now.
        LOG.info("Not marking accelerator request %s BindFailed: %s", uuid, err)
        return
    if held is not None:
        vgpu.remove_held(context, binder.mdevs, [held])


def resume_bind(
    binder: "Binder", context: RequestContext, arq: arq_obj.AcceleratorRequest, unplaced: str
) -> None:
    """Finish a bind this conductor has taken over (cyborg.conductor.binding.takeover):
    Bound or BindFailed, and Nova is told either way.

    A bind without Nova that had claimed no device yet fails with ``unplaced``, the
    reason: its conductor may have claimed one in Placement without recording it (the
    claim sweep gives that back), so claiming again could take two.
    """
    notify = binder.notifies_nova and not standalone.is_standalone_arq(arq)
    if not arq.device_rp_uuid:
        LOG.warning("Accelerator request %s: %s", arq.uuid, unplaced)
        _mark_failed(binder, context, arq.uuid, unplaced, notify)
        return
    if arq.bound_by_nova:  # begun before Nova's binds of SPDK targets were refused, too
        binding = {"device_rp_uuid": arq.device_rp_uuid}
        spdk = _spdk_targets(context, {arq.uuid: binding})
        _refuse_for_nova(binder, context, arq.uuid, arq.device_rp_uuid, spdk, arq.attach_handle_id)
    _finish_bind(binder, context, arq, arq.device_rp_uuid, notify)
