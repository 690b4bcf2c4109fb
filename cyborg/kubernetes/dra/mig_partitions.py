"""MIG partitions at NodePrepareResources: made when a claim is prepared, gone after.

A partition's device name ("pci-0000-3b-00-0-mig-1g-10gb-3", cyborg.kubernetes.
mig_slices) names its GPU, its GPU instance profile and the memory slice its
placement starts at. Preparing it makes that GPU instance with its default compute
instance (``nvidia-smi mig -cgi 1g.10gb:3 -C``) through a ``MigPartitioner`` the agent
provides (it runs nvidia-smi as root, cyborg.agent.mig); the instance's ids go into
the claim's checkpoint entry, so that unprepare, also after a restart, destroys
exactly it. The container gets the GPU's device nodes, the instance's
``/dev/nvidia-caps`` nodes and ``NVIDIA_VISIBLE_DEVICES``/``CUDA_VISIBLE_DEVICES`` set
to the MIG device's uuid.

The owner (cyborg.kubernetes.dra.ownership) is asked for the whole GPU: Placement
knows the GPU as one unit, so while a claim holds partitions of a GPU no VM can take
it, and another claim's partitions of the same GPU are refused at prepare.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

from cyborg.common.mig import MigError, MigInstance
from cyborg.kubernetes import dra_names

__all__ = ["MigError", "MigInstance", "MigPartitioner", "Partition", "container_edits",
           "partition_of"]  # fmt: skip


class MigPartitioner(Protocol):
    def create(self, gpu_address: str, profile: str, start: int) -> MigInstance:
        """Make a GPU instance of ``profile`` ("1g.10gb") at ``start`` and its default
        compute instance; MigError when the GPU refuses."""

    def destroy(self, instance: MigInstance) -> None:
        """Destroy the compute and GPU instance; one already gone is no error."""


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


def container_edits(
    instance: MigInstance, gpu_nodes: Sequence[str], env: Sequence[str] = ()
) -> dict[str, Any]:
    """What a container of the claim gets for one partition; ``env`` (NAME=value, from
    the claim's configuration) after the partition's own."""
    nodes = [*gpu_nodes, *instance.device_nodes]
    edits: dict[str, Any] = {
        "env": [
            f"NVIDIA_VISIBLE_DEVICES={instance.uuid}",
            f"CUDA_VISIBLE_DEVICES={instance.uuid}",
            *env,
        ]
    }
    if nodes:
        edits["deviceNodes"] = [{"path": path} for path in nodes]
    return edits
