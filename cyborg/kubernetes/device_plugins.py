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
"""

import dataclasses
import os
import threading
from collections.abc import Sequence
from typing import Any

import grpc
from oslo_log import log

from cyborg.common import inventory
from cyborg.kubernetes import devices
from cyborg.kubernetes.device_plugin import KUBELET_SOCKET, DevicePlugin, PluginOptions

LOG = log.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Settings:
    options: PluginOptions
    resource_domain: str = "cyborg.openstack.org"
    device_types: tuple[str, ...] = ("GPU", "FPGA", "SSD")
    watch_interval: float = 1.0

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
        )


def _identity(path: str) -> tuple[int, int, int] | None:
    """Tells one kubelet.sock from the next (an inode number alone may be reused)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_ctime_ns


class DevicePlugins:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
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
                    plugin = self.plugins[name] = DevicePlugin(name, self.settings.options)
                plugin.update(found.get(name, ()))
        self._wake.set()

    def start(self) -> None:
        os.makedirs(self.settings.options.plugin_dir, exist_ok=True)
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="kubelet-watch", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._watcher is not None:
            self._watcher.join()
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
