"""Xilinx (AMD) Alveo cards: PCI sysfs, plus what ``xbutil examine`` said if recorded.

An Alveo card shows two PCI functions in one slot (vendor 10ee, class 0x12
processing accelerator): the management PF, bound to ``xclmgmt``, and the user PF,
bound to ``xocl``. As upstream Cyborg does, the functions of a slot are one device
with one deployable ``<host>_<first address>`` (rc FPGA, one accelerator) and a PCI
attach handle per function. Traits: CUSTOM_FPGA_XILINX, CUSTOM_FPGA_PRODUCT_ID_<PID>
(the management PF's device id) and, when an xclbin is loaded,
CUSTOM_FPGA_FUNCTION_ID_XILINX_<xclbin uuid>.

XRT's ``xbutil examine -d <bdf> -r platform dynamicregions -f JSON -o <file>``
output, if saved at ``<root>/var/lib/cyborg/xbutil-examine.json`` (or the path given),
adds the shell name (the model), the card memory and the loaded xclbin. Its shape is
XRT's ``XBUtilities::produce_reports``: ``{"schema_version": ..., "devices":
[{"device_id": "<bdf>", "platforms": [{"static_region": {"vbnv", "logic_uuid", ...},
"off_chip_board_info": {"ddr_size_bytes", "ddr_count"}, ...}], "dynamic_regions":
[{"xclbin_uuid", "compute_units"}]}]}``, every value a string (boost property tree).
A list of such documents (one per card) is read too. A missing or broken file only
means less detail.

Programming is upstream's ``xbmgmt program --device <mgmt bdf> --base --image <file>``.

Health (cyborg.drivers.sysfs_health): a card whose management PF no kernel driver
holds (``xclmgmt`` normally) is unhealthy: it can be neither programmed nor watched.
The user PF may be unbound or on ``vfio-pci`` while an instance holds it.
"""

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from oslo_log import log

from cyborg.drivers import pci, sysfs_health
from cyborg.drivers.base import (
    ATTR_FUNCTION_ID,
    ATTR_MEMORY_MB,
    ATTR_NUMA_NODE,
    ATTR_PCIE_LINK,
    ATTR_PRODUCT_ID,
    AttachHandleReport,
    DeployableReport,
    DeviceReport,
    ProgrammableDriver,
    canonical_json,
    pci_address_info,
)
from cyborg.drivers.health import health_attributes

LOG = log.getLogger(__name__)

VENDOR_ID = "10ee"
PROCESSING_ACCELERATOR = "12"
MGMT_DRIVER = "xclmgmt"
DRIVER_NAME = "XILINX"
XBMGMT = "/opt/xilinx/xrt/bin/xbmgmt"  # XRT's install path, not on a service's PATH
EXAMINE_FILE = "var/lib/cyborg/xbutil-examine.json"
_UUID_RE = re.compile(r"^[0-9a-f]{32}$")
_HEX_RE = re.compile(r"^(?:0x)?[0-9a-fA-F]+$")


def _slot(address: str) -> str:
    """'0000:3b:00.1' -> '0000:3b:00'."""
    return address.lower().rsplit(".", 1)[0]


def _field(value: Any, *keys: str | int) -> Any:
    """``value[k0][k1]...``, or None when a key or index is missing on the way."""
    for key in keys:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and len(value) > key else None
        else:
            value = value.get(key) if isinstance(value, dict) else None
    return value


def _xclbin_uuid(text: Any) -> str | None:
    uuid = str(text or "").lower().replace("-", "")
    return uuid.upper() if _UUID_RE.match(uuid) and uuid.strip("0") else None


def parse_examine(document: Any) -> dict[str, dict[str, str]]:
    """Per PCI slot, the facts of an ``xbutil examine`` JSON document (or a list of them)."""
    documents = document if isinstance(document, list) else [document]
    facts: dict[str, dict[str, str]] = {}
    for doc in documents:
        devices = _field(doc, "devices")
        for device in devices if isinstance(devices, list) else []:
            bdf = _field(device, "device_id")
            if not isinstance(bdf, str) or not pci.is_pci_address(bdf.lower()):
                continue
            found = {
                "vbnv": _field(device, "platforms", 0, "static_region", "vbnv"),
                "ddr_size_bytes": _field(
                    device, "platforms", 0, "off_chip_board_info", "ddr_size_bytes"
                ),
                "xclbin_uuid": _xclbin_uuid(_field(device, "dynamic_regions", 0, "xclbin_uuid")),
            }
            facts[_slot(bdf)] = {k: str(v) for k, v in found.items() if v not in (None, "")}
    return facts


def _memory_mb(size_bytes: str | None) -> str | None:
    try:
        size = int(size_bytes or "", 0)
    except ValueError:
        return None
    return str(size // 2**20) if size > 0 else None


def _pci_handle(address: str) -> AttachHandleReport:
    return AttachHandleReport(
        attach_type="PCI", attach_info=canonical_json(pci_address_info(address))
    )


class XilinxFPGADriver(ProgrammableDriver):
    name = "xilinx_fpga_driver"

    def __init__(
        self,
        conf: Any,
        root: str = "/",
        hostname: str = "localhost",
        examine_path: str | None = None,
    ) -> None:
        super().__init__(conf, root=root, hostname=hostname)
        self.examine_path = examine_path or os.path.join(root, EXAMINE_FILE)

    def discover(self) -> list[DeviceReport]:
        slots: dict[str, list[pci.PCIFunction]] = {}
        for fn in pci.list_functions(self.root):
            if fn.vendor == VENDOR_ID and fn.base_class == PROCESSING_ACCELERATOR:
                slots.setdefault(_slot(fn.address), []).append(fn)
        if not slots:
            return []
        examined = self._examined()
        return [self._device(fns, examined.get(slot, {})) for slot, fns in sorted(slots.items())]

    def _examined(self) -> dict[str, dict[str, str]]:
        text = pci.read_text(self.examine_path)
        if text is None:
            return {}
        try:
            return parse_examine(json.loads(text))
        except ValueError as err:
            LOG.warning("Ignoring %s, not JSON: %s", self.examine_path, err)
            return {}

    def _device(self, functions: list[pci.PCIFunction], facts: Mapping[str, str]) -> DeviceReport:
        mgmt = next((fn for fn in functions if fn.driver == MGMT_DRIVER), functions[0])
        product_id = mgmt.device or "0000"
        xclbin = facts.get("xclbin_uuid")
        traits = ["CUSTOM_FPGA_XILINX", f"CUSTOM_FPGA_PRODUCT_ID_{product_id.upper()}"]
        if xclbin:
            traits.append(f"CUSTOM_FPGA_FUNCTION_ID_XILINX_{xclbin}")
        attributes = {
            ATTR_PRODUCT_ID: product_id,
            ATTR_NUMA_NODE: None if mgmt.numa_node is None else str(mgmt.numa_node),
            ATTR_PCIE_LINK: pci.pcie_link(mgmt),
            ATTR_MEMORY_MB: _memory_mb(facts.get("ddr_size_bytes")),
            ATTR_FUNCTION_ID: xclbin,
            **health_attributes(sysfs_health.binding_health(mgmt, MGMT_DRIVER)),
        }
        deployable = DeployableReport(
            name=f"{self.hostname}_{functions[0].address}",
            num_accelerators=1,
            resource_class="FPGA",
            driver_name=DRIVER_NAME,
            traits=tuple(traits),
            attributes=tuple(sorted((k, v) for k, v in attributes.items() if v is not None)),
            attach_handles=tuple(_pci_handle(fn.address) for fn in functions),
        )
        return DeviceReport(
            type="FPGA",
            vendor=VENDOR_ID,
            model=facts.get("vbnv") or f"Xilinx {product_id}",
            controlpath=canonical_json(pci_address_info(mgmt.address)),
            deployables=(deployable,),
        )

    def program_command(self, controlpath: Mapping[str, str], image_path: str) -> list[str]:
        """Flash ``image_path`` as the base (shell) through the management PF."""
        parts = []
        for key, width in (("domain", 4), ("bus", 2), ("device", 2), ("function", 1)):
            value = str(controlpath.get(key, ""))
            if not _HEX_RE.match(value):
                raise ValueError(f"control path has no valid {key!r}: {dict(controlpath)}")
            parts.append(f"{int(value, 16):0{width}x}")
        bdf = f"{parts[0]}:{parts[1]}:{parts[2]}.{parts[3]}"
        return [XBMGMT, "program", "--device", bdf, "--base", "--image", image_path]
