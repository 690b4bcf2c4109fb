"""ARQs made from a device profile, and the checks every binding flow shares."""

import dataclasses
from collections.abc import Mapping

from oslo_config import cfg
from oslo_log import log

from cyborg.common import arq_states, constants, deadline, exception, profile_rules
from cyborg.common.context import RequestContext
from cyborg.conductor.binding import quota
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import base
from cyborg.objects import device_profile as profile_obj

LOG = log.getLogger(__name__)

State = constants.ARQState

# A binding names where the ARQ goes; project_id (optional) also changes its owner.
# Without device_rp_uuid Cyborg picks the device and claims it
# (cyborg.conductor.binding.standalone).
REQUIRED_BINDING_KEYS = ("hostname", "instance_uuid")
OPTIONAL_BINDING_KEYS = ("device_rp_uuid", "project_id")

BINDABLE_STATES = arq_states.sources(arq_states.ARQEvent.BIND)
# An instance with an ARQ in one of these is being or was bound: Nova binds all of an
# instance's ARQs in one request, and adding one to a bound instance is not supported.
BINDING_STATES = frozenset({State.BIND_STARTED, State.BOUND})


@dataclasses.dataclass(frozen=True)
class ARQLimits:
    """How many ARQs one request may create, and one project hold (None: no limit)."""

    per_request: int | None = None
    per_project: int | None = None

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> "ARQLimits":
        """``[api] max_arqs_per_request`` and ``[quota] accelerator_requests``."""
        per_project = conf.quota.accelerator_requests
        return cls(conf.api.max_arqs_per_request, None if per_project < 0 else per_project)


def create_arqs(
    context: RequestContext,
    *,
    device_profile_name: str,
    project_id: str | None,
    visible_to_project: str | None = None,
    limits: ARQLimits | None = None,
) -> list[str]:
    """One Initial ARQ per accelerator the profile asks for; returns their uuids.

    The count is checked against ``limits`` before any row is written: a request over
    the per-request limit is a 400 (a profile stored before the limit), over the
    project's quota a 403. The quota is checked again once the ARQs are created; over
    it (another request of the project was created meanwhile), they are deleted.
    """
    limits = limits or ARQLimits()
    profile = profile_obj.get_by_name(
        context, device_profile_name, visible_to_project=visible_to_project
    )
    counts = [profile_rules.accelerator_count(group) for group in profile.groups]
    if limits.per_request is not None:
        profile_rules.check_arq_count(sum(counts), limits.per_request)
    _check_quota(context, limits.per_project, project_id, sum(counts))
    new_uuids = [base.new_uuid() for _ in range(sum(counts))]
    deadline.note_result(context, new_uuids)  # stored with the insert, for a lost reply
    created = arq_obj.create_many(
        context,
        device_profile_id=profile.id,
        device_profile_name=profile.name,
        groups=profile.groups,
        counts=counts,
        project_id=project_id,
        uuids=new_uuids,
    )
    uuids = [arq.uuid for arq in created]
    _check_quota(context, limits.per_project, project_id, len(uuids), created=uuids)
    return uuids


def _check_quota(
    context: RequestContext,
    limit: int | None,
    project_id: str | None,
    requested: int,
    *,
    created: list[str] | None = None,
) -> None:
    """QuotaExceeded when the project's ARQs and ``requested`` exceed ``limit``; with
    ``created``, the recheck once they exist, which deletes them when over."""
    if limit is None or project_id is None or not requested:
        return
    usage = arq_obj.count_in_project(context, project_id)
    if created is None:
        quota.enforce_arq_count(limit, project_id, usage, requested)
        return
    try:
        quota.enforce_arq_count(limit, project_id, usage, requested, recheck=True)
    except exception.QuotaExceeded:
        LOG.info("Project %s over its ARQ quota after a race: deleting %s", project_id, created)
        arq_obj.delete_by_uuids(context, created)
        raise


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
