"""The agent's DRA kubelet plugins: one per DRA driver name the inventory has.

``update`` is a resource tracker listener: every successful discovery reaches the
plugins, so a device plugged in or removed, or one whose health changed, is what the
next NodePrepareResources and the health streams see. A plugin starts serving the
first time its driver has a device, and then stays (with no devices when they are
gone: claims prepared earlier can still be unprepared). A plugin whose socket went
missing serves again at the next discovery.
"""

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

from oslo_log import log

from cyborg.common import inventory
from cyborg.common.constants import DeviceType
from cyborg.kubernetes import dra_names
from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.dra import claims
from cyborg.kubernetes.dra.checkpoint import CheckpointCorrupt
from cyborg.kubernetes.dra.driver_devices import by_driver
from cyborg.kubernetes.dra.mig_partitions import MigPartitioner
from cyborg.kubernetes.dra.ownership import LocalOwner, OwnerFactory
from cyborg.kubernetes.dra.plugin import DRAOptions, DRAPlugin
from cyborg.kubernetes.fpga_bitstreams import PodProgrammer

LOG = log.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Settings:
    options: DRAOptions
    resource_domain: str = "cyborg.openstack.org"
    device_types: tuple[str, ...] = ("GPU", "FPGA", "SSD")

    @classmethod
    def from_conf(cls, conf: Any) -> "Settings":
        k8s = conf.kubernetes
        return cls(
            options=DRAOptions(
                pool=k8s.node_name or dra_names.default_node_name(),
                plugin_dir=k8s.dra_plugin_dir,
                registry_dir=k8s.plugins_registry_dir,
                checkpoint_dir=k8s.dra_checkpoint_dir,
                cdi_spec_dir=k8s.cdi_spec_dir,
                sysfs_root=conf.agent.sysfs_root,
            ),
            resource_domain=k8s.resource_domain,
            device_types=tuple(k8s.dra_device_types),
        )


class DRAPlugins:
    def __init__(
        self,
        settings: Settings,
        source: claims.ClaimSource | None = None,
        owner_factory: OwnerFactory = LocalOwner,
        programmer: PodProgrammer | None = None,
        partitioner: MigPartitioner | None = None,
    ) -> None:
        self.settings = settings
        # Makes MIG partitions' GPU instances ([kubernetes] mig_partitions); GPU plugin only.
        self.partitioner = partitioner
        self.gpu_driver = dra_names.driver_name(settings.resource_domain, DeviceType.GPU)
        # Programs FPGAs with the bitstreams claims name; the FPGA driver's plugin only.
        self.programmer = programmer
        self.fpga_driver = dra_names.driver_name(settings.resource_domain, DeviceType.FPGA)
        self.source: claims.ClaimSource = source or claims.NoClaimSource()
        self.owner_factory = owner_factory
        self.plugins: dict[str, DRAPlugin] = {}
        self._broken: set[str] = set()  # drivers whose checkpoint is unreadable
        self._lock = threading.Lock()
        self._stopped = False

    def update(self, reports: Sequence[inventory.DeviceReport]) -> None:
        found = by_driver(reports, self.settings.resource_domain, self.settings.device_types)
        with self._lock:
            if self._stopped:
                return
            for driver in sorted(set(found) | set(self.plugins)):
                try:
                    self._update(driver, found.get(driver, ()))
                except Exception:  # one driver's trouble (a socket it cannot make)
                    LOG.exception("%s: DRA plugin update failed; trying again at the "
                                  "next discovery", driver)  # fmt: skip

    def _update(self, driver: str, devices: Sequence[PluginDevice]) -> None:
        plugin = self.plugins.get(driver) or self._plugin(driver)
        if plugin is None:
            return
        plugin.update(devices)
        if not plugin.serving():
            plugin.serve()

    def _plugin(self, driver: str) -> DRAPlugin | None:
        try:
            programmer = self.programmer if driver == self.fpga_driver else None
            partitioner = self.partitioner if driver == self.gpu_driver else None
            plugin = DRAPlugin(driver, self.settings.options, self.source, self.owner_factory,
                               programmer, partitioner)  # fmt: skip
        except CheckpointCorrupt as err:
            if driver not in self._broken:  # one error per driver, not one per report
                LOG.error("%s: not serving DRA claims: %s (move it away to start afresh; "
                          "its claims' CDI specs stay in %s)", driver, err,
                          self.settings.options.cdi_spec_dir)  # fmt: skip
                self._broken.add(driver)
            return None
        self.plugins[driver] = plugin
        return plugin

    def start(self) -> None:
        with self._lock:
            self._stopped = False

    def stop(self) -> None:
        """Stop every plugin and remove its sockets (their checkpoints stay)."""
        with self._lock:
            self._stopped = True
            for plugin in self.plugins.values():
                plugin.stop()
