"""The agent's RPC endpoint, on topic ``cyborg-agent`` as server ``<its hostname>``.

That name is the host identity its devices and Placement provider carry, so the
conductor reaches the agent of a device by the device's hostname (cyborg.agent.rpcapi).
"""

import functools
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import oslo_messaging
from oslo_config import cfg
from oslo_log import log

from cyborg.agent import programming, spdk_targets, vgpu
from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.common import context as cyborg_context
from cyborg.common import exception, inventory
from cyborg.common.context import RequestContext

LOG = log.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def _answers(func: Callable[P, R]) -> Callable[P, R]:
    """Our exceptions are answers sent to the caller, logged without a traceback here."""
    expected = oslo_messaging.expected_exceptions(exception.CyborgException)(func)
    return functools.wraps(func)(expected)


class AgentManager:
    """Version history:

    * 1.0 - get_inventory, report_now.
    * 1.1 - fpga_program (upstream's name and arguments).
    * 1.2 - create_vgpu_mdev, remove_vgpu_mdev (upstream's names and arguments).
    * 1.3 - create_spdk_target, remove_spdk_target.

    Keeps every method of older minor versions of its major version.
    """

    target = oslo_messaging.Target(version="1.3")

    def __init__(
        self,
        tracker: ResourceTracker,
        conf: cfg.ConfigOpts | None = None,
        programmer: programming.Programmer | None = None,
        mdevs: vgpu.Mdevs | None = None,
        spdk: spdk_targets.SPDKTargets | None = None,
    ) -> None:
        self.tracker = tracker
        self.programmer = programmer or programming.Programmer(
            conf if conf is not None else cfg.CONF, tracker.drivers, tracker.hostname
        )
        self.mdevs = mdevs or vgpu.Mdevs(tracker.hostname)
        self.spdk = spdk or spdk_targets.SPDKTargets(tracker.hostname, tracker.drivers)

    def get_inventory(self, context: RequestContext) -> list[dict[str, Any]]:
        """What the drivers see now (for operators and debugging)."""
        return inventory.to_primitive(self.tracker.discover() or [])

    def report_now(self, context: RequestContext) -> dict[str, Any] | None:
        """Discover and report at once instead of waiting for the next cycle."""
        return self.tracker.report(context)

    @_answers
    def fpga_program(
        self,
        context: RequestContext,
        controlpath_id: dict[str, Any],
        bitstream_uuid: str,
        driver_name: str | None = None,
    ) -> bool:
        """Program the FPGA at ``controlpath_id`` ({"cpid_type", "cpid_info"}) with a
        Glance image; True, or a CyborgException saying what failed.

        A new bitstream changes the device's traits (its function id), so the agent
        reports its inventory again right after, in the background.
        """
        done = self.programmer.program(context, controlpath_id, bitstream_uuid, driver_name)
        threading.Thread(
            target=self._report_quietly, name="report-after-program", daemon=True
        ).start()
        return done

    @_answers
    def create_vgpu_mdev(
        self, context: RequestContext, pci_addr: str, asked_type: str, ah_uuid: str
    ) -> None:
        """Create mdev ``ah_uuid`` of vGPU type ``asked_type`` on PCI function ``pci_addr``;
        one that exists already is left as it is."""
        self.mdevs.create(pci_addr, asked_type, ah_uuid)

    @_answers
    def remove_vgpu_mdev(
        self, context: RequestContext, pci_addr: str, asked_type: str, ah_uuid: str
    ) -> None:
        """Remove mdev ``ah_uuid``; one that is gone already is no error."""
        self.mdevs.remove(pci_addr, asked_type, ah_uuid)

    @_answers
    def create_spdk_target(
        self, context: RequestContext, attach_type: str, attach_info: str
    ) -> None:
        """Create the SPDK target of an NVMF / VHOST_USER handle; one that exists is
        left as it is."""
        self.spdk.create(attach_type, attach_info)

    @_answers
    def remove_spdk_target(
        self, context: RequestContext, attach_type: str, attach_info: str
    ) -> None:
        """Remove the SPDK target made for a handle; one that is gone is no error."""
        self.spdk.remove(attach_type, attach_info)

    def _report_quietly(self) -> None:
        try:
            self.tracker.report(cyborg_context.get_admin_context())
        except Exception:
            LOG.exception("Report after programming failed; the next cycle will retry")
