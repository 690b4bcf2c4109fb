"""MIG partitions at NodePrepareResources: made when a claim is prepared, gone after.

A partition's device name ("pci-0000-3b-00-0-mig-1g-10gb-3", cyborg.kubernetes.
mig_slices) names its GPU, its GPU instance profile and the memory slice its
placement starts at. Preparing it makes that GPU instance with its default compute
instance (``nvidia-smi mig -cgi 1g.10gb:3 -C``) through a ``MigPartitioner`` the agent
provides (it runs nvidia-smi as root, cyborg.agent.mig); the instance's ids go into
the claim's checkpoint entry, so that unprepare, also after a restart, destroys
exactly it. The container gets the GPU's device nodes, the instance's
``/dev/nvidia-caps`` nodes and ``NVIDIA_VISIBLE_DEVICES``/``CUDA_VISIBLE_DEVICES`` set
to the uuids of all the claim's MIG devices, comma-separated, in one order
(``visible_uuids``): every partition's CDI device sets the same value, so a container
given several partitions sees them all, whichever of the edits the runtime applies
last.

The owner (cyborg.kubernetes.dra.ownership) is asked for the partition itself (GPU,
profile, start): several claims may hold different partitions of one GPU, the same
partition goes to one claim only, and while any is held no VM can take the GPU
(Placement knows it as one unit, held for all of them).
"""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from cyborg.common.mig import MigError, MigInstance
from cyborg.kubernetes import dra_names

__all__ = ["MigError", "MigInstance", "MigPartitioner", "Partition", "container_edits",
           "partition_of", "visible_uuids"]  # fmt: skip


class MigPartitioner(Protocol):
    def create(self, gpu_address: str, profile: str, start: int) -> MigInstance:
        """Make a GPU instance of ``profile`` ("1g.10gb") at ``start`` and its default
        compute instance; MigError when the GPU refuses."""

    def destroy(self, instance: MigInstance) -> None:
        """Destroy the compute and GPU instance; one already gone is no error."""

    def listed(self) -> Mapping[str, frozenset[tuple[int, int]]]:
        """{GPU address: (GPU instance, compute instance)} of the instances it made
        and has not destroyed, as its list (which survives a restart) says."""


@dataclasses.dataclass(frozen=True)
class Partition:
    gpu_device: str  # the whole GPU's device name
    profile: str  # "1g.10gb"
    start: int


def partition_of(device_name: str) -> Partition | None:
    """The partition a device name names; None for any other device."""
    parsed = dra_names.parse_mig_device_name(device_name)
    if parsed is None:
        return None
    gpu_device, label, start = parsed
    compute, memory = label.split("-", 1)
    return Partition(gpu_device, f"{compute}.{memory}", start)


def visible_uuids(made: Mapping[str, MigInstance]) -> list[str]:
    """The MIG uuids of a claim's partitions ({device name: instance}), in the order
    of their GPU's address, then their start, then their profile."""

    def key(item: tuple[str, MigInstance]) -> tuple[str, int, str]:
        partition = partition_of(item[0])
        start, profile = (partition.start, partition.profile) if partition else (-1, "")
        return item[1].gpu_address, start, profile

    return list(dict.fromkeys(instance.uuid for _, instance in sorted(made.items(), key=key)))


def container_edits(
    instance: MigInstance,
    gpu_nodes: Sequence[str],
    env: Sequence[str] = (),
    visible: Sequence[str] = (),
) -> dict[str, Any]:
    """What a container of the claim gets for one partition; ``visible``: the uuids of
    all the claim's partitions (``visible_uuids``; by default this one's), ``env``
    (NAME=value, from the claim's configuration) after the partition's own."""
    nodes = [*gpu_nodes, *instance.device_nodes]
    uuids = ",".join(visible or (instance.uuid,))
    edits: dict[str, Any] = {
        "env": [f"NVIDIA_VISIBLE_DEVICES={uuids}", f"CUDA_VISIBLE_DEVICES={uuids}", *env]
    }
    if nodes:
        edits["deviceNodes"] = [{"path": path} for path in nodes]
    return edits
