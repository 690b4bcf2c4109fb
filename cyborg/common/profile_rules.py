"""The rules of one device-profile group, in one place.

The API validates groups with them, the bind flows count and claim with them, and the
planner matches devices with them. A group maps keys of three kinds to strings:

* ``resources:<RC>`` to a positive count of a Placement resource class;
* ``trait:<TRAIT>`` to ``required`` or ``forbidden``;
* ``accel:<key>`` to a string Cyborg reads itself (``accel:bitstream_id``,
  ``accel:function_id``: the FPGA image to program at bind time).

Names are upper case, as Placement's are; spaces around the name after the prefix are
stripped on the way in (``resources: FPGA``), as upstream does.
"""

from collections.abc import Mapping
from typing import Any

from cyborg.common import exception

RESOURCES = "resources:"
TRAIT = "trait:"
ACCEL = "accel:"

RESOURCES_KEY_PATTERN = r"^resources:[A-Z0-9_]{1,255}$"
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


def single_unit_class(group: Mapping[str, str]) -> str | None:
    """The resource class of a group asking for exactly one unit of one class, else None
    (a plan is claimed with one ARQ per device)."""
    asked = resources(group)
    return next(iter(asked)) if list(asked.values()) == [1] else None
