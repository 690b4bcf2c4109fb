"""One owner per device: a ResourceClaim's devices claimed for a pod, or refused.

The kubelet plugin of a node asks, through its agent, for the devices the scheduler
allocated to a ResourceClaim (by PCI address). In order:

1. look: each address must be a PCI attach handle of that host (else 404), free or
   already this claim's; one a VM holds (an ARQ) or another claim holds is refused
   with who holds it (409). All of them already this claim's: a kubelet retry, which
   only makes sure Placement holds them too (and records the namespace and name it
   gives: a device plugin's claim learns its pod after Allocate).
2. Placement: one unit per device on its deployable's provider, for consumer = the
   claim's uid, type ``POD`` (cyborg.conductor.pods.placement_units). Placement's
   capacity check is the arbiter against Nova's and Cyborg's own VM claims.
3. the database: every handle from free to in use (a compare-and-swap) and a
   ``pod_device_claims`` row each, in one transaction. A handle taken meanwhile
   undoes step 2 and refuses the claim, unless it was this claim's own retry.

Release runs the other way: the rows go and the handles are freed first, then the
allocations (a crash in between leaves a unit held in Placement, which the next
release of that uid removes, rather than a device that two owners could take).
Releasing an unknown claim succeeds. Without Placement configured, step 2 is left out
and the database alone keeps one owner per device.

A claim's MIG partitions (cyborg.conductor.pods.partitions) are claimed before its
whole devices and given back if those are refused; several claims may hold
partitions of one GPU, which is then no claim's to take whole.
"""

import re
from collections.abc import Sequence

from oslo_log import log

from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.conductor.pods import partitions as pod_partitions
from cyborg.conductor.pods import placement_units
from cyborg.objects import pod_claim, pod_partition

LOG = log.getLogger(__name__)

# A ResourceClaim's uid (Kubernetes makes uuids), namespace (a DNS label) and name (a
# DNS subdomain): checked so that what is stored is what Kubernetes could have sent.
_UID = re.compile(r"^[0-9a-fA-F-]{1,36}$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def claim_ref(claim_uid: str, namespace: str, name: str) -> pod_claim.PodClaimRef:
    """The claim as stored; 400 for what no ResourceClaim could be."""
    _check("claim uid", claim_uid, _UID)
    _check("namespace", namespace, _LABEL)
    _check("name", name, _SUBDOMAIN)
    return pod_claim.PodClaimRef(claim_uid, namespace, name)


def checked_uid(claim_uid: str) -> str:
    """``claim_uid`` if a ResourceClaim could have it; else 400."""
    _check("claim uid", claim_uid, _UID)
    return claim_uid


def _check(what: str, value: object, pattern: "re.Pattern[str]") -> None:
    if not isinstance(value, str) or not pattern.match(value):
        raise exception.Invalid(reason=f"{what} {value!r} is not one of a ResourceClaim")


def refusal(
    hostname: str, device: pod_claim.HostDevice, claim_uid: str
) -> exception.CyborgException | None:
    """Why ``device`` cannot go to claim ``claim_uid``; None when it can (free or its own)."""
    if pod_partition.is_shared(device.claim):
        return exception.GpuHeldByMigPartitions(host=hostname, address=device.pci_address)
    if device.claim is not None:
        if device.claim.uid == claim_uid:
            return None
        return exception.DeviceHeldByPod(
            host=hostname,
            address=device.pci_address,
            claim_uid=device.claim.uid,
            pod=device.claim.pod,
        )
    if device.holder == pod_claim.INSTANCE:
        return exception.DeviceHeldByInstance(
            host=hostname,
            address=device.pci_address,
            instance=device.instance_uuid or "unknown: its device is still being cleaned up",
        )
    return None


class PodClaims:
    """Claims and releases pods' devices for the conductor's RPC methods."""

    def __init__(self, units: placement_units.PodUnits | None) -> None:
        """``units``: the Placement side; None when Placement is not configured."""
        self.units = units
        self.partitions = pod_partitions.PodPartitions(units)

    def claim(
        self,
        context: RequestContext,
        *,
        hostname: str,
        claim: pod_claim.PodClaimRef,
        pci_addresses: Sequence[str],
        partitions: Sequence[pod_partition.Partition] = (),
    ) -> None:
        """The devices at ``pci_addresses`` and the MIG ``partitions``, all or none."""
        if not pci_addresses and not partitions:
            raise exception.Invalid(reason="a pod claim needs at least one device")
        new = bool(partitions) and self.partitions.claim(context, hostname, claim, partitions)
        if not pci_addresses:
            return
        try:
            self._claim_whole(context, hostname, claim, pci_addresses)
        except Exception:
            if new:
                self.partitions.give_back(context, hostname, claim.uid)
            raise

    def _claim_whole(
        self,
        context: RequestContext,
        hostname: str,
        claim: pod_claim.PodClaimRef,
        pci_addresses: Sequence[str],
    ) -> None:
        devices = self._look(context, hostname, claim, pci_addresses)
        if all(d.claim is not None and d.claim.uid == claim.uid for d in devices):
            self._place(claim, hostname, devices)  # a retry: Placement may lack them
            if any(d.claim != claim for d in devices):
                # A device plugin's claim learns its pod after Allocate (from the
                # kubelet's PodResources) and names it in a retry.
                pod_claim.rename(context, claim, hostname)
            return
        self._place(claim, hostname, devices)
        try:
            pod_claim.record(context, claim, hostname, devices)
        except exception.DeviceTaken as err:
            self._after_lost_race(context, hostname, claim, devices, err)
        except Exception:
            # Nothing was recorded (the database failed, the call's deadline passed):
            # the units go back too, and a retry of the claim does it all again.
            self._unplace(claim.uid)
            raise

    def _look(
        self,
        context: RequestContext,
        hostname: str,
        claim: pod_claim.PodClaimRef,
        pci_addresses: Sequence[str],
    ) -> list[pod_claim.HostDevice]:
        if not pci_addresses:
            raise exception.Invalid(reason="a pod claim needs at least one device")
        if not all(isinstance(a, str) for a in pci_addresses):
            raise exception.Invalid(reason="PCI addresses are strings, as 0000:3b:00.0")
        addresses = list(dict.fromkeys(a.lower() for a in pci_addresses))  # as stored
        found = pod_claim.find_devices(context, hostname, addresses)
        for address in addresses:
            if address not in found:
                raise exception.PodDeviceNotFound(host=hostname, address=address)
        devices = [found[address] for address in addresses]
        for device in devices:
            refused = refusal(hostname, device, claim.uid)
            if refused is not None:
                raise refused
        held = {h.handle_id for h in pod_claim.get_claim(context, claim.uid)}
        if held and held != {d.handle_id for d in devices}:
            raise exception.PodClaimConflict(
                claim_uid=claim.uid,
                reason="it already holds other devices; release it before claiming again",
            )
        return devices

    def _place(
        self,
        claim: pod_claim.PodClaimRef,
        hostname: str,
        devices: Sequence[pod_claim.HostDevice],
    ) -> None:
        if self.units is not None:
            wanted = placement_units.allocations(hostname, devices)
            self.units.place(claim, hostname, wanted)

    def _after_lost_race(
        self,
        context: RequestContext,
        hostname: str,
        claim: pod_claim.PodClaimRef,
        devices: Sequence[pod_claim.HostDevice],
        err: exception.DeviceTaken,
    ) -> None:
        """A handle went to someone else between the look and the write: give the units
        back and say who has it. Taken by this very claim (a concurrent retry): done."""
        now = pod_claim.find_devices(context, hostname, [d.pci_address for d in devices])
        refusals = [refusal(hostname, d, claim.uid) for d in now.values()]
        if all(d.claim is not None and d.claim.uid == claim.uid for d in now.values()):
            return
        self._unplace(claim.uid)
        raise next((r for r in refusals if r is not None), err)

    def _unplace(self, claim_uid: str) -> None:
        """Best effort: what stays is removed by the claim's release, or rewritten by
        its retry."""
        if self.units is None:
            return
        try:
            self.units.remove(claim_uid)
        except Exception as err:
            LOG.warning("Pod claim %s failed; its units in Placement stay: %s", claim_uid, err)

    def release(self, context: RequestContext, *, hostname: str, claim_uid: str) -> None:
        self.partitions.release(context, hostname, claim_uid)
        freed = pod_claim.forget(context, claim_uid, hostname)
        if freed:
            LOG.info("Pod claim %s on %s gave back %d device(s)", claim_uid, hostname, len(freed))
        if self.units is not None and not pod_claim.claims_elsewhere(context, claim_uid, hostname):
            self.units.remove(claim_uid)

    def holders(self, context: RequestContext, hostname: str) -> dict[str, str]:
        return pod_claim.holders(context, hostname)
