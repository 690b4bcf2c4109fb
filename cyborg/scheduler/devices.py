"""Candidate devices and the interconnect between them.

Units: memory in MiB (as Placement's ``MEMORY_MB``), bandwidths in gigabytes per second
(10**9 B/s), peaks in TFLOPS (10**12 FLOP/s), latencies in microseconds.

Transfers between two devices fall in one link class (see :func:`link_between`):

``same``        one device: free.
``peer``        a declared peer link (NVLink, xGMI, an FPGA serial link): its bandwidth.
``pcie``        same host and NUMA node: through the PCIe root, the slower card's PCIe.
``numa``        same host, different NUMA nodes: also crosses the socket interconnect.
``network``     different hosts: through both hosts' NICs.

Each class names the resources it occupies, one per link direction since PCIe, socket
links, NICs and peer links are full duplex: the sender's PCIe uplink and the receiver's
downlink, the socket link in that direction, the sending host's NIC out and the
receiving host's NIC in, or the peer link in that direction. The estimates and the
simulator share them, so that two transfers on one resource add up instead of
overlapping.

Communication mode: a transfer either overlaps compute (the device hands it to a copy
engine or a DMA engine and keeps computing) or *blocks* an endpoint, which then neither
computes nor moves other tensors while it lasts (a device whose driver copies with its
compute units, a host without GPUDirect that stages through its CPU). Each device says
how its own transfers go (``Device.transfers``, by default its catalog model's); a link
(a peer link, or the ``pcie``/``numa``/``network`` class of the interconnect) may set
the mode for both of its ends instead.
"""

import dataclasses
from collections.abc import Mapping, Sequence


@dataclasses.dataclass(frozen=True)
class PeerLink:
    """A direct link from one device to ``peer`` (a device id)."""

    peer: str
    type: str = "nvlink"
    bandwidth_gbps: float = 0.0  # one direction
    latency_us: float = 2.0
    #: "overlap" or "blocking" for both ends of this link; None: each device's own mode.
    transfers: str | None = None


#: How a transfer goes for a device or a link (see the module's docstring).
TRANSFER_MODES = ("overlap", "blocking")


@dataclasses.dataclass(frozen=True)
class Device:
    """One candidate accelerator, as the conductor's inventory describes it."""

    id: str
    model: str
    host: str
    memory_mb: float
    peak_tflops: Mapping[str, float]
    memory_bandwidth_gbps: float
    numa_node: int | None = None
    links: tuple[PeerLink, ...] = ()
    pcie_gbps: float = 16.0  # one direction, to the host
    launch_overhead_us: float = 5.0
    #: "overlap": its transfers run beside its compute (copy engines); "blocking": the
    #: device is busy while it sends or receives.
    transfers: str = "overlap"

    def peak_flops(self, precision: str) -> float:
        """FLOP/s at ``precision``; a missing precision runs at the nearest one we know.

        fp16/bf16/fp8/int8/tf32 fall back to each other in that order and finally to
        fp32; an unknown precision runs at the slowest listed peak.
        """
        for name in _FALLBACK.get(precision, (precision,)):
            if name in self.peak_tflops:
                return self.peak_tflops[name] * 1e12
        return min(self.peak_tflops.values()) * 1e12

    @property
    def memory_bytes(self) -> float:
        return self.memory_mb * 2**20


_FALLBACK: dict[str, tuple[str, ...]] = {
    "fp32": ("fp32",),
    "tf32": ("tf32", "fp32"),
    "bf16": ("bf16", "fp16", "fp32"),
    "fp16": ("fp16", "bf16", "fp32"),
    "fp8": ("fp8", "int8", "fp16", "bf16", "fp32"),
    "int8": ("int8", "fp8", "fp16", "bf16", "fp32"),
}


@dataclasses.dataclass(frozen=True)
class Interconnect:
    """Link classes that are not declared per device (defaults: a typical 2-socket host
    on a 100 Gb/s RDMA network)."""

    pcie_latency_us: float = 5.0
    numa_bandwidth_gbps: float = 40.0  # socket interconnect, one direction
    numa_latency_us: float = 8.0
    network_bandwidth_gbps: float = 12.5  # 100 Gb/s
    network_latency_us: float = 20.0
    #: Mode of both ends of every transfer of that class ("overlap" or "blocking");
    #: None: each device's own mode.
    pcie_transfers: str | None = None
    numa_transfers: str | None = None
    network_transfers: str | None = None


@dataclasses.dataclass(frozen=True)
class DeviceSet:
    """The candidates of one request, in the order the caller ranks them."""

    devices: tuple[Device, ...]
    interconnect: Interconnect = Interconnect()

    def __post_init__(self) -> None:
        ids = [d.id for d in self.devices]
        if len(set(ids)) != len(ids):
            raise ValueError("two devices share an id")
        for device in self.devices:
            for link in device.links:
                if link.peer not in ids:
                    raise ValueError(f"device {device.id!r}: peer {link.peer!r} is unknown")

    def __len__(self) -> int:
        return len(self.devices)

    def subset(self, positions: Sequence[int]) -> "DeviceSet":
        """The devices at ``positions``, keeping links among them only."""
        chosen = [self.devices[p] for p in positions]
        ids = {d.id for d in chosen}
        trimmed = tuple(
            dataclasses.replace(d, links=tuple(k for k in d.links if k.peer in ids))
            for d in chosen
        )
        return DeviceSet(trimmed, self.interconnect)


@dataclasses.dataclass(frozen=True)
class Link:
    """How bytes go from one device to another: a class, its speed and what it holds."""

    kind: str
    bandwidth_gbps: float  # 0 for "same"
    latency_us: float
    resources: tuple[str, ...]
    #: Whether the transfer keeps the sending / receiving device busy (no compute).
    blocks_sender: bool = False
    blocks_receiver: bool = False

    def seconds(self, nbytes: float) -> float:
        if self.kind == "same" or nbytes <= 0:
            return 0.0
        return self.latency_us * 1e-6 + nbytes / (self.bandwidth_gbps * 1e9)


def link_between(a: Device, b: Device, interconnect: Interconnect) -> Link:
    """The link class, resources and communication mode of a transfer from ``a`` to
    ``b``."""
    if a.id == b.id:
        return Link("same", 0.0, 0.0, ())
    link = _route(a, b, interconnect)
    mode = link_mode(a, b, interconnect)
    if mode is None:
        sender, receiver = a.transfers == "blocking", b.transfers == "blocking"
    else:
        sender = receiver = mode == "blocking"
    return dataclasses.replace(link, blocks_sender=sender, blocks_receiver=receiver)


def link_mode(a: Device, b: Device, interconnect: Interconnect) -> str | None:
    """The mode the link from ``a`` to ``b`` sets for both ends, if it sets one."""
    peer = _peer_link(a, b)
    if peer is not None:
        return peer.transfers
    if a.host != b.host:
        return interconnect.network_transfers
    if a.numa_node is not None and b.numa_node is not None and a.numa_node != b.numa_node:
        return interconnect.numa_transfers
    return interconnect.pcie_transfers


def _route(a: Device, b: Device, interconnect: Interconnect) -> Link:
    peer = _peer_link(a, b)
    if peer is not None:
        return Link("peer", peer.bandwidth_gbps, peer.latency_us, (f"peer:{a.id}>{b.id}",))
    pcie = min(a.pcie_gbps, b.pcie_gbps)
    uplinks = (f"pcie-up:{a.id}", f"pcie-down:{b.id}")
    if a.host != b.host:
        bandwidth = min(pcie, interconnect.network_bandwidth_gbps)
        nics = (f"nic-out:{a.host}", f"nic-in:{b.host}")
        latency = interconnect.network_latency_us + 2 * interconnect.pcie_latency_us
        return Link("network", bandwidth, latency, uplinks + nics)
    if a.numa_node is not None and b.numa_node is not None and a.numa_node != b.numa_node:
        bandwidth = min(pcie, interconnect.numa_bandwidth_gbps)
        latency = interconnect.numa_latency_us + interconnect.pcie_latency_us
        socket = f"numa:{a.host}:{a.numa_node}>{b.numa_node}"
        return Link("numa", bandwidth, latency, (*uplinks, socket))
    return Link("pcie", pcie, interconnect.pcie_latency_us, uplinks)


def _peer_link(a: Device, b: Device) -> PeerLink | None:
    """A peer link declared on either side (the faster one if both declare one)."""
    found = [k for k in a.links if k.peer == b.id] + [k for k in b.links if k.peer == a.id]
    return max(found, key=lambda k: k.bandwidth_gbps, default=None)
