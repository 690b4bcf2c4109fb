"""Per-project limits: on the accelerators Cyborg claims itself (binds without Nova),
and on the number of ARQs a project holds (``enforce_arq_count``, at creation).

Resources are named ``class:<resource class>`` (``class:FPGA``, ``class:PGPU``,
``class:CUSTOM_QAT``), as Nova names them in Keystone unified limits. Usage is what
the project's ARQs hold in Placement through Cyborg's own claims
(cyborg.objects.arq_claim): ARQs that Nova binds are counted by Nova's quota, never
here, and Cyborg's claims use a consumer type Nova does not count.

Two sources of limits, one enforcement (oslo.limit's ``ProjectOverLimit`` either way,
answered as a 403 that names the limit, the usage and the request):

* Keystone unified limits through ``oslo_limit.limit.Enforcer`` when ``[oslo_limit]``
  names this service's endpoint (``endpoint_id``, or ``endpoint_service_type`` /
  ``endpoint_service_name``). oslo.limit reads ``[oslo_limit]`` from the process's
  global configuration, which the services parse. As in Keystone's flat model, a
  class with no registered limit may not be used at all.
* Otherwise ``[quota] limits`` (``FPGA:4,PGPU:2``); a class not listed is unlimited.
"""

from collections.abc import Callable, Collection, Mapping
from typing import Protocol

from oslo_config import cfg
from oslo_limit import exception as limit_exc
from oslo_log import log

from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.objects import arq_claim

LOG = log.getLogger(__name__)

PREFIX = "class:"

UsageCallback = Callable[[str | None, Collection[str]], dict[str, int]]


def resource_name(resource_class: str) -> str:
    return f"{PREFIX}{resource_class}"


class Limits(Protocol):
    def enforce(self, project_id: str | None, deltas: dict[str, int]) -> None:
        """Raise oslo.limit's ProjectOverLimit when usage + deltas exceeds a limit."""


class ConfigLimits:
    """Limits from ``[quota] limits``: the same for every project."""

    def __init__(self, limits: Mapping[str, int], usage: UsageCallback) -> None:
        self.limits = {resource_name(rc): int(n) for rc, n in limits.items()}
        self.usage = usage

    def enforce(self, project_id: str | None, deltas: dict[str, int]) -> None:
        limited = sorted(name for name in deltas if name in self.limits)
        if not limited:
            return
        current = self.usage(project_id, limited)
        over = [
            limit_exc.OverLimitInfo(name, self.limits[name], current.get(name, 0), deltas[name])
            for name in limited
            if current.get(name, 0) + deltas[name] > self.limits[name]
        ]
        if over:
            raise limit_exc.ProjectOverLimit(project_id, over)


class UnifiedLimits:
    """Keystone unified limits: a new oslo.limit Enforcer per check, as Nova does, so
    limits changed in Keystone apply at once."""

    def __init__(self, usage: UsageCallback) -> None:
        self.usage = usage

    def enforce(self, project_id: str | None, deltas: dict[str, int]) -> None:
        from oslo_limit import limit  # registers [oslo_limit] on the global config

        try:
            enforcer = limit.Enforcer(self.usage)
        except (limit_exc.SessionInitError, ValueError) as err:
            raise exception.QuotaLimitsUnavailable(reason=str(err)) from err
        enforcer.enforce(project_id, deltas)


def unified_limits_configured() -> bool:
    """Whether ``[oslo_limit]`` of the global configuration (the only one oslo.limit
    reads) names this service's endpoint."""
    from oslo_limit import limit  # noqa: F401 - registers [oslo_limit] on cfg.CONF

    group = cfg.CONF.oslo_limit
    return bool(group.endpoint_id or group.endpoint_service_type or group.endpoint_service_name)


class ConfiguredLimits:
    """The limits the configuration selects, looked up when a bind needs them (so that
    Nova's binds never import oslo.limit's Keystone client)."""

    def __init__(self, conf: cfg.ConfigOpts, usage: UsageCallback) -> None:
        self.conf = conf
        self.usage = usage

    def enforce(self, project_id: str | None, deltas: dict[str, int]) -> None:
        if unified_limits_configured():
            if self.conf.quota.limits:
                LOG.warning("[quota] limits is ignored: [oslo_limit] selects unified limits")
            UnifiedLimits(self.usage).enforce(project_id, deltas)
        else:
            ConfigLimits(self.conf.quota.limits, self.usage).enforce(project_id, deltas)


def usage_callback(context: RequestContext) -> UsageCallback:
    """oslo.limit's usage callback: what the project's ARQs hold through Cyborg."""

    def usage(project_id: str | None, resource_names: Collection[str]) -> dict[str, int]:
        held = arq_claim.claimed_usage(context, project_id)
        named = {resource_name(rc): amount for rc, amount in held.items()}
        return {name: named.get(name, 0) for name in resource_names}

    return usage


# The limits of one request: its context reads the usage.
LimitsFor = Callable[[RequestContext], Limits]


def limits_from_conf(conf: cfg.ConfigOpts, context: RequestContext) -> Limits:
    return ConfiguredLimits(conf, usage_callback(context))


def configured(conf: cfg.ConfigOpts) -> LimitsFor:
    """The limits the configuration selects, for each request (a Binder's ``limits``)."""

    def limits(context: RequestContext) -> Limits:
        return limits_from_conf(conf, context)

    return limits


def enforce(
    limits: Limits | None,
    project_id: str | None,
    deltas: Mapping[str, int],
    *,
    recheck: bool = False,
) -> None:
    """Check ``deltas`` ({resource class: amount}) for the project; QuotaExceeded (403)
    names every limit passed. ``recheck``: the claim is made and counted (deltas 0)."""
    if limits is None or not deltas:
        return
    named = {resource_name(rc): int(n) for rc, n in sorted(deltas.items())}
    try:
        limits.enforce(project_id, named)
    except limit_exc.ProjectOverLimit as err:
        if recheck:
            details = "; ".join(
                f"{info.resource_name} limit {info.limit}, usage {info.current_usage} with "
                "this request (another request of the project claimed meanwhile)"
                for info in err.over_limit_info_list
            )
        else:
            details = "; ".join(
                f"{info.resource_name} limit {info.limit}, usage {info.current_usage}, "
                f"requested {info.delta}"
                for info in err.over_limit_info_list
            )
        raise exception.QuotaExceeded(project=project_id, details=details) from err


# The name of the ARQ count in QuotaExceeded's details, as the class limits are named.
ARQS = "accelerator_requests"


def enforce_arq_count(
    limit: int | None, project_id: str, usage: int, requested: int, *, recheck: bool = False
) -> None:
    """QuotaExceeded (403) when the project would hold more than ``limit`` ARQs (None:
    unlimited). ``recheck``: the requested ARQs are created and in ``usage``."""
    if limit is None:
        return
    if not recheck and usage + requested > limit:
        details = f"{ARQS} limit {limit}, usage {usage}, requested {requested}"
    elif recheck and usage > limit:
        details = (
            f"{ARQS} limit {limit}, usage {usage} with this request (another request of "
            "the project created some meanwhile)"
        )
    else:
        return
    raise exception.QuotaExceeded(project=project_id, details=details)
