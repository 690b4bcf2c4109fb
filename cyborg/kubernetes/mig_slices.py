"""A MIG-capable GPU as partitionable devices: shared counters and their consumers.

Behind ``[kubernetes] mig_partitions``. A GPU whose inventory carries its MIG
geometry (cyborg.common.mig: MIG mode on, no instances made) is published as the
whole GPU plus one device per GPU instance profile and placement
("pci-0000-3b-00-0-mig-1g-10gb-3"), all consuming counters of one counter set named
after the GPU's device: ``memory-slice-0`` .. ``memory-slice-7`` (1 each: placements
that overlap cannot both be allocated), ``compute-slices`` (7) and ``memory``. The
whole GPU consumes all of them, so it and its partitions exclude each other.

The layout is resource.k8s.io/v1 as Kubernetes 1.35 and later validate it: the
counter sets in slices of their own (a slice holds devices or sharedCounters, never
both), at most 8 sets a slice, and at most 64 devices in a slice whose devices
consume counters. Kubernetes 1.34 wanted the sets in the same slice as their
consumers, which 1.35 refuses; these slices are for 1.35 and later only.
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cyborg.common import mig
from cyborg.kubernetes import dra_names

MAX_COUNTER_SETS = 8  # a slice's sharedCounters (1.35+)


def _one(value: int | str) -> dict[str, str]:
    return {"value": str(value)}


def _counters(layout: mig.MigLayout, memory: str | None) -> dict[str, dict[str, str]]:
    counters = {
        dra_names.COUNTER_MEMORY_SLICE.format(i): _one(1) for i in range(layout.memory_slices)
    }
    counters[dra_names.COUNTER_COMPUTE_SLICES] = _one(layout.compute_slices)
    if memory is not None:
        counters[dra_names.COUNTER_MEMORY] = _one(memory)
    return counters


def counter_set(gpu_device: str, layout: mig.MigLayout, memory: str | None) -> dict[str, Any]:
    """The counter set of one GPU, named after its device."""
    return {"name": gpu_device, "counters": _counters(layout, memory)}


def _consumes(gpu_device: str, counters: Mapping[str, dict[str, str]]) -> list[dict[str, Any]]:
    return [{"counterSet": gpu_device, "counters": {k: dict(v) for k, v in counters.items()}}]


def _partition(
    whole: Mapping[str, Any], profile: mig.MigProfile, start: int, memory_quantity: str
) -> dict[str, Any]:
    counters = {
        dra_names.COUNTER_MEMORY_SLICE.format(i): _one(1)
        for i in range(start, start + profile.memory_slices)
    }
    counters[dra_names.COUNTER_COMPUTE_SLICES] = _one(profile.compute_slices)
    if dra_names.COUNTER_MEMORY in whole["consumesCounters"][0]["counters"]:
        counters[dra_names.COUNTER_MEMORY] = _one(memory_quantity)
    attributes = dict(whole["attributes"])
    attributes.update({
        dra_names.MIG_PROFILE: {"string": profile.name},
        dra_names.MIG_PROFILE_ID: {"int": profile.id},
        dra_names.MIG_START: {"int": start},
    })  # fmt: skip
    device: dict[str, Any] = {
        "name": dra_names.mig_device_name(whole["name"], profile.label, start),
        "attributes": attributes,
        "capacity": {dra_names.MEMORY: {"value": memory_quantity}},
        "consumesCounters": _consumes(whole["name"], counters),
    }
    if "taints" in whole:
        device["taints"] = [dict(t) for t in whole["taints"]]
    return device


def partitioned(
    whole: dict[str, Any],
    layout: mig.MigLayout,
    memory: str | None,
    quantity: Any,  # slice_devices.memory_quantity: MiB -> a canonical quantity
) -> Iterator[dict[str, Any]]:
    """The whole GPU consuming its every counter, then each profile at each placement."""
    whole = {**whole, "consumesCounters": _consumes(whole["name"], _counters(layout, memory))}
    yield whole
    for profile in layout.profiles:
        for start in profile.starts:
            yield _partition(whole, profile, start, quantity(profile.memory_mb))


def layout_of(facts: Mapping[str, str]) -> mig.MigLayout | None:
    return mig.decode(facts.get(mig.ATTR_MIG_PROFILES))


def counter_slices_specs(sets: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The pool's counter sets, as many to a slice as 1.35 allows."""
    return [list(sets[i : i + MAX_COUNTER_SETS]) for i in range(0, len(sets), MAX_COUNTER_SETS)]
