"""The rules of one device-profile group, in one place.

The API validates groups with them, the bind flows count and claim with them, and the
planner matches devices with them. A group maps keys of three kinds to strings:

* ``resources:<RC>`` to a positive count of a Placement resource class;
* ``trait:<TRAIT>`` to ``required`` or ``forbidden``;
* ``accel:<key>`` to a string Cyborg reads itself (``accel:bitstream_id``,
  ``accel:function_id``: the FPGA image to program at bind time).

Names are upper case, as Placement's are; spaces around the name after the prefix are
stripped on the way in (``resources: FPGA``), as upstream does. A resource class is
one of Placement's standard classes (os-resource-classes) or ``CUSTOM_<NAME>``.

How much a profile may ask for is bounded (``check_size``): units per group, and the
ARQs the whole profile makes, which is what one ``POST /v2/accelerator_requests``
creates; the operator sets both (``[api] max_units_per_group`` and
``max_arqs_per_request``).
"""

from collections.abc import Mapping, Sequence
from typing import Any

import os_resource_classes

from cyborg.common import constants, exception

RESOURCES = "resources:"
TRAIT = "trait:"
ACCEL = "accel:"

STANDARD_RESOURCE_CLASSES: tuple[str, ...] = tuple(os_resource_classes.STANDARDS)
# Placement's custom classes: CUSTOM_ and upper-case letters, digits and '_', 255 in all.
CUSTOM_RESOURCE_CLASS_PATTERN = r"CUSTOM_[A-Z0-9_]{1,248}"
RESOURCE_CLASS_PATTERN = "(?:{})".format(
    "|".join([*STANDARD_RESOURCE_CLASSES, CUSTOM_RESOURCE_CLASS_PATTERN])
)
RESOURCES_KEY_PATTERN = rf"^resources:{RESOURCE_CLASS_PATTERN}$"
TRAIT_KEY_PATTERN = r"^trait:[A-Z0-9_]{1,255}$"
ACCEL_KEY_PATTERN = r"^accel:[A-Za-z0-9_.:-]{1,255}$"
AMOUNT_PATTERN = r"^[1-9][0-9]{0,5}$"
TRAIT_VALUES = ("required", "forbidden")
MAX_KEYS = 64

BITSTREAM_KEY = "accel:bitstream_id"
FUNCTION_KEY = "accel:function_id"
# A Xilinx FPGA is two PCI functions (management and user PF): two ARQs per board.
XILINX_TRAIT = "trait:CUSTOM_FPGA_XILINX"
VGPU_KEY = "resources:VGPU"


def normalized(group: Any) -> Any:
    """Spaces stripped around the name after the prefix and around string values."""
    if not isinstance(group, dict):
        return group
    result = {}
    for key, value in group.items():
        if isinstance(key, str) and ":" in key:
            prefix, _, name = key.partition(":")
            key = f"{prefix.strip()}:{name.strip()}"
        result[key] = value.strip() if isinstance(value, str) else value
    return result


def _amounts(group: Mapping[str, str]) -> dict[str, int]:
    """Every ``resources:`` amount by class; 400 for one that is not an integer."""
    try:
        return {
            key.removeprefix(RESOURCES): int(value)
            for key, value in group.items()
            if key.startswith(RESOURCES)
        }
    except ValueError as err:
        raise exception.Invalid(reason=f"a resources amount is not an integer: {err}") from err


def units(group: Mapping[str, str]) -> int:
    """The units of every resource class the group asks for, together."""
    return sum(_amounts(group).values())


def resources(group: Mapping[str, str]) -> dict[str, int]:
    """What the group asks Placement for: {resource class: positive amount}."""
    return {rc: amount for rc, amount in _amounts(group).items() if amount > 0}


def traits(group: Mapping[str, str]) -> tuple[str, ...]:
    """The group's traits as Placement's ``required`` takes them: a forbidden one as
    ``!TRAIT``; sorted by key."""
    found = []
    for key, value in sorted(group.items()):
        if key.startswith(TRAIT) and value in TRAIT_VALUES:
            name = key.removeprefix(TRAIT)
            found.append(name if value == "required" else f"!{name}")
    return tuple(found)


def accelerator_count(group: Mapping[str, str]) -> int:
    """How many ARQs the group asks for (upstream's rule): the sum of its amounts, two
    per FPGA of a Xilinx board."""
    amounts = _amounts(group)
    if group.get(XILINX_TRAIT) == "required":
        return 2 * amounts.get("FPGA", 0)
    return sum(amounts.values())


def arq_count(groups: Sequence[Mapping[str, str]]) -> int:
    """How many ARQs a profile with these groups makes: what one request creates."""
    return sum(accelerator_count(group) for group in groups)


def check_size(
    groups: Sequence[Mapping[str, str]], *, max_units_per_group: int, max_arqs: int
) -> None:
    """400 for a profile that asks for more than one request may: a group of more
    than ``max_units_per_group`` units, or more than ``max_arqs`` ARQs in all."""
    for index, group in enumerate(groups):
        asked = units(group)
        if asked > max_units_per_group:
            raise exception.Invalid(
                reason=f"group {index} asks for {asked} units; a device profile group may "
                f"ask for at most {max_units_per_group}"
            )
    check_arq_count(arq_count(groups), max_arqs)


def check_arq_count(count: int, max_arqs: int) -> None:
    """400 when a profile makes more ARQs than one request may create."""
    if count > max_arqs:
        raise exception.Invalid(
            reason=f"the device profile makes {count} accelerator requests; one request "
            f"may make at most {max_arqs}"
        )


def needs_programming(group: Mapping[str, str]) -> bool:
    """Whether a bind programs an FPGA first (an image named by id or by function)."""
    return BITSTREAM_KEY in group or FUNCTION_KEY in group


def check_programming(group: Mapping[str, str]) -> None:
    """400 for a group that names an image both ways."""
    if BITSTREAM_KEY in group and FUNCTION_KEY in group:
        raise exception.Invalid(
            reason=f"a device profile group may give {BITSTREAM_KEY} or {FUNCTION_KEY}, not both"
        )


def asks_for_vgpu(group: Mapping[str, str]) -> bool:
    return VGPU_KEY in group


def asks_for_spdk_target(group: Mapping[str, str]) -> bool:
    """Whether the group asks for an SPDK target (NVMe-oF subsystem, vhost controller)."""
    return any(rc in constants.SPDK_RESOURCE_CLASSES for rc in resources(group))


def single_unit_class(group: Mapping[str, str]) -> str | None:
    """The resource class of a group asking for exactly one unit of one class, else None
    (a plan is claimed with one ARQ per device)."""
    asked = resources(group)
    return next(iter(asked)) if list(asked.values()) == [1] else None
