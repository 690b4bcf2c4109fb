"""Run every driver and report the host's inventory to the conductor.

The conductor is sent the devices only when their fingerprint differs from the last
one it acknowledged, so an unchanged host costs a small message and no database
write. When a driver fails, nothing is reported that cycle: a partial inventory
would make the conductor remove that driver's devices.
"""

import threading
from collections.abc import Callable, Sequence
from typing import Any

from oslo_log import log

from cyborg.common import inventory
from cyborg.common.context import RequestContext
from cyborg.drivers.base import Driver

LOG = log.getLogger(__name__)


class ResourceTracker:
    def __init__(
        self,
        hostname: str,
        drivers: Sequence[Driver],
        conductor: Any,
        before_discovery: Callable[[], None] | None = None,
    ) -> None:
        self.hostname = hostname
        self.drivers = list(drivers)
        self.conductor = conductor
        self.before_discovery = before_discovery  # e.g. refresh the vendor tools' output
        self.acknowledged: str | None = None  # fingerprint the conductor last stored
        # Called with every successful discovery (e.g. the kubelet device plugins).
        self.listeners: list[Callable[[list[inventory.DeviceReport]], None]] = []
        self._lock = threading.Lock()

    def discover(self) -> list[inventory.DeviceReport] | None:
        """Every driver's devices, or None when one failed (then report nothing)."""
        if self.before_discovery is not None:
            self.before_discovery()
        devices: list[inventory.DeviceReport] = []
        for driver in self.drivers:
            try:
                devices += driver.discover()
            except Exception:
                LOG.exception("Driver %s failed; not reporting this cycle", driver.name)
                return None
        for listener in self.listeners:
            try:
                listener(devices)
            except Exception:  # a listener's failure must not stop the report
                LOG.exception("Inventory listener %r failed", listener)
        return devices

    def report(self, context: RequestContext) -> dict[str, Any] | None:
        """Discover and report once; returns the conductor's answer (None: skipped)."""
        with self._lock:  # the periodic loop and an RPC-triggered report never overlap
            devices = self.discover()
            if devices is None:
                return None
            fingerprint = inventory.fingerprint(devices)
            answer: dict[str, Any] = {"need_inventory": True}
            if fingerprint == self.acknowledged:
                answer = self.conductor.report_inventory(
                    context, hostname=self.hostname, fingerprint=fingerprint, devices=None
                )
            if answer.get("need_inventory"):
                answer = self.conductor.report_inventory(
                    context,
                    hostname=self.hostname,
                    fingerprint=fingerprint,
                    devices=inventory.to_primitive(devices),
                )
            self.acknowledged = answer.get("fingerprint", self.acknowledged)
            if answer.get("changed"):
                LOG.info(
                    "Reported %d devices of %s (inventory changed)", len(devices), self.hostname
                )
            return answer
