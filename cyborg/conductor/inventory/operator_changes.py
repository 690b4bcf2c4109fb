"""Changes operators make to the inventory: device status and deployable attributes."""

from cyborg.common import constants, exception
from cyborg.common.context import RequestContext
from cyborg.conductor.placement import provider_sync
from cyborg.objects import attribute as attribute_obj
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import device as device_obj


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
    return attribute_obj.create(context, deployable_id=deployable.id, key=key, value=value).uuid


def delete_attribute(context: RequestContext, *, uuid: str) -> None:
    attribute_obj.delete(context, uuid)
