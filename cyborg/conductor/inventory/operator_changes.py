"""Changes operators make to the inventory: device status and deployable attributes."""

from cyborg.common import constants, deadline, exception, inventory
from cyborg.common.context import RequestContext
from cyborg.conductor.placement import provider_sync
from cyborg.db import api as db_api
from cyborg.objects import attribute as attribute_obj
from cyborg.objects import base, host_inventory
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import device as device_obj
from cyborg.objects import host as host_obj


def set_device_status(
    context: RequestContext,
    *,
    uuid: str,
    status: str,
    placement: provider_sync.PlacementSync | None = None,
) -> None:
    """Enable a device or put it in maintenance.

    In maintenance its providers' inventories are wholly reserved in Placement; enabled,
    nothing is. When Placement cannot be reached the status is still stored and the
    host's next report syncs it.
    """
    if status not in constants.values(constants.DeviceStatus):
        allowed = ", ".join(constants.values(constants.DeviceStatus))
        raise exception.InvalidParameterValue(name="status", reason=f"must be one of {allowed}")
    device = device_obj.update(context, uuid, status=status)
    if placement is not None:
        placement.sync_locked(context, device.hostname)


# Health is what the device's driver says; an operator takes a device out of service
# with its status (maintaining) instead.
DRIVER_ONLY_KEYS = frozenset({inventory.ATTR_HEALTH, inventory.ATTR_HEALTH_REASON})


def create_attribute(
    context: RequestContext, *, deployable_uuid: str, key: str, value: str
) -> str:
    if key in DRIVER_ONLY_KEYS:
        raise exception.Invalid(
            reason=f"the {key!r} attribute is reported by the device's driver; put the "
            "device in maintenance (status maintaining) to take it out of service"
        )
    deployable = deployable_obj.get_by_uuid(context, deployable_uuid)
    uuid = base.new_uuid()
    deadline.note_result(context, uuid)  # stored with the insert, for a lost reply
    return attribute_obj.create(
        context, deployable_id=deployable.id, key=key, value=value, uuid=uuid
    ).uuid


def delete_attribute(context: RequestContext, *, uuid: str) -> None:
    """Delete an attribute; the driver's ``rc``, ``trait<N>`` and ``health`` come back
    with the host's next report.

    Those are what the deployable's resource provider is published from: without
    its ``rc`` the next sync unpublishes the provider. As upstream, whose agents always
    send every device, the next report restores them (and the provider): forgetting
    the host's fingerprint makes the agent send its devices again although they did
    not change. Any other attribute is only deleted: a full report also drops the
    attributes operators added to that host, which deleting one of them must not do.
    """
    attribute = attribute_obj.get_by_uuid(context, uuid)
    if not host_inventory.is_placement_attribute(attribute.key):
        attribute_obj.delete(context, uuid)
        return
    hostname = attribute_obj.hostname_of(context, uuid)
    with db_api.context_manager.writer.using(context):
        host_obj.lock(context, hostname)  # as a report does, before the inventory's rows
        attribute_obj.delete(context, uuid)
        host_obj.forget_fingerprint(context, hostname)
