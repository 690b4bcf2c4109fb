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
    """Add an operator's attribute: the host's reports never change or remove it.

    A key the deployable's driver reports is refused (409); the names only drivers
    write (``rc``, ``trait<N>``, the health keys) are refused on any deployable (400),
    since Placement publishing reads them by name.
    """
    deployable = deployable_obj.get_by_uuid(context, deployable_uuid)
    with db_api.context_manager.writer.using(context):
        hostname = device_obj.get_by_id(context, deployable.device_id).hostname
        host_obj.lock(context, hostname)  # a report in flight stores its keys first
        existing = attribute_obj.get_by_key(context, deployable.id, key)
        if existing is not None and existing.source == constants.AttributeSource.DRIVER:
            raise exception.AttributeOwnedByDriver(key=key, deployable=deployable.id)
        _refuse_driver_names(key)
        uuid = base.new_uuid()
        deadline.note_result(context, uuid)  # stored with the insert, for a lost reply
        return attribute_obj.create(
            context, deployable_id=deployable.id, key=key, value=value, uuid=uuid
        ).uuid


def _refuse_driver_names(key: str) -> None:
    if key in DRIVER_ONLY_KEYS:
        raise exception.Invalid(
            reason=f"the {key!r} attribute is reported by the device's driver; put the "
            "device in maintenance (status maintaining) to take it out of service"
        )
    if host_inventory.is_placement_attribute(key):
        raise exception.Invalid(
            reason=f"{key!r} is a name only the device's driver writes (a resource class "
            "or a trait published to Placement); choose another key"
        )


def delete_attribute(context: RequestContext, *, uuid: str) -> None:
    """Delete an operator's attribute; the driver's are refused (409).

    The host's fingerprint is forgotten, so that its next report sends every device:
    where the driver reports the same key, its value is stored again (a full report
    replaces only the driver's attributes, so it costs the host nothing else).
    """
    hostname = attribute_obj.hostname_of(context, uuid)
    with db_api.context_manager.writer.using(context):
        host_obj.lock(context, hostname)  # as a report does, before the inventory's rows
        attribute = attribute_obj.get_by_uuid(context, uuid)  # as the report left it
        if attribute.source == constants.AttributeSource.DRIVER:
            raise exception.AttributeOwnedByDriver(
                key=attribute.key, deployable=attribute.deployable_id
            )
        attribute_obj.delete(context, uuid)
        host_obj.forget_fingerprint(context, hostname)
