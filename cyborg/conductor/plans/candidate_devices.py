"""The scheduler's candidate devices from the live inventory (pure functions).

One :class:`~cyborg.scheduler.devices.Device` per schedulable deployable
(cyborg.objects.schedulable), its id the deployable's uuid and its host the device's
hostname. Deployable attributes read (all optional):

``model``                 the scheduler's model name (a catalog key such as
                          ``H100-SXM5-80GB``); the device's ``model`` otherwise
``memory_mb``             device memory, MiB
``numa_node``             NUMA node of the card
``peak_tflops_<prec>``    peak TFLOPS per precision: fp32, tf32, fp16, bf16, fp8, int8
``memory_bandwidth_gbps`` device memory bandwidth, GB/s
``pcie_gbps``             PCIe bandwidth to the host, one direction, GB/s
``peer_links``            JSON list of ``{"peer": <deployable name or uuid>, "type":
                          "nvlink", "bandwidth_gbps": 450}``, or a comma-separated list
                          of deployable names (links of the catalog's type)
``rc``, ``trait<N>``      the resource class and traits (cyborg.conductor.plans.device_scope)

A model in the scheduler's catalog takes the catalog's number for each one left out;
another model needs ``memory_mb``, a peak and ``memory_bandwidth_gbps`` or the device
is left out (and said so in the plan's ``skipped`` list).
"""

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cyborg.objects.schedulable import Schedulable
from cyborg.scheduler import device_json
from cyborg.scheduler.devices import DeviceSet
from cyborg.scheduler.graph import PRECISIONS
from cyborg.scheduler.json_input import InputFormatError

_NUMBERS = ("memory_mb", "memory_bandwidth_gbps", "pcie_gbps")


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


def _peer_links(value: str, ids_by_name: Mapping[str, str]) -> list[dict[str, Any]]:
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
    resolved = []
    for link in links:
        peer = ids_by_name.get(str(link.get("peer")), link.get("peer"))
        if peer in ids_by_name.values():  # links to devices that are not candidates drop
            resolved.append({**link, "peer": peer})
    return resolved


def device_entry(row: Schedulable, ids_by_name: Mapping[str, str]) -> dict[str, Any]:
    """The device-set JSON entry (cyborg.scheduler.device_json) of one deployable."""
    attrs = row.attributes
    entry: dict[str, Any] = {
        "id": row.deployable_uuid,
        "model": attrs.get("model") or row.model,
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
    if attrs.get("peer_links"):
        entry["peer_links"] = _peer_links(attrs["peer_links"], ids_by_name)
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
    ids_by_name = {row.deployable_name: row.deployable_uuid for row in kept}
    entries, sources = [], {}
    for row in kept:
        where = f"deployable {row.deployable_name}"
        try:
            entry = device_entry(row, ids_by_name)
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
