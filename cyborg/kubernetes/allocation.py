"""What Allocate tells the kubelet to give a container: device nodes, environment, CDI.

Pure: the device nodes are looked up by the caller (cyborg.kubernetes.device_nodes).

Environment, for a container given ``cyborg.openstack.org/gpu`` devices:

* ``PCIDEVICE_CYBORG_OPENSTACK_ORG_GPU``: their PCI addresses, comma-separated (the
  variable the SR-IOV network device plugin names the same way);
* ``CYBORG_NUMA_NODES``: the NUMA nodes they are on, comma-separated, when known.
"""

import dataclasses
import re
from collections.abc import Mapping, Sequence

from cyborg.kubernetes.devices import PluginDevice


class UnknownDevice(LookupError):
    """The kubelet asked for a device this plugin does not (or no longer) offer."""


class UnhealthyDevice(ValueError):
    """The kubelet asked for a device this plugin reports Unhealthy."""


@dataclasses.dataclass(frozen=True)
class ContainerAllocation:
    envs: dict[str, str]
    device_nodes: tuple[str, ...]  # host path = container path, permissions "rw"
    cdi_devices: tuple[str, ...]  # fully qualified CDI names


def env_name(resource_name: str) -> str:
    return "PCIDEVICE_" + re.sub(r"[^A-Za-z0-9]", "_", resource_name).upper()


def cdi_name(resource_name: str, device_id: str) -> str:
    """``cyborg.openstack.org/gpu=0000:3b:00.0``: CDI kind ``<vendor>/<class>``, then name."""
    return f"{resource_name}={device_id}"


def container_allocation(
    device_ids: Sequence[str],
    devices: Mapping[str, PluginDevice],
    nodes: Mapping[str, Sequence[str]],
    resource_name: str,
    cdi: bool,
) -> ContainerAllocation:
    """Raises UnknownDevice or UnhealthyDevice; the kubelet then fails the container."""
    chosen = []
    for device_id in device_ids:
        device = devices.get(device_id)
        if device is None:
            raise UnknownDevice(f"{resource_name} has no device {device_id}")
        if not device.healthy:
            raise UnhealthyDevice(f"{resource_name} device {device_id} is unhealthy")
        chosen.append(device)
    envs = {env_name(resource_name): ",".join(d.id for d in chosen)}
    numa = sorted({d.numa_node for d in chosen if d.numa_node is not None})
    if numa:
        envs["CYBORG_NUMA_NODES"] = ",".join(str(n) for n in numa)
    paths = tuple(dict.fromkeys(path for d in chosen for path in nodes.get(d.id, ())))
    names = tuple(cdi_name(resource_name, d.id) for d in chosen) if cdi else ()
    return ContainerAllocation(envs=envs, device_nodes=paths, cdi_devices=names)
