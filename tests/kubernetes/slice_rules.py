"""What kube-apiserver's ResourceSlice validation refuses beyond the published schemas.

The OpenAPI schemas (tests.kubernetes.schemas) give fields and types; the API server's
validation code adds limits and formats they cannot express. These are the rules of
resource.k8s.io/v1 that Cyborg's slices could break: name formats (DNS labels and
subdomains, qualified names, label values), counts (devices a slice, attributes and
capacities a device, taints a device), string lengths, semver versions, and exactly
one node selection. The stricter of 1.34 and 1.35+ wins where they differ, except for
shared counters (partitionable devices), where the two disagree: 1.34 wants a slice's
counter sets beside the devices that consume them, 1.35 and later refuse a slice with
both; those rules apply per release in ``versions``.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


def _qualified_name(name: str) -> bool:
    prefix, _, short = name.rpartition("/")
    return (not prefix or (len(prefix) <= 253 and bool(_DNS_SUBDOMAIN.match(prefix)))) and (
        len(short) <= 63 and bool(_LABEL_NAME.match(short))
    )


def _device_problems(device: Mapping[str, Any]) -> list[str]:
    name = device.get("name", "")
    problems = [] if _DNS_LABEL.match(name) and len(name) <= 63 else [f"device name {name!r}"]
    attributes, capacity = device.get("attributes") or {}, device.get("capacity") or {}
    if len(attributes) + len(capacity) > 32:
        problems.append(f"{name}: more than 32 attributes and capacities")
    for key, value in attributes.items():
        short = key.rpartition("/")[2]
        if not _qualified_name(key) or not _C_IDENTIFIER.match(short) or len(short) > 32:
            problems.append(f"{name}: attribute name {key!r}")
        if len(value) != 1:
            problems.append(f"{name}: attribute {key} must have exactly one value")
        if "string" in value and len(value["string"]) > 64:
            problems.append(f"{name}: attribute {key} longer than 64 characters")
        if "version" in value and (
            len(value["version"]) > 64 or not _SEMVER.match(value["version"])
        ):
            problems.append(f"{name}: attribute {key} is not semver: {value['version']!r}")
    for key in capacity:
        if not _qualified_name(key):
            problems.append(f"{name}: capacity name {key!r}")
    taints = device.get("taints") or []
    if len(taints) > 4:  # 1.34's limit (1.35+: 16)
        problems.append(f"{name}: more than 4 taints")
    for taint in taints:
        if not _qualified_name(taint.get("key", "")):
            problems.append(f"{name}: taint key {taint.get('key')!r}")
        value = taint.get("value", "")
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            problems.append(f"{name}: taint value {value!r} is not a label value")
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            problems.append(f"{name}: taint effect {taint.get('effect')!r}")
    return problems


def _counter_name_problems(where: str, counters: Mapping[str, Any]) -> list[str]:
    problems = [f"{where}: counter name {n!r}" for n in counters if not _DNS_LABEL.match(n)]
    if len(counters) > 32:
        problems.append(f"{where}: more than 32 counters")
    return problems


def _counter_problems(spec: Mapping[str, Any], versions: Iterable[str]) -> list[str]:
    """The shared-counter rules of resource.k8s.io/v1, per release."""
    sets, devices = spec.get("sharedCounters") or [], spec.get("devices") or []
    problems: list[str] = []
    names = [s.get("name", "") for s in sets]
    if len(set(names)) != len(names):
        problems.append("counter set names repeat")
    for counter_set in sets:
        name = counter_set.get("name", "")
        if not _DNS_LABEL.match(name) or len(name) > 63:
            problems.append(f"counter set name {name!r}")
        problems += _counter_name_problems(f"counter set {name}", counter_set.get("counters", {}))
    for device in devices:
        consumed = device.get("consumesCounters") or []
        targets = [c.get("counterSet") for c in consumed]
        if len(set(targets)) != len(targets):
            problems.append(f"{device.get('name')}: two entries for one counter set")
        for consumption in consumed:
            problems += _counter_name_problems(device.get("name", ""), consumption["counters"])
    consumers = [d for d in devices if d.get("consumesCounters")]
    for version in versions:
        if version.startswith("1.34."):
            if sum(len(s.get("counters", {})) for s in sets) > 32:
                problems.append(f"{version}: more than 32 counters in all sets")
            local = set(names)
            for device in consumers:
                for consumption in device["consumesCounters"]:
                    target = consumption["counterSet"]
                    if target not in local:
                        problems.append(f"{version}: {device.get('name')} consumes counter "
                                        f"set {target!r} not in its slice")  # fmt: skip
        else:
            if sets and devices:
                problems.append(f"{version}: devices and sharedCounters in one slice")
            if len(sets) > 8:
                problems.append(f"{version}: more than 8 counter sets")
            for device in consumers:
                if len(device["consumesCounters"]) > 2:
                    problems.append(f"{version}: {device.get('name')} consumes more than 2 sets")
    return problems


def slice_problems(item: Mapping[str, Any], versions: Iterable[str] = ("1.34.0", "1.35.0")
                   ) -> list[str]:  # fmt: skip
    """What kube-apiserver's ResourceSlice validation refuses beyond the schema, in
    each release of ``versions`` (the counter rules differ between them)."""
    name = item.get("metadata", {}).get("name", "")
    problems = [] if _DNS_SUBDOMAIN.match(name) and len(name) <= 253 else [f"name {name!r}"]
    spec = item.get("spec", {})
    if not _DNS_SUBDOMAIN.match(spec.get("driver", "")) or len(spec.get("driver", "")) > 63:
        problems.append(f"driver {spec.get('driver')!r}")
    chosen = [
        k
        for k in ("nodeName", "nodeSelector", "allNodes", "perDeviceNodeSelection")
        if spec.get(k)
    ]
    if len(chosen) != 1:
        problems.append(
            f"exactly one of nodeName, nodeSelector, allNodes, perDeviceNodeSelection: {chosen}"
        )
    pool = spec.get("pool", {})
    if pool.get("generation", -1) < 0 or pool.get("resourceSliceCount", 0) <= 0:
        problems.append(f"pool generation/resourceSliceCount {pool}")
    devices = spec.get("devices") or []
    tainted = any(d.get("taints") or d.get("consumesCounters") for d in devices)
    limit = 64 if tainted else 128  # 1.35+ lowers the limit for tainted slices
    if len(devices) > limit:
        problems.append(f"{len(devices)} devices, more than {limit}")
    names = [d.get("name") for d in devices]
    if len(set(names)) != len(names):
        problems.append("device names repeat")
    for device in devices:
        problems += _device_problems(device)
    return problems + _counter_problems(spec, versions)
