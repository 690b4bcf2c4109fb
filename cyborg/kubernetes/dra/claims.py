"""Which devices a ResourceClaim was allocated on this node, from its resource.k8s.io/v1 object.

NodePrepareResources names a claim only (namespace, name, uid); the allocation is in
the claim's ``status.allocation.devices.results``, one entry per request and device,
each naming the driver, the pool (the node, for Cyborg's slices) and the device. The
plugin reads the claim through a ``ClaimSource``; the API-server client is one, a
test's dictionary another. A result with ``adminAccess: true`` asks for monitoring
access to a device that may be in use by another claim: such a device is prepared
without being owned.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from cyborg.kubernetes.dra.ownership import ClaimRef


class ClaimNotFound(LookupError):
    """The API server has no such ResourceClaim (any more)."""


class ClaimUnusable(ValueError):
    """The claim cannot be prepared here; the message says why (the pod's event)."""


class ClaimSource(Protocol):
    def get(self, namespace: str, name: str) -> dict[str, Any]:
        """The ResourceClaim object; raises ClaimNotFound (other errors: the API is down)."""


class NoClaimSource:
    """What the plugin uses until an API-server client is wired: every claim fails."""

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        raise ClaimNotFound("cyborg-agent has no Kubernetes API client configured to read "
                            f"ResourceClaim {namespace}/{name}")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class AllocatedDevice:
    device_name: str  # the slice's device name, dra_names.device_name(PCI address)
    pool_name: str
    request_names: tuple[str, ...]  # the claim's requests this device serves
    admin_access: bool = False  # every result naming it has adminAccess


def _results(claim: Mapping[str, Any], ref: ClaimRef) -> list[Mapping[str, Any]]:
    metadata = claim.get("metadata") or {}
    uid = metadata.get("uid")
    if uid != ref.uid:
        raise ClaimUnusable(f"ResourceClaim {ref.namespace}/{ref.name} has uid {uid}, "
                            f"not {ref.uid}: it was deleted and made again")  # fmt: skip
    allocation = (claim.get("status") or {}).get("allocation")
    if not allocation:
        raise ClaimUnusable(f"ResourceClaim {ref} is not allocated")
    results = (allocation.get("devices") or {}).get("results") or []
    if not isinstance(results, list) or not all(isinstance(r, Mapping) for r in results):
        raise ClaimUnusable(f"ResourceClaim {ref} has malformed allocation results")
    return results


def allocated_devices(
    claim: Mapping[str, Any], ref: ClaimRef, driver: str, pool: str
) -> tuple[AllocatedDevice, ...]:
    """The claim's devices of ``driver`` in ``pool``, each once, in allocation order.

    Raises ClaimUnusable when the object is not the claim the kubelet named or has no
    device of this driver on this node (preparing nothing would start the pod without
    the devices it asked for)."""
    mine = [r for r in _results(claim, ref) if r.get("driver") == driver]
    if not mine:
        raise ClaimUnusable(f"ResourceClaim {ref} has no device of driver {driver}")
    here = [r for r in mine if r.get("pool") == pool]
    if not here:
        pools = ", ".join(sorted({str(r.get("pool")) for r in mine}))
        raise ClaimUnusable(f"ResourceClaim {ref} has {driver} devices in pool {pools}, "
                            f"not in this node's pool {pool}")  # fmt: skip
    requests: dict[str, list[str]] = {}
    admin: dict[str, bool] = {}
    for result in here:
        device, request = result.get("device"), result.get("request")
        if not isinstance(device, str) or not device or not isinstance(request, str):
            raise ClaimUnusable(f"ResourceClaim {ref} has a result without device or request")
        names = requests.setdefault(device, [])
        if request not in names:
            names.append(request)
        admin[device] = admin.get(device, True) and result.get("adminAccess") is True
    return tuple(AllocatedDevice(d, pool, tuple(r), admin[d]) for d, r in requests.items())
