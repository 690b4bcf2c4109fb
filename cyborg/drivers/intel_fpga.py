"""Intel PAC FPGA cards, read from the sysfs of the kernel's FPGA drivers.

A card is its physical function (vendor 8086, a PF id of ``dfl-pci``: 0x09c4 PAC
Arria 10 GX, 0x0b2b PAC D5005, 0x0b30 PAC N3000). The PF holds the FPGA Management
Engine (FME), which owns the partial-reconfiguration region; each port (one AFU,
one accelerator) stays on the PF or is released to an SR-IOV VF. Both kernel
layouts are read, under each PCI function's own directory (``/sys/class/fpga_region``
and ``/sys/class/fpga`` link to these same directories):

* DFL (in-tree, Documentation/fpga/dfl.rst):
  ``fpga_region/regionX/dfl-fme.N/dfl-fme-region.M/fpga_region/regionY/compat_id``
  (the PR interface id) and ``fpga_region/regionX/dfl-port.N/afu_id``;
* OPAE's out-of-tree intel-fpga driver (upstream Cyborg's):
  ``fpga/intel-fpga-dev.N/intel-fpga-fme.N/pr/interface_id`` and
  ``fpga/intel-fpga-dev.N/intel-fpga-port.N/afu_id``.

Each id is 32 hex digits and a newline (``"%016llx%016llx\\n"``).

Report, upstream's: one device and one deployable ``<host>_<PF address>`` per PF, rc
FPGA; with VFs, ``num_accelerators`` = number of VFs and one PCI attach handle per
VF; without, 1 and the PF itself. Traits CUSTOM_FPGA_INTEL, CUSTOM_FPGA_INTEL_<MODEL>,
CUSTOM_FPGA_REGION_INTEL_<interface id>, CUSTOM_FPGA_FUNCTION_ID_INTEL_<afu id> per
distinct AFU. Programming is OPAE's ``fpgaconf`` on the PF (``.gbs`` files).

Health (cyborg.drivers.sysfs_health): the FME's error registers on the PF, the AFU
errors of every port (on the PF or its VFs), and a PF no kernel driver holds.
"""

import glob
import os
import re
from collections.abc import Iterable, Mapping

from cyborg.drivers import pci, sysfs_health
from cyborg.drivers.base import (
    ATTR_FUNCTION_ID,
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
from cyborg.drivers.health import Health, health_attributes, worst

VENDOR_ID = "8086"
# PF device id -> (trait suffix, model). VFs (09c5, 0b2c, 0b31) are found through their PF.
MODELS = {
    "09c4": ("PAC_ARRIA10", "Intel PAC Arria 10 GX"),
    "0b2b": ("PAC_D5005", "Intel PAC D5005"),
    "0b30": ("PAC_N3000", "Intel PAC N3000"),
}
DRIVER_NAME = "intel"
FPGACONF = "fpgaconf"

REGION_ID_GLOBS = (
    "fpga_region/region*/dfl-fme.*/dfl-fme-region.*/fpga_region/region*/compat_id",
    "fpga/intel-fpga-dev.*/intel-fpga-fme.*/pr/interface_id",
)
AFU_ID_GLOBS = (
    "fpga_region/region*/dfl-port.*/afu_id",
    "fpga/intel-fpga-dev.*/intel-fpga-port.*/afu_id",
)
_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_HEX_RE = re.compile(r"^(?:0x)?[0-9a-fA-F]+$")


def read_ids(function_dir: str, patterns: Iterable[str]) -> list[str]:
    """The distinct 128-bit ids in the files matching ``patterns``, upper-case hex.

    Files that cannot be read or hold anything but 32 hex digits (a UUID's dashes
    allowed) are skipped.
    """
    ids = set()
    for pattern in patterns:
        for path in glob.glob(os.path.join(glob.escape(function_dir), pattern)):
            text = (pci.read_text(path) or "").lower().replace("-", "")
            if _ID_RE.match(text):
                ids.add(text.upper())
    return sorted(ids)


def pci_handle(address: str) -> AttachHandleReport:
    return AttachHandleReport(
        attach_type="PCI", attach_info=canonical_json(pci_address_info(address))
    )


def _hex_field(controlpath: Mapping[str, str], key: str) -> str:
    value = str(controlpath.get(key, ""))
    if not _HEX_RE.match(value):
        raise ValueError(f"control path has no valid {key!r}: {dict(controlpath)}")
    return value.lower().removeprefix("0x")


class IntelFPGADriver(ProgrammableDriver):
    name = "intel_fpga_driver"

    def discover(self) -> list[DeviceReport]:
        functions = {fn.address: fn for fn in pci.list_functions(self.root)}
        return [
            self._device(fn, [functions[a] for a in fn.virtfns if a in functions])
            for fn in functions.values()
            if fn.vendor == VENDOR_ID and fn.device in MODELS and not fn.is_vf
        ]

    def _device(self, pf: pci.PCIFunction, vfs: list[pci.PCIFunction]) -> DeviceReport:
        product_id = pf.device or ""
        model_trait, model = MODELS[product_id]
        pf_dir = pci.function_dir(self.root, pf.address)
        regions = read_ids(pf_dir, REGION_ID_GLOBS)
        afus = sorted(
            {
                afu
                for fn in [pf, *vfs]
                for afu in read_ids(pci.function_dir(self.root, fn.address), AFU_ID_GLOBS)
            }
        )
        traits = [
            "CUSTOM_FPGA_INTEL",
            f"CUSTOM_FPGA_INTEL_{model_trait}",
            *(f"CUSTOM_FPGA_REGION_INTEL_{r}" for r in regions),
            *(f"CUSTOM_FPGA_FUNCTION_ID_INTEL_{a}" for a in afus),
        ]
        attributes = {
            ATTR_PRODUCT_ID: product_id,
            ATTR_NUMA_NODE: None if pf.numa_node is None else str(pf.numa_node),
            ATTR_PCIE_LINK: pci.pcie_link(pf),
            ATTR_FUNCTION_ID: afus[0] if len(afus) == 1 else None,  # ambiguous when mixed
            **health_attributes(self._health(pf, vfs, pf_dir)),
        }
        handles = [pci_handle(vf.address) for vf in vfs] or [pci_handle(pf.address)]
        deployable = DeployableReport(
            name=f"{self.hostname}_{pf.address}",
            num_accelerators=len(handles),
            resource_class="FPGA",
            driver_name=DRIVER_NAME,
            traits=tuple(traits),
            attributes=tuple(sorted((k, v) for k, v in attributes.items() if v is not None)),
            attach_handles=tuple(handles),
        )
        return DeviceReport(
            type="FPGA",
            vendor=VENDOR_ID,
            model=model,
            controlpath=canonical_json(pci_address_info(pf.address)),
            deployables=(deployable,),
        )

    def _health(self, pf: pci.PCIFunction, vfs: list[pci.PCIFunction], pf_dir: str) -> Health:
        return worst(
            sysfs_health.binding_health(pf, "dfl-pci or intel-fpga-pci"),
            sysfs_health.fme_health(pf_dir),
            *(
                sysfs_health.port_health(pci.function_dir(self.root, fn.address))
                for fn in [pf, *vfs]
            ),
        )

    def program_command(self, controlpath: Mapping[str, str], image_path: str) -> list[str]:
        """``fpgaconf`` on the PF named by the control path (``pci_address_info``)."""
        domain = _hex_field(controlpath, "domain")
        bus = _hex_field(controlpath, "bus")
        device = _hex_field(controlpath, "device")
        function = _hex_field(controlpath, "function")
        argv = [FPGACONF]
        if int(domain, 16):
            argv += ["--segment", f"0x{int(domain, 16):04x}"]
        argv += [
            "--bus",
            f"0x{int(bus, 16):02x}",
            "--device",
            f"0x{int(device, 16):02x}",
            "--function",
            f"0x{int(function, 16):x}",
            image_path,
        ]
        return argv
