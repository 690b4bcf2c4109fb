"""The device plugins' side of "one owner per device": Allocate claims, PodResources
releases.

A device the kubelet hands to a container through Allocate is claimed through the
device owner (the conductor: a ``POD`` consumer in Placement), one consumer per
device, its uid made from (node, resource name, device ID): the same after an agent
restart, so a repeated Allocate of a device (an init container's device reused by
the app container, a kubelet retry) is the owner's idempotent retry. The kubelet
never says when a pod ends, so ``observe`` gets what its PodResources API lists: a
held device listed for a pod is renamed to that pod (the API's ``holders`` show it);
one that ``release_after`` observations in a row did not list is released. Counting
observations, not seconds, is the grace for an Allocate the kubelet has not listed
yet; an Allocate of the device starts the count again.

A restarted agent does not know what its previous run claimed: the devices of its
first discovery are taken as possibly held and go through the same count (releasing
a claim that does not exist is no error).
"""

import dataclasses
import threading
import uuid
from collections.abc import Sequence
from typing import Protocol

from oslo_log import log

from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.ownership_errors import DeviceRefused
from cyborg.kubernetes.pod_resources import Assigned

LOG = log.getLogger(__name__)

#: The uuid5 namespace of device-plugin consumers.
CONSUMERS = uuid.UUID("3f0d7c52-9a61-5b8e-a4d2-6e1c0b9f7a35")
#: The namespace a claim names until PodResources lists its pod.
UNSEEN_NAMESPACE = "cyborg-device-plugin"


@dataclasses.dataclass(frozen=True)
class PluginClaimRef:
    """A device-plugin claim as the owner names it (cyborg.kubernetes.dra.ownership.ClaimRef)."""

    namespace: str
    name: str
    uid: str


class Owner(Protocol):
    """The device owner (cyborg.kubernetes.conductor_owner.ConductorDeviceOwner)."""

    def claim(self, claim: PluginClaimRef, devices: Sequence[PluginDevice]) -> None: ...

    def release(self, claim_uid: str) -> None: ...


def consumer_uid(node: str, resource_name: str, device_id: str) -> str:
    return str(uuid.uuid5(CONSUMERS, f"{node}/{resource_name}/{device_id}"))


def unseen_name(resource_name: str, device_id: str) -> str:
    """'gpu-0000-3b-00-0': a DNS subdomain naming the device until its pod is seen."""
    kind = resource_name.rsplit("/", 1)[-1].lower()
    return f"{kind}-{device_id.lower().replace(':', '-').replace('.', '-')}"


@dataclasses.dataclass
class _Held:
    device: PluginDevice
    uid: str
    pod: tuple[str, str] | None = None  # (namespace, name) as recorded; None: unseen
    misses: int = 0
    confirmed: bool = True  # False: from an earlier run, maybe not held at all
    warned: bool = False


class PluginClaims:
    """What this node's device plugins hold, for one owner; thread-safe."""

    def __init__(self, owner: Owner, node: str, release_after: int = 3) -> None:
        if release_after < 2:
            raise ValueError("release_after must be at least 2 observations")
        self.owner = owner
        self.node = node
        self.release_after = release_after
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], _Held] = {}
        self._adopted: set[str] = set()  # resource names whose earlier claims were adopted

    def adopt(self, resource_name: str, devices: Sequence[PluginDevice]) -> None:
        """The first devices of a resource name: maybe claimed by an earlier run."""
        with self._lock:
            if resource_name in self._adopted:
                return
            self._adopted.add(resource_name)
            for device in devices:
                key = (resource_name, device.id)
                if key not in self._held:
                    uid = consumer_uid(self.node, resource_name, device.id)
                    self._held[key] = _Held(device, uid, confirmed=False)

    def claim(self, resource_name: str, devices: Sequence[PluginDevice]) -> None:
        """Claim every device for Allocate, or none (DeviceRefused says why)."""
        with self._lock:
            taken: list[tuple[str, str]] = []
            for device in devices:
                key = (resource_name, device.id)
                held = self._held.get(key)
                uid = consumer_uid(self.node, resource_name, device.id)
                try:
                    self.owner.claim(self._ref(resource_name, device, uid, held), [device])
                except DeviceRefused as err:
                    self._give_back(taken)
                    raise DeviceRefused(f"device {device.id}: {err.reason}") from err
                if held is None or not held.confirmed:
                    taken.append(key)
                    self._held[key] = _Held(device, uid, held.pod if held else None)
                else:
                    held.misses = 0  # the count starts again: a new Allocate
            LOG.info("%s: claimed %s for Allocate", resource_name,
                     ", ".join(d.id for d in devices))  # fmt: skip

    def observe(self, assigned: Assigned) -> None:
        """One read of PodResources: name what is listed, release what has gone."""
        with self._lock:
            for key, held in list(self._held.items()):
                pod = assigned.get(key)
                if pod is not None:
                    held.misses = 0
                    if held.pod != pod or not held.confirmed:
                        self._name(key, held, pod)
                    continue
                held.misses += 1
                if held.misses >= self.release_after:
                    self._release(key, held)

    def _ref(
        self, resource_name: str, device: PluginDevice, uid: str, held: _Held | None
    ) -> PluginClaimRef:
        if held is not None and held.pod is not None:
            return PluginClaimRef(held.pod[0], held.pod[1], uid)
        return PluginClaimRef(UNSEEN_NAMESPACE, unseen_name(resource_name, device.id), uid)

    def _name(self, key: tuple[str, str], held: _Held, pod: tuple[str, str]) -> None:
        try:
            self.owner.claim(PluginClaimRef(pod[0], pod[1], held.uid), [held.device])
        except DeviceRefused as err:
            if not held.warned:  # tried again at each observation; said once
                LOG.warning("%s %s is %s/%s's in the kubelet, but claiming it failed: %s",
                            key[0], key[1], pod[0], pod[1], err.reason)  # fmt: skip
                held.warned = True
            return
        held.pod, held.confirmed, held.warned = pod, True, False

    def _release(self, key: tuple[str, str], held: _Held) -> None:
        try:
            self.owner.release(held.uid)
        except DeviceRefused as err:
            LOG.warning("%s %s: releasing it failed (%s); trying again", key[0], key[1],
                        err.reason)  # fmt: skip
            return
        del self._held[key]
        if held.confirmed:
            LOG.info("%s %s released: no pod holds it any more", key[0], key[1])

    def _give_back(self, keys: Sequence[tuple[str, str]]) -> None:
        """All or none: the devices this Allocate took before one was refused."""
        for key in keys:
            held = self._held.pop(key)
            try:
                self.owner.release(held.uid)
            except DeviceRefused as err:
                # Kept as unconfirmed: the next observations release it.
                LOG.warning("%s %s: giving it back failed (%s)", key[0], key[1], err.reason)
                held.confirmed, held.misses = False, 0
                self._held[key] = held
