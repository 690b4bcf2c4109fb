"""Reading PCI functions from a sysfs tree, for every PCI-based driver.

The tree lives under a root directory (``/`` in production, a recorded tree in
tests): ``<root>/sys/bus/pci/devices/<dddd:bb:dd.f>``. In real sysfs those entries
are symlinks into ``/sys/devices``; recorded trees may hold plain directories
instead, and both work. Inside a function's directory the kernel writes:

=====================  ==============================================================
``vendor``/``device``  ``0x10de\\n`` / ``0x20b0\\n``
``class``              ``0x030200\\n`` (base class, subclass, programming interface)
``numa_node``          ``0\\n``; ``-1\\n`` when the platform has no NUMA information
``current_link_*``     ``16.0 GT/s PCIe\\n`` (older kernels: ``8 GT/s``) and ``16\\n``
``driver``             symlink to ``.../drivers/<name>``; absent when unbound
``physfn``             on a VF: symlink to its PF, ``../0000:3b:00.0``
``virtfnN``            on a PF: symlinks to its VFs, ``../0000:3b:00.4``
``sriov_*vfs``         ``sriov_totalvfs``/``sriov_numvfs`` on SR-IOV capable PFs
``iommu_group``        symlink to ``.../kernel/iommu_groups/<n>``
=====================  ==============================================================

Nothing here raises on a missing optional file or a value the kernel would not
write: the field is ``None`` (or empty) instead.
"""

import dataclasses
import os
import re
from collections.abc import Mapping

from cyborg.common.constants import AttachType
from cyborg.drivers.base import AttachHandleReport, canonical_json, pci_address_info

DEVICES_DIR = "sys/bus/pci/devices"

_ADDRESS_RE = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_HEX_ID_RE = re.compile(r"^(?:0x)?([0-9a-f]{1,4})$")
_CLASS_RE = re.compile(r"^(?:0x)?([0-9a-f]{6})$")
_SPEED_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*GT/s")
_VIRTFN_RE = re.compile(r"^virtfn(\d+)$")
_ROOT_COMPLEX_RE = re.compile(r"^pci[0-9a-f]{4}:[0-9a-f]{2}$")


@dataclasses.dataclass(frozen=True)
class PCIFunction:
    address: str  # "0000:3b:00.0", lower case
    vendor: str | None  # "10de": 4 lower-case hex digits, no 0x
    device: str | None  # product id, same format: "20b0"
    class_code: str | None  # "030200": 6 lower-case hex digits, no 0x
    numa_node: int | None = None
    link_speed: str | None = None  # as sysfs writes it: "16.0 GT/s PCIe"
    link_width: str | None = None  # "16"
    driver: str | None = None  # "nvidia", "vfio-pci", ...
    physfn: str | None = None  # the PF's address when this function is an SR-IOV VF
    virtfns: tuple[str, ...] = ()  # the VFs' addresses, in virtfnN order
    sriov_totalvfs: int | None = None
    sriov_numvfs: int | None = None
    iommu_group: str | None = None

    @property
    def is_vf(self) -> bool:
        return self.physfn is not None

    @property
    def base_class(self) -> str | None:
        """The class code's first byte: "03" display, "12" processing accelerator..."""
        return self.class_code[:2] if self.class_code else None


def is_pci_address(text: str) -> bool:
    return bool(_ADDRESS_RE.match(text))


def read_text(path: str) -> str | None:
    """A sysfs attribute without its trailing newline; None if it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def read_int(path: str) -> int | None:
    text = read_text(path)
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        return None


def link_name(path: str) -> str | None:
    """The last component of a symlink's target ("nvidia" for ``driver``)."""
    try:
        target = os.readlink(path)
    except OSError:
        return None
    return os.path.basename(os.path.normpath(target)) or None


def _hex_id(text: str | None) -> str | None:
    match = _HEX_ID_RE.match((text or "").lower())
    return match.group(1).zfill(4) if match else None


def _class_code(text: str | None) -> str | None:
    match = _CLASS_RE.match((text or "").lower())
    return match.group(1) if match else None


def _numa_node(path: str) -> int | None:
    value = read_int(path)
    return value if value is not None and value >= 0 else None


def _virtfns(function_dir: str) -> tuple[str, ...]:
    try:
        names = os.listdir(function_dir)
    except OSError:
        return ()
    numbered = []
    for name in names:
        match = _VIRTFN_RE.match(name)
        if match:
            target = link_name(os.path.join(function_dir, name))
            if target and is_pci_address(target.lower()):
                numbered.append((int(match.group(1)), target.lower()))
    return tuple(address for _, address in sorted(numbered))


def function_dir(root: str, address: str) -> str:
    return os.path.join(root, DEVICES_DIR, address)


def read_function(root: str, address: str) -> PCIFunction | None:
    """The function at ``address`` under ``root``; None if sysfs has no such function."""
    path = function_dir(root, address)
    address = address.lower()
    if not is_pci_address(address) or not os.path.isdir(path):
        return None
    physfn = (link_name(os.path.join(path, "physfn")) or "").lower()
    return PCIFunction(
        address=address,
        vendor=_hex_id(read_text(os.path.join(path, "vendor"))),
        device=_hex_id(read_text(os.path.join(path, "device"))),
        class_code=_class_code(read_text(os.path.join(path, "class"))),
        numa_node=_numa_node(os.path.join(path, "numa_node")),
        link_speed=read_text(os.path.join(path, "current_link_speed")) or None,
        link_width=read_text(os.path.join(path, "current_link_width")) or None,
        driver=link_name(os.path.join(path, "driver")),
        physfn=physfn if is_pci_address(physfn) else None,
        virtfns=_virtfns(path),
        sriov_totalvfs=read_int(os.path.join(path, "sriov_totalvfs")),
        sriov_numvfs=read_int(os.path.join(path, "sriov_numvfs")),
        iommu_group=link_name(os.path.join(path, "iommu_group")),
    )


def list_functions(root: str) -> list[PCIFunction]:
    """Every PCI function under ``root``, sorted by address; [] without a PCI tree."""
    try:
        names = os.listdir(os.path.join(root, DEVICES_DIR))
    except OSError:
        return []
    functions = [read_function(root, name) for name in names]
    return sorted((f for f in functions if f is not None), key=lambda f: f.address)


def pcie_link(function: PCIFunction) -> str | None:
    """The negotiated link as "16GT/s x16" (ATTR_PCIE_LINK); None when unknown."""
    match = _SPEED_RE.match(function.link_speed or "")
    if not match:
        return None
    speed = match.group(1)
    if "." in speed:
        speed = speed.rstrip("0").rstrip(".")
    width = (function.link_width or "").strip()
    if width.isdigit() and int(width) > 0:
        return f"{speed}GT/s x{int(width)}"
    return f"{speed}GT/s"


def pcie_root(root: str, address: str) -> str | None:
    """The root complex above ``address`` (ATTR_PCIE_ROOT), "pci0000:3a": the
    ``pci<domain>:<bus>`` directory its sysfs entry resolves into, whatever switches
    lie between. None for a recorded tree of plain directories (no ancestry)."""
    link = function_dir(root, address)
    if not os.path.islink(link):
        return None
    for part in os.path.realpath(link).split(os.sep):
        if _ROOT_COMPLEX_RE.match(part):
            return part
    return None


# Report helpers shared by the PCI-based drivers.


def pci_handle(address: str, physical_network: str | None = None) -> AttachHandleReport:
    """The attach handle that passes the whole function through (attach type PCI).

    A NIC's handle also names its ``physical_network``: Nova puts it in the port's
    binding profile (with the PCI slot) when it attaches the ARQ to a Neutron port.
    """
    info: dict[str, str] = dict(pci_address_info(address))
    if physical_network:
        info["physical_network"] = physical_network
    return AttachHandleReport(AttachType.PCI, canonical_json(info))


def controlpath(address: str) -> str:
    """DeviceReport.controlpath of the device whose (physical) function is ``address``."""
    return canonical_json(pci_address_info(address))


def attributes(values: Mapping[str, object | None]) -> tuple[tuple[str, str], ...]:
    """DeployableReport.attributes: sorted (key, str(value)) pairs, None values left out."""
    return tuple(sorted((key, str(value)) for key, value in values.items() if value is not None))


def trait_part(text: str) -> str:
    """Upper case, with every character a trait may not hold (not A-Z0-9_) as "_"."""
    return re.sub(r"[^A-Z0-9_]", "_", text.upper())
