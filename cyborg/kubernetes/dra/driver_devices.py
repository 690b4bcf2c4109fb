"""One DRA driver's devices on this node, as the latest discovery found them, and their health.

The resource tracker's listener hands every discovery to the plugins; each plugin
keeps its driver's devices by DRA device name (``pci-0000-3b-00-0``, the name the
slices publish) and, per device, its health and since when. A device that was there
and is gone stays known as ``UNKNOWN``: a pod may still hold it, and the kubelet
should see it is no longer watched. A change bumps ``version`` and wakes the health
streams waiting on ``changed``.
"""

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from cyborg.common import inventory
from cyborg.kubernetes import devices as plugin_devices
from cyborg.kubernetes import dra_names
from cyborg.kubernetes.devices import PluginDevice

HEALTHY = "HEALTHY"
UNHEALTHY = "UNHEALTHY"
UNKNOWN = "UNKNOWN"


def by_driver(
    reports: Sequence[inventory.DeviceReport], domain: str, device_types: Iterable[str]
) -> dict[str, tuple[PluginDevice, ...]]:
    """{DRA driver name: its devices} for the device types served (the device plugin's
    reading of the inventory, cyborg.kubernetes.devices, under DRA's names)."""
    found: dict[str, tuple[PluginDevice, ...]] = {}
    for devices in plugin_devices.by_resource(reports, domain, device_types).values():
        if devices:
            found[dra_names.driver_name(domain, devices[0].device_type)] = devices
    return found


@dataclasses.dataclass(frozen=True)
class Health:
    status: str  # HEALTHY, UNHEALTHY or UNKNOWN
    since: int  # Unix seconds of the last change


class DriverDevices:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.changed = threading.Condition()
        self.version = 0
        self._clock = clock
        self._by_name: dict[str, PluginDevice] = {}
        self._nodes: dict[str, tuple[str, ...]] = {}
        self._health: dict[str, Health] = {}

    def replace(self, devices: Sequence[PluginDevice], nodes: Mapping[str, Sequence[str]]) -> bool:
        """Take this discovery's devices (``nodes`` by PCI address); whether anything changed."""
        by_name = {dra_names.device_name(d.id): d for d in devices}
        node_map = {address: tuple(paths) for address, paths in nodes.items()}
        with self.changed:
            health = self._next_health(by_name)
            if (by_name, node_map, health) == (self._by_name, self._nodes, self._health):
                return False
            self._by_name, self._nodes, self._health = by_name, node_map, health
            self.version += 1
            self.changed.notify_all()
            return True

    def _next_health(self, by_name: Mapping[str, PluginDevice]) -> dict[str, Health]:
        now = int(self._clock())
        statuses = {name: HEALTHY if d.healthy else UNHEALTHY for name, d in by_name.items()}
        statuses.update({name: UNKNOWN for name in self._health if name not in by_name})
        health = {}
        for name, status in sorted(statuses.items()):
            old = self._health.get(name)
            health[name] = old if old is not None and old.status == status else Health(status, now)
        return health

    def get(self, device_name: str) -> PluginDevice | None:
        with self.changed:
            return self._by_name.get(device_name)

    def nodes(self, pci_address: str) -> tuple[str, ...]:
        with self.changed:
            return self._nodes.get(pci_address, ())

    def health(self) -> tuple[int, dict[str, Health]]:
        """The version and every known device's health, by device name."""
        with self.changed:
            return self.version, dict(self._health)

    def wake(self) -> None:
        with self.changed:
            self.changed.notify_all()
