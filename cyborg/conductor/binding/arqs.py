"""ARQs made from a device profile, and the checks every binding flow shares."""

from collections.abc import Mapping

from cyborg.common import constants, exception, profile_rules
from cyborg.common.context import RequestContext
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import device_profile as profile_obj

State = constants.ARQState

# A binding names where the ARQ goes; project_id (optional) also changes its owner.
# Without device_rp_uuid Cyborg picks the device and claims it
# (cyborg.conductor.binding.standalone).
REQUIRED_BINDING_KEYS = ("hostname", "instance_uuid")
OPTIONAL_BINDING_KEYS = ("device_rp_uuid", "project_id")

BINDABLE_STATES = frozenset({State.INITIAL, State.UNBOUND})
# An instance with an ARQ in one of these is being or was bound: Nova binds all of an
# instance's ARQs in one request, and adding one to a bound instance is not supported.
BINDING_STATES = frozenset({State.BIND_STARTED, State.BOUND})


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
    created = arq_obj.create_many(
        context,
        device_profile_id=profile.id,
        device_profile_name=profile.name,
        groups=profile.groups,
        counts=[profile_rules.accelerator_count(group) for group in profile.groups],
        project_id=project_id,
    )
    return [arq.uuid for arq in created]


def check_bindings(bindings: Mapping[str, Mapping[str, str]]) -> None:
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


def refuse_hot_add(context: RequestContext, bindings: Mapping[str, Mapping[str, str]]) -> None:
    """One query over every ARQ of the instances named: none may be bound or binding."""
    instances = {binding["instance_uuid"] for binding in bindings.values()}
    taken = arq_obj.get_uuids_for_instances(context, instances, states=BINDING_STATES)
    if taken:
        raise exception.Invalid(
            reason=f"the instance already has bound accelerator requests ({', '.join(taken)}); "
            "bind all of an instance's accelerator requests in one request"
        )


def failure_reason(err: Exception) -> str:
    # Our exceptions carry messages fit for users; anything else may hold internals.
    if isinstance(err, exception.CyborgException):
        return str(err)[:255]
    return f"internal error ({type(err).__name__}); see the conductor log"
