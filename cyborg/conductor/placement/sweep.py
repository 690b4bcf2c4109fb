"""Give back Placement units that Cyborg claimed but no ARQ recorded.

A standalone bind (or a plan's claim) writes its units into the consumer's allocations
and then records them on its ARQs (cyborg.objects.arq_claim.record_claims). A conductor
that dies between the two leaves units no ARQ accounts for: the abandoned bind then
fails for want of a device, and nothing would ever release them.

Each sweep reads, for every provider of Cyborg's deployables, its allocations in
Placement first, and then what the ARQs of those consumers record (read in that
order, a bind that claims meanwhile was already BindStarted and is left alone). A
consumer's units beyond what its ARQs record are a *surplus* when the consumer is one
of Cyborg's (consumer type ``ACCELERATOR``: Nova's ``INSTANCE`` consumers are never
touched) and none of its ARQs is still binding. A pod's claim (consumer type ``POD``,
cyborg.conductor.pods) is a surplus as a whole once no ``pod_device_claims`` row has
its uid: a conductor died between Placement and the database, and the kubelet gave
up. A surplus found again, unchanged, by a sweep at least ``grace`` seconds later is
released, and only the surplus.
"""

import dataclasses
import time
from collections.abc import Callable

from oslo_log import log

from cyborg.clients import placement as placement_client
from cyborg.common.context import RequestContext
from cyborg.conductor.placement import claiming
from cyborg.objects import arq_claim, pod_claim

LOG = log.getLogger(__name__)

Surplus = dict[tuple[str, str], dict[str, int]]  # (consumer, provider) -> units


def _beyond(held: dict[str, int], recorded: dict[str, int]) -> dict[str, int]:
    return {rc: n - recorded.get(rc, 0) for rc, n in held.items() if n > recorded.get(rc, 0)}


def find_surplus(context: RequestContext, client: placement_client.PlacementClient) -> Surplus:
    """Units on Cyborg's providers held by Cyborg's consumers beyond their ARQs' records."""
    held: Surplus = {}
    for rp_uuid in arq_claim.provider_uuids(context):
        try:
            allocations = client.get_provider_allocations(rp_uuid)
        except Exception as err:  # a provider not synced yet, or gone: the next sweep
            LOG.debug("No allocations read for provider %s: %s", rp_uuid, err)
            continue
        for consumer, resources in allocations.items():
            held[(consumer, rp_uuid)] = resources
    recorded, binding = arq_claim.accounted_for(context, {c for c, _ in held})
    pods = pod_claim.claimed_uids(context, {c for c, _ in held})
    surplus: Surplus = {}
    types: dict[str, str | None] = {}
    for (consumer, rp_uuid), resources in sorted(held.items()):
        extra = _beyond(resources, recorded.get((consumer, rp_uuid), {}))
        if not extra or consumer in binding:
            continue
        if consumer not in types:
            types[consumer] = client.get_consumer_allocations(consumer).consumer_type
        if types[consumer] == claiming.CONSUMER_TYPE or (
            types[consumer] == claiming.POD_CONSUMER_TYPE and consumer not in pods
        ):
            surplus[(consumer, rp_uuid)] = extra
    return surplus


@dataclasses.dataclass
class ClaimSweep:
    """Remembers the last sweep's surplus; releases what stayed for ``grace`` seconds."""

    claimer: claiming.Claimer
    grace: float
    clock: Callable[[], float] = time.monotonic
    _seen: dict[tuple[str, str], tuple[dict[str, int], float]] = dataclasses.field(
        default_factory=dict
    )

    def sweep(self, context: RequestContext) -> Surplus:
        """One sweep; returns what it released."""
        now = self.clock()
        found = find_surplus(context, self.claimer.client)
        released: Surplus = {}
        seen: dict[tuple[str, str], tuple[dict[str, int], float]] = {}
        for key, extra in found.items():
            before = self._seen.get(key)
            since = before[1] if before is not None and before[0] == extra else now
            if now - since >= self.grace:
                released[key] = extra
            else:
                seen[key] = (extra, since)
        self._seen = seen
        for (consumer, rp_uuid), extra in list(released.items()):
            LOG.warning(
                "Releasing %s on provider %s from consumer %s: claimed by Cyborg but "
                "recorded on no accelerator request (a bind cut short)",
                extra,
                rp_uuid,
                consumer,
            )
            try:
                self.claimer.release(consumer, {rp_uuid: extra})
            except Exception as err:  # tried again at the next sweep
                LOG.warning("Could not release them: %s", err)
                del released[(consumer, rp_uuid)]
                self._seen[(consumer, rp_uuid)] = (extra, now - self.grace)
        return released
