"""What a driver reports, and the interface every driver implements.

A driver reads one kind of hardware from files and command outputs under a root
directory (``[agent] sysfs_root``, ``/`` in production), so tests run it on
recorded trees. ``discover()`` returns plain, hashable report dataclasses; the
agent sends them to the conductor, which stores them in upstream Cyborg's model:

=====================  =========================================================
DeviceReport           one ``devices`` row (+ its ``controlpath_ids`` row)
DeployableReport       one ``deployables`` row = one Placement resource provider;
                       ``resource_class`` becomes the ``rc`` attribute, ``traits``
                       the ``trait<N>`` attributes, ``attributes`` further rows
AttachHandleReport     one ``attach_handles`` row (a PCI function or MDEV slot)
=====================  =========================================================
"""

import abc
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from cyborg.common.inventory import (  # noqa: F401 - the drivers' vocabulary
    ATTR_DRIVER_VERSION,
    ATTR_FUNCTION_ID,
    ATTR_HEALTH,
    ATTR_HEALTH_REASON,
    ATTR_MEMORY_BANDWIDTH_GBPS,
    ATTR_MEMORY_MB,
    ATTR_NUMA_NODE,
    ATTR_PCIE_LINK,
    ATTR_PCIE_ROOT,
    ATTR_PEAK_TFLOPS_FP16,
    ATTR_PEAK_TFLOPS_FP32,
    ATTR_PEER_LINKS,
    ATTR_PRODUCT_ID,
    ATTR_PRODUCT_NAME,
    ATTR_UUID,
    AttachHandleReport,
    DeployableReport,
    DeviceReport,
    canonical_json,
    pci_address_info,
)


class Driver(abc.ABC):
    """A vendor driver: loaded by stevedore (namespace cyborg.accelerator.driver)."""

    #: The stevedore entry-point name, upstream's (e.g. "nvidia_gpu_driver").
    name: ClassVar[str]

    def __init__(self, conf: Any, root: str = "/", hostname: str = "localhost") -> None:
        self.conf = conf
        self.root = root
        self.hostname = hostname

    @abc.abstractmethod
    def discover(self) -> list[DeviceReport]:
        """Every device of this driver's kind on the host; [] when there is none."""


#: Runs a programming tool's argv within a timeout in seconds; its exit status and output
#: as cyborg.agent.privileged.run_programming_tool answers them.
ToolRunner = Callable[[list[str], int], dict[str, Any]]


class ProgrammableDriver(Driver):
    """An FPGA driver that can load a bitstream."""

    def tool_runner(self) -> ToolRunner | None:
        """What runs program_command's argv; None: the agent's privileged daemon (a
        simulated card runs its own simulated tool instead)."""
        return None

    @abc.abstractmethod
    def program_command(self, controlpath: Mapping[str, str], image_path: str) -> list[str]:
        """The argv (no shell) that programs ``image_path`` onto the device."""
