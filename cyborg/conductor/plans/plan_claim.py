"""Claim a plan: one ARQ per device, bound to that very device, through Placement.

The plan is marked claimed first (a compare-and-swap: of two claims one wins, the
other is a 409 before it creates anything). Then each device of the plan gets the ARQs
of one copy of the device profile, bound without Nova (cyborg.conductor.binding.standalone)
to the consumer on the device's host, pinned to the device's provider: Cyborg writes
the allocations, all devices of the plan under the one consumer, across hosts.

Before anything changes, every planned device must still be schedulable and match the
profile's resource class and traits (the pinned binds skip Placement's matching).

A plan is claimed once: it was made for the inventory of its time, so once its
devices are given back (its ARQs deleted), ask for new plans.

All or nothing: if any bind fails (a device taken since the plan was made, quota,
Placement down), the claim's ARQs are deleted, which releases what they had claimed,
the plan is proposed again and the first error is raised.
"""

from oslo_log import log

from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.conductor.binding import binder as binder_mod
from cyborg.conductor.plans import device_scope, planning
from cyborg.objects import plan as plan_obj
from cyborg.objects import schedulable as schedulable_obj
from cyborg.objects.base import new_uuid

LOG = log.getLogger(__name__)


def _profile_name(plan: plan_obj.Plan, asked: str | None) -> str:
    planned = plan.request.get("device_profile_name")
    if planned and asked and asked != planned:
        raise exception.Invalid(
            reason=f"the plan was made for device profile {planned}, not {asked}"
        )
    name = asked or planned
    if not name:
        raise exception.Invalid(
            reason="the plan was made without a device profile: name one to claim it with"
        )
    return str(name)


def _check_devices(
    context: RequestContext, plan: plan_obj.Plan, profile: str, project_id: str | None
) -> None:
    """Every planned device is still schedulable and is what the profile asks for.

    The binds are pinned to the planned providers, so Placement never matches them
    against the profile's traits: that is checked here (400), before anything changes.
    """
    group = planning.profile_group(context, profile, project_id)
    assert group is not None  # a name was given
    rows = {row.deployable_uuid: row for row in schedulable_obj.get_all(context)}
    for device in plan.result["devices"]:
        row = rows.get(device["deployable_uuid"])
        if row is None or not row.rp_uuid:
            raise exception.NoFeasiblePlan(
                reason=f"deployable {device['deployable_name']} is gone, disabled, on a "
                "host that is down or not in Placement since the plan was made"
            )
        if not device_scope.matches_profile(row, group):
            raise exception.Invalid(
                reason=f"device profile {profile} does not ask for deployable "
                f"{device['deployable_name']} of the plan (resource class or traits)"
            )


def claim_plan(
    binder: binder_mod.Binder,
    context: RequestContext,
    *,
    plan_uuid: str,
    device_profile_name: str | None,
    consumer_uuid: str | None,
    project_id: str | None,
    visible_to_project: str | None,
) -> tuple[str, list[str]]:
    """Bind the plan's devices to a consumer through ``binder``; (the consumer, its ARQs)."""
    plan = plan_obj.get_by_uuid(context, plan_uuid, project_id=visible_to_project)
    profile = _profile_name(plan, device_profile_name)
    _check_devices(context, plan, profile, visible_to_project)
    if binder.claimer is None:
        raise exception.PlacementNotConfigured(
            "Claiming a plan claims its devices in Placement: set [placement] "
            "auth_type and its options on the conductor."
        )
    consumer = consumer_uuid or new_uuid()
    plan_obj.mark_claimed(context, plan_uuid, consumer)
    created: list[str] = []
    try:
        bindings: dict[str, dict[str, str]] = {}
        pins: dict[str, str] = {}
        for device in plan.result["devices"]:
            uuids = binder.create(
                context,
                device_profile_name=profile,
                project_id=project_id,
                visible_to_project=visible_to_project,
            )
            created += uuids
            for uuid in uuids:  # two for a Xilinx board (two functions), else one
                bindings[uuid] = {"hostname": device["host"], "instance_uuid": consumer}
                pins[uuid] = device["rp_uuid"]
        binder.bind(context, bindings=bindings, project_id=project_id, pins=pins)
    except Exception as err:
        LOG.warning("Claim of plan %s for %s failed, undoing it: %s", plan_uuid, consumer, err)
        _undo(binder, context, plan_uuid, consumer, created)
        raise
    LOG.info("Plan %s claimed for %s with ARQs %s", plan_uuid, consumer, ", ".join(created))
    return consumer, created


def _undo(
    binder: binder_mod.Binder,
    context: RequestContext,
    plan_uuid: str,
    consumer: str,
    created: list[str],
) -> None:
    try:
        if created:
            binder.delete(context, uuids=created)
    except Exception as err:  # the plan stays claimed: its consumer still holds devices
        LOG.error("Could not delete ARQs %s of a failed claim: %s", ", ".join(created), err)
        return
    plan_obj.unclaim(context, plan_uuid, consumer)
