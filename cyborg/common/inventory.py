"""The inventory vocabulary shared by drivers, agent, conductor and database code.

Drivers build these reports; the agent sends them; the conductor stores them in
upstream Cyborg's model (see cyborg.drivers.base for the mapping).
"""

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

# Scheduler-facing attribute keys a driver fills in when the hardware tells them.
ATTR_MEMORY_MB = "memory_mb"
ATTR_NUMA_NODE = "numa_node"
ATTR_PCIE_LINK = "pcie_link"  # e.g. "16GT/s x16"
ATTR_PEAK_TFLOPS_FP16 = "peak_tflops_fp16"
ATTR_PEAK_TFLOPS_FP32 = "peak_tflops_fp32"
ATTR_MEMORY_BANDWIDTH_GBPS = "memory_bandwidth_gbps"
# JSON list of {"links": 12, "peer": <pci address>, "type": "nvlink"}, sorted by peer
ATTR_PEER_LINKS = "peer_links"
ATTR_PCIE_ROOT = "pcie_root"  # the root complex above the device: "pci0000:3a"
ATTR_PRODUCT_ID = "product_id"
ATTR_FUNCTION_ID = "function_id"  # FPGA accelerator function loaded
ATTR_HEALTH = "health"  # HEALTHY (also when absent), UNHEALTHY or FATAL
ATTR_HEALTH_REASON = "health_reason"  # why not healthy, e.g. "XID 79: GPU fell off the bus"
ATTR_DRIVER_VERSION = "driver_version"  # the kernel driver's or firmware's version
ATTR_UUID = "device_uuid"  # the vendor's device uuid (nvidia-smi's GPU-...)
ATTR_PRODUCT_NAME = "product_name"  # the marketing name, e.g. "NVIDIA H200"
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"  # stop placing work on it; what runs there may go on
FATAL = "fatal"  # what runs there is lost too (a GPU off the bus, uncorrectable ECC)


def is_healthy(attributes: Mapping[str, str]) -> bool:
    """Whether a deployable's attributes say it may take work (no health: healthy)."""
    return attributes.get(ATTR_HEALTH, HEALTHY).lower() == HEALTHY


def nvlink_peers(value: str | None) -> frozenset[str]:
    """The PCI addresses an ATTR_PEER_LINKS value names as NVLink peers (lower case);
    empty for no value or one that does not parse."""
    try:
        links = json.loads(value) if value else []
    except ValueError:
        return frozenset()
    if not isinstance(links, list):
        return frozenset()
    return frozenset(
        str(link["peer"]).lower()
        for link in links
        if isinstance(link, dict) and link.get("type", "nvlink") == "nvlink" and "peer" in link
    )


def pci_address_info(address: str) -> dict[str, str]:
    """'0000:3b:00.1' -> {"domain": "0000", "bus": "3b", "device": "00", "function": "1"}."""
    domain, bus, rest = address.lower().split(":")
    device, function = rest.split(".")
    return {"domain": domain, "bus": bus, "device": device, "function": function}


def canonical_json(value: Mapping[str, Any]) -> str:
    """Sorted-key JSON, upstream's identity format for control paths and handles."""
    return json.dumps(dict(value), sort_keys=True)


@dataclasses.dataclass(frozen=True)
class AttachHandleReport:
    attach_type: str  # constants.AttachType: PCI, MDEV, TEST_PCI, NVMF, VHOST_USER
    # canonical_json of the PCI address (+ asked_type/vgpu_mark for MDEV), or of an SPDK
    # target's connect parameters (NVMF, VHOST_USER: cyborg.drivers.spdk)
    attach_info: str


@dataclasses.dataclass(frozen=True)
class DeployableReport:
    name: str  # also the Placement provider name: unique on its host
    num_accelerators: int
    resource_class: str  # PGPU, VGPU, FPGA, CUSTOM_...
    driver_name: str
    traits: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()  # extra facts (ATTR_* keys), sorted
    attach_handles: tuple[AttachHandleReport, ...] = ()


@dataclasses.dataclass(frozen=True)
class DeviceReport:
    type: str  # constants.DeviceType
    vendor: str  # PCI vendor id as upstream reports it, e.g. "10de"
    model: str
    controlpath: str  # canonical_json(pci_address_info(PF address)): identity on the host
    std_board_info: str = "{}"  # canonical JSON
    vendor_board_info: str = "{}"
    deployables: tuple[DeployableReport, ...] = ()


def fingerprint(devices: list[DeviceReport]) -> str:
    """A digest of a whole host inventory, independent of discovery order."""
    import hashlib

    canonical = sorted(json.dumps(dataclasses.asdict(d), sort_keys=True) for d in devices)
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()


def to_primitive(devices: list[DeviceReport]) -> list[dict[str, Any]]:
    """Reports as plain dicts, to cross RPC."""
    return [dataclasses.asdict(d) for d in devices]


def from_primitive(devices: list[dict[str, Any]]) -> list[DeviceReport]:
    reports = []
    for device in devices:
        deployables = tuple(
            DeployableReport(
                **{
                    **d,
                    "traits": tuple(d.get("traits", ())),
                    "attributes": tuple(tuple(pair) for pair in d.get("attributes", ())),
                    "attach_handles": tuple(
                        AttachHandleReport(**h) for h in d.get("attach_handles", ())
                    ),
                }
            )
            for d in device.get("deployables", ())
        )
        reports.append(DeviceReport(**{**device, "deployables": deployables}))
    return reports
