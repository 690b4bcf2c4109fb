"""The resource.k8s.io/v1 ResourceSlices one node publishes, as pure functions.

One pool per DRA driver (``gpu.cyborg.openstack.org``, ...) and node, named after
the node, with ``nodeName`` set. A pool of more devices than one slice may hold is
split across several slices, every one with the pool's generation and slice count:
128 devices a slice, 64 where a device of the pool carries taints (the limit
Kubernetes 1.35 and later set for tainted slices). Slice names are
``<node>-<kind>-<index>``, so the publisher finds its own slices again after a
restart and updates them in place.

A pool with partitionable devices (cyborg.kubernetes.mig_slices) first has its
counter sets, in slices of their own (``sharedCounters`` and no devices), then its
devices, 64 a slice where they consume counters.

``desired`` builds the objects; ``pool_devices`` reads the devices back from slices
the API server returned (without what the server adds), so the publisher can tell
whether a pool's content changed and its generation must move.
"""

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cyborg.common import inventory
from cyborg.kubernetes import mig_slices, slice_devices

API_VERSION = "resource.k8s.io/v1"
KIND = "ResourceSlice"
MAX_DEVICES = 128
MAX_TAINTED_DEVICES = 64
NAME_MAX = 253  # a DNS subdomain
#: A label on every slice this agent publishes, for label selectors and people.
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "cyborg-agent"


def slice_name(node: str, driver: str, index: int) -> str:
    """``node-1-gpu-0``; a node name too long for that is shortened with a digest."""
    kind = driver.split(".", 1)[0]
    suffix = f"-{kind}-{index}"
    if len(node) + len(suffix) <= NAME_MAX:
        return node + suffix
    digest = hashlib.sha256(node.encode()).hexdigest()[:10]
    return f"{node[: NAME_MAX - len(suffix) - 11].rstrip('.-')}-{digest}{suffix}"


def _chunks(devices: Sequence[dict[str, Any]]) -> list[Sequence[dict[str, Any]]]:
    limited = any("taints" in d or "consumesCounters" in d for d in devices)
    size = MAX_TAINTED_DEVICES if limited else MAX_DEVICES
    return [devices[i : i + size] for i in range(0, len(devices), size)]


def pool_slices(
    node: str,
    driver: str,
    devices: Sequence[dict[str, Any]],
    generation: int,
    counter_sets: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The slices of one pool at ``generation``; none for a pool without devices."""
    contents: list[dict[str, Any]] = [
        {"sharedCounters": [dict(s) for s in sets]}
        for sets in (mig_slices.counter_slices_specs(counter_sets) if devices else [])
    ]
    contents += [{"devices": [dict(device) for device in chunk]} for chunk in _chunks(devices)]
    return [
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": slice_name(node, driver, index),
                "labels": {MANAGED_BY: MANAGER},
            },
            "spec": {
                "driver": driver,
                "nodeName": node,
                "pool": {
                    "name": node,
                    "generation": generation,
                    "resourceSliceCount": len(contents),
                },
                **content,
            },
        }
        for index, content in enumerate(contents)
    ]


def desired_pools(
    reports: Sequence[inventory.DeviceReport],
    options: slice_devices.DeviceOptions,
    holders: Mapping[str, str] | None = None,
) -> dict[str, slice_devices.PoolContent]:
    """{driver: the pool's devices and counter sets} (see slice_devices.pools)."""
    return slice_devices.pools(reports, options, holders)


def desired_devices(
    reports: Sequence[inventory.DeviceReport],
    options: slice_devices.DeviceOptions,
    holders: Mapping[str, str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """{driver: the pool's devices} for this inventory (see slice_devices.by_driver)."""
    return slice_devices.by_driver(reports, options, holders)


def desired(
    node: str,
    reports: Sequence[inventory.DeviceReport],
    options: slice_devices.DeviceOptions,
    holders: Mapping[str, str] | None = None,
    generations: Mapping[str, int] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """{driver: its pool's slices} for this node's inventory, each pool at its
    generation in ``generations`` (0 when absent)."""
    return {
        driver: pool_slices(
            node, driver, pool.devices, (generations or {}).get(driver, 0), pool.counter_sets
        )
        for driver, pool in desired_pools(reports, options, holders).items()
    }


def _without_server_fields(device: Mapping[str, Any]) -> dict[str, Any]:
    """A device as the agent wrote it: the API server stamps taints with timeAdded."""
    device = dict(device)
    if "taints" in device:
        device["taints"] = [
            {k: v for k, v in taint.items() if k != "timeAdded"} for taint in device["taints"]
        ]
    return device


def _index(item: Mapping[str, Any]) -> tuple[int, str]:
    name = item["metadata"]["name"]
    number = name.rsplit("-", 1)[-1]
    return (int(number) if number.isdigit() else 1 << 30, name)


def pool_devices(slices: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The devices of a pool's slices, in slice order, as the agent would build them."""
    ordered = sorted(slices, key=_index)
    return [
        _without_server_fields(device)
        for item in ordered
        for device in item.get("spec", {}).get("devices") or ()
    ]


def keep_taint_times(
    wanted: Sequence[dict[str, Any]], existing: Iterable[Mapping[str, Any]]
) -> None:
    """Give the wanted devices' taints the timeAdded the server gave the same taint
    before: a taint that did not change keeps its time (NoExecute tolerations count
    from it), where a missing one would be stamped anew."""
    times: dict[tuple[str, str, str, str], str] = {}
    for item in existing:
        for device in item.get("spec", {}).get("devices") or ():
            for taint in device.get("taints") or ():
                if taint.get("timeAdded"):
                    key = (device["name"], taint["key"], taint.get("value", ""), taint["effect"])
                    times[key] = taint["timeAdded"]
    for item in wanted:
        for device in item["spec"]["devices"]:
            for taint in device.get("taints") or ():
                key = (device["name"], taint["key"], taint.get("value", ""), taint["effect"])
                if key in times:
                    taint["timeAdded"] = times[key]
