"""Accelerator requests from creation to deletion: the binding state machine.

Pure orchestration over cyborg.objects. Every state change is a compare-and-swap,
so two conductors (or two threads of one) racing for the same ARQ cannot both win:

    Initial|Unbound --bind--> BindStarted --handle claimed--> Bound
                                   \\--any failure--> BindFailed
    any but Deleting --unbind--> Unbound          (delete = unbind + remove the row)
"""

from collections.abc import Mapping, Sequence

from oslo_log import log

from cyborg.common import constants, exception
from cyborg.common.context import RequestContext
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import device_profile as profile_obj

LOG = log.getLogger(__name__)

State = constants.ARQState

# A binding names where the ARQ goes; project_id (optional) also changes its owner.
REQUIRED_BINDING_KEYS = ("hostname", "device_rp_uuid", "instance_uuid")
OPTIONAL_BINDING_KEYS = ("project_id",)

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


def _require_arqs(context: RequestContext, uuids: list[str], project_id: str | None) -> None:
    """404 naming every listed ARQ that is missing (or another project's), in one query."""
    found = {arq.uuid for arq in arq_obj.get_all(context, uuids=uuids, project_id=project_id)}
    missing = [uuid for uuid in uuids if uuid not in found]
    if missing:
        raise exception.ARQNotFound(uuid=", ".join(missing))


def _refuse_hot_add(context: RequestContext, bindings: Mapping[str, Mapping[str, str]]) -> None:
    """One query over every ARQ of the instances named: none may be bound or binding."""
    instances = {binding["instance_uuid"] for binding in bindings.values()}
    taken = arq_obj.get_uuids_for_instances(context, instances, states=BINDING_STATES)
    if taken:
        raise exception.Invalid(
            reason=f"the instance already has bound accelerator requests ({', '.join(taken)}); "
            "bind all of an instance's accelerator requests in one request"
        )


def bind_arqs(
    context: RequestContext,
    *,
    bindings: Mapping[str, Mapping[str, str]],
    project_id: str | None = None,
) -> None:
    """Bind each ARQ to a free attach handle of the deployable at its ``device_rp_uuid``.

    All ARQs are attempted; those that fail end in BindFailed, and the first error is
    raised once every ARQ has been tried (Nova then sees each ARQ's own outcome).
    """
    _check_bindings(bindings)
    _require_arqs(context, list(bindings), project_id)
    _refuse_hot_add(context, bindings)
    errors: list[Exception] = []
    for uuid, binding in bindings.items():
        try:
            _bind_one(context, uuid, binding)
        except Exception as err:
            errors.append(err)
    # Nova's "accelerator-request-bound" event (one per ARQ, in one call) goes here.
    if errors:
        raise errors[0]


def _bind_one(context: RequestContext, uuid: str, binding: Mapping[str, str]) -> None:
    # Not ours until this CAS succeeds: if it fails, the ARQ is left as it was.
    # (_check_bindings let only the binding columns through.)
    arq_obj.update_state(
        context, uuid, expected=BINDABLE_STATES, new_state=State.BIND_STARTED, **binding
    )
    try:
        deployable = deployable_obj.get_by_rp_uuid(context, binding["device_rp_uuid"])
        # FPGA programming and MDEV creation (agent RPC) go here, before the claim.
        handle = arq_obj.attach_free_handle(context, uuid, deployable_id=deployable.id)
    except Exception as err:
        LOG.warning("Binding accelerator request %s failed: %s", uuid, err)
        _mark_failed(context, uuid)
        raise
    LOG.info("Bound accelerator request %s to attach handle %s", uuid, handle.uuid)


def _mark_failed(context: RequestContext, uuid: str) -> None:
    try:
        arq_obj.update_state(
            context, uuid, expected={State.BIND_STARTED}, new_state=State.BIND_FAILED
        )
    except exception.CyborgException as err:
        # Unbound or deleted meanwhile: whoever did that owns its state now.
        LOG.info("Not marking accelerator request %s BindFailed: %s", uuid, err)


def unbind_arqs(
    context: RequestContext, *, uuids: Sequence[str], project_id: str | None = None
) -> None:
    """Free the ARQs' attach handles and clear their binding (all or none)."""
    # MDEV removal on the agent and Placement allocation clean-up go here.
    arq_obj.unbind_many(context, uuids, project_id=project_id)


def delete_arqs(
    context: RequestContext,
    *,
    uuids: Sequence[str] | None = None,
    instance_uuid: str | None = None,
    project_id: str | None = None,
) -> None:
    """Delete by uuids (all or none) or by instance (idempotent), unbinding first."""
    if (uuids is None) == (instance_uuid is None):
        raise exception.Invalid(reason="delete accelerator requests by uuids or by instance")
    # MDEV removal on the agent goes here, as in unbind.
    arq_obj.delete_releasing_handles(
        context, uuids=uuids, instance_uuid=instance_uuid, project_id=project_id
    )
