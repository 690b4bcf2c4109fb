"""Plan the changes that make a host's stored inventory match its agent's report.

Pure functions over plain data, so every rule is unit-testable. Identities are
upstream's: a device by its control path, a deployable by name within its device,
an attribute by key within its deployable, an attach handle by its address.
Only the driver's attributes are planned: those operators created through the API
are never changed or removed, even where the driver reports the same key.
Anything that holds an attach handle in use is never removed: it is kept and
reported as held back, so a vanished but bound device cannot disappear silently.
"""

from collections.abc import Iterable

from cyborg.common.constants import AttributeSource
from cyborg.common.inventory import DeployableReport, DeviceReport
from cyborg.objects.host_inventory import (
    Changes,
    StoredDeployable,
    StoredDevice,
    attribute_rows,
)


def plan(stored: dict[str, StoredDevice], reported: Iterable[DeviceReport]) -> Changes:
    changes = Changes()
    reported_by_path = {device.controlpath: device for device in reported}
    for path, device in reported_by_path.items():
        if path not in stored:
            changes.new_devices.append(device)
        else:
            _plan_device(stored[path], device, changes)
    for path, current in stored.items():
        if path in reported_by_path:
            continue
        if current.in_use:
            changes.held_back.append(f"device at {path} is gone but bound: kept")
        else:
            changes.removed_devices.append(current.id)
    return changes


def _plan_device(current: StoredDevice, device: DeviceReport, changes: Changes) -> None:
    fields = ("type", "vendor", "model", "std_board_info", "vendor_board_info")
    changed = {
        f: getattr(device, f) for f in fields if getattr(device, f) != getattr(current.report, f)
    }
    if changed:
        changes.device_updates.append((current.id, changed))
    wanted = {d.name: d for d in device.deployables}
    for name, deployable in wanted.items():
        if name not in current.deployables:
            changes.new_deployables.append((current.id, current.cpid_id, deployable))
        else:
            _plan_deployable(current.deployables[name], deployable, current.cpid_id, changes)
    for name, existing in current.deployables.items():
        if name in wanted:
            continue
        if existing.in_use:
            changes.held_back.append(f"deployable {name} is gone but bound: kept")
        else:
            changes.removed_deployables.append(existing.id)


def _plan_deployable(
    current: StoredDeployable, deployable: DeployableReport, cpid_id: int, changes: Changes
) -> None:
    updates: dict[str, object] = {}
    if deployable.num_accelerators != current.report.num_accelerators:
        updates["num_accelerators"] = deployable.num_accelerators
    if deployable.driver_name != current.report.driver_name:
        updates["driver_name"] = deployable.driver_name
    if updates:
        changes.deployable_updates.append((current.id, updates))

    old_rows, new_rows = attribute_rows(current.report), attribute_rows(deployable)
    for key, value in new_rows.items():
        if key in current.operator_keys:
            continue  # the operator's value stands until they delete it
        if key in current.unknown_attributes:
            attribute_id, stored_value = current.unknown_attributes[key]
            changes.attribute_owners.append((attribute_id, AttributeSource.DRIVER))
            if stored_value != value:
                changes.attribute_updates.append((attribute_id, value))
        elif key not in current.attribute_ids:
            changes.new_attributes.append((current.id, key, value))
        elif old_rows.get(key) != value:
            changes.attribute_updates.append((current.attribute_ids[key], value))
    changes.removed_attributes += [
        attribute_id for key, attribute_id in current.attribute_ids.items() if key not in new_rows
    ]
    changes.attribute_owners += [
        (attribute_id, AttributeSource.OPERATOR)
        for key, (attribute_id, _) in current.unknown_attributes.items()
        if key not in new_rows
    ]

    wanted = {h.attach_info: h for h in deployable.attach_handles}
    for info, handle in wanted.items():
        if info not in current.handle_ids:
            changes.new_handles.append((current.id, cpid_id, handle.attach_type, info))
    for info, handle_id in current.handle_ids.items():
        if info in wanted:
            continue
        if info in current.handles_in_use:
            changes.held_back.append(f"attach handle {info} of {deployable.name} is bound: kept")
        else:
            changes.removed_handles.append(handle_id)
