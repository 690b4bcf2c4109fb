"""The scheduler's candidate devices from the live inventory (pure functions).

One :class:`~cyborg.scheduler.devices.Device` per schedulable deployable
(cyborg.objects.schedulable), its id the deployable's uuid and its host the device's
hostname. Deployable attributes read (all optional):

``model``                 the scheduler's model name (a catalog key such as
                          ``H100-SXM5-80GB``); the device's ``model`` otherwise, a
                          product name the catalog knows (``NVIDIA H200``, as
                          nvidia-smi names it) taken as its catalog model
``memory_mb``             device memory, MiB
``numa_node``             NUMA node of the card
``peak_tflops_<prec>``    peak TFLOPS per precision: fp32, tf32, fp16, bf16, fp8, int8
``memory_bandwidth_gbps`` device memory bandwidth, GB/s
``pcie_gbps``             PCIe bandwidth to the host, one direction, GB/s
``peer_links``            JSON list of ``{"peer": <deployable name or uuid>, "type":
                          "nvlink", "bandwidth_gbps": 450}``, or a comma-separated list
                          of deployable names (links of the catalog's type). A peer may
                          also be a PCI address on the same host, and a link may give
                          its NVLink count instead of a bandwidth (``"links": 12``, as
                          the NVIDIA driver reports them): 25 GB/s each way per link
``transfers``             ``overlap`` or ``blocking``: whether the device computes while
                          it sends and receives (default: its catalog model's, overlap)
``pcie_root``             the root complex, "pci0000:3a"; kept in the entry's
                          ``kubernetes`` object for claims (the planner ignores it)
``rc``, ``trait<N>``      the resource class and traits (cyborg.conductor.plans.device_scope)

A model in the scheduler's catalog takes the catalog's number for each one left out;
another model needs ``memory_mb``, a peak and ``memory_bandwidth_gbps`` or the device
is left out (and said so in the plan's ``skipped`` list).
"""

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cyborg.conductor.plans import device_scope
from cyborg.objects.schedulable import Schedulable
from cyborg.scheduler import device_json
from cyborg.scheduler.devices import DeviceSet
from cyborg.scheduler.graph import PRECISIONS
from cyborg.scheduler.json_input import InputFormatError

_NUMBERS = ("memory_mb", "memory_bandwidth_gbps", "pcie_gbps")
#: One NVLink's bandwidth each way, GB/s: NVLink 2, 3 and 4 (V100, A100, H100) alike;
#: NVLink 5 doubles it, which a link count alone under-estimates.
NVLINK_GBPS_PER_LINK = 25.0


@dataclasses.dataclass(frozen=True)
class Candidates:
    devices: DeviceSet
    #: device id (deployable uuid) -> the inventory row it came from
    sources: Mapping[str, Schedulable]
    #: deployable name -> why it was left out
    skipped: Mapping[str, str]


def _number(value: str, key: str) -> float:
    try:
        number = float(value)
    except ValueError as err:
        raise InputFormatError(f"attribute {key}={value!r} is not a number") from err
    if number <= 0:
        raise InputFormatError(f"attribute {key}={value!r} must be positive")
    return number


@dataclasses.dataclass(frozen=True)
class PeerIds:
    """How a peer link may name another candidate: its deployable name, or its PCI
    address on the same host (only where one deployable holds the address)."""

    by_name: Mapping[str, str]
    by_address: Mapping[tuple[str, str], str] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, rows: Sequence[Schedulable]) -> "PeerIds":
        holders: dict[tuple[str, str], list[str]] = {}
        for row in rows:
            if row.pci_address:
                holders.setdefault((row.hostname, row.pci_address), []).append(row.deployable_uuid)
        return cls(
            by_name={row.deployable_name: row.deployable_uuid for row in rows},
            by_address={key: ids[0] for key, ids in holders.items() if len(ids) == 1},
        )

    def resolve(self, peer: Any, host: str) -> Any:
        return self.by_name.get(str(peer), self.by_address.get((host, str(peer).lower()), peer))


def _link(link: dict[str, Any], peer: str) -> dict[str, Any]:
    """A link as the device-set format takes it: a link count becomes a bandwidth."""
    resolved = {k: v for k, v in link.items() if k != "links"}
    resolved["peer"] = peer
    count = link.get("links")
    nvlink = resolved.get("type", "nvlink") == "nvlink"
    if nvlink and "bandwidth_gbps" not in link and isinstance(count, int) and count > 0:
        resolved["bandwidth_gbps"] = count * NVLINK_GBPS_PER_LINK
    return resolved


def _peer_links(value: str, host: str, ids: PeerIds) -> list[dict[str, Any]]:
    text = value.strip()
    if text.startswith("["):
        try:
            links = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputFormatError(f"attribute peer_links is not JSON: {err.msg}") from err
        if not isinstance(links, list) or not all(isinstance(k, dict) for k in links):
            raise InputFormatError("attribute peer_links must be a list of objects")
    else:
        links = [{"peer": name.strip()} for name in text.split(",") if name.strip()]
    known = set(ids.by_name.values())
    resolved = []
    for link in links:
        peer = ids.resolve(link.get("peer"), host)
        if peer in known:  # links to devices that are not candidates drop
            resolved.append(_link(link, peer))
    return resolved


def device_entry(row: Schedulable, ids: PeerIds) -> dict[str, Any]:
    """The device-set JSON entry (cyborg.scheduler.device_json) of one deployable."""
    attrs = row.attributes
    entry: dict[str, Any] = {
        "id": row.deployable_uuid,
        "model": device_scope.scheduler_model(row),
        "host": row.hostname,
    }
    for key in _NUMBERS:
        if key in attrs:
            entry[key] = _number(attrs[key], key)
    if "numa_node" in attrs:
        try:
            entry["numa_node"] = int(attrs["numa_node"])
        except ValueError as err:
            raise InputFormatError(f"attribute numa_node={attrs['numa_node']!r}") from err
    peaks = {
        p: _number(attrs[f"peak_tflops_{p}"], f"peak_tflops_{p}")
        for p in PRECISIONS
        if f"peak_tflops_{p}" in attrs
    }
    if peaks:
        entry["peak_tflops"] = peaks
    if "transfers" in attrs:
        entry["transfers"] = attrs["transfers"]
    if attrs.get("peer_links"):
        entry["peer_links"] = _peer_links(attrs["peer_links"], row.hostname, ids)
    if attrs.get("pcie_root"):
        entry["kubernetes"] = {"pcie_root": attrs["pcie_root"]}
    return entry


def build(rows: Sequence[Schedulable], free_rps: Iterable[str] | None = None) -> Candidates:
    """The candidates among ``rows``; with ``free_rps`` (Placement's answer) only those
    whose provider is free."""
    free = None if free_rps is None else set(free_rps)
    skipped: dict[str, str] = {}
    kept = []
    for row in rows:
        if free is not None and row.rp_uuid not in free:
            skipped[row.deployable_name] = "not free in Placement"
        else:
            kept.append(row)
    peer_ids = PeerIds.of(kept)
    entries, sources = [], {}
    for row in kept:
        where = f"deployable {row.deployable_name}"
        try:
            entry = device_entry(row, peer_ids)
            device_json.devices_from_dict({"devices": [{**entry, "peer_links": []}]}, where)
        except InputFormatError as err:
            skipped[row.deployable_name] = str(err)
            continue
        entries.append(entry)
        sources[row.deployable_uuid] = row
    ids = {entry["id"] for entry in entries}
    for entry in entries:  # peers that were skipped themselves
        entry["peer_links"] = [k for k in entry.get("peer_links", []) if k["peer"] in ids]
    if not entries:
        return Candidates(DeviceSet(()), sources, skipped)
    try:
        devices = device_json.devices_from_dict({"devices": entries}, "inventory")
    except InputFormatError:  # a peer link without a known bandwidth: plan without links
        bare = [{**entry, "peer_links": []} for entry in entries]
        devices = device_json.devices_from_dict({"devices": bare}, "inventory")
    return Candidates(devices, sources, skipped)


def free_providers(candidates_body: Mapping[str, Any]) -> set[str]:
    """Providers that appear in any allocation request of Placement's answer."""
    return {
        rp
        for request in candidates_body.get("allocation_requests", [])
        for rp in request.get("allocations", {})
    }
