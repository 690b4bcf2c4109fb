"""The agent's side of "one owner per device": pods' devices claimed through the
conductor, which holds the database and Placement (cyborg.conductor.pods).

The kubelet plugin hands a ResourceClaim's devices (PCI addresses) to ``claim`` before
the pod starts and its uid to ``release`` after it stopped; the conductor records the
claim and writes its Placement allocation, so that Nova sees the devices in use and
a device a VM holds is refused. Every refusal becomes DeviceRefused with a reason the
kubelet shows: held by a VM, held by another pod, no free unit in Placement, unknown
device, the conductor too old or not answering. A claim's MIG partitions go as
themselves (GPU address, profile, start; RPC API 1.7), so that several claims hold
partitions of one GPU.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import oslo_messaging

from cyborg.common import context as cyborg_context
from cyborg.common import exception, rpc
from cyborg.common.context import RequestContext
from cyborg.kubernetes.ownership_errors import DeviceRefused

HELD_BY_VM = "held by a VM"
HELD_BY_POD = "held by another pod"
NO_FREE_UNIT = "no free unit in Placement"
UNKNOWN_DEVICE = "unknown to Cyborg on this host"
CONDUCTOR_TOO_OLD = "the conductor is too old for pods' devices (needs RPC API 1.6)"
CONDUCTOR_TOO_OLD_FOR_MIG = (
    "the conductor is too old for MIG partitions that claims share (needs RPC API 1.7)"
)
NO_ANSWER = "conductor did not answer"


class ClaimRefLike(Protocol):
    """A ResourceClaim as the plugin names it."""

    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def uid(self) -> str: ...


class DeviceLike(Protocol):
    """A device as the plugin names it (cyborg.kubernetes.devices.PluginDevice)."""

    @property
    def id(self) -> str: ...  # its PCI address

    @property
    def deployable(self) -> str: ...


class PartitionLike(Protocol):
    """A MIG partition as the plugin names it (cyborg.kubernetes.dra.ownership)."""

    @property
    def id(self) -> str: ...  # its GPU's PCI address

    @property
    def profile(self) -> str: ...

    @property
    def start(self) -> int: ...


class PodClaimsAPI(Protocol):
    """The conductor's RPC client methods used here (cyborg.conductor.rpcapi.ConductorAPI)."""

    def claim_devices_for_pod(
        self,
        context: RequestContext,
        *,
        hostname: str,
        claim_uid: str,
        namespace: str,
        name: str,
        pci_addresses: Sequence[str],
        partitions: Sequence[Mapping[str, Any]] = (),
    ) -> None: ...

    def release_pod_claim(
        self, context: RequestContext, *, hostname: str, claim_uid: str
    ) -> None: ...

    def device_holders(self, context: RequestContext, *, hostname: str) -> dict[str, str]: ...


def reason_for(err: Exception) -> str:
    """The kubelet's words for a conductor's refusal."""
    message = getattr(err, "message", None) or str(err) or type(err).__name__
    if isinstance(err, exception.DeviceHeldByInstance):
        return f"{HELD_BY_VM}: {message}"
    if isinstance(err, exception.DeviceHeldByPod):
        return f"{HELD_BY_POD}: {message}"
    if isinstance(err, exception.NoFreeAccelerator):
        return f"{NO_FREE_UNIT}: {message}"
    if isinstance(err, exception.PodDeviceNotFound):
        return f"{UNKNOWN_DEVICE}: {message}"
    if isinstance(err, exception.Conflict) and "RPC API 1.7" in message:
        return f"{CONDUCTOR_TOO_OLD_FOR_MIG}: {message}"
    if isinstance(err, exception.Conflict) and "RPC API 1.6" in message:
        return f"{CONDUCTOR_TOO_OLD}: {message}"
    if isinstance(err, (exception.ConductorUnavailable, oslo_messaging.MessagingTimeout)):
        return f"{NO_ANSWER}: {message}"
    if isinstance(err, rpc.SEND_FAILURES):
        return f"{NO_ANSWER} (the message broker is unreachable): {message}"
    return message


class ConductorDeviceOwner:
    """The kubelet plugin's DeviceOwner, over the conductor's RPC API, for one host."""

    def __init__(
        self,
        conductor: PodClaimsAPI,
        hostname: str,
        *,
        context: Callable[[], RequestContext] = cyborg_context.get_admin_context,
    ) -> None:
        """``hostname``: the agent's (its devices' host, as the conductor stores it)."""
        self.conductor = conductor
        self.hostname = hostname
        self._context = context

    def claim(
        self,
        claim: ClaimRefLike,
        devices: Sequence[DeviceLike],
        partitions: Sequence[PartitionLike] = (),
    ) -> None:
        """Claim ``devices`` and MIG ``partitions`` for ``claim``, all or none;
        DeviceRefused says why not."""
        extra: dict[str, Any] = {}
        if partitions:
            extra["partitions"] = [
                {"pci_address": p.id, "profile": p.profile, "start": p.start}
                for p in sorted(partitions, key=lambda p: (p.id, p.start, p.profile))
            ]
        try:
            self.conductor.claim_devices_for_pod(
                self._context(),
                hostname=self.hostname,
                claim_uid=claim.uid,
                namespace=claim.namespace,
                name=claim.name,
                pci_addresses=[device.id for device in devices],
                **extra,
            )
        except Exception as err:
            raise DeviceRefused(reason_for(err)) from err

    def release(self, claim_uid: str) -> None:
        """Give back what ``claim_uid`` holds here (an unknown claim: nothing); a
        failure raises DeviceRefused, for the kubelet to try again."""
        try:
            self.conductor.release_pod_claim(
                self._context(), hostname=self.hostname, claim_uid=claim_uid
            )
        except Exception as err:
            raise DeviceRefused(reason_for(err)) from err

    def check_admin_access(self, claim: ClaimRefLike, devices: Sequence[DeviceLike]) -> None:
        """adminAccess: refused for a device a VM holds (in its passthrough, no host
        access); another pod's device is fine. Nothing is claimed."""
        try:
            holders = self.holders()
        except Exception as err:
            raise DeviceRefused(reason_for(err)) from err
        for device in devices:
            if holders.get(device.deployable) == "instance":
                raise DeviceRefused(f"{HELD_BY_VM}: device {device.id} ({device.deployable}) "
                                    "is passed through to a VM; adminAccess cannot reach it "
                                    "from the host")  # fmt: skip

    def holders(self) -> dict[str, str]:
        """{deployable name: "instance" or "pod"} of this host's held deployables (the
        slice publisher taints what a VM holds); raises what the conductor raised."""
        return self.conductor.device_holders(self._context(), hostname=self.hostname)
