"""A scheduler plan as Kubernetes ResourceClaims (resource.k8s.io/v1), pure.

One claim per host of the plan: DRA allocates every device of one claim on one node,
so a plan across hosts becomes one claim per host (one pod, or one pod group, each).
In a claim, one request per planned device, ``exactly`` one device of the class of
its driver (``gpu.cyborg.openstack.org``), selected by CEL on the model the plan
chose. With ``pin`` a device is also selected by its identity (vendor uuid, else the
Cyborg deployable, else the PCI address): the very device the plan estimated.

Locality the plan's estimates assume becomes ``matchAttribute`` constraints: planned
devices on one PCIe root must get devices on one root (``resource.kubernetes.io/
pcieRoot``, the one standard attribute every driver publishes, so it holds across a
GPU and an FPGA), and devices of one driver on one NUMA node must get one NUMA node
(``<driver>/numaNode``: attributes of a driver's domain exist on its devices only).
A peer link (NVLink) between two planned devices has no attribute to match: the claim
pins both, or says in an annotation which links it does not ask for.

A planned model with alternatives ("this model, else that one") becomes a prioritized
list (``firstAvailable``, beta in 1.34 and 1.35, GA in 1.36; the v1 schema of every
supported release has the field); with ``prioritized=False`` one request accepts any
of the models instead, without an order, for clusters whose DRAPrioritizedList gate
is off.
"""

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cyborg.kubernetes import dra_names
from cyborg.kubernetes.devices import KINDS

API_VERSION = "resource.k8s.io/v1"
#: Annotations and labels the claims carry (the guide documents them).
LABEL_PLAN = "cyborg.openstack.org/plan"  # the plan's uuid, where the plan has one
ANNOTATION_HOST = "cyborg.openstack.org/planned-host"
ANNOTATION_DEVICES = "cyborg.openstack.org/plan-devices"  # {request: plan device id}
ANNOTATION_UNMATCHED = "cyborg.openstack.org/unmatched-locality"
#: Limits of the v1 API (DeviceClaim): requests and constraints per claim.
MAX_REQUESTS = 32
MAX_CONSTRAINTS = 32
_NOT_LABEL = re.compile(r"[^a-z0-9-]+")
_LABEL_MAX = 63


class ClaimError(ValueError):
    """A plan that no ResourceClaim can express (too many devices, no device)."""


@dataclasses.dataclass(frozen=True)
class PlannedDevice:
    """One device of a plan, with what the inventory knows of it."""

    id: str  # the plan's device id (a deployable uuid for stored plans)
    model: str
    host: str
    device_type: str = "GPU"  # as Cyborg's API says: GPU, FPGA, SSD, ...
    numa_node: int | None = None
    pcie_root: str | None = None  # "pci0000:3a"
    pci_address: str | None = None  # "0000:3b:00.0"
    uuid: str | None = None  # the vendor's device uuid
    deployable: str | None = None  # the Cyborg deployable's name
    peers: frozenset[str] = frozenset()  # planned devices it has a peer link to (NVLink)
    alternatives: tuple[str, ...] = ()  # other models it may be, best first


@dataclasses.dataclass(frozen=True)
class ClaimOptions:
    domain: str = "cyborg.openstack.org"  # [kubernetes] resource_domain
    pin: bool = False
    prioritized: bool = True
    locality: bool = True
    template: bool = False  # a ResourceClaimTemplate instead of a ResourceClaim
    namespace: str | None = None
    plan_uuid: str | None = None


def label(text: str) -> str:
    """A DNS label from any text: 'H100-SXM5-80GB' -> 'h100-sxm5-80gb'."""
    name = _NOT_LABEL.sub("-", text.lower()).strip("-")[:_LABEL_MAX].strip("-")
    return name or "device"


def _unique_labels(texts: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    names = []
    for text in texts:
        base = name = label(text)
        k = 1
        while name in seen:
            k += 1
            suffix = f"-{k}"
            name = base[: _LABEL_MAX - len(suffix)] + suffix
        seen.add(name)
        names.append(name)
    return names


def request_names(devices: Sequence[PlannedDevice]) -> list[str]:
    """``gpu-0``, ``gpu-1``, ``fpga-0``: by kind, in plan order (the claim's
    ``plan-devices`` annotation maps them back to the plan's device ids)."""
    counts: dict[str, int] = {}
    names = []
    for device in devices:
        kind = label(KINDS.get(device.device_type, device.device_type))
        names.append(f"{kind}-{counts.get(kind, 0)}")
        counts[kind] = counts.get(kind, 0) + 1
    return names


def _attribute(driver: str, qualified_or_short: str) -> str:
    """The CEL access of an attribute: standard ones by their domain, ours by the
    driver's."""
    domain, _, short = qualified_or_short.rpartition("/")
    return f"device.attributes[{json.dumps(domain or driver)}].{short}"


def _equals(driver: str, attribute: str, value: str) -> dict[str, Any]:
    # A JSON string literal is a CEL string literal (same quotes and escapes).
    return {"cel": {"expression": f"{_attribute(driver, attribute)} == {json.dumps(value)}"}}


def _has_and_equals(driver: str, attribute: str, value: str) -> dict[str, Any]:
    """Equality that is false, not an error, on a device without the attribute: a CEL
    error on any device aborts the claim's allocation."""
    domain, _, short = attribute.rpartition("/")
    guard = f"{json.dumps(short)} in device.attributes[{json.dumps(domain or driver)}]"
    expression = f"{_attribute(driver, attribute)} == {json.dumps(value)}"
    return {"cel": {"expression": f"{guard} && {expression}"}}


def _pin(device: PlannedDevice, driver: str) -> dict[str, Any] | None:
    """The device itself: the vendor's uuid, the deployable or the PCI address (which
    only names one device with the pod on the planned host)."""
    if device.uuid:
        return _has_and_equals(driver, dra_names.UUID, device.uuid)
    if device.deployable:
        return _has_and_equals(driver, dra_names.DEPLOYABLE, device.deployable)
    if device.pci_address:
        return _has_and_equals(driver, dra_names.PCI_BUS_ID, device.pci_address.lower())
    return None


def _selectors(device: PlannedDevice, driver: str, options: ClaimOptions) -> list[dict[str, Any]]:
    selectors = [_equals(driver, dra_names.MODEL, device.model)]
    pin = _pin(device, driver) if options.pin else None
    return selectors + ([pin] if pin else [])


def _any_model(driver: str, models: Sequence[str]) -> dict[str, Any]:
    listed = ", ".join(json.dumps(m) for m in models)
    return {"cel": {"expression": f"{_attribute(driver, dra_names.MODEL)} in [{listed}]"}}


def _request(name: str, device: PlannedDevice, options: ClaimOptions) -> dict[str, Any]:
    driver = dra_names.driver_name(options.domain, device.device_type)
    exact = {"deviceClassName": driver, "allocationMode": "ExactCount", "count": 1}
    # A pinned device is that device: alternatives would be other devices.
    if not device.alternatives or (options.pin and _pin(device, driver)):
        return {
            "name": name,
            "exactly": {**exact, "selectors": _selectors(device, driver, options)},
        }
    models = [device.model, *[m for m in device.alternatives if m != device.model]]
    if not options.prioritized:
        return {"name": name, "exactly": {**exact, "selectors": [_any_model(driver, models)]}}
    subrequests = [
        {"name": sub, **exact, "selectors": [_equals(driver, dra_names.MODEL, model)]}
        for sub, model in zip(_unique_labels(models), models, strict=True)
    ]
    return {"name": name, "firstAvailable": subrequests}


def _groups(keys: Mapping[str, Any]) -> list[list[str]]:
    """Requests sharing a known key, groups of two or more, in request order."""
    found: dict[Any, list[str]] = {}
    for request, key in keys.items():
        if key is not None:
            found.setdefault(key, []).append(request)
    return [group for group in found.values() if len(group) > 1]


def _constraints(named: Mapping[str, PlannedDevice], domain: str) -> list[dict[str, Any]]:
    roots = _groups({name: d.pcie_root for name, d in named.items()})
    constraints = [{"requests": g, "matchAttribute": dra_names.PCIE_ROOT} for g in roots]
    numa = _groups(
        {
            name: None if d.numa_node is None else (d.device_type, d.numa_node)
            for name, d in named.items()
        }
    )
    for group in numa:
        if any(set(group) <= set(root) for root in roots):
            continue  # one root is on one NUMA node already
        driver = dra_names.driver_name(domain, named[group[0]].device_type)
        constraints.append(
            {"requests": group, "matchAttribute": f"{driver}/{dra_names.NUMA_NODE}"}
        )
    return constraints


def _unmatched_links(named: Mapping[str, PlannedDevice], options: ClaimOptions) -> list[str]:
    """Peer links (NVLink, xGMI) between planned devices the claim does not guarantee."""
    names = {d.id: name for name, d in named.items()}
    pinned = {
        d.id
        for d in named.values()
        if options.pin and _pin(d, dra_names.driver_name(options.domain, d.device_type))
    }
    links = set()
    for device in named.values():
        for peer in device.peers:
            if peer in names and not {device.id, peer} <= pinned:
                links.add(tuple(sorted((names[device.id], names[peer]))))
    return [f"peer-link:{a}+{b}" for a, b in sorted(links)]


def claim_for_host(
    name: str, devices: Sequence[PlannedDevice], options: ClaimOptions = ClaimOptions()
) -> dict[str, Any]:
    """The ResourceClaim (or template) of a plan's devices on one host."""
    if not devices:
        raise ClaimError("a claim needs at least one planned device")
    if len({d.host for d in devices}) > 1:
        raise ClaimError("one claim is allocated on one node: give one host's devices")
    if len(devices) > MAX_REQUESTS:
        raise ClaimError(f"{len(devices)} devices on one host: a claim has at most {MAX_REQUESTS}")
    named = dict(zip(request_names(devices), devices, strict=True))
    spec: dict[str, Any] = {"requests": [_request(n, d, options) for n, d in named.items()]}
    constraints = _constraints(named, options.domain) if options.locality else []
    if len(constraints) > MAX_CONSTRAINTS:
        raise ClaimError(f"{len(constraints)} locality constraints: at most {MAX_CONSTRAINTS}")
    if constraints:
        spec["constraints"] = constraints
    annotations = {
        ANNOTATION_HOST: devices[0].host,
        ANNOTATION_DEVICES: json.dumps({n: d.id for n, d in named.items()}, sort_keys=True),
    }
    unmatched = _unmatched_links(named, options) if options.locality else []
    if unmatched:
        annotations[ANNOTATION_UNMATCHED] = ",".join(unmatched)
    labels = {LABEL_PLAN: options.plan_uuid} if options.plan_uuid else {}
    metadata: dict[str, Any] = {"name": name}
    if options.namespace:
        metadata["namespace"] = options.namespace
    # What each claim made from a template carries too.
    inherited: dict[str, Any] = {"labels": labels} if labels else {}
    inherited["annotations"] = annotations
    metadata.update(inherited)
    claim_spec = {"devices": spec}
    if options.template:
        return {
            "apiVersion": API_VERSION,
            "kind": "ResourceClaimTemplate",
            "metadata": metadata,
            "spec": {"metadata": dict(inherited), "spec": claim_spec},
        }
    return {"apiVersion": API_VERSION, "kind": "ResourceClaim", "metadata": metadata,
            "spec": claim_spec}  # fmt: skip


def claims(
    name: str, devices: Iterable[PlannedDevice], options: ClaimOptions = ClaimOptions()
) -> list[dict[str, Any]]:
    """One claim per host of the plan, named ``name`` (one host) or ``name-<host>``."""
    by_host: dict[str, list[PlannedDevice]] = {}
    for device in devices:
        by_host.setdefault(device.host, []).append(device)
    if not by_host:
        raise ClaimError("the plan uses no device")
    if len(by_host) == 1:
        return [claim_for_host(label(name), next(iter(by_host.values())), options)]
    return [
        claim_for_host(f"{label(name)}-{host}", host_devices, options)
        for host, host_devices in zip(_unique_labels(list(by_host)), by_host.values(), strict=True)
    ]


def _peers(entries: Mapping[str, Mapping[str, Any]]) -> dict[str, set[str]]:
    """Peer links of a device set, both ways (a link is declared on one side)."""
    peers: dict[str, set[str]] = {}
    for device_id, entry in entries.items():
        for link in entry.get("peer_links", []):
            peers.setdefault(device_id, set()).add(link["peer"])
            peers.setdefault(link["peer"], set()).add(device_id)
    return peers


def planned_devices(
    plan: Mapping[str, Any],
    entries: Iterable[Mapping[str, Any]] = (),
    alternatives: Mapping[str, Sequence[str]] | None = None,
) -> list[PlannedDevice]:
    """The devices of a plan (``cyborg-plan``'s JSON or a stored plan's result).

    ``entries`` are the device-set entries (cyborg.scheduler.device_json) the plan was
    made on: their ``numa_node``, ``peer_links`` and ``kubernetes`` keys say where each
    device is. ``alternatives`` maps a model to the models it may be replaced by.
    """
    by_id = {entry["id"]: entry for entry in entries}
    peers = _peers(by_id)
    used = {device["id"] for device in plan.get("devices", [])}
    found = []
    for device in plan.get("devices", []):
        entry = by_id.get(device["id"], {})
        k8s = entry.get("kubernetes", {})
        found.append(
            PlannedDevice(
                id=device["id"],
                model=device["model"],
                host=device["host"],
                device_type=(k8s.get("device_type") or device.get("device_type") or "GPU").upper(),
                numa_node=entry.get("numa_node", device.get("numa_node")),
                pcie_root=k8s.get("pcie_root"),
                pci_address=k8s.get("pci_address"),
                uuid=k8s.get("uuid"),
                deployable=k8s.get("deployable") or device.get("deployable_name"),
                peers=frozenset(peers.get(device["id"], set()) & used),
                alternatives=tuple((alternatives or {}).get(device["model"], ())),
            )
        )
    return found
