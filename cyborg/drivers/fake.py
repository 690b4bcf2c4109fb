"""A simulated host, for development, the all-in-one service and tests.

By default the host holds what upstream Cyborg's fake driver reports, one FPGA
board (deployable ``<host>_FakeDevice``, 16 ``FPGA`` accelerators behind 16
``TEST_PCI`` handles, trait ``CUSTOM_FAKE_DEVICE``), and two whole GPUs
(``<host>_FakeGPU<n>``, resource class ``PGPU``). Names use the host name with every
character outside ``[A-Za-z0-9_-]`` replaced by ``_``, as upstream does.
``[fake_driver] inventory_file`` describes another host (see
cyborg.drivers.fake_inventory); tests may also pass their own ``inventory``.
"""

import re
from collections.abc import Sequence
from typing import Any

from cyborg.common.constants import AttachType, DeviceType
from cyborg.drivers import fake_inventory
from cyborg.drivers.base import (
    ATTR_MEMORY_MB,
    ATTR_NUMA_NODE,
    ATTR_PRODUCT_ID,
    AttachHandleReport,
    DeployableReport,
    DeviceReport,
    Driver,
    canonical_json,
    pci_address_info,
)

VENDOR = "0xABCD"  # upstream's fake vendor id
DRIVER_NAME = "fake"
FPGA_ACCELERATORS = 16
FPGA_ADDRESS = "0000:0c:00.0"
GPU_ADDRESSES = ("0000:0d:00.0", "0000:0e:00.0")
GPU_MEMORY_MB = 16384


def safe_name(hostname: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", hostname)


def _test_pci(address: str) -> AttachHandleReport:
    return AttachHandleReport(AttachType.TEST_PCI, canonical_json(pci_address_info(address)))


def fake_fpga(hostname: str) -> DeviceReport:
    # One TEST_PCI handle per accelerator: functions 0-7 of slots 00 and 01 of bus 0c.
    handles = tuple(
        _test_pci(f"0000:0c:{slot:02x}.{function}") for slot in (0, 1) for function in range(8)
    )
    return DeviceReport(
        type=DeviceType.FPGA,
        vendor=VENDOR,
        model="FakeDevice",
        controlpath=canonical_json(pci_address_info(FPGA_ADDRESS)),
        std_board_info=canonical_json({"class": "Fake class", "device_id": "0xabcd"}),
        deployables=(
            DeployableReport(
                name=f"{safe_name(hostname)}_FakeDevice",
                num_accelerators=FPGA_ACCELERATORS,
                resource_class="FPGA",
                driver_name=DRIVER_NAME,
                traits=("CUSTOM_FAKE_DEVICE",),
                attach_handles=handles,
            ),
        ),
    )


def fake_gpu(hostname: str, index: int) -> DeviceReport:
    address = GPU_ADDRESSES[index]
    attributes = {ATTR_MEMORY_MB: str(GPU_MEMORY_MB), ATTR_NUMA_NODE: str(index)}
    attributes[ATTR_PRODUCT_ID] = "abcd"
    return DeviceReport(
        type=DeviceType.GPU,
        vendor=VENDOR,
        model="FakeGPU",
        controlpath=canonical_json(pci_address_info(address)),
        deployables=(
            DeployableReport(
                name=f"{safe_name(hostname)}_FakeGPU{index}",
                num_accelerators=1,
                resource_class="PGPU",
                driver_name=DRIVER_NAME,
                traits=("OWNER_CYBORG", "CUSTOM_FAKE_GPU"),
                attributes=tuple(sorted(attributes.items())),
                attach_handles=(_test_pci(address),),
            ),
        ),
    )


def default_inventory(hostname: str) -> list[DeviceReport]:
    return [fake_fpga(hostname), *(fake_gpu(hostname, i) for i in range(len(GPU_ADDRESSES)))]


class FakeDriver(Driver):
    name = "fake_driver"

    def __init__(
        self,
        conf: Any,
        root: str = "/",
        hostname: str = "localhost",
        inventory: Sequence[DeviceReport] | None = None,
    ) -> None:
        super().__init__(conf, root, hostname)
        self.inventory = list(inventory) if inventory is not None else None

    def discover(self) -> list[DeviceReport]:
        if self.inventory is not None:
            return list(self.inventory)
        path = _inventory_file(self.conf)
        if path:
            return fake_inventory.load(path, safe_name(self.hostname))
        return default_inventory(self.hostname)


def _inventory_file(conf: Any) -> str | None:
    group = getattr(conf, "fake_driver", None) if conf is not None else None
    return getattr(group, "inventory_file", None)
