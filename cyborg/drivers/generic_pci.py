"""Any PCI function the operator lists in ``[pci] passthrough_whitelist``.

Each entry is one JSON device spec in Nova's ``[pci] device_spec`` format (an object,
or a list of objects). A function matches a spec when every key given matches:

* ``vendor_id``, ``product_id``: hex ids, or "*" for any;
* ``address``: a string ``[[domain:]bus:]slot[.function]`` where a missing or "*"
  field matches anything (``"*:0a:00.*"``, ``"0000:0a:00.1"``), or an object of
  ``domain``, ``bus``, ``slot``, ``function`` regular expressions, each matched against
  the whole field ("0000", "0a", "00", "1");
* ``devname``: a network interface of the function (``<function>/net/<devname>``).

``physical_network`` is kept: a matching function's PCI attach handle carries it, as
Nova needs for a NIC attached to a Neutron port. Other keys (``trusted``, ...) are
Nova's tags and ignored. An
entry that is not valid JSON or has an unusable value is logged and skipped.

Each matching function is its own device with one deployable: resource class
CUSTOM_PCI, traits OWNER_CYBORG, ``CUSTOM_PCI_<VENDOR>`` (for the vendors in
VENDOR_NAMES, as upstream) and ``CUSTOM_PCI_PRODUCT_ID_<PRODUCT ID>``, one PCI handle.
The device type comes from the PCI class (upstream called everything GPU, bug #5):
0x03 display -> GPU, 0x0108 NVM Express -> SSD, 0x02 network -> NIC, 0x0b40
co-processor (Intel QAT's class) -> QAT, 0x12 processing accelerator -> FPGA for the
FPGA vendors (Xilinx, Intel/Altera PSG, Inspur), else AICHIP. Any other class has no
Cyborg type: it is reported as GPU, upstream's type for every device.
"""

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from oslo_log import log

from cyborg.common.constants import DeviceType
from cyborg.drivers import pci
from cyborg.drivers.base import (
    ATTR_NUMA_NODE,
    ATTR_PCIE_LINK,
    ATTR_PRODUCT_ID,
    DeployableReport,
    DeviceReport,
    Driver,
    canonical_json,
    pci_address_info,
)

LOG = log.getLogger(__name__)

RESOURCE_CLASS = "CUSTOM_PCI"
# Upstream's map: only these vendors get a CUSTOM_PCI_<VENDOR> trait.
VENDOR_NAMES = {
    "10de": "NVIDIA",
    "102b": "MATROX",
    "8086": "INTEL",
    "1bd4": "INSPUR",
    "10ee": "XILINX",
    "19e5": "HUAWEI",
}
FPGA_VENDORS = {"10ee", "1172", "1bd4", "8086"}  # Xilinx, Altera, Inspur, Intel PSG
ADDRESS_FIELDS = ("domain", "bus", "slot", "function")


def device_type(function: pci.PCIFunction) -> DeviceType:
    code = function.class_code or ""
    if code.startswith("03"):
        return DeviceType.GPU
    if code.startswith("0108"):
        return DeviceType.SSD
    if code.startswith("02"):
        return DeviceType.NIC
    if code.startswith("0b40"):
        return DeviceType.QAT
    if code.startswith("12"):
        return DeviceType.FPGA if function.vendor in FPGA_VENDORS else DeviceType.AICHIP
    return DeviceType.GPU


class InvalidSpec(ValueError):
    pass


def _hex_id(value: Any) -> str | None:
    """A spec's vendor_id/product_id as 4 lower-case hex digits; None for "*"."""
    text = str(value).strip().lower()
    if text == "*":
        return None
    if not re.fullmatch(r"(0x)?[0-9a-f]{1,4}", text):
        raise InvalidSpec(f"not a PCI id: {value!r}")
    return text.removeprefix("0x").zfill(4)


def _address_matcher(value: Any) -> dict[str, re.Pattern[str]]:
    """Nova's two address forms as one regular expression per address field."""
    if isinstance(value, Mapping):
        unknown = set(value) - set(ADDRESS_FIELDS)
        if unknown:
            raise InvalidSpec(f"unknown address keys {sorted(unknown)}")
        try:
            return {f: re.compile(str(value.get(f, ".*")), re.I) for f in ADDRESS_FIELDS}
        except re.error as err:
            raise InvalidSpec(f"bad address regex: {err}") from err
    if not isinstance(value, str):
        raise InvalidSpec(f"address must be a string or an object: {value!r}")
    head, _, function = value.partition(".")
    parts = head.split(":")
    if len(parts) > 3:
        raise InvalidSpec(f"bad address {value!r}")
    fields = dict(zip(ADDRESS_FIELDS[3 - len(parts) : 3], parts, strict=True))
    fields["function"] = function
    matcher = {}
    for name in ADDRESS_FIELDS:
        text = fields.get(name, "").strip().lower()
        if text in ("", "*"):
            matcher[name] = re.compile(".*")
        elif re.fullmatch(r"[0-9a-f]+", text):
            width = {"domain": 4, "bus": 2, "slot": 2, "function": 1}[name]
            matcher[name] = re.compile(re.escape(f"{int(text, 16):0{width}x}"))
        else:
            raise InvalidSpec(f"bad {name} {text!r} in address {value!r}")
    return matcher


class DeviceSpec:
    """One parsed whitelist entry."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.vendor = _hex_id(spec["vendor_id"]) if "vendor_id" in spec else None
        self.product = _hex_id(spec["product_id"]) if "product_id" in spec else None
        self.address = _address_matcher(spec["address"]) if "address" in spec else None
        self.devname = str(spec["devname"]) if "devname" in spec else None
        physnet = spec.get("physical_network")
        self.physical_network = str(physnet) if physnet else None
        if self.address is not None and self.devname is not None:
            raise InvalidSpec("address and devname cannot be combined")

    def matches(self, root: str, function: pci.PCIFunction) -> bool:
        if self.vendor is not None and function.vendor != self.vendor:
            return False
        if self.product is not None and function.device != self.product:
            return False
        if self.address is not None:
            info = pci_address_info(function.address)
            info["slot"] = info.pop("device")
            if not all(self.address[f].fullmatch(info[f]) for f in ADDRESS_FIELDS):
                return False
        if self.devname is not None:
            net = os.path.join(pci.function_dir(root, function.address), "net")
            return os.path.isdir(os.path.join(net, self.devname))
        return True


def parse_whitelist(entries: list[str]) -> list[DeviceSpec]:
    specs = []
    for entry in entries:
        try:
            value = json.loads(entry)
            for spec in value if isinstance(value, list) else [value]:
                if not isinstance(spec, Mapping):
                    raise InvalidSpec(f"not an object: {spec!r}")
                specs.append(DeviceSpec(spec))
        except ValueError as err:  # json.JSONDecodeError and InvalidSpec too
            LOG.warning("Ignoring [pci] passthrough_whitelist entry %r: %s", entry, err)
    return specs


class GenericPCIDriver(Driver):
    name = "pci_driver"

    def discover(self) -> list[DeviceReport]:
        specs = parse_whitelist(list(self.conf.pci.passthrough_whitelist))
        if not specs:
            return []
        devices = []
        for function in pci.list_functions(self.root):
            matching = [spec for spec in specs if spec.matches(self.root, function)]
            if matching:  # the first matching spec tags the function, as in Nova
                devices.append(self._device(function, matching[0].physical_network))
        return devices

    def _device(
        self, function: pci.PCIFunction, physical_network: str | None = None
    ) -> DeviceReport:
        vendor = function.vendor or "0000"
        product_id = function.device or "0000"
        vendor_name = VENDOR_NAMES.get(vendor)
        traits = ["OWNER_CYBORG"]
        if vendor_name:
            traits.append(f"CUSTOM_PCI_{vendor_name}")
        traits.append(f"CUSTOM_PCI_PRODUCT_ID_{pci.trait_part(product_id)}")
        facts = {
            ATTR_PRODUCT_ID: product_id,
            ATTR_NUMA_NODE: function.numa_node,
            ATTR_PCIE_LINK: pci.pcie_link(function),
        }
        return DeviceReport(
            type=device_type(function),
            vendor=vendor,
            model=f"{vendor_name} {product_id}" if vendor_name else f"{vendor}:{product_id}",
            controlpath=pci.controlpath(function.address),
            std_board_info=canonical_json(
                {"class": function.class_code or "", "product_id": product_id}
            ),
            deployables=(
                DeployableReport(
                    name=f"{self.hostname}_{function.address}",
                    num_accelerators=1,
                    resource_class=RESOURCE_CLASS,
                    driver_name=vendor_name or vendor.upper(),
                    traits=tuple(traits),
                    attributes=pci.attributes(facts),
                    attach_handles=(pci.pci_handle(function.address, physical_network),),
                ),
            ),
        )
