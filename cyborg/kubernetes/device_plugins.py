"""The agent's device plugins: one per resource name the inventory has, kept registered.

``update`` is the resource tracker's listener: it gets every successful discovery, so a
device plugged in or removed, or one whose health changed, reaches the kubelet's
ListAndWatch at the next report. A plugin starts the first time its resource name has
a device and then stays (with an empty list when the devices are gone).

A thread looks at kubelet.sock every ``[kubernetes] kubelet_watch_interval`` seconds.
A kubelet that restarts removes the plugins' sockets and makes a new kubelet.sock: a
plugin whose socket is gone serves again, and every plugin registers again when
kubelet.sock is not the one it registered with (or registration failed, e.g. no
kubelet yet).

With claims (a conductor to claim through), Allocate claims the devices in Placement,
and another thread reads the kubelet's PodResources every
``[kubernetes] pod_resources_interval`` seconds to release the devices no pod holds
any more (cyborg.kubernetes.device_plugin_claims); ``set_holders`` lists the devices
VMs hold as Unhealthy.
"""

import dataclasses
import os
import threading
from collections.abc import Sequence
from typing import Any

import grpc
from oslo_log import log

from cyborg.common import inventory
from cyborg.kubernetes import devices, pod_resources
from cyborg.kubernetes.device_plugin import KUBELET_SOCKET, DevicePlugin, PluginOptions
from cyborg.kubernetes.device_plugin_claims import PluginClaims

LOG = log.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Settings:
    options: PluginOptions
    resource_domain: str = "cyborg.openstack.org"
    device_types: tuple[str, ...] = ("GPU", "FPGA", "SSD")
    watch_interval: float = 1.0
    pod_resources_socket: str = "/var/lib/kubelet/pod-resources/kubelet.sock"
    pod_resources_interval: float = 10.0
    release_after: int = 3
    pod_resources_timeout: float = 10.0

    @classmethod
    def from_conf(cls, conf: Any) -> "Settings":
        k8s = conf.kubernetes
        return cls(
            options=PluginOptions(
                plugin_dir=k8s.device_plugin_dir,
                sysfs_root=conf.agent.sysfs_root,
                cdi=k8s.device_plugin_cdi,
                cdi_spec_dir=k8s.cdi_spec_dir,
            ),
            resource_domain=k8s.resource_domain,
            device_types=tuple(k8s.device_plugin_types),
            watch_interval=k8s.kubelet_watch_interval,
            pod_resources_socket=k8s.pod_resources_socket,
            pod_resources_interval=k8s.pod_resources_interval,
            release_after=k8s.device_plugin_release_after,
        )


def _identity(path: str) -> tuple[int, int, int] | None:
    """Tells one kubelet.sock from the next (an inode number alone may be reused)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_ctime_ns


class DevicePlugins:
    def __init__(self, settings: Settings, claims: PluginClaims | None = None) -> None:
        self.settings = settings
        self.claims = claims
        self._vm_held: frozenset[str] = frozenset()
        self._reconciler: threading.Thread | None = None
        self._pod_resources_failing = False
        self.kubelet_socket = os.path.join(settings.options.plugin_dir, KUBELET_SOCKET)
        self.plugins: dict[str, DevicePlugin] = {}
        self._registered: dict[str, tuple[int, int, int]] = {}  # resource -> kubelet.sock
        self._lock = threading.Lock()
        self._warned: dict[str, tuple[int, int, int]] = {}  # one warning per kubelet.sock
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by update(): a new plugin registers at once
        self._watcher: threading.Thread | None = None

    def update(self, reports: Sequence[inventory.DeviceReport]) -> None:
        found = devices.by_resource(
            reports, self.settings.resource_domain, self.settings.device_types
        )
        with self._lock:
            for name in sorted(set(found) | set(self.plugins)):
                plugin = self.plugins.get(name)
                if plugin is None:
                    plugin = DevicePlugin(name, self.settings.options, self.claims)
                    plugin.hold(self._vm_held)
                    self.plugins[name] = plugin
                plugin.update(found.get(name, ()))
        self._wake.set()

    def set_holders(self, holders: dict[str, str]) -> None:
        """The conductor's {deployable: "instance" or "pod"} of this host: what VMs
        hold is listed Unhealthy."""
        vm_held = frozenset(name for name, kind in holders.items() if kind == "instance")
        with self._lock:
            self._vm_held = vm_held
            for plugin in self.plugins.values():
                plugin.hold(vm_held)

    def reconcile(self) -> bool:
        """One read of PodResources handed to the claims; False when it is no
        observation: the kubelet did not answer, or listed no pod at all (a kubelet
        that restarted lists no pod until it has its pods from the API server, and
        releasing then would give running pods' devices to VMs; a node without
        pods keeps its last claims until a pod runs there again)."""
        if self.claims is None:
            return False
        try:
            found = pod_resources.listing(
                self.settings.pod_resources_socket, self.settings.pod_resources_timeout
            )
        except grpc.RpcError as err:
            if not self._pod_resources_failing:
                LOG.warning("Reading the kubelet's PodResources at %s failed (%s); devices "
                            "of ended pods stay claimed until it answers",
                            self.settings.pod_resources_socket, err.code())  # fmt: skip
            self._pod_resources_failing = True
            return False
        self._pod_resources_failing = False
        if found.pods == 0:
            LOG.debug("PodResources lists no pod: not taken as an observation")
            return False
        self.claims.observe(found.devices)
        return True

    def start(self) -> None:
        os.makedirs(self.settings.options.plugin_dir, exist_ok=True)
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="kubelet-watch", daemon=True)
        self._watcher.start()
        if self.claims is not None:
            self._reconciler = threading.Thread(
                target=self._reconcile_loop, name="pod-resources", daemon=True
            )
            self._reconciler.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._watcher is not None:
            self._watcher.join()
        if self._reconciler is not None:
            self._reconciler.join()
        with self._lock:
            for plugin in self.plugins.values():
                plugin.stop()
        self._registered.clear()

    def check(self) -> None:
        """One look: serve plugins whose socket is gone, register where needed."""
        kubelet = _identity(self.kubelet_socket)
        with self._lock:
            for name, plugin in self.plugins.items():
                if not plugin.serving():
                    plugin.serve()
                    self._registered.pop(name, None)
                if kubelet is None or self._registered.get(name) == kubelet:
                    continue
                try:
                    plugin.register()
                except grpc.RpcError as err:
                    if self._warned.get(name) != kubelet:
                        LOG.warning("%s: registering with the kubelet at %s failed (%s); "
                                    "trying again every %ss", name, self.kubelet_socket,
                                    err.code(), self.settings.watch_interval)  # fmt: skip
                        self._warned[name] = kubelet
                    continue
                self._registered[name] = kubelet

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:
                LOG.exception("Device plugin check failed; trying again")
            self._wake.wait(self.settings.watch_interval)
            self._wake.clear()

    def _reconcile_loop(self) -> None:
        while not self._stop.wait(self.settings.pod_resources_interval):
            try:
                self.reconcile()
            except Exception:
                LOG.exception("Reading PodResources failed; trying again")
