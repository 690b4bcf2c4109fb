"""Changes operators make to the inventory: device status and deployable attributes."""

from cyborg.common import constants, deadline, exception
from cyborg.common.context import RequestContext
from cyborg.conductor.placement import provider_sync
from cyborg.db import api as db_api
from cyborg.objects import attribute as attribute_obj
from cyborg.objects import base
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


def create_attribute(
    context: RequestContext, *, deployable_uuid: str, key: str, value: str
) -> str:
    deployable = deployable_obj.get_by_uuid(context, deployable_uuid)
    uuid = base.new_uuid()
    deadline.note_result(context, uuid)  # stored with the insert, for a lost reply
    return attribute_obj.create(
        context, deployable_id=deployable.id, key=key, value=value, uuid=uuid
    ).uuid


def delete_attribute(context: RequestContext, *, uuid: str) -> None:
    """Delete an attribute; what the host's driver reports comes back with its next report.

    The ``rc`` and ``trait<N>`` attributes are the driver's, and they are what the
    deployable's resource provider is published from: without its ``rc`` the next sync
    unpublishes the provider. As upstream, whose agents always send every device, the
    next report restores them (and the provider): forgetting the host's fingerprint
    makes the agent send its devices again although they did not change.
    """
    hostname = attribute_obj.hostname_of(context, uuid)
    with db_api.context_manager.writer.using(context):
        host_obj.lock(context, hostname)  # as a report does, before the inventory's rows
        attribute_obj.delete(context, uuid)
        host_obj.forget_fingerprint(context, hostname)
