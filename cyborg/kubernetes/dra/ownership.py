"""Who may use a device: the hook NodePrepareResources asks before it hands one out.

The scheduler allocated the claim's devices from the ResourceSlices, but Nova may
hold the same device for a VM. A ``DeviceOwner`` makes the claim the device's owner
(the conductor and Placement, in the owner other code provides) or refuses it with
``DeviceRefused``; the reason reaches the pod's events. ``LocalOwner`` is the default
when nothing else is wired: it only keeps two claims on this node off one device.

A MIG partition is owned as itself (``GpuPartition``: its GPU, profile and start), not
as its GPU: several claims may own different partitions of one GPU, never the same
one, and no claim owns the GPU whole while any partition of it is owned.
"""

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.ownership_errors import DeviceRefused

__all__ = ["ClaimRef", "DeviceOwner", "DeviceRefused", "GpuPartition", "LocalOwner",
           "OwnerFactory", "PreparedView"]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ClaimRef:
    """A ResourceClaim as the kubelet names it in NodePrepareResources."""

    namespace: str
    name: str
    uid: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name} ({self.uid})"


@dataclasses.dataclass(frozen=True)
class GpuPartition:
    """A MIG partition a claim owns: its GPU, GPU instance profile and start."""

    gpu: PluginDevice
    profile: str  # "1g.10gb"
    start: int

    @property
    def id(self) -> str:  # the GPU's PCI address
        return self.gpu.id

    @property
    def deployable(self) -> str:
        return self.gpu.deployable


class DeviceOwner(Protocol):
    def claim(
        self,
        claim: ClaimRef,
        devices: Sequence[PluginDevice],
        partitions: Sequence[GpuPartition] = (),
    ) -> None:
        """Make ``claim`` the owner of ``devices`` and of the MIG ``partitions`` (all
        or none); raise DeviceRefused. Other claims may own other partitions of the
        same GPU.

        Called again for a claim that already owns them (a retry): that must succeed."""

    def release(self, claim_uid: str) -> None:
        """Give up what the claim owns; a claim that owns nothing is no error."""

    def check_admin_access(self, claim: ClaimRef, devices: Sequence[PluginDevice]) -> None:
        """May ``claim`` have monitoring access (adminAccess) to ``devices``, which it
        does not own and another claim may hold? DeviceRefused when a VM holds one:
        it is in the VM's passthrough, out of the host's reach."""


class PreparedView(Protocol):
    """What the plugin has prepared, as its checkpoint knows it."""

    def claim_of(self, device_id: str) -> ClaimRef | None:
        """The claim a device (by PCI address) is prepared for, if any."""

    def owners_of(self, device_id: str) -> list[tuple[ClaimRef, tuple[str, int] | None]]:
        """The claims a device (by PCI address) is prepared for, each with the MIG
        partition (profile, start) it holds of it, None for the whole device."""


class OwnerFactory(Protocol):
    """Makes the owner of one DRA driver's devices; ``LocalOwner`` is one."""

    def __call__(self, driver: str, prepared: PreparedView) -> DeviceOwner: ...


class LocalOwner:
    """Refuses a device already prepared for another claim; nothing beyond this node."""

    def __init__(self, driver: str, prepared: PreparedView) -> None:
        self.driver = driver
        self.prepared = prepared

    def claim(
        self,
        claim: ClaimRef,
        devices: Sequence[PluginDevice],
        partitions: Sequence[GpuPartition] = (),
    ) -> None:
        for device in devices:
            for holder, part in self.prepared.owners_of(device.id):
                if holder.uid == claim.uid:
                    continue
                what = " (MIG partitions of it)" if part else ""
                raise DeviceRefused(f"device {device.id} of {self.driver} is already "
                                    f"prepared{what} for claim {holder}")  # fmt: skip
        for partition in partitions:
            for holder, part in self.prepared.owners_of(partition.id):
                if holder.uid == claim.uid:
                    continue
                if part is None:
                    what = "the whole GPU"
                elif part == (partition.profile, partition.start):
                    what = "this partition"
                else:
                    continue  # another partition of the GPU: the GPU says if it fits
                raise DeviceRefused(f"MIG {partition.profile} at {partition.start} on "
                                    f"{partition.id} of {self.driver}: {what} is already "
                                    f"prepared for claim {holder}")  # fmt: skip

    def release(self, claim_uid: str) -> None:
        pass  # the checkpoint entry going is the release

    def check_admin_access(self, claim: ClaimRef, devices: Sequence[PluginDevice]) -> None:
        pass  # it knows no VMs; another claim's device is fine for adminAccess
