"""The devices of a ResourceSlice, from the agent's inventory: names, attributes, taints.

One slice device per PCI function the inventory lists as an attach handle (as the
device plugin counts them, cyborg.kubernetes.devices): a whole GPU, an FPGA function,
an NVMe controller. Its ``resource.kubernetes.io/pcieRoot`` is the driver's
``pcie_root`` where it reports one, else read from sysfs here. Its attributes are the
facts the drivers report (see
cyborg.kubernetes.dra_names for their names); values Kubernetes would refuse (a
string over 64 characters, a version that is not semver) are shortened or sent as
strings, never dropped silently into an invalid object.

Health and holders become device taints: an unhealthy device carries
``TAINT_UNHEALTHY`` (NoSchedule; NoExecute when fatal), one a Nova instance holds
carries ``TAINT_VM_BOUND`` (NoSchedule). Where the cluster does not honour device
taints (the DRADeviceTaints feature gate is alpha and off by default in 1.34 and
1.35), ``taints=False`` leaves such devices out of the slice instead.

With ``mig_partitions``, a GPU that reports its MIG geometry is published whole and
cut, with the counter sets that keep the two apart (cyborg.kubernetes.mig_slices).
"""

import dataclasses
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cyborg.common import inventory
from cyborg.common.constants import AttachType, DeviceType
from cyborg.kubernetes import dra_names, mig_slices
from cyborg.kubernetes.devices import KINDS, pci_address

#: The inventory key an FPGA driver would put its loaded bitstream under (none does yet).
ATTR_BITSTREAM_ID = "bitstream_id"
#: What a holder of a deployable is called in ``holders``.
HELD_BY_INSTANCE = "instance"
HELD_BY_POD = "pod"

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"
STRING_MAX = 64  # a string or version attribute value
LABEL_VALUE_MAX = 63  # a taint value is a label value

_PCI_HANDLES = {AttachType.PCI.value, AttachType.TEST_PCI.value}
_PCIE_ROOT = re.compile(r"^pci[0-9a-f]{4}:[0-9a-f]{2}$")
# semver.org 2.0.0, as the API server checks a version attribute.
_NUMBER = r"(?:0|[1-9]\d*)"
_IDENT = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(
    rf"^{_NUMBER}\.{_NUMBER}\.{_NUMBER}(?:-{_IDENT}(?:\.{_IDENT})*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_NOT_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")
_BINARY_SUFFIXES = ("Mi", "Gi", "Ti", "Pi", "Ei")


@dataclasses.dataclass(frozen=True)
class DeviceOptions:
    domain: str = "cyborg.openstack.org"  # [kubernetes] resource_domain
    sysfs_root: str = "/"  # [agent] sysfs_root: where the pcieRoot is read
    taints: bool = True  # False: leave devices that would be tainted out
    mig_partitions: bool = False  # MIG-capable GPUs whole and cut, with shared counters


@dataclasses.dataclass
class PoolContent:
    """A pool's devices and the counter sets some of them consume."""

    devices: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    counter_sets: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def _string(value: str) -> dict[str, str]:
    return {"string": value[:STRING_MAX]}


def version_attribute(value: str) -> dict[str, str]:
    """A driver version as a ``version`` where it is semver ("550.54.15"), else a
    string ("535.104.05" has a leading zero, which semver forbids)."""
    if len(value) <= STRING_MAX and _SEMVER.match(value):
        return {"version": value}
    return _string(value)


def memory_quantity(megabytes: int) -> str:
    """The canonical Quantity of ``megabytes`` MiB, as the API server writes it back:
    the largest binary suffix that keeps the number whole (16384 -> "16Gi")."""
    value, suffix = megabytes, 0
    while value and value % 1024 == 0 and suffix < len(_BINARY_SUFFIXES) - 1:
        value, suffix = value // 1024, suffix + 1
    return f"{value}{_BINARY_SUFFIXES[suffix]}" if value else "0"


def label_value(text: str) -> str:
    """``text`` as a valid label value (a taint value): runs of other characters as
    "_", at most 63 characters, starting and ending alphanumeric."""
    value = _NOT_LABEL_VALUE.sub("_", text)[:LABEL_VALUE_MAX]
    return value.strip("_.-")


def pcie_root(sysfs_root: str, address: str) -> str:
    """The PCIe root complex above ``address``: the ``pci<domain>:<bus>`` component
    of its /sys/devices path, else the guess from the address alone."""
    link = os.path.join(sysfs_root, "sys/bus/pci/devices", address)
    if os.path.islink(link):
        for part in os.path.realpath(link).split(os.sep):
            if _PCIE_ROOT.match(part):
                return part
    return dra_names.pcie_root(address)


def _root_of(facts: Mapping[str, str], sysfs_root: str, address: str) -> str:
    """The driver's ATTR_PCIE_ROOT where it reported one (read where the device is),
    else this node's sysfs (a VF shares its PF's root)."""
    reported = facts.get(inventory.ATTR_PCIE_ROOT, "")
    return reported if _PCIE_ROOT.match(reported) else pcie_root(sysfs_root, address)


def _vendor(vendor: str) -> str:
    return vendor.lower().removeprefix("0x")


def _numa_node(value: str | None) -> int | None:
    try:
        node = int(value) if value is not None else -1
    except ValueError:
        return None
    return node if node >= 0 else None


def _memory_mb(value: str | None) -> int | None:
    try:
        megabytes = int(value) if value is not None else None
    except ValueError:
        return None
    return megabytes if megabytes is not None and megabytes > 0 else None


def _attributes(
    device: inventory.DeviceReport, deployable: inventory.DeployableReport, address: str,
    facts: Mapping[str, str], options: DeviceOptions,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    attributes: dict[str, dict[str, Any]] = {
        dra_names.PCI_BUS_ID: _string(address),
        dra_names.PCIE_ROOT: _string(_root_of(facts, options.sysfs_root, address)),
        dra_names.VENDOR: _string(_vendor(device.vendor)),
        dra_names.MODEL: _string(device.model),
        dra_names.DEVICE_TYPE: _string(device.type),
        dra_names.DEPLOYABLE: _string(deployable.name),
    }
    strings = {
        dra_names.PRODUCT_NAME: inventory.ATTR_PRODUCT_NAME,
        dra_names.PRODUCT_ID: inventory.ATTR_PRODUCT_ID,
        dra_names.UUID: inventory.ATTR_UUID,
    }
    if device.type == DeviceType.FPGA:
        strings[dra_names.FUNCTION_ID] = inventory.ATTR_FUNCTION_ID
        strings[dra_names.BITSTREAM_ID] = ATTR_BITSTREAM_ID
    for name, key in strings.items():
        if facts.get(key):
            attributes[name] = _string(facts[key])
    numa_node = _numa_node(facts.get(inventory.ATTR_NUMA_NODE))
    if numa_node is not None:
        attributes[dra_names.NUMA_NODE] = {"int": numa_node}
    if facts.get(inventory.ATTR_DRIVER_VERSION):
        attributes[dra_names.DRIVER_VERSION] = version_attribute(
            facts[inventory.ATTR_DRIVER_VERSION]
        )
    return attributes


def taints(facts: Mapping[str, str], holder: str | None) -> list[dict[str, str]]:
    """The taints a device with these inventory facts and this holder carries."""
    found = []
    if not inventory.is_healthy(facts):
        health = facts.get(inventory.ATTR_HEALTH, "").lower()
        reason = label_value(facts.get(inventory.ATTR_HEALTH_REASON) or health)
        effect = NO_EXECUTE if health == inventory.FATAL else NO_SCHEDULE
        found.append({"key": dra_names.TAINT_UNHEALTHY, "value": reason, "effect": effect})
    if holder == HELD_BY_INSTANCE:
        found.append({"key": dra_names.TAINT_VM_BOUND, "effect": NO_SCHEDULE})
    return found


def _devices_of(
    device: inventory.DeviceReport,
    options: DeviceOptions,
    holders: Mapping[str, str],
    counter_sets: list[dict[str, Any]],
) -> Iterator[dict[str, Any]]:
    """The slice devices of one inventory device; the counter sets they consume are
    appended to ``counter_sets``."""
    for deployable in device.deployables:
        facts = dict(deployable.attributes)
        device_taints = taints(facts, holders.get(deployable.name))
        if device_taints and not options.taints:
            continue
        memory = _memory_mb(facts.get(inventory.ATTR_MEMORY_MB))
        for handle in deployable.attach_handles:
            if handle.attach_type not in _PCI_HANDLES:
                continue  # an mdev or a MIG instance is no PCI function of its own
            address = pci_address(handle.attach_info)
            published: dict[str, Any] = {
                "name": dra_names.device_name(address),
                "attributes": _attributes(device, deployable, address, facts, options),
            }
            if memory is not None:
                published["capacity"] = {dra_names.MEMORY: {"value": memory_quantity(memory)}}
            if device_taints:
                published["taints"] = [dict(t) for t in device_taints]
            layout = mig_slices.layout_of(facts) if options.mig_partitions else None
            if layout is None or device.type != DeviceType.GPU:
                yield published
                continue
            total = memory_quantity(memory) if memory is not None else None
            counter_sets.append(mig_slices.counter_set(published["name"], layout, total))
            yield from mig_slices.partitioned(published, layout, total, memory_quantity)


def pools(
    reports: Sequence[inventory.DeviceReport],
    options: DeviceOptions,
    holders: Mapping[str, str] | None = None,
) -> dict[str, PoolContent]:
    """{DRA driver name: its devices, sorted by name, and counter sets}; a device seen
    twice keeps the first. Only the device types with a kind (devices.KINDS)."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    sets: dict[str, dict[str, dict[str, Any]]] = {}
    for device in reports:
        if device.type not in KINDS:
            continue
        driver = dra_names.driver_name(options.domain, device.type)
        devices = found.setdefault(driver, {})
        counter_sets: list[dict[str, Any]] = []
        for published in _devices_of(device, options, holders or {}, counter_sets):
            devices.setdefault(published["name"], published)
        for counter_set in counter_sets:
            sets.setdefault(driver, {}).setdefault(counter_set["name"], counter_set)
    return {
        driver: PoolContent(
            [devices[name] for name in sorted(devices)],
            [s for _, s in sorted(sets.get(driver, {}).items())],
        )
        for driver, devices in found.items()
        if devices
    }


def by_driver(
    reports: Sequence[inventory.DeviceReport],
    options: DeviceOptions,
    holders: Mapping[str, str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """{DRA driver name: its devices, sorted by name} (see ``pools``)."""
    return {driver: pool.devices for driver, pool in pools(reports, options, holders).items()}
