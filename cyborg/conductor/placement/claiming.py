"""Claim accelerators in Placement for one consumer on one host, as Nova's scheduler would.

Used by binds without a ``device_rp_uuid`` (cyborg.conductor.binding.standalone). Each
device-profile group of the ARQs bound together becomes a numbered request group of
``GET /allocation_candidates``: ``resources<N>`` (the ARQs' shares added up),
``required<N>`` (``trait:X=required`` as ``X``, ``forbidden`` as ``!X``) and
``in_tree<N>`` (the host's compute node provider), with ``group_policy=none`` so that
two groups may take units of the same board. Of the candidates whose providers are
all Cyborg's deployables on that host, the first with the most NVLinked pairs among
its groups' providers (cyborg.conductor.placement.nvlinked; the first, without links)
is added to the consumer's allocations and written with the consumer's generation.

An ARQ pinned to a provider (a claimed plan names each device) is a group of its own
that skips the candidates: its share is written on that provider directly, and
Placement's capacity check on the PUT is what refuses a device taken meanwhile.

Of two claims racing for the last unit Placement accepts one; the other's PUT is a 409
(capacity, or the consumer's generation moved) and it asks again, finds nothing free
and fails ``NoFreeAccelerator``. A release subtracts exactly the shares Cyborg claimed
and keeps whatever else the consumer holds.
"""

import dataclasses
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from oslo_log import log

from cyborg.clients import placement as placement_client
from cyborg.common import exception, profile_rules
from cyborg.conductor.placement import nvlinked
from cyborg.objects import accelerator_request as arq_obj

LOG = log.getLogger(__name__)

# The consumer type of a consumer Cyborg creates. Not Nova's INSTANCE: Nova's unified
# limits count INSTANCE consumers, and these are counted by Cyborg's own quota.
CONSUMER_TYPE = "ACCELERATOR"
# The consumer type of a Kubernetes ResourceClaim's devices (cyborg.conductor.pods).
POD_CONSUMER_TYPE = "POD"

Allocations = dict[str, dict[str, int]]  # {provider uuid: {resource class: amount}}
# Placement's error code when a generation moved (the consumer's or a provider's).
CONCURRENT_UPDATE = "placement.concurrent_update"


@dataclasses.dataclass(frozen=True)
class GroupRequest:
    """The ARQs of one device-profile group bound together: one numbered request group."""

    profile: str
    group_id: int
    arq_uuids: tuple[str, ...]
    shares: tuple[dict[str, int], ...]  # one per ARQ, in the order of arq_uuids
    required: tuple[str, ...]  # traits; a forbidden one as "!TRAIT"
    provider: str | None = None  # pinned: this provider, without asking for candidates

    @property
    def resources(self) -> dict[str, int]:
        return add_up(self.shares)


def add_up(shares: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for share in shares:
        for resource_class, amount in share.items():
            total[resource_class] = total.get(resource_class, 0) + amount
    return total


def split_units(resources: Mapping[str, int], count: int) -> list[dict[str, int]]:
    """Each of ``count`` ARQs of a group takes one unit, in the group's order of classes.

    Upstream makes one ARQ per unit, so the units and ARQs usually pair up. A Xilinx
    FPGA has two ARQs per unit (two PCI functions): the extra ARQs take nothing. Units
    left over when more are asked than there are ARQs go to the last ARQ.
    """
    units = [rc for rc, amount in sorted(resources.items()) for _ in range(amount)]
    shares: list[dict[str, int]] = [{} for _ in range(count)]
    for index, resource_class in enumerate(units):
        share = shares[min(index, count - 1)]
        share[resource_class] = share.get(resource_class, 0) + 1
    return shares


def group_requests(
    arqs: Sequence[arq_obj.AcceleratorRequest], pins: Mapping[str, str] | None = None
) -> list[GroupRequest]:
    """The request groups of one consumer's ARQs, by profile and group, ARQs by id.

    An ARQ in ``pins`` (ARQ uuid -> provider uuid) is a group of its own on that provider.
    """
    pins = pins or {}
    by_group: dict[tuple[str, int, str], list[arq_obj.AcceleratorRequest]] = {}
    for arq in sorted(arqs, key=lambda a: a.id):
        key = (arq.device_profile_name, arq.device_profile_group_id, pins.get(arq.uuid, ""))
        by_group.setdefault(key, []).append(arq)
    groups = []
    for (profile, group_id, provider), members in sorted(by_group.items()):
        spec = members[0].device_profile_group
        shares = split_units(profile_rules.resources(spec), len(members))
        if not add_up(shares):
            raise exception.Invalid(
                reason=f"group {group_id} of device profile {profile} asks for no resources: "
                "nothing to claim in Placement; bind all of the group's ARQs together"
            )
        groups.append(
            GroupRequest(
                profile=profile,
                group_id=group_id,
                arq_uuids=tuple(a.uuid for a in members),
                shares=tuple(shares),
                required=profile_rules.traits(spec),
                provider=provider or None,
            )
        )
    return groups


def candidate_query(groups: Sequence[GroupRequest], root_uuid: str) -> list[tuple[str, str]]:
    """GET /allocation_candidates parameters: one numbered group per request group
    (pinned groups are left to the caller)."""
    query: list[tuple[str, str]] = []
    for suffix, group in enumerate(groups, start=1):
        resources = ",".join(f"{rc}:{n}" for rc, n in sorted(group.resources.items()))
        query.append((f"resources{suffix}", resources))
        if group.required:
            query.append((f"required{suffix}", ",".join(group.required)))
        query.append((f"in_tree{suffix}", root_uuid))
    query.append(("group_policy", "none"))
    return query


def pick(
    body: Mapping[str, Any], group_count: int, ours: set[str], links: nvlinked.Links | None = None
) -> list[str] | None:
    """The provider of each group in the candidate that uses only ``ours``: the first
    with the most NVLinked pairs among them (the first, without ``links``)."""
    best: tuple[int, list[str]] | None = None
    for request in body.get("allocation_requests", []):
        mappings = request.get("mappings", {})
        chosen = [mappings.get(str(suffix), [None])[0] for suffix in range(1, group_count + 1)]
        if all(rp in ours for rp in chosen) and set(request["allocations"]) <= ours:
            picked = [str(rp) for rp in chosen]
            if not links:
                return picked
            pairs = nvlinked.linked_pairs(picked, links)
            if best is None or pairs > best[0]:
                best = (pairs, picked)
    return best[1] if best else None


def merged(existing: Mapping[str, Mapping[str, int]], added: Allocations) -> Allocations:
    result = {rp: dict(resources) for rp, resources in existing.items()}
    for rp, resources in added.items():
        target = result.setdefault(rp, {})
        for resource_class, amount in resources.items():
            target[resource_class] = target.get(resource_class, 0) + amount
    return result


def subtracted(existing: Mapping[str, Mapping[str, int]], removed: Allocations) -> Allocations:
    """``existing`` less ``removed``; never below zero, and empty providers dropped."""
    result: Allocations = {}
    for rp, resources in existing.items():
        left = {
            rc: amount - removed.get(rp, {}).get(rc, 0)
            for rc, amount in resources.items()
            if amount - removed.get(rp, {}).get(rc, 0) > 0
        }
        if left:
            result[rp] = left
    return result


class Claimer:
    """Claims and releases a consumer's accelerators; retries Placement's 409s."""

    def __init__(self, client: placement_client.PlacementClient, *, max_attempts: int = 5) -> None:
        self.client = client
        self.max_attempts = max_attempts

    def _pause(self, attempt: int) -> None:
        time.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311 - jitter only

    def claim(
        self,
        consumer: str,
        hostname: str,
        groups: Sequence[GroupRequest],
        ours: set[str],
        *,
        project_id: str,
        user_id: str,
        links: nvlinked.Links | None = None,
    ) -> list[str]:
        """Claim every group on ``hostname`` for ``consumer``; the provider of each group
        (NVLinked ones preferred, by ``links``).

        Raises NoFreeAccelerator (409) when no candidate fits, and
        ConsumerAllocationConflict when other writers kept winning.
        """
        root = self.client.find_provider(hostname)
        if root is None:
            raise exception.NoFreeAccelerator(
                host=hostname, reason=f"Placement has no resource provider named {hostname}"
            )
        free = [group for group in groups if group.provider is None]
        query = candidate_query(free, root.uuid)
        for group in groups:
            if group.provider is not None and group.provider not in ours:
                raise exception.NoFreeAccelerator(
                    host=hostname, reason=f"provider {group.provider} is not a device of it"
                )
        for attempt in range(1, self.max_attempts + 1):
            current = self.client.get_consumer_allocations(consumer)
            picked: list[str] | None = []
            if free:
                body = self.client.get_allocation_candidates(query)
                picked = pick(body, len(free), ours, links)
            if picked is None:
                raise exception.NoFreeAccelerator(host=hostname, reason=_wanted(free))
            chosen = _in_order(groups, picked)
            added: Allocations = {}
            for group, rp in zip(groups, chosen, strict=True):
                added = merged(added, {rp: group.resources})
            refused = self.client.try_put_allocations(
                consumer,
                merged(current.allocations, added),
                project_id=current.project_id or project_id,
                user_id=current.user_id or user_id,
                consumer_type=current.consumer_type or CONSUMER_TYPE,
                consumer_generation=current.generation,
            )
            if refused is None:
                return chosen
            if len(free) < len(groups) and CONCURRENT_UPDATE not in refused:
                # A pinned device over capacity: asking again cannot find it another one.
                raise exception.NoFreeAccelerator(
                    host=hostname, reason=f"a device asked for by name is taken ({refused})"
                )
            LOG.debug("Claim for %s refused (attempt %d): %s", consumer, attempt, refused)
            self._pause(attempt)
        raise exception.ConsumerAllocationConflict(consumer=consumer, attempts=self.max_attempts)

    def release(self, consumer: str, removed: Allocations) -> None:
        """Remove ``removed`` from the consumer's allocations, and nothing else."""
        for attempt in range(1, self.max_attempts + 1):
            current = self.client.get_consumer_allocations(consumer)
            left = subtracted(current.allocations, removed)
            if left == current.allocations or current.generation is None:
                return  # nothing of ours is there (released already)
            refused = self.client.try_put_allocations(
                consumer,
                left,
                project_id=current.project_id or "",
                user_id=current.user_id or "",
                consumer_type=current.consumer_type or CONSUMER_TYPE,
                consumer_generation=current.generation,
            )
            if refused is None:
                return
            LOG.debug("Release for %s refused (attempt %d): %s", consumer, attempt, refused)
            self._pause(attempt)
        raise exception.ConsumerAllocationConflict(consumer=consumer, attempts=self.max_attempts)


def _in_order(groups: Sequence[GroupRequest], picked: Sequence[str]) -> list[str]:
    """Each group's provider: its pin, else the next of the candidates ``picked``."""
    free = iter(picked)
    return [group.provider or next(free) for group in groups]


def _wanted(groups: Sequence[GroupRequest]) -> str:
    parts = []
    for group in groups:
        resources = ", ".join(f"{rc}:{n}" for rc, n in sorted(group.resources.items()))
        traits = f" with traits {','.join(group.required)}" if group.required else ""
        parts.append(
            f"{resources}{traits} (device profile {group.profile} group {group.group_id})"
        )
    return "nothing free matches " + "; ".join(parts)
