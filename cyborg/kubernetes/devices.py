"""Which kubelet devices the agent's inventory holds, per extended resource name.

One kubelet device is one PCI function the inventory lists as an attach handle (``PCI``
or ``TEST_PCI``): a whole GPU, an FPGA function or virtual function, an NVMe
controller. Mediated devices (``MDEV`` handles) are for VMs and are left out. The
device's ID is its PCI address, at most 12 characters and stable across restarts.
"""

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence

from cyborg.common import inventory
from cyborg.common.constants import AttachType, DeviceType

#: Device type -> the last part of its resource name (``<domain>/<kind>``).
KINDS: Mapping[str, str] = {
    DeviceType.GPU: "gpu",
    DeviceType.FPGA: "fpga",
    DeviceType.SSD: "nvme",
    DeviceType.AICHIP: "aichip",
    DeviceType.QAT: "qat",
    DeviceType.NIC: "nic",
}
_PCI_HANDLES = {AttachType.PCI.value, AttachType.TEST_PCI.value}


@dataclasses.dataclass(frozen=True)
class PluginDevice:
    """One device as the device plugin offers it to the kubelet."""

    id: str  # the PCI address, e.g. "0000:3b:00.0"
    resource_name: str  # e.g. "cyborg.openstack.org/gpu"
    device_type: str  # constants.DeviceType
    deployable: str  # the deployable (Placement provider) it belongs to
    healthy: bool = True
    numa_node: int | None = None
    nvlink_peers: frozenset[str] = frozenset()  # PCI addresses it has NVLink to


def resource_name(domain: str, device_type: str) -> str:
    return f"{domain}/{KINDS.get(device_type, device_type.lower())}"


def pci_address(attach_info: str) -> str:
    """The address in a handle's canonical JSON: '0000:3b:00.0'."""
    info = json.loads(attach_info)
    return f"{info['domain']}:{info['bus']}:{info['device']}.{info['function']}"


def _numa_node(value: str | None) -> int | None:
    try:
        node = int(value) if value is not None else -1
    except ValueError:
        return None
    return node if node >= 0 else None  # sysfs says -1 on single-node hosts


def _deployable_devices(
    device: inventory.DeviceReport, deployable: inventory.DeployableReport, name: str
) -> Iterable[PluginDevice]:
    attributes = dict(deployable.attributes)
    for handle in deployable.attach_handles:
        if handle.attach_type in _PCI_HANDLES:
            yield PluginDevice(
                id=pci_address(handle.attach_info),
                resource_name=name,
                device_type=device.type,
                deployable=deployable.name,
                healthy=inventory.is_healthy(attributes),
                numa_node=_numa_node(attributes.get(inventory.ATTR_NUMA_NODE)),
                nvlink_peers=inventory.nvlink_peers(attributes.get(inventory.ATTR_PEER_LINKS)),
            )


def by_resource(
    reports: Sequence[inventory.DeviceReport], domain: str, device_types: Iterable[str]
) -> dict[str, tuple[PluginDevice, ...]]:
    """{resource name: its devices, by ID} for the device types served; an ID seen twice
    keeps its first device."""
    served = {t.upper() for t in device_types}
    found: dict[str, dict[str, PluginDevice]] = {}
    for device in reports:
        if device.type not in served:
            continue
        name = resource_name(domain, device.type)
        devices = found.setdefault(name, {})
        for deployable in device.deployables:
            for plugin_device in _deployable_devices(device, deployable, name):
                devices.setdefault(plugin_device.id, plugin_device)
    return {name: tuple(sorted(d.values(), key=lambda d: d.id)) for name, d in found.items()}
