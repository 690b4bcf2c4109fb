"""Which devices a plan request may use: a device profile and constraints (pure).

A plan is claimed with one ARQ per device, so a profile used to plan (and to claim)
must have exactly one group asking for one unit of one resource class; its traits
(``trait:X=required|forbidden``) narrow the devices as Placement would. Constraints
narrow further: ``hosts`` and ``device_models`` (the scheduler's model names) allow
lists, and ``single_host`` keeps every device of a plan on one host.

With Placement, :func:`placement_queries` are the ``GET /allocation_candidates``
queries whose answers say which of those devices are free.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from cyborg.common import exception, profile_rules
from cyborg.objects.schedulable import Schedulable
from cyborg.scheduler import catalog

DEFAULT_RC = "PGPU"
Query = list[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class ProfileGroup:
    """What a plan's device profile asks of each device."""

    name: str
    resource_class: str
    required: tuple[str, ...]  # trait names; a forbidden one as "!TRAIT"


@dataclasses.dataclass(frozen=True)
class Constraints:
    hosts: frozenset[str] | None = None
    device_models: frozenset[str] | None = None
    single_host: bool = False

    @classmethod
    def from_dict(cls, body: Mapping[str, Any] | None) -> "Constraints":
        body = body or {}
        hosts, models = body.get("hosts"), body.get("device_models")
        return cls(
            hosts=None if hosts is None else frozenset(hosts),
            device_models=None if models is None else frozenset(models),
            single_host=bool(body.get("single_host", False)),
        )


def profile_group(name: str, groups: Sequence[Mapping[str, str]]) -> ProfileGroup:
    """The one group of a plan's profile; 400 unless it asks for one unit of one class."""
    resource_class = profile_rules.single_unit_class(groups[0]) if len(groups) == 1 else None
    if resource_class is None:
        raise exception.Invalid(
            reason=f"device profile {name} cannot plan or claim a graph: it needs exactly "
            "one group asking for one unit of one resource class (one ARQ per device)"
        )
    return ProfileGroup(name, resource_class, profile_rules.traits(groups[0]))


def scheduler_model(row: Schedulable) -> str:
    """The ``model`` attribute, else the device's model: its catalog name when it is a
    product name the catalog knows ("NVIDIA H200"), as it is otherwise."""
    return row.attributes.get("model") or catalog.catalog_model(row.model) or row.model


def _traits(row: Schedulable) -> set[str]:
    return {value for key, value in row.attributes.items() if key.startswith("trait")}


def matches_profile(row: Schedulable, group: ProfileGroup) -> bool:
    if row.attributes.get("rc", DEFAULT_RC) != group.resource_class:
        return False
    traits = _traits(row)
    forbidden = {t[1:] for t in group.required if t.startswith("!")}
    required = {t for t in group.required if not t.startswith("!")}
    return required <= traits and not forbidden & traits


def select(
    rows: Sequence[Schedulable], group: ProfileGroup | None, constraints: Constraints
) -> list[Schedulable]:
    """The rows the request allows, in their order."""
    hosts, models = constraints.hosts, constraints.device_models
    return [
        row
        for row in rows
        if (group is None or matches_profile(row, group))
        and (hosts is None or row.hostname in hosts)
        and (models is None or scheduler_model(row) in models)
    ]


def why_not(row: Schedulable, group: ProfileGroup | None, constraints: Constraints) -> str:
    """Why ``select`` leaves ``row`` out ("" when it keeps it)."""
    if group is not None:
        rc = row.attributes.get("rc", DEFAULT_RC)
        if rc != group.resource_class:
            return f"resource class {rc}, the profile asks for {group.resource_class}"
        traits = _traits(row)
        missing = sorted(t for t in group.required if not t.startswith("!") and t not in traits)
        if missing:
            return f"without trait {', '.join(missing)}"
        forbidden = sorted(t[1:] for t in group.required if t.startswith("!") and t[1:] in traits)
        if forbidden:
            return f"has forbidden trait {', '.join(forbidden)}"
    if constraints.hosts is not None and row.hostname not in constraints.hosts:
        return f"host {row.hostname} not in the constraints' hosts"
    model = scheduler_model(row)
    if constraints.device_models is not None and model not in constraints.device_models:
        return f"model {model} not in the constraints' device_models"
    return ""


def by_host(rows: Sequence[Schedulable]) -> dict[str, list[Schedulable]]:
    hosts: dict[str, list[Schedulable]] = {}
    for row in rows:
        hosts.setdefault(row.hostname, []).append(row)
    return hosts


def placement_queries(rows: Sequence[Schedulable], group: ProfileGroup | None) -> list[Query]:
    """One unit of the profile's class and traits, or else one unit of each class used.

    A numbered group keeps the resource and the traits on the same provider.
    """
    if group is not None:
        query = [("resources1", f"{group.resource_class}:1")]
        if group.required:
            query.append(("required1", ",".join(group.required)))
        return [query]
    classes = sorted({row.attributes.get("rc", DEFAULT_RC) for row in rows})
    return [[("resources1", f"{rc}:1")] for rc in classes]
