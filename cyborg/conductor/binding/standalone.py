"""Binds without Nova: the conductor picks the device and claims it in Placement itself.

A binding with ``hostname`` and ``instance_uuid`` (any consumer uuid) but no
``device_rp_uuid`` (API microversion 2.4) comes through here;
cyborg.conductor.binding.bind_flow keeps the state machine. In order:

ARQs may be pinned to a provider each (``pins``: a claimed plan names its devices);
the others get whatever Placement's candidates offer on the host.

1. ``precheck``, before any ARQ changes: Placement is configured (else 503) and each
   project stays within its quota (else 403; cyborg.conductor.binding.quota).
2. bind_flow moves the ARQs to BindStarted.
3. ``claim``, per consumer: all of its ARQs in one Placement claim
   (cyborg.conductor.placement.claiming), each ARQ's provider and share recorded
   (cyborg.objects.arq_claim), then the quota checked again with the claim counted.
4. bind_flow claims the attach handles as for Nova's binds, without events for Nova,
   and gives an ARQ's share back (``give_back``) when that fails.

``release`` runs before unbind and delete and removes the recorded shares, and only
those, from each consumer's allocations. Binds that name a ``device_rp_uuid`` (Nova's)
never come here: Cyborg does not touch the allocations Nova made.
"""

import dataclasses
from collections.abc import Iterable, Mapping

from oslo_log import log

from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.conductor.binding import quota
from cyborg.conductor.placement import claiming, nvlinked
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import arq_claim
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import schedulable as schedulable_obj

LOG = log.getLogger(__name__)

NEEDS_PLACEMENT = (
    "Binding without a device_rp_uuid needs Placement: set [placement] auth_type and "
    "its options on the conductor."
)
# Placement wants an owner for a consumer; ARQs made before projects were recorded have none.
NO_PROJECT = "cyborg"

ARQs = Mapping[str, arq_obj.AcceleratorRequest]
Bindings = Mapping[str, Mapping[str, str]]
Pins = Mapping[str, str]  # ARQ uuid -> the provider it must take


@dataclasses.dataclass(frozen=True)
class Claimed:
    """An ARQ's share of its consumer's allocation on one provider, claimed by Cyborg."""

    consumer: str
    rp_uuid: str
    share: dict[str, int]


def is_standalone(binding: Mapping[str, str]) -> bool:
    return not binding.get("device_rp_uuid")


def is_standalone_arq(arq: arq_obj.AcceleratorRequest) -> bool:
    """An ARQ bound (or being bound) without Nova: Nova hears nothing of it."""
    return not arq.bound_by_nova


def _by_consumer(bindings: Bindings) -> dict[tuple[str, str], list[str]]:
    consumers: dict[tuple[str, str], list[str]] = {}
    for uuid, binding in bindings.items():
        consumers.setdefault((binding["instance_uuid"], binding["hostname"]), []).append(uuid)
    return consumers


def _project(binding: Mapping[str, str], arq: arq_obj.AcceleratorRequest) -> str | None:
    return binding.get("project_id") or arq.project_id


def _shares(bindings: Bindings, arqs: ARQs, pins: Pins | None) -> dict[str, dict[str, int]]:
    """What each ARQ will claim (raises 400 for a group that asks for nothing)."""
    shares: dict[str, dict[str, int]] = {}
    for uuids in _by_consumer(bindings).values():
        for group in claiming.group_requests([arqs[uuid] for uuid in uuids], pins):
            shares.update(zip(group.arq_uuids, group.shares, strict=True))
    return shares


def _by_project(
    bindings: Bindings, arqs: ARQs, shares: Mapping[str, dict[str, int]]
) -> dict[str | None, dict[str, int]]:
    totals: dict[str | None, dict[str, int]] = {}
    for uuid, share in shares.items():
        project = _project(bindings[uuid], arqs[uuid])
        totals[project] = claiming.add_up([totals.get(project, {}), share])
    return totals


def precheck(
    bindings: Bindings,
    arqs: ARQs,
    claimer: claiming.Claimer | None,
    limits: quota.Limits | None,
    pins: Pins | None = None,
) -> None:
    """Refuse standalone bindings that cannot go ahead, before any ARQ changes."""
    standalone = {uuid: b for uuid, b in bindings.items() if is_standalone(b)}
    if not standalone:
        return
    if claimer is None:
        raise exception.PlacementNotConfigured(NEEDS_PLACEMENT)
    shares = _shares(standalone, arqs, pins)
    for project, wanted in _by_project(standalone, arqs, shares).items():
        quota.enforce(limits, project, wanted)


def claim(
    context: RequestContext,
    bindings: Bindings,
    arqs: ARQs,
    claimer: claiming.Claimer,
    limits: quota.Limits | None,
    pins: Pins | None = None,
    fence: str | None = None,
) -> tuple[dict[str, Claimed], dict[str, Exception]]:
    """Claim devices for BindStarted ARQs: (claims by ARQ, errors by ARQ). The claims
    are recorded only on ARQs conductor run ``fence`` is still binding (when given)."""
    claimed: dict[str, Claimed] = {}
    failed: dict[str, Exception] = {}
    for (consumer, hostname), uuids in _by_consumer(bindings).items():
        try:
            claimed.update(
                _claim_consumer(
                    context,
                    consumer,
                    hostname,
                    uuids,
                    bindings,
                    arqs,
                    claimer,
                    limits,
                    pins,
                    fence=fence,
                )
            )
        except Exception as err:
            LOG.warning("Claiming accelerators for %s on %s failed: %s", consumer, hostname, err)
            failed.update(dict.fromkeys(uuids, err))
    return claimed, failed


def _claim_consumer(
    context: RequestContext,
    consumer: str,
    hostname: str,
    uuids: list[str],
    bindings: Bindings,
    arqs: ARQs,
    claimer: claiming.Claimer,
    limits: quota.Limits | None,
    pins: Pins | None,
    *,
    fence: str | None,
) -> dict[str, Claimed]:
    groups = claiming.group_requests([arqs[uuid] for uuid in uuids], pins)
    ours = {d.rp_uuid for d in deployable_obj.get_all(context, hostname=hostname) if d.rp_uuid}
    project = _project(bindings[uuids[0]], arqs[uuids[0]]) or context.project_id or NO_PROJECT
    # Several devices chosen by Placement: prefer NVLinked ones (two more statements).
    several = sum(1 for group in groups if group.provider is None) > 1
    links = (
        nvlinked.providers_linked(schedulable_obj.get_all(context, hostname)) if several else None
    )
    providers = claimer.claim(
        consumer,
        hostname,
        groups,
        ours,
        project_id=project,
        user_id=context.user_id or project,
        links=links,
    )
    claims = {
        uuid: Claimed(consumer, rp_uuid, share)
        for group, rp_uuid in zip(groups, providers, strict=True)
        for uuid, share in zip(group.arq_uuids, group.shares, strict=True)
    }
    recorded = set(
        arq_claim.record_claims(
            context, {u: (c.rp_uuid, c.share) for u, c in claims.items()}, fence=fence
        )
    )
    # Unbound, deleted or taken over while we claimed: theirs goes back at once.
    _release(claimer, [c for u, c in claims.items() if u not in recorded])
    kept = {uuid: c for uuid, c in claims.items() if uuid in recorded}
    shares = {uuid: c.share for uuid, c in kept.items()}
    try:
        # Again with this claim counted: a concurrent bind of the project may have won.
        for project_id, held in _by_project(bindings, arqs, shares).items():
            quota.enforce(limits, project_id, dict.fromkeys(held, 0), recheck=True)
    except exception.QuotaExceeded:
        give_back(context, claimer, kept)
        raise
    return kept


def _release(claimer: claiming.Claimer, claims: Iterable[Claimed]) -> None:
    removed: dict[str, claiming.Allocations] = {}
    for claimed in claims:
        if claimed.share:
            removed[claimed.consumer] = claiming.merged(
                removed.get(claimed.consumer, {}), {claimed.rp_uuid: claimed.share}
            )
    for consumer, allocations in removed.items():
        claimer.release(consumer, allocations)


def give_back(
    context: RequestContext, claimer: claiming.Claimer, claims: Mapping[str, Claimed]
) -> None:
    """Best effort after a failed bind: release the shares and forget them. What
    cannot be released stays recorded, for the ARQ's unbind or delete to release."""
    try:
        _release(claimer, claims.values())
    except exception.CyborgException as err:
        LOG.warning("Could not release the claims of %s: %s", ", ".join(claims), err)
        return
    arq_claim.forget_claims(context, list(claims))


def release(claimer: claiming.Claimer | None, arqs: Iterable[arq_obj.AcceleratorRequest]) -> None:
    """Before an unbind or delete: remove these ARQs' recorded shares from Placement.

    A failure raises, and the caller changes nothing (a retry releases what is left).
    """
    held = [
        Claimed(arq.instance_uuid, arq.device_rp_uuid, arq.claimed_resources)
        for arq in arqs
        if arq.claimed_resources and arq.instance_uuid and arq.device_rp_uuid
    ]
    if not held:
        return
    if claimer is None:
        raise exception.PlacementNotConfigured(
            "These accelerator requests hold allocations Cyborg claimed in Placement: "
            "set [placement] auth_type and its options on the conductor to release them."
        )
    _release(claimer, held)
