"""MIG partitions for pods' claims: several ResourceClaims share one GPU.

The kubelet plugin names a claim's MIG partitions (GPU address, GPU instance profile,
start) beside its whole devices. For each GPU, in one transaction that holds the GPU
handle's row lock (cyborg.objects.pod_partition):

1. look: a GPU a VM holds, or one claim holds whole, is refused (409); so is a
   partition another claim holds. The claim's own partitions: a kubelet retry.
2. Placement: the GPU's one unit for the GPU's own consumer
   (``pod_partition.gpu_consumer``, type ``POD``), written when its first partition
   is claimed and made sure of on every later claim. It is written under the lock, so
   the release of the GPU's last partition cannot remove it meanwhile; Placement's
   capacity check settles a race with a VM, as for a whole device.
3. the database: the partitions' rows (the first ones take the GPU's handle).

Release runs per GPU the same way: the claim's rows go; with the last one the handle
is freed and the GPU's unit removed from Placement, under the lock (a failure there
keeps the rows, and the kubelet's retry of the release does it again). A claim that
fails half way gives back the partitions it took (all or none). Overlapping
partitions of two claims are the scheduler's to avoid (the slices' shared counters):
this module keeps only the same partition from going to two claims.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from oslo_log import log

from cyborg.common import exception, mig
from cyborg.common.context import RequestContext
from cyborg.conductor.pods import placement_units
from cyborg.db import api as db_api
from cyborg.objects import pod_claim, pod_partition

LOG = log.getLogger(__name__)

_PCI_ADDRESS = re.compile(r"^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")
MAX_START = 7  # a GPU has at most eight memory slices (cyborg.common.mig)


def partitions_from(items: Iterable[Mapping[str, Any]] | None) -> list[pod_partition.Partition]:
    """The partitions an RPC call names ({"pci_address", "profile", "start"}), sorted
    and without repeats; 400 for what no MIG partition could be."""
    found = set()
    for item in items or ():
        if not isinstance(item, Mapping):
            raise exception.Invalid(reason=f"a MIG partition is a mapping, not {item!r}")
        address, profile, start = item.get("pci_address"), item.get("profile"), item.get("start")
        if not isinstance(address, str) or not _PCI_ADDRESS.match(address):
            raise exception.Invalid(reason=f"MIG partition GPU {address!r} is no PCI address")
        if not isinstance(profile, str) or not mig.plain_profile(profile):
            raise exception.Invalid(reason=f"MIG profile {profile!r} is not as 1g.10gb")
        if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start <= MAX_START:
            raise exception.Invalid(reason=f"MIG partition start {start!r} is not 0 to 7")
        found.add(pod_partition.Partition(address.lower(), profile, start))
    return sorted(found)


def refusal(
    hostname: str,
    gpu: pod_partition.LockedGpu,
    claim: pod_claim.PodClaimRef,
    partitions: Sequence[pod_partition.Partition],
) -> exception.CyborgException | None:
    """Why ``partitions`` of the locked GPU cannot go to ``claim``; None when they can."""
    device = gpu.device
    if device.claim is not None and not pod_partition.is_shared(device.claim):
        if device.claim.uid == claim.uid:
            return exception.PodClaimConflict(
                claim_uid=claim.uid,
                reason=f"it holds GPU {device.pci_address} whole; release it first",
            )
        return exception.DeviceHeldByPod(
            host=hostname,
            address=device.pci_address,
            claim_uid=device.claim.uid,
            pod=device.claim.pod,
        )
    if device.claim is None and device.holder == pod_claim.INSTANCE:
        return exception.DeviceHeldByInstance(
            host=hostname,
            address=device.pci_address,
            instance=device.instance_uuid or "unknown: its device is still being cleaned up",
        )
    for partition in partitions:
        holder = gpu.holder_of(partition.profile, partition.start)
        if holder is not None and holder.uid != claim.uid:
            return exception.MigPartitionHeldByPod(
                host=hostname, address=device.pci_address, profile=partition.profile,
                start=partition.start, claim_uid=holder.uid, pod=holder.pod,
            )  # fmt: skip
    return None


class PodPartitions:
    """Claims and releases claims' MIG partitions, GPU by GPU under its row lock."""

    def __init__(self, units: placement_units.PodUnits | None) -> None:
        """``units``: the Placement side; None when Placement is not configured."""
        self.units = units

    def claim(
        self,
        context: RequestContext,
        hostname: str,
        claim: pod_claim.PodClaimRef,
        partitions: Sequence[pod_partition.Partition],
    ) -> bool:
        """Give ``partitions`` to ``claim``, all or none; whether any was new (False:
        a retry)."""
        partitions = sorted(set(partitions))  # records in one order, whoever calls
        held = {(c.hostname, c.partition) for c in pod_partition.of_claim(context, claim.uid)}
        if held and held != {(hostname, p) for p in partitions}:
            raise exception.PodClaimConflict(
                claim_uid=claim.uid,
                reason="it already holds other MIG partitions; release it before claiming again",
            )
        by_gpu: dict[str, list[pod_partition.Partition]] = {}
        for partition in partitions:
            by_gpu.setdefault(partition.pci_address, []).append(partition)
        new = False
        try:
            for address, on_gpu in sorted(by_gpu.items()):
                new = self._claim_on(context, hostname, claim, address, on_gpu) or new
        except Exception:
            if new:
                self.give_back(context, hostname, claim.uid)
            raise
        return new

    def _claim_on(
        self,
        context: RequestContext,
        hostname: str,
        claim: pod_claim.PodClaimRef,
        address: str,
        partitions: Sequence[pod_partition.Partition],
    ) -> bool:
        with db_api.context_manager.writer.using(context):
            gpu = pod_partition.lock_gpu(context, hostname, address)
            refused = refusal(hostname, gpu, claim, partitions)
            if refused is not None:
                raise refused
            missing = [p for p in partitions if gpu.holder_of(p.profile, p.start) is None]
            self._place(hostname, gpu)  # under the lock: no last release removes it now
            if missing:
                pod_partition.add(context, claim, hostname, gpu, missing)
        return bool(missing)

    def _place(self, hostname: str, gpu: pod_partition.LockedGpu) -> None:
        if self.units is None:
            return
        address = gpu.device.pci_address
        consumer = pod_claim.PodClaimRef(
            pod_partition.gpu_consumer(hostname, address),
            pod_partition.SHARED_NAMESPACE,
            pod_partition.SHARED_NAME,
        )
        wanted = placement_units.allocations(hostname, [gpu.device])
        self.units.place(consumer, hostname, wanted)

    def give_back(self, context: RequestContext, hostname: str, claim_uid: str) -> None:
        """Best effort release, after a failed claim."""
        try:
            self.release(context, hostname, claim_uid)
        except Exception as err:  # the kubelet's release of the claim does it again
            LOG.warning("Giving back the MIG partitions of failed pod claim %s failed: %s",
                        claim_uid, err)  # fmt: skip

    def release(self, context: RequestContext, hostname: str, claim_uid: str) -> int:
        """Give back ``claim_uid``'s partitions on ``hostname``; how many GPUs it had
        partitions of."""
        addresses = sorted(
            {
                c.partition.pci_address
                for c in pod_partition.of_claim(context, claim_uid)
                if c.hostname == hostname
            }
        )
        for address in addresses:
            with db_api.context_manager.writer.using(context):
                gpu = pod_partition.lock_gpu(context, hostname, address)
                if pod_partition.drop(context, claim_uid, gpu) and self.units is not None:
                    self.units.remove(pod_partition.gpu_consumer(hostname, address))
        return len(addresses)
