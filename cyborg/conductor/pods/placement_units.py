"""A ResourceClaim as a Placement consumer: its uid, consumer type ``POD``, one unit
per device on the device's deployable provider.

Placement's capacity check on the PUT is what settles a pod claim and a VM's racing
for the last unit: Nova's scheduler (or Cyborg's standalone bind) and this write
both go through it, and one of them is refused. The owner of the consumer is
``[kubernetes] pod_project_id`` when set, else a uuid made from the namespace
(uuid5 of PROJECTS), so that ``GET /usages?project_id=`` counts one namespace.
"""

import random
import time
import uuid
from collections.abc import Iterable, Mapping

from oslo_log import log

from cyborg.clients import placement as placement_client
from cyborg.common import exception
from cyborg.conductor.placement import claiming
from cyborg.objects import pod_claim

LOG = log.getLogger(__name__)

CONSUMER_TYPE = claiming.POD_CONSUMER_TYPE
#: The uuid5 namespace of the Placement projects of namespaces.
PROJECTS = uuid.UUID("6c1a5f0e-3b7d-5e2a-9c4f-8d0e1b2a3c4d")

Allocations = dict[str, dict[str, int]]


def project_of(namespace: str, fixed: str | None) -> str:
    """The Placement project (and user) of a namespace's claims."""
    return fixed or str(uuid.uuid5(PROJECTS, f"kubernetes-namespace:{namespace}"))


def allocations(hostname: str, devices: Iterable[pod_claim.HostDevice]) -> Allocations:
    """One unit of its deployable's resource class per device, by provider."""
    wanted: Allocations = {}
    for device in devices:
        if not device.rp_uuid or not device.resource_class:
            raise exception.PodClaimConflict(
                claim_uid="-",
                reason=f"device {device.pci_address} on host {hostname} is not in "
                "Placement yet (its provider is published after the agent's report); "
                "try again",
            )
        by_class = wanted.setdefault(device.rp_uuid, {})
        by_class[device.resource_class] = by_class.get(device.resource_class, 0) + 1
    return wanted


class PodUnits:
    """Writes and removes the allocations of pod claims; retries generation conflicts."""

    def __init__(
        self,
        client: placement_client.PlacementClient,
        *,
        project_id: str | None = None,
        max_attempts: int = 5,
    ) -> None:
        self.client = client
        self.project_id = project_id
        self.max_attempts = max_attempts

    def place(
        self, claim: pod_claim.PodClaimRef, hostname: str, wanted: Mapping[str, Mapping[str, int]]
    ) -> None:
        """Make ``wanted`` the claim's allocations (a no-op when they are already).

        NoFreeAccelerator (409) when a provider has no free unit left; PodClaimConflict
        when the uid is a consumer of another type (never overwritten).
        """
        owner = project_of(claim.namespace, self.project_id)
        for attempt in range(1, self.max_attempts + 1):
            current = self.client.get_consumer_allocations(claim.uid)
            _refuse_foreign(claim.uid, current)
            if current.allocations == wanted:
                return
            refused = self.client.try_put_allocations(
                claim.uid,
                wanted,
                project_id=current.project_id or owner,
                user_id=current.user_id or owner,
                consumer_type=CONSUMER_TYPE,
                consumer_generation=current.generation,
            )
            if refused is None:
                return
            if claiming.CONCURRENT_UPDATE not in refused:
                raise exception.NoFreeAccelerator(
                    host=hostname,
                    reason=f"Placement has no free unit for pod claim {claim.uid} "
                    f"({_units(wanted)}): {refused}",
                )
            LOG.debug("Pod claim %s refused (attempt %d): %s", claim.uid, attempt, refused)
            time.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311 - jitter only
        raise exception.ConsumerAllocationConflict(consumer=claim.uid, attempts=self.max_attempts)

    def remove(self, claim_uid: str) -> None:
        """Delete the claim's allocations (none there: nothing to do)."""
        current = self.client.get_consumer_allocations(claim_uid)
        if not current.allocations:
            return
        _refuse_foreign(claim_uid, current)
        self.client.delete_allocations(claim_uid)


def _refuse_foreign(claim_uid: str, current: placement_client.ConsumerAllocations) -> None:
    if current.allocations and current.consumer_type not in (None, CONSUMER_TYPE):
        raise exception.PodClaimConflict(
            claim_uid=claim_uid,
            reason=f"Placement already has this uid as a consumer of type "
            f"{current.consumer_type}; Cyborg leaves its allocations alone",
        )


def _units(wanted: Mapping[str, Mapping[str, int]]) -> str:
    return ", ".join(
        f"{rc}:{n} on {rp}" for rp, classes in sorted(wanted.items()) for rc, n in classes.items()
    )
