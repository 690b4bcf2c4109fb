"""The MIG geometry of a GPU, as the NVIDIA driver reports it and the slices read it.

A MIG-capable GPU in MIG mode with no instances made yet can be cut at will: each GPU
instance profile (``nvidia-smi mig -lgip``) has a name ("1g.10gb"), an id (19), a
memory size, a number of compute slices (the "1g") and the memory slices it spans,
and may start at the placements ``nvidia-smi mig -lgipp`` lists. The driver reports
that as one attribute (``ATTR_MIG_PROFILES``) of the GPU's deployable; this module is
the attribute's one format, canonical JSON::

    {"compute_slices": 7, "memory_slices": 8,
     "profiles": [{"compute_slices": 1, "id": 19, "memory_mb": 9984,
                   "memory_slices": 1, "name": "1g.10gb", "starts": [0, 1, ..., 6]},
                  ...]}
"""

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

ATTR_MIG_PROFILES = "mig_profiles"
_PROFILE_NAME = re.compile(r"^(\d+)g\.(\d+)gb$")  # no "+me": see MigProfile


@dataclasses.dataclass(frozen=True)
class MigProfile:
    """A GPU instance profile without media-engine extensions ("+me", "+gfx"): those
    are one-of-a-kind on the GPU, which counters cannot say."""

    id: int
    name: str  # "1g.10gb"
    memory_mb: int
    compute_slices: int
    memory_slices: int  # the placement size
    starts: tuple[int, ...]  # the placement start indices, in memory slices

    @property
    def label(self) -> str:
        """The name as a DNS label part: "1g-10gb"."""
        return self.name.replace(".", "-")


@dataclasses.dataclass(frozen=True)
class MigLayout:
    compute_slices: int  # of the whole GPU: 7 on A100/H100/H200
    memory_slices: int  # of the whole GPU: 8
    profiles: tuple[MigProfile, ...]

    def profile(self, label: str) -> MigProfile | None:
        return next((p for p in self.profiles if p.label == label), None)


def plain_profile(name: str) -> bool:
    return bool(_PROFILE_NAME.match(name))


def encode(layout: MigLayout) -> str:
    return json.dumps(
        {
            "compute_slices": layout.compute_slices,
            "memory_slices": layout.memory_slices,
            "profiles": [
                {**dataclasses.asdict(p), "starts": list(p.starts)} for p in layout.profiles
            ],
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def decode(value: str | None) -> MigLayout | None:
    """The layout an attribute value holds; None for none or one that does not parse."""
    if not value:
        return None
    try:
        document = json.loads(value)
        profiles = tuple(
            MigProfile(
                id=int(p["id"]),
                name=str(p["name"]),
                memory_mb=int(p["memory_mb"]),
                compute_slices=int(p["compute_slices"]),
                memory_slices=int(p["memory_slices"]),
                starts=tuple(int(s) for s in p["starts"]),
            )
            for p in document["profiles"]
        )
        layout = MigLayout(
            int(document["compute_slices"]), int(document["memory_slices"]), profiles
        )
    except (ValueError, KeyError, TypeError):
        return None
    fits = all(
        plain_profile(p.name)
        and 0 < p.compute_slices <= layout.compute_slices
        and all(s >= 0 and s + p.memory_slices <= layout.memory_slices for s in p.starts)
        for p in profiles
    )
    return layout if fits and layout.memory_slices <= 8 else None


# A GPU instance made for a DRA claim (cyborg.kubernetes.dra.mig_partitions), as the
# agent's nvidia-smi partitioner (cyborg.agent.mig) returns it.
class MigError(Exception):
    """The partition could not be made or destroyed; the message says why."""


@dataclasses.dataclass(frozen=True)
class MigInstance:
    gpu_address: str  # "0000:3b:00.0"
    gpu_instance: int
    compute_instance: int
    uuid: str  # "MIG-..." as nvidia-smi -L names it
    device_nodes: tuple[str, ...] = ()  # /dev/nvidia-caps/nvidia-cap<N> of GI and CI

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "device_nodes": list(self.device_nodes)}

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> "MigInstance":
        return cls(
            gpu_address=str(entry["gpu_address"]),
            gpu_instance=int(entry["gpu_instance"]),
            compute_instance=int(entry["compute_instance"]),
            uuid=str(entry["uuid"]),
            device_nodes=tuple(str(n) for n in entry.get("device_nodes", ())),
        )


#: Where the agent's partitioner lists the GPU instances it made for DRA claims, under
#: ``[agent] sysfs_root``: ``{"<gpu address>": [[gi, ci], ...]}``. The NVIDIA driver
#: reads it: a GPU whose MIG devices are all listed is still reported whole, with its
#: geometry, so that the slices go on offering its other partitions to other claims.
DRA_INSTANCES_PATH = "var/lib/cyborg/dra-mig-instances.json"

MadeInstances = dict[str, frozenset[tuple[int, int]]]


def encode_made(made: Mapping[str, Iterable[tuple[int, int]]]) -> str:
    document = {gpu: sorted([gi, ci] for gi, ci in ids) for gpu, ids in sorted(made.items())}
    return json.dumps({gpu: ids for gpu, ids in document.items() if ids}, sort_keys=True)


def decode_made(text: str | None) -> MadeInstances:
    """The instances a DRA_INSTANCES_PATH file lists; {} for none or one unreadable."""
    try:
        document = json.loads(text or "{}")
        return {
            str(gpu): frozenset((int(gi), int(ci)) for gi, ci in ids)
            for gpu, ids in dict(document).items()
        }
    except (ValueError, TypeError):
        return {}
