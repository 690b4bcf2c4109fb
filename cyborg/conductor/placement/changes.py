"""What one host's resource providers in Placement must become: a change set (pure).

Each deployable with a resource class is one provider, child of the host's compute node
provider: ``name`` = the deployable's name, ``uuid`` = its ``rp_uuid`` (upstream's
``uuid3(NAMESPACE_DNS, name)``), one inventory of its ``rc`` attribute with ``total`` =
``max_unit`` = ``num_accelerators`` (all reserved while its device is in maintenance,
its host is stale, or its driver reports it unhealthy or fatal),
and traits = its ``trait<N>`` attributes plus ``OWNER_CYBORG``.

A provider under the compute node is Cyborg's when it is one of those, carries
``OWNER_CYBORG``, or has the uuid Cyborg derives from its name; no other provider is
ever touched. A provider of ours that no deployable wants any more is deleted; the flow
reserves its inventory instead while it still has allocations.
"""

import dataclasses
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

import os_resource_classes
import os_traits

from cyborg.objects.host_inventory import provider_uuid
from cyborg.objects.provider import DeployableProvider

OWNER_TRAIT = os_traits.OWNER_CYBORG
# Placement's pattern for custom traits and classes (at most 255 characters).
_CUSTOM = re.compile(r"^CUSTOM_[A-Z0-9_]{1,248}$")
# The inventory fields Cyborg sets; Placement answers with exactly these.
INVENTORY_FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")

Inventories = Mapping[str, Mapping[str, Any]]


@functools.cache
def _standard_traits() -> frozenset[str]:
    return frozenset(os_traits.get_traits())


def valid_trait(name: str) -> bool:
    return bool(_CUSTOM.match(name)) or name in _standard_traits()


def valid_resource_class(name: str) -> bool:
    return bool(_CUSTOM.match(name)) or name in os_resource_classes.STANDARDS


def inventory(total: int, reserved: int = 0) -> dict[str, Any]:
    return {
        "total": total,
        "reserved": reserved,
        "min_unit": 1,
        "max_unit": total,
        "step_size": 1,
        "allocation_ratio": 1.0,
    }


def reserve_all(inventories: Inventories) -> dict[str, dict[str, Any]]:
    """The same inventories with everything reserved (nothing new can be allocated)."""
    return {rc: {**inv, "reserved": inv["total"]} for rc, inv in inventories.items()}


@dataclasses.dataclass(frozen=True)
class DesiredProvider:
    uuid: str
    name: str
    resource_class: str
    total: int
    reserved: int
    traits: frozenset[str]

    @property
    def inventories(self) -> dict[str, dict[str, Any]]:
        return {self.resource_class: inventory(self.total, self.reserved)}


@dataclasses.dataclass(frozen=True)
class ActualProvider:
    """A provider of ours as Placement holds it."""

    uuid: str
    name: str
    generation: int | None  # None: changed between our reads, read it again to write
    inventories: Inventories
    traits: frozenset[str]


@dataclasses.dataclass(frozen=True)
class SetInventories:
    uuid: str
    name: str
    inventories: dict[str, dict[str, Any]]
    current: Inventories  # what Placement holds now (kept reserved if in use)


@dataclasses.dataclass(frozen=True)
class SetTraits:
    uuid: str
    name: str
    traits: frozenset[str]


@dataclasses.dataclass(frozen=True)
class DeleteProvider:
    uuid: str
    name: str
    current: Inventories  # reserved whole while the provider still has allocations


@dataclasses.dataclass
class ChangeSet:
    """The writes that bring a host's providers in step, in the order they run."""

    create: list[DesiredProvider] = dataclasses.field(default_factory=list)
    set_inventories: list[SetInventories] = dataclasses.field(default_factory=list)
    set_traits: list[SetTraits] = dataclasses.field(default_factory=list)
    delete: list[DeleteProvider] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)  # left out, and why

    @property
    def empty(self) -> bool:
        return not (self.create or self.set_inventories or self.set_traits or self.delete)

    @property
    def resource_classes(self) -> set[str]:
        """The classes the writes use (custom ones must exist first)."""
        classes = {p.resource_class for p in self.create}
        return classes | {rc for action in self.set_inventories for rc in action.inventories}

    @property
    def traits(self) -> set[str]:
        """The traits the writes use (custom ones must exist first)."""
        traits = {t for p in self.create for t in p.traits}
        return traits | {t for action in self.set_traits for t in action.traits}


def desired_providers(
    deployables: Iterable[DeployableProvider],
) -> tuple[list[DesiredProvider], list[str]]:
    """The providers the stored deployables make, and what was left out and why."""
    providers, problems = [], []
    for d in deployables:
        if not valid_resource_class(d.resource_class):
            problems.append(
                f"deployable {d.name}: resource class {d.resource_class!r} is neither standard "
                "nor CUSTOM_[A-Z0-9_]+: not published"
            )
            continue
        if d.num_accelerators < 1:
            problems.append(f"deployable {d.name} has no accelerators: not published")
            continue
        bad = [t for t in d.traits if not valid_trait(t)]
        if bad:
            problems.append(f"deployable {d.name}: invalid traits left out: {', '.join(bad)}")
        total = d.num_accelerators
        providers.append(
            DesiredProvider(
                uuid=d.rp_uuid or provider_uuid(d.name),
                name=d.name,
                resource_class=d.resource_class,
                total=total,
                reserved=total if d.reserved_whole else 0,
                traits=frozenset(t for t in d.traits if valid_trait(t)) | {OWNER_TRAIT},
            )
        )
    return providers, problems


def looks_ours(uuid: str, name: str) -> bool:
    """Cyborg (upstream's too) names its providers' uuids after their names."""
    return uuid == provider_uuid(name)


def _same_inventories(actual: Inventories, wanted: Inventories) -> bool:
    if set(actual) != set(wanted):
        return False
    return all(actual[rc].get(f) == wanted[rc][f] for rc in wanted for f in INVENTORY_FIELDS)


def change_set(desired: Iterable[DesiredProvider], actual: Iterable[ActualProvider]) -> ChangeSet:
    """The writes that turn ``actual`` (our providers under the compute node) into
    ``desired``."""
    result = ChangeSet()
    existing = {p.uuid: p for p in actual}
    wanted = {p.uuid: p for p in desired}
    for uuid, provider in wanted.items():
        current = existing.get(uuid)
        if current is None:
            result.create.append(provider)
            continue
        if not _same_inventories(current.inventories, provider.inventories):
            result.set_inventories.append(
                SetInventories(uuid, provider.name, provider.inventories, current.inventories)
            )
        if current.traits != provider.traits:
            result.set_traits.append(SetTraits(uuid, provider.name, provider.traits))
    for uuid, current in existing.items():
        if uuid not in wanted:
            result.delete.append(DeleteProvider(uuid, current.name, current.inventories))
    return result


def keep_in_use(action: SetInventories | DeleteProvider) -> dict[str, dict[str, Any]] | None:
    """The inventories to write when Placement refuses ``action`` because of allocations:
    the classes in use stay, wholly reserved, beside the wanted ones. None: nothing to
    write (already so)."""
    kept = reserve_all(action.current)
    if isinstance(action, SetInventories):
        kept = {**kept, **action.inventories}
    return None if _same_inventories(action.current, kept) else kept
