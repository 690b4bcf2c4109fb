"""The JSON device-set format (``cyborg-devices``): the candidates of one plan.

::

    {"interconnect": {"network_bandwidth_gbps": 12.5, "network_latency_us": 20},
     "devices": [
       {"id": "gpu0", "model": "H100-SXM5-80GB", "host": "node1", "numa_node": 0,
        "peer_links": [{"peer": "gpu1", "type": "nvlink"}]},
       {"id": "gpu1", "model": "H100-SXM5-80GB", "host": "node1", "numa_node": 0},
       {"id": "fpga0", "model": "my-fpga", "host": "node2", "memory_mb": 8192,
        "peak_tflops": {"fp32": 1.2}, "memory_bandwidth_gbps": 460, "pcie_gbps": 8}]}

A device of a model in the built-in catalog (:mod:`cyborg.scheduler.catalog`) takes
the catalog's numbers for every field it leaves out; any other model must give
``memory_mb``, ``peak_tflops`` and ``memory_bandwidth_gbps``. A peer link is declared
once (either side); its ``bandwidth_gbps`` (one direction) defaults to the catalog's
link of that type. ``interconnect`` overrides :class:`~cyborg.scheduler.devices.
Interconnect` defaults.

``transfers`` (``"overlap"`` or ``"blocking"``, optional) says whether a transfer keeps
the device busy: on a device entry it defaults to the catalog model's (every catalog
model overlaps; so does a model outside the catalog unless it says otherwise); on a
peer link, or as ``pcie_transfers``, ``numa_transfers`` or ``network_transfers`` of the
interconnect, it sets the mode of both ends of that link.

An entry's ``kubernetes`` object (``device_type``, ``pci_address``, ``pcie_root``,
``uuid``, ``deployable``) is for ``cyborg-plan --output resourceclaim``
(:mod:`cyborg.kubernetes.claims`); the planner ignores it.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

from cyborg.scheduler import json_input
from cyborg.scheduler.catalog import CATALOG
from cyborg.scheduler.devices import TRANSFER_MODES, Device, DeviceSet, Interconnect, PeerLink
from cyborg.scheduler.graph import PRECISIONS

_NUMBER, _POSITIVE = json_input.NUMBER, json_input.POSITIVE
_MODE: Mapping[str, Any] = {"enum": list(TRANSFER_MODES)}
#: What a Kubernetes claim for the device needs beyond the plan (all optional): its
#: Cyborg device type (GPU by default), PCI address, PCIe root, vendor uuid, deployable.
KUBERNETES_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "device_type": {"type": "string", "minLength": 1},
        "pci_address": {
            "type": "string",
            "pattern": "^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$",
        },
        "pcie_root": {"type": "string", "minLength": 1},
        "uuid": {"type": "string", "minLength": 1},
        "deployable": {"type": "string", "minLength": 1},
    },
}
DEVICES_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "required": ["devices"],
    "additionalProperties": False,
    "properties": {
        "interconnect": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "pcie_latency_us": _NUMBER,
                "numa_bandwidth_gbps": _POSITIVE,
                "numa_latency_us": _NUMBER,
                "network_bandwidth_gbps": _POSITIVE,
                "network_latency_us": _NUMBER,
                "pcie_transfers": _MODE,
                "numa_transfers": _MODE,
                "network_transfers": _MODE,
            },
        },
        "devices": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "model", "host"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "model": {"type": "string", "minLength": 1},
                    "host": {"type": "string", "minLength": 1},
                    "numa_node": {"type": ["integer", "null"], "minimum": 0},
                    "memory_mb": _POSITIVE,
                    "peak_tflops": {
                        "type": "object",
                        "minProperties": 1,
                        "propertyNames": {"enum": list(PRECISIONS)},
                        "additionalProperties": _POSITIVE,
                    },
                    "memory_bandwidth_gbps": _POSITIVE,
                    "pcie_gbps": _POSITIVE,
                    "launch_overhead_us": _NUMBER,
                    "transfers": _MODE,
                    # Read by cyborg.kubernetes.claims only, the planner ignores it.
                    "kubernetes": KUBERNETES_SCHEMA,
                    "peer_links": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["peer"],
                            "additionalProperties": False,
                            "properties": {
                                "peer": {"type": "string"},
                                "type": {"type": "string"},
                                "bandwidth_gbps": _POSITIVE,
                                "latency_us": _NUMBER,
                                "transfers": _MODE,
                            },
                        },
                    },
                },
            },
        },
    },
}
_REQUIRED_WITHOUT_CATALOG = ("memory_mb", "peak_tflops", "memory_bandwidth_gbps")


def devices_from_dict(document: Any, what: str = "devices") -> DeviceSet:
    """A :class:`DeviceSet` from a parsed document; :class:`InputFormatError` if wrong."""
    json_input.validate(document, DEVICES_SCHEMA, what)
    devices = [
        _device(entry, f"{what}.devices[{i}]") for i, entry in enumerate(document["devices"])
    ]
    interconnect = Interconnect(**document.get("interconnect", {}))
    try:
        return DeviceSet(tuple(devices), interconnect)
    except ValueError as err:
        raise json_input.InputFormatError(f"{what}: {err}") from err


def _device(entry: Mapping[str, Any], where: str) -> Device:
    spec = CATALOG.get(entry["model"])
    if spec is None:
        missing = [key for key in _REQUIRED_WITHOUT_CATALOG if key not in entry]
        if missing:
            known = ", ".join(sorted(CATALOG))
            raise json_input.InputFormatError(
                f"{where}: model {entry['model']!r} is not in the catalog ({known}); "
                f"give {', '.join(missing)}"
            )
    links = []
    for k, link in enumerate(entry.get("peer_links", [])):
        kind = link.get("type", spec.peer_link_type if spec else None) or "peer"
        bandwidth = link.get("bandwidth_gbps")
        if bandwidth is None and spec is not None and spec.peer_link_type == kind:
            bandwidth = spec.peer_link_gbps
        if not bandwidth:
            raise json_input.InputFormatError(
                f"{where}.peer_links[{k}]: give bandwidth_gbps (no catalog default for {kind!r})"
            )
        links.append(
            PeerLink(
                link["peer"],
                kind,
                float(bandwidth),
                link.get("latency_us", 2.0),
                link.get("transfers"),
            )
        )

    def pick(key: str) -> Any:
        return entry[key] if key in entry else getattr(spec, key)

    return Device(
        id=entry["id"],
        model=entry["model"],
        host=entry["host"],
        memory_mb=float(pick("memory_mb")),
        peak_tflops=dict(pick("peak_tflops")),
        memory_bandwidth_gbps=float(pick("memory_bandwidth_gbps")),
        numa_node=entry.get("numa_node"),
        links=tuple(links),
        pcie_gbps=float(entry.get("pcie_gbps", spec.pcie_gbps if spec else 16.0)),
        launch_overhead_us=float(
            entry.get("launch_overhead_us", spec.launch_overhead_us if spec else 5.0)
        ),
        transfers=entry.get("transfers", spec.transfers if spec else "overlap"),
    )


def devices_to_dict(devices: DeviceSet) -> dict[str, Any]:
    """The JSON document of ``devices`` (every field explicit)."""
    return {
        "interconnect": _set_fields(devices.interconnect),
        "devices": [
            {
                "id": d.id,
                "model": d.model,
                "host": d.host,
                "numa_node": d.numa_node,
                "memory_mb": d.memory_mb,
                "peak_tflops": dict(d.peak_tflops),
                "memory_bandwidth_gbps": d.memory_bandwidth_gbps,
                "pcie_gbps": d.pcie_gbps,
                "launch_overhead_us": d.launch_overhead_us,
                "transfers": d.transfers,
                "peer_links": [_set_fields(k) for k in d.links],
            }
            for d in devices.devices
        ],
    }


def _set_fields(record: Any) -> dict[str, Any]:
    """A dataclass's fields, leaving out the optional ones it leaves unset (None)."""
    return {k: v for k, v in dataclasses.asdict(record).items() if v is not None}


def load_devices(path: str) -> DeviceSet:
    """A device set from a JSON file."""
    return devices_from_dict(json_input.read_json(path, "devices"), f"devices {path}")
