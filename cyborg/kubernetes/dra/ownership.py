"""Who may use a device: the hook NodePrepareResources asks before it hands one out.

The scheduler allocated the claim's devices from the ResourceSlices, but Nova may
hold the same device for a VM. A ``DeviceOwner`` makes the claim the device's owner
(the conductor and Placement, in the owner other code provides) or refuses it with
``DeviceRefused``; the reason reaches the pod's events. ``LocalOwner`` is the default
when nothing else is wired: it only keeps two claims on this node off one device.
"""

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.ownership_errors import DeviceRefused

__all__ = ["ClaimRef", "DeviceOwner", "DeviceRefused", "LocalOwner", "OwnerFactory"]


@dataclasses.dataclass(frozen=True)
class ClaimRef:
    """A ResourceClaim as the kubelet names it in NodePrepareResources."""

    namespace: str
    name: str
    uid: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name} ({self.uid})"


class DeviceOwner(Protocol):
    def claim(self, claim: ClaimRef, devices: Sequence[PluginDevice]) -> None:
        """Make ``claim`` the owner of ``devices`` (all or none); raise DeviceRefused.

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


class OwnerFactory(Protocol):
    """Makes the owner of one DRA driver's devices; ``LocalOwner`` is one."""

    def __call__(self, driver: str, prepared: PreparedView) -> DeviceOwner: ...


class LocalOwner:
    """Refuses a device already prepared for another claim; nothing beyond this node."""

    def __init__(self, driver: str, prepared: PreparedView) -> None:
        self.driver = driver
        self.prepared = prepared

    def claim(self, claim: ClaimRef, devices: Sequence[PluginDevice]) -> None:
        for device in devices:
            holder = self.prepared.claim_of(device.id)
            if holder is not None and holder.uid != claim.uid:
                raise DeviceRefused(f"device {device.id} of {self.driver} is already "
                                    f"prepared for claim {holder}")  # fmt: skip

    def release(self, claim_uid: str) -> None:
        pass  # the checkpoint entry going is the release

    def check_admin_access(self, claim: ClaimRef, devices: Sequence[PluginDevice]) -> None:
        pass  # it knows no VMs; another claim's device is fine for adminAccess
