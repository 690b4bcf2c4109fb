"""The names Cyborg's DRA drivers publish: driver names, device names, attributes.

One DRA driver name per device kind, ``<kind>.<[kubernetes] resource_domain>``:
``gpu.cyborg.openstack.org``, ``fpga.cyborg.openstack.org``,
``nvme.cyborg.openstack.org`` (and ``aichip``, ``qat``, ``nic`` for those types). A
DeviceClass selects one driver; its devices' attributes live under the driver name,
so a CEL selector reads ``device.attributes["gpu.cyborg.openstack.org"].model``.
The ResourceSlices of one driver on one node form one pool, named after the node.

The slice builder, the DRA plugin, the claim generator and the guide's DeviceClasses
all take their names from here, so a selector never names an attribute nobody
publishes.
"""

import re
import socket

from cyborg.kubernetes.devices import KINDS

#: Standard attributes (KEP-4381 / KEP-5491), qualified by Kubernetes' own domain.
PCI_BUS_ID = "resource.kubernetes.io/pciBusID"  # "0000:3b:00.0"
PCIE_ROOT = "resource.kubernetes.io/pcieRoot"  # "pci0000:3a": devices under one root

#: Cyborg's attributes, unqualified: they are in the driver's domain.
VENDOR = "vendor"  # the PCI vendor id, "10de"
MODEL = "model"  # what the driver reports as the device's model
PRODUCT_NAME = "productName"  # the marketing name where the tool tells it
PRODUCT_ID = "productId"  # the PCI device id, "2335"
NUMA_NODE = "numaNode"  # int; absent on a single-node host
DRIVER_VERSION = "driverVersion"  # semver-shaped where it can be, else a string
UUID = "uuid"  # the vendor's device uuid (GPU-...)
FUNCTION_ID = "functionId"  # the accelerator function an FPGA has loaded
BITSTREAM_ID = "bitstreamId"  # the bitstream an FPGA was programmed with
DEPLOYABLE = "deployable"  # the Cyborg deployable (a Placement provider's name)
DEVICE_TYPE = "deviceType"  # GPU, FPGA, SSD, ... as Cyborg's API says
MIG_PROFILE = "migProfile"  # a MIG partition's GPU instance profile: "1g.10gb"
MIG_PROFILE_ID = "migProfileId"  # int: nvidia-smi's profile id (19)
MIG_START = "migPlacementStart"  # int: the first memory slice it takes

#: Capacity names.
MEMORY = "memory"  # a quantity: "80Gi"

#: Counters of a partitionable GPU (cyborg.kubernetes.mig_slices): one per memory
#: slice, so placements that overlap exclude each other, and the totals.
COUNTER_MEMORY_SLICE = "memory-slice-{}"
COUNTER_COMPUTE_SLICES = "compute-slices"
COUNTER_MEMORY = "memory"

#: The taint keys Cyborg puts on devices of its slices.
TAINT_UNHEALTHY = "cyborg.openstack.org/unhealthy"  # value: the reason, effect by severity
TAINT_VM_BOUND = "cyborg.openstack.org/bound-to-vm"  # a Nova instance holds it (NoSchedule)
TAINT_AGENT_STOPPED = "cyborg.openstack.org/agent-stopped"  # its agent stopped (NoSchedule)

_NOT_NAME = re.compile(r"[^a-z0-9-]+")


def driver_name(domain: str, device_type: str) -> str:
    """``gpu.cyborg.openstack.org`` for a GPU in domain ``cyborg.openstack.org``."""
    return f"{KINDS.get(device_type, device_type.lower())}.{domain}"


def device_name(pci_address: str) -> str:
    """A slice's device name (a DNS label) from a PCI address: 'pci-0000-3b-00-0'."""
    return "pci-" + _NOT_NAME.sub("-", pci_address.lower()).strip("-")


_MIG_DEVICE = re.compile(r"^(pci(?:-[0-9a-f]+){4})-mig-(\d+g-\d+gb)-(\d+)$")


def mig_device_name(gpu_device: str, profile_label: str, start: int) -> str:
    """A MIG partition's device name: 'pci-0000-3b-00-0-mig-1g-10gb-3'."""
    return f"{gpu_device}-mig-{profile_label}-{start}"


def parse_mig_device_name(name: str) -> tuple[str, str, int] | None:
    """(GPU device name, profile label, start) of a partition's name; None otherwise."""
    match = _MIG_DEVICE.match(name)
    return (match.group(1), match.group(2), int(match.group(3))) if match else None


def pcie_root(pci_address: str) -> str:
    """A pcieRoot guess from the address alone, 'pci0000:3a' for 0000:3a:00.0: right
    only where the function sits on a root bus. The slice builder takes the real
    root from sysfs (the /sys/devices/pci<domain>:<bus> its device path is under)
    and falls back to this."""
    domain, bus = pci_address.lower().split(":")[:2]
    return f"pci{domain}:{bus}"


def default_node_name() -> str:
    """The kubelet's default node name: the host name, lowercased. Slices and the DRA
    plugin both use it (or [kubernetes] node_name): the pool is the node's."""
    return socket.gethostname().lower()
