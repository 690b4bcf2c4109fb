"""NVMe SSDs handed to instances whole: device type SSD, resource class CUSTOM_SSD.

Every PCI function of class 0x010802 (NVM Express) that is not an SR-IOV VF is a
device, whichever driver holds it: a disk bound to vfio-pci for an instance has left
``/sys/class/nvme`` but must stay in the inventory. While the ``nvme`` driver holds
it, ``/sys/class/nvme/nvme<N>`` (``device`` links to the PCI function) gives the
``model``, ``serial`` and ``firmware_rev`` the kernel reads from Identify Controller;
otherwise the model is "NVMe <vendor>:<product>".

A disk the host itself uses is never offered: one with a namespace or partition in
``<root>/proc/mounts`` or ``<root>/proc/swaps``, or held by device-mapper or md
(``/sys/block/<disk>/holders/`` not empty). Upstream's Inspur driver offered any
disk of its vendor.

Health (cyborg.drivers.sysfs_health): the controller's ``state`` while the nvme
driver holds it ("live" is healthy; "resetting", "connecting" unhealthy; "dead",
"deleting" fatal), and a function bound to ``nvme`` without a controller in
``/sys/class/nvme`` (its probe failed) is unhealthy. A disk bound to ``vfio-pci``
or to no driver is an instance's or libvirt's, and not judged. The SMART
critical warning needs ``nvme smart-log``, which the agent does not run.

Traits: OWNER_CYBORG, ``CUSTOM_SSD_<VENDOR>`` (a name from VENDOR_NAMES, else the
vendor id) and ``CUSTOM_SSD_PRODUCT_ID_<PRODUCT ID>``, as upstream's Inspur driver.
"""

import dataclasses
import os
import re

from oslo_log import log

from cyborg.common.constants import DeviceType
from cyborg.drivers import pci, sysfs_health
from cyborg.drivers.base import (
    ATTR_NUMA_NODE,
    ATTR_PCIE_LINK,
    ATTR_PRODUCT_ID,
    DeployableReport,
    DeviceReport,
    Driver,
    canonical_json,
)
from cyborg.drivers.health import OK, Health, health_attributes, unhealthy

LOG = log.getLogger(__name__)

NVME_CLASS = "010802"
NVME_CLASS_DIR = "sys/class/nvme"
BLOCK_DIR = "sys/block"
RESOURCE_CLASS = "CUSTOM_SSD"
# PCI vendor ids of NVMe makers (the PCI-SIG list), as trait and driver names.
VENDOR_NAMES = {
    "025e": "SOLIDIGM",
    "1179": "TOSHIBA",
    "1344": "MICRON",
    "144d": "SAMSUNG",
    "15b7": "WDC",
    "19e5": "HUAWEI",
    "1bb1": "SEAGATE",
    "1bd4": "INSPUR",
    "1c5c": "SKHYNIX",
    "1c5f": "MEMBLAZE",
    "1e0f": "KIOXIA",
    "8086": "INTEL",
}


@dataclasses.dataclass(frozen=True)
class Controller:
    """What /sys/class/nvme/nvme<N> tells about a controller the nvme driver holds."""

    name: str  # "nvme0"
    address: str  # its PCI function
    model: str | None
    serial: str | None
    firmware_rev: str | None
    block_devices: tuple[str, ...]  # namespaces and partitions: "nvme0n1", "nvme0n1p2"
    held: bool  # a namespace or partition has holders (device-mapper, md)
    state: str | None = None  # "live", "resetting", "dead", ...


def _children(path: str, pattern: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(path) if re.fullmatch(pattern, n))
    except OSError:
        return []


def read_controller(root: str, name: str) -> Controller | None:
    path = os.path.join(root, NVME_CLASS_DIR, name)
    transport = pci.read_text(os.path.join(path, "transport"))
    address = (pci.link_name(os.path.join(path, "device")) or "").lower()
    if transport not in (None, "pcie") or not pci.is_pci_address(address):
        return None  # NVMe over fabrics: no PCI function to hand out
    block_devices, held = [], False
    for namespace in _children(path, r"nvme\d+(?:c\d+)?n\d+"):
        # With native multipath the controller lists nvme0c0n1; the disk is nvme0n1.
        disk = re.sub(r"c\d+(?=n\d+$)", "", namespace)
        disk_path = os.path.join(root, BLOCK_DIR, disk)
        partitions = _children(disk_path, rf"{disk}p\d+")
        block_devices += [disk, *partitions]
        for node in [disk_path, *(os.path.join(disk_path, p) for p in partitions)]:
            held = held or bool(_children(os.path.join(node, "holders"), r".+"))
    return Controller(
        name=name,
        address=address,
        model=pci.read_text(os.path.join(path, "model")) or None,
        serial=pci.read_text(os.path.join(path, "serial")) or None,
        firmware_rev=pci.read_text(os.path.join(path, "firmware_rev")) or None,
        block_devices=tuple(block_devices),
        held=held,
        state=pci.read_text(os.path.join(path, "state")),
    )


def list_controllers(root: str) -> dict[str, Controller]:
    """The PCIe controllers under /sys/class/nvme, by PCI address."""
    controllers = {}
    for name in _children(os.path.join(root, NVME_CLASS_DIR), r"nvme\d+"):
        controller = read_controller(root, name)
        if controller is not None:
            controllers[controller.address] = controller
    return controllers


def host_block_devices(root: str) -> set[str]:
    """Kernel names of the block devices in <root>/proc/mounts and <root>/proc/swaps."""
    names = set()
    for table in ("proc/mounts", "proc/swaps"):
        for line in (pci.read_text(os.path.join(root, table)) or "").splitlines():
            source = line.split(maxsplit=1)[0] if line.strip() else ""
            if source.startswith("/dev/"):
                names.add(os.path.basename(source))
    return names


def _health(function: pci.PCIFunction, controller: Controller | None) -> Health:
    if controller is not None:
        return sysfs_health.nvme_state_health(controller.state)
    if function.driver == "nvme":
        return unhealthy("bound to nvme without a controller in /sys/class/nvme")
    return OK


class NVMeSSDDriver(Driver):
    name = "nvme_ssd_driver"

    def discover(self) -> list[DeviceReport]:
        controllers = list_controllers(self.root)
        in_use = host_block_devices(self.root)
        reports = []
        for function in pci.list_functions(self.root):
            if function.class_code != NVME_CLASS or function.is_vf:
                continue
            controller = controllers.get(function.address)
            if controller and (controller.held or in_use & set(controller.block_devices)):
                LOG.info("NVMe %s is used by the host; not offered", function.address)
                continue
            reports.append(self._device(function, controller))
        return reports

    def _device(self, function: pci.PCIFunction, controller: Controller | None) -> DeviceReport:
        vendor = function.vendor or "0000"
        product_id = function.device or "0000"
        vendor_name = VENDOR_NAMES.get(vendor, pci.trait_part(vendor))
        facts = {
            ATTR_PRODUCT_ID: product_id,
            ATTR_NUMA_NODE: function.numa_node,
            ATTR_PCIE_LINK: pci.pcie_link(function),
            **health_attributes(_health(function, controller)),
        }
        board = {}
        if controller is not None:
            board = {"serial": controller.serial, "firmware_rev": controller.firmware_rev}
        return DeviceReport(
            type=DeviceType.SSD,
            vendor=vendor,
            model=(controller and controller.model) or f"NVMe {vendor}:{product_id}",
            controlpath=pci.controlpath(function.address),
            std_board_info=canonical_json(
                {"controller": "Non-Volatile memory controller", "product_id": product_id}
            ),
            vendor_board_info=canonical_json({k: v for k, v in board.items() if v}),
            deployables=(
                DeployableReport(
                    name=f"{self.hostname}_{function.address}",
                    num_accelerators=1,
                    resource_class=RESOURCE_CLASS,
                    driver_name=vendor_name,
                    traits=(
                        "OWNER_CYBORG",
                        f"CUSTOM_SSD_{vendor_name}",
                        f"CUSTOM_SSD_PRODUCT_ID_{pci.trait_part(product_id)}",
                    ),
                    attributes=pci.attributes(facts),
                    attach_handles=(pci.pci_handle(function.address),),
                ),
            ),
        )
